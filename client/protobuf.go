package client

// Protobuf for built-in kinds. kube-apiserver encodes k8s.io/api kinds as
// protobuf when asked (client-go asks by default), which costs both sides
// far less CPU than JSON. Three shapes reach the client:
//
//   - a get, create, update or patch answer, and any Status error body: the
//     envelope "k8s\x00" + runtime.Unknown{typeMeta, raw}, raw being the
//     object's own message (which carries no kind or apiVersion);
//   - a list answer: the same envelope around an XList message, whose field
//     1 is the ListMeta and field 2, repeated, the items;
//   - a watch stream (Content-Type ...;stream=watch): frames each preceded
//     by a 4-byte big-endian length, each a metav1.WatchEvent message (field
//     1 the type, field 2 a RawExtension whose field 1 holds one envelope).
//
// The envelopes are walked here with protowire rather than decoded into
// runtime.Unknown and metav1.WatchEvent: that way the object's bytes are
// never copied out of the frame, the kind and apiVersion are compared
// without allocating, and list items are unmarshalled straight into the Ts
// the caller gets (a ConfigMapList would hold values, to be copied out).
// Only the object's message itself goes through its generated Unmarshal.
//
// Every parser here returns an error for bytes that are not what it
// expects and never panics; the fuzz targets in protobuf_fuzz_test.go hold
// them to that.

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"mime"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"

	"google.golang.org/protobuf/encoding/protowire"
)

// Media types the client speaks. ContentTypeProtobuf is only ever asked for
// kinds whose Go type has protobuf encoding; JSON stays the fallback in the
// same Accept header, so a server that has no protobuf (apiserver-stub,
// any custom resource) answers JSON.
const (
	ContentTypeJSON     = "application/json"
	ContentTypeProtobuf = "application/vnd.kubernetes.protobuf"

	acceptProtobuf      = ContentTypeProtobuf + ", " + ContentTypeJSON
	acceptProtobufWatch = ContentTypeProtobuf + ";stream=watch, " + ContentTypeJSON
)

// protoMagic starts every protobuf-encoded object (not a watch frame).
var protoMagic = []byte("k8s\x00")

// protoMessage is what the gogo-generated k8s.io/api types implement; a
// pointer T that does is decoded from protobuf when the server sends it.
type protoMessage interface {
	Marshal() ([]byte, error)
	Unmarshal([]byte) error
}

// wireFormat is how a response body is encoded.
type wireFormat uint8

const (
	formatJSON wireFormat = iota
	formatProtobuf
)

// responseFormat reads the Content-Type of a 2xx response: JSON (or no
// Content-Type, which client-go also accepts), or protobuf when the
// request asked for it (allowProto). Anything else would not decode.
func responseFormat(contentType string, allowProto bool) (wireFormat, error) {
	if contentType == "" {
		return formatJSON, nil
	}
	mt, _, err := mime.ParseMediaType(contentType)
	switch {
	case err != nil:
	case mt == ContentTypeJSON || (len(mt) > 5 && mt[len(mt)-5:] == "+json"):
		return formatJSON, nil
	case mt == ContentTypeProtobuf && allowProto:
		return formatProtobuf, nil
	}
	want := ContentTypeJSON
	if allowProto {
		want += " or " + ContentTypeProtobuf
	}
	return 0, fmt.Errorf("unexpected response Content-Type %q, want %s", contentType, want)
}

// protoFields walks the fields of one protobuf message. Length-delimited
// values alias the message; other wire types are skipped (val is nil).
// After next returns false, err says whether the message was malformed.
type protoFields struct {
	b   []byte
	err error
}

