package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"k8s.io/apimachinery/pkg/watch"
)

// Watch framing. A watch stream is a sequence of JSON objects
// {"type":T,"object":O}. Decoding it with json.Decoder and then decoding O
// again scans every byte four times (framing, envelope, validation, object).
// Instead, a cheap bracket scanner cuts the stream into frames, the
// canonical envelope that every Kubernetes server writes is matched
// literally, and O is decoded (and so validated) once. Any other envelope
// (other key order, extra keys, escapes) takes the slow path: a full
// json.Unmarshal. Both paths accept exactly what json.Decoder would; the
// fuzz target FuzzHTTPWatchStream checks this against json.Decoder.
//
// Faster still, the line path: servers end every event with a newline, so
// when the buffer holds one, the frame is cut there with a vectorised
// search instead of the bracket scan, and the envelope is matched
// literally as above. The cut is right if and only if the object between
// `"object":` and the frame's last '}' is one valid JSON value (then the
// whole line is one JSON object, and no valid JSON object is a proper
// prefix of another). The cut is not checked here: the object decoders
// (utiljson.Unmarshal for typed, unstructured and Status objects) validate
// their input before decoding it, so a decode that succeeds proves it.
//
// Invariant: a frame cut by the line path is marked rawEvent.unchecked,
// and its decoder must validate the whole object before accepting it. When
// its decoding fails for any reason, the stream watcher calls recheck,
// which rewinds to the frame's first byte and frames it again with the
// bracket scan; that frame's decode result, error or event, is the one
// used. So every stream yields exactly what the bracket path alone would,
// and each byte of a well-formed event is scanned twice (validation and
// decoding) instead of three times.

// maxFrame bounds one watch event, so a hostile stream cannot make the
// client buffer without limit. A variable for tests.
var maxFrame = 64 << 20

// valueScan finds the end of a JSON object by counting brackets outside
// strings, without validating; it can resume when more data arrives.
// Positions are relative to the object's first byte.
type valueScan struct {
	pos   int // next byte to look at
	depth int
	inStr bool
	esc   bool
	// end is the index just past the object's closing brace, once found.
	end int
	// innerEnd is the index just past the first nested object or array
	// value of the object (where the depth first returns to 1), or 0.
	innerEnd int
}

// scan continues over data (the object's bytes so far, from its first
// byte) and reports whether the object is complete.
func (s *valueScan) scan(data []byte) bool {
	for i := s.pos; i < len(data); i++ {
		c := data[i]
		if s.inStr {
			switch {
			case s.esc:
				s.esc = false
			case c == '\\':
				s.esc = true
			case c == '"':
				s.inStr = false
			}
			continue
		}
		switch c {
		case '"':
			s.inStr = true
		case '{', '[':
			s.depth++
		case '}', ']':
			s.depth--
			if s.depth == 1 && s.innerEnd == 0 {
				s.innerEnd = i + 1
			}
			if s.depth <= 0 {
				s.end = i + 1
				s.pos = s.end
				return true
			}
		}
	}
	s.pos = len(data)
	return false
}

// knownTypes are matched literally on the fast path.
var knownTypes = [...]watch.EventType{watch.Added, watch.Modified, watch.Deleted, watch.Bookmark, watch.Error}

// parseFrame fills ev from one complete frame (the bytes of one JSON
// value, as cut by valueScan). ev.Object may alias frame.
func parseFrame(frame []byte, s valueScan, ev *rawEvent) error {
	const head, mid = `{"type":"`, `","object":`
	if rest, ok := bytes.CutPrefix(frame, []byte(head)); ok && s.innerEnd > 0 && s.end == len(frame) {
		for _, t := range knownTypes {
			obj, ok := bytes.CutPrefix(rest, []byte(t))
			if !ok {
				continue
			}
			if obj, ok = bytes.CutPrefix(obj, []byte(mid)); !ok || len(obj) == 0 || obj[0] != '{' {
				break
			}
			// The object value ends where the bracket depth first returns
			// to 1; only whitespace and the closing brace may follow.
			objStart := len(frame) - len(obj)
			if tail := bytes.TrimLeft(frame[s.innerEnd:s.end-1], " \t\r\n"); len(tail) == 0 && s.innerEnd > objStart {
				ev.Type = t
				ev.Object = frame[objStart:s.innerEnd]
				return nil
			}
			break
		}
	}
	// Slow path: anything else a JSON decoder would accept.
	ev.Object = nil
	if err := json.Unmarshal(frame, ev); err != nil {
		return &malformedError{err}
	}
	return nil
}

// parseLine fills ev from a frame cut at a newline (without it) if the
// frame is the canonical envelope around an object, and reports whether it
// did. The object is not validated: see the line path above. ev.Object
// aliases frame.
func parseLine(frame []byte, ev *rawEvent) bool {
	const head, mid = `{"type":"`, `","object":{`
	rest, ok := bytes.CutPrefix(frame, []byte(head))
	if !ok {
		return false
	}
	end := len(frame)
	for end > 0 && isSpace(frame[end-1]) {
		end--
	}
	if end == 0 || frame[end-1] != '}' {
		return false
	}
	for _, t := range knownTypes {
		obj, ok := bytes.CutPrefix(rest, []byte(t))
		if !ok {
			continue
		}
		if obj, ok = bytes.CutPrefix(obj, []byte(mid)); !ok {
			return false
		}
		objStart := len(frame) - len(obj) - 1 // the object's '{'
		objEnd := end - 1                     // before the envelope's '}'
		for objEnd > objStart && isSpace(frame[objEnd-1]) {
			objEnd--
		}
		if objEnd-objStart < 2 {
			return false
		}
		ev.Type = t
		ev.Object = frame[objStart:objEnd]
		ev.unchecked = true
		return true
	}
	return false
}