func (p *protoFields) next() (num protowire.Number, typ protowire.Type, val []byte, ok bool) {
	if len(p.b) == 0 || p.err != nil {
		return 0, 0, nil, false
	}
	num, typ, n := protowire.ConsumeTag(p.b)
	if n < 0 {
		p.err = fmt.Errorf("protobuf field tag: %w", protowire.ParseError(n))
		return 0, 0, nil, false
	}
	p.b = p.b[n:]
	if typ == protowire.BytesType {
		val, n = protowire.ConsumeBytes(p.b)
	} else {
		n = protowire.ConsumeFieldValue(num, typ, p.b)
	}
	if n < 0 {
		p.err = fmt.Errorf("protobuf field %d: %w", num, protowire.ParseError(n))
		return 0, 0, nil, false
	}
	p.b = p.b[n:]
	return num, typ, val, true
}

// bytesField returns val if typ is length-delimited, else an error naming
// the field: a message whose field has another wire type is malformed.
func bytesField(what string, typ protowire.Type, val []byte) ([]byte, error) {
	if typ != protowire.BytesType {
		return nil, fmt.Errorf("%s has protobuf wire type %d, want bytes", what, typ)
	}
	return val, nil
}

// protoEnvelope is a parsed "k8s\x00" + runtime.Unknown. Its fields alias
// the bytes parsed.
type protoEnvelope struct {
	apiVersion, kind []byte
	raw              []byte
}

// parseEnvelope parses the envelope of one protobuf-encoded object.
func parseEnvelope(data []byte) (protoEnvelope, error) {
	var env protoEnvelope
	body, ok := bytes.CutPrefix(data, protoMagic)
	if !ok {
		return env, fmt.Errorf("protobuf object does not start with the magic number %q", protoMagic)
	}
	var contentEncoding, contentType []byte
	f := protoFields{b: body}
	for {
		num, typ, val, ok := f.next()
		if !ok {
			break
		}
		var err error
		switch num {
		case 1: // typeMeta
			var tm []byte
			if tm, err = bytesField("Unknown.typeMeta", typ, val); err != nil {
				return env, err
			}
			if err = parseTypeMeta(tm, &env); err != nil {
				return env, err
			}
		case 2:
			env.raw, err = bytesField("Unknown.raw", typ, val)
		case 3:
			contentEncoding, err = bytesField("Unknown.contentEncoding", typ, val)
		case 4:
			contentType, err = bytesField("Unknown.contentType", typ, val)
		}
		if err != nil {
			return env, err
		}
	}
	if f.err != nil {
		return env, fmt.Errorf("protobuf envelope: %w", f.err)
	}
	if len(contentEncoding) > 0 {
		return env, fmt.Errorf("protobuf envelope has content encoding %.64q, which is not supported", contentEncoding)
	}
	if len(contentType) > 0 && string(contentType) != ContentTypeProtobuf {
		return env, fmt.Errorf("protobuf envelope holds content type %.64q", contentType)
	}
	return env, nil
}

func parseTypeMeta(data []byte, env *protoEnvelope) error {
	f := protoFields{b: data}
	for {
		num, typ, val, ok := f.next()
		if !ok {
			break
		}
		var err error
		switch num {
		case 1:
			env.apiVersion, err = bytesField("TypeMeta.apiVersion", typ, val)
		case 2:
			env.kind, err = bytesField("TypeMeta.kind", typ, val)
		}
		if err != nil {
			return err
		}
	}
	if f.err != nil {
		return fmt.Errorf("protobuf envelope typeMeta: %w", f.err)
	}
	return nil
}

// parseProtoWatchEvent fills ev from one frame of a protobuf watch stream:
// a metav1.WatchEvent. ev.Object is the object's envelope, aliasing frame.
func parseProtoWatchEvent(frame []byte, ev *rawEvent) error {
	ev.proto = true
	f := protoFields{b: frame}
	for {
		num, typ, val, ok := f.next()
		if !ok {
			break
		}
		switch num {
		case 1:
			t, err := bytesField("WatchEvent.type", typ, val)
			if err != nil {
				return &malformedError{err}
			}
			ev.Type = eventType(t)
		case 2:
			ext, err := bytesField("WatchEvent.object", typ, val)
			if err != nil {
				return &malformedError{err}
			}
			raw, err := rawExtension(ext)
			if err != nil {
				return &malformedError{err}
			}
			ev.Object = raw
		}
	}
	if f.err != nil {
		return &malformedError{fmt.Errorf("protobuf watch event: %w", f.err)}
	}
	return nil
}

// eventType returns t as a watch.EventType, without allocating for the
// known ones.
func eventType(t []byte) watch.EventType {
	for _, k := range knownTypes {
		if string(t) == string(k) {
			return k
		}
	}
	if len(t) > 64 {
		t = t[:64] // only ever printed in an error
	}
	return watch.EventType(t)
}

// rawExtension returns the raw field of a runtime.RawExtension message.
func rawExtension(data []byte) ([]byte, error) {
	var raw []byte
	f := protoFields{b: data}
	for {
		num, typ, val, ok := f.next()
		if !ok {
			break
		}
		if num == 1 {
			var err error
			if raw, err = bytesField("RawExtension.raw", typ, val); err != nil {
				return nil, err
			}
		}
	}
	if f.err != nil {
		return nil, fmt.Errorf("protobuf watch event object: %w", f.err)
	}
	return raw, nil
}

// decodeProto decodes one protobuf-encoded object (envelope included).
// strict is as for decode; the kind and apiVersion come from the envelope.
func (c *codec[T]) decodeProto(data []byte, strict bool) (T, error) {
	var zero T
	env, err := parseEnvelope(data)
	if err != nil {
		return zero, err
	}
	obj, err := c.unmarshalProto(env.raw)
	if err != nil {
		return zero, err
	}
	c.setKind(obj, env.apiVersion, env.kind)
	if err := c.checkKind(obj, strict); err != nil {
		return zero, err
	}
	return obj, nil
}

// unmarshalProto decodes one object's own message (no envelope) into a new T.
func (c *codec[T]) unmarshalProto(raw []byte) (T, error) {
	var zero T
	obj := c.new()
	pm, ok := any(obj).(protoMessage)
	if !ok {
		return zero, fmt.Errorf("%s has no protobuf encoding in Go type %T", c.kindName(), obj)
	}
	if err := pm.Unmarshal(raw); err != nil {
		return zero, fmt.Errorf("unmarshal protobuf %s: %w", c.kindName(), err)
	}
	return obj, nil
}

// setKind sets obj's kind and apiVersion from an envelope's, sharing the
// descriptor's strings when they match (the usual case: no allocation).
func (c *codec[T]) setKind(obj T, apiVersion, kind []byte) {
	if string(kind) == c.gvk.Kind && string(apiVersion) == c.gv {
		obj.GetObjectKind().SetGroupVersionKind(c.gvk)
		return
	}
	gv, err := schema.ParseGroupVersion(string(apiVersion))
	if err != nil {
		// Keep the bad value visible: checkKind reports the mismatch.
		gv = schema.GroupVersion{Version: string(apiVersion)}
	}
	obj.GetObjectKind().SetGroupVersionKind(gv.WithKind(string(kind)))
}

// decodeProtoList decodes a protobuf list answer into its items and list
// metadata. Items carry no kind of their own: they get the descriptor's.
func (c *codec[T]) decodeProtoList(data []byte) ([]T, metav1.ListMeta, error) {
	var meta metav1.ListMeta
	env, err := parseEnvelope(data)
	if err != nil {
		return nil, meta, err
	}
	if err := c.checkListKind(string(env.kind), string(env.apiVersion)); err != nil {
		return nil, meta, err
	}
	var items []T
	f := protoFields{b: env.raw}
	for {
		num, typ, val, ok := f.next()
		if !ok {
			break
		}
		switch num {
		case 1:
			b, err := bytesField("list metadata", typ, val)
			if err != nil {
				return nil, meta, err
			}
			meta.Reset()
			if err := meta.Unmarshal(b); err != nil {
				return nil, meta, fmt.Errorf("unmarshal protobuf list metadata: %w", err)
			}
		case 2:
			b, err := bytesField("list item", typ, val)
			if err != nil {
				return nil, meta, fmt.Errorf("items[%d]: %w", len(items), err)
			}
			if items == nil {
				items = make([]T, 0, countField(f.b, 2)+1)
			}
			obj, err := c.unmarshalProto(b)
			if err != nil {
				return nil, meta, fmt.Errorf("items[%d]: %w", len(items), err)
			}
			obj.GetObjectKind().SetGroupVersionKind(c.gvk)
			items = append(items, obj)
		}
	}
	if f.err != nil {
		return nil, meta, fmt.Errorf("protobuf list: %w", f.err)
	}
	return items, meta, nil
}

// countField counts the occurrences of field num in a message (0 on a
// malformed one): the capacity for a list's items, found by skipping over
// them, which costs little next to decoding them.
func countField(b []byte, num protowire.Number) int {
	n := 0
	f := protoFields{b: b}
	for {
		got, _, _, ok := f.next()
		if !ok {
			return n
		}
		if got == num {
			n++
		}
	}
}

// decodeProtoStatus decodes a protobuf-encoded metav1.Status (an error
// body, or the object of an ERROR watch event).
func decodeProtoStatus(data []byte) (*metav1.Status, error) {
	env, err := parseEnvelope(data)
	if err != nil {
		return nil, err
	}
	if string(env.kind) != "Status" {
		if len(env.kind) == 0 {
			return nil, errors.New("object has no kind, want Status")
		}
		return nil, fmt.Errorf("got kind %.64q, want Status", env.kind)
	}
	if v := string(env.apiVersion); v != "" && v != "v1" && v != "meta.k8s.io/v1" {
		return nil, fmt.Errorf("got Status of apiVersion %.64q, want v1", env.apiVersion)
	}
	st := &metav1.Status{}
	if err := st.Unmarshal(env.raw); err != nil {
		return nil, fmt.Errorf("unmarshal protobuf Status: %w", err)
	}
	st.TypeMeta = metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}
	if st.Status == "" {
		st.Status = metav1.StatusFailure
	}
	return st, nil
}

// lengthFramer cuts a protobuf watch stream into frames, each preceded by
// its length as 4 bytes big-endian. The frame returned is valid until the
// next call (the buffer is reused).
type lengthFramer struct {
	r   *bufio.Reader
	hdr [4]byte
	buf []byte
}

func newLengthFramer(r io.Reader) *lengthFramer {
	// The buffer saves a read (and, on HTTP/2, a lock) per length prefix;
	// frames larger than it are read straight into buf.
	return &lengthFramer{r: bufio.NewReaderSize(r, 32<<10)}
}

// next returns the next frame. Errors: io.EOF at a clean end between
// frames, io.ErrUnexpectedEOF inside one, the reader's error, or a
// *malformedError for a length above maxFrame.
func (f *lengthFramer) next() ([]byte, error) {
	if _, err := io.ReadFull(f.r, f.hdr[:]); err != nil {
		return nil, err // io.EOF only when no byte of the header came
	}
	n := binary.BigEndian.Uint32(f.hdr[:])
	if uint64(n) > uint64(maxFrame) {
		return nil, &malformedError{fmt.Errorf("protobuf watch frame of %d bytes, larger than %d", n, maxFrame)}
	}
	if uint64(cap(f.buf)) < uint64(n) {
		size := max(int(n), 4<<10)
		if d := 2 * cap(f.buf); d > size && d <= maxFrame {
			size = d
		}
		f.buf = make([]byte, size)
	}
	frame := f.buf[:n]
	if _, err := io.ReadFull(f.r, frame); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return frame, nil
}