// busyBuffer bounds how far a busy stream's buffer grows (a frame larger
// than it still grows it, up to maxFrame).
const busyBuffer = 256 << 10

// framer cuts a byte stream into JSON-object frames.
type framer struct {
	r   io.Reader
	buf []byte
	off int // start of unread data in buf
	n   int // end of data in buf
	err error
	// full says the last read filled the buffer.
	full bool
	// start is the offset in buf of the last frame the line path cut,
	// for rewind; the bytes from there on stay in buf until the next
	// call of line or next.
	start int
}

// line returns the next frame cut at a newline, without the newline, when
// the buffered data holds the frame's start and a newline after it; it
// never reads. Otherwise it returns false and consumes nothing but
// whitespace: the caller uses next, which also delivers a frame that no
// newline follows yet as soon as its last byte arrives.
func (f *framer) line() ([]byte, bool) {
	for f.off < f.n && isSpace(f.buf[f.off]) {
		f.off++
	}
	if f.off == f.n || f.buf[f.off] != '{' {
		return nil, false
	}
	i := bytes.IndexByte(f.buf[f.off:f.n], '\n')
	if i < 0 || i >= maxFrame {
		return nil, false
	}
	f.start = f.off
	frame := f.buf[f.off : f.off+i]
	f.off += i + 1
	return frame, true
}

// rewind makes the frame line returned last unread again.
func (f *framer) rewind() { f.off = f.start }

func newFramer(r io.Reader) *framer {
	return &framer{r: r, buf: make([]byte, 32<<10)}
}

// next returns the next frame and its scan; the bytes are valid until the
// following call. Errors: io.EOF at a clean end between frames,
// io.ErrUnexpectedEOF inside one, the reader's error, or a
// *malformedError for data that cannot start a JSON object or exceeds
// maxFrame.
func (f *framer) next() ([]byte, valueScan, error) {
	// Skip whitespace between values.
	for {
		for f.off < f.n && isSpace(f.buf[f.off]) {
			f.off++
		}
		if f.off < f.n {
			break
		}
		if err := f.fill(); err != nil {
			return nil, valueScan{}, err
		}
	}
	if c := f.buf[f.off]; c != '{' {
		return nil, valueScan{}, &malformedError{fmt.Errorf("invalid character %q looking for beginning of a watch event object", c)}
	}
	var s valueScan
	checked := 0
	for {
		if s.scan(f.buf[f.off:f.n]) {
			frame := f.buf[f.off : f.off+s.end]
			f.off += s.end
			return frame, s, nil
		}
		partial := f.buf[f.off:f.n]
		if len(partial) >= maxFrame {
			return nil, valueScan{}, &malformedError{fmt.Errorf("watch event larger than %d bytes", maxFrame)}
		}
		// The bracket scan does not validate: check what we have so a
		// syntax error (say a stray '{') is reported now rather than
		// after the stream ends. Only when the partial frame doubled, so
		// the cost stays linear in the frame size.
		if len(partial) >= 2*checked {
			if err := checkPartial(partial); err != nil {
				return nil, valueScan{}, err
			}
			checked = len(partial)
		}
		if err := f.fill(); err != nil {
			if err == io.EOF {
				if err := checkPartial(f.buf[f.off:f.n]); err != nil {
					return nil, valueScan{}, err
				}
				err = io.ErrUnexpectedEOF
			}
			return nil, valueScan{}, err
		}
	}
}

// checkPartial returns a *malformedError if the start of a JSON value
// already contains a syntax error, nil if it is merely incomplete.
func checkPartial(partial []byte) error {
	var v json.RawMessage
	err := json.NewDecoder(bytes.NewReader(partial)).Decode(&v)
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) {
		return &malformedError{err}
	}
	return nil
}

// fill reads more data, moving unread bytes to the front or growing the
// buffer as needed.
func (f *framer) fill() error {
	if f.err != nil {
		return f.err
	}
	if f.off > 0 {
		f.n = copy(f.buf, f.buf[f.off:f.n])
		f.off = 0
	}
	// Grow for a frame larger than the buffer, or for a busy stream: a
	// read that filled all the free space says more is waiting, and
	// larger reads mean fewer system calls and fewer frames straddling
	// two reads (which the line path leaves to the bracket scan). An idle
	// watch keeps its small buffer.
	if f.n == len(f.buf) || (f.full && len(f.buf) < busyBuffer) {
		nb := make([]byte, 2*len(f.buf))
		copy(nb, f.buf[:f.n])
		f.buf = nb
	}
	for {
		free := len(f.buf) - f.n
		m, err := f.r.Read(f.buf[f.n:])
		f.n += m
		f.full = m == free
		if err != nil {
			f.err = err
			if m > 0 {
				return nil
			}
			return err
		}
		if m > 0 {
			return nil
		}
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }
