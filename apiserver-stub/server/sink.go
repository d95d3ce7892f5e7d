package server

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/kunos-io/listwatch/apiserver-stub/storage"
)

// frameSink is where a watch writes its events: a chunked HTTP body or a
// WebSocket. write takes one complete event; writeRecord writes the event
// of type t carrying rec, built in the sink's own buffer (appendEventFrame).
type frameSink interface {
	write(frame []byte) error
	writeRecord(t watch.EventType, rec *storage.Record) error
	flush() error
	// buffered is how many bytes write and writeRecord have queued since
	// the last flush.
	buffered() int
	close()
}

// chunkedSink streams events as the body of a chunked HTTP response, one
// JSON object per line. Headers are flushed at once: client-go's Watch only
// returns when they arrive.
//
// Every write has a deadline: a client that does not take an event within
// the write timeout (it stopped reading, or its connection is dead without
// a reset) has its connection cut, so that it holds neither the connection
// nor this goroutine. The deadline is pushed forward before writes, at
// most every quarter of the timeout, so that a write always has at least
// three quarters of it.
//
// Frames gather in buf until flush, which hands them to net/http in one
// Write: the connection sees one chunk, and a write(2) or two, per flush
// however many events it carries.
type chunkedSink struct {
	buf       []byte
	w         http.ResponseWriter
	rc        *http.ResponseController
	timeout   time.Duration
	refreshAt time.Time
	failed    bool // a write failed: the client is gone or was cut
}

func newChunkedSink(w http.ResponseWriter, writeTimeout time.Duration) *chunkedSink {
	s := &chunkedSink{w: w, rc: http.NewResponseController(w), timeout: writeTimeout}
	s.deadline()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache, private")
	w.WriteHeader(http.StatusOK)
	_ = s.flush()
	return s
}

func (s *chunkedSink) deadline() {
	if now := time.Now(); now.After(s.refreshAt) {
		_ = s.rc.SetWriteDeadline(now.Add(s.timeout))
		s.refreshAt = now.Add(s.timeout / 4)
	}
}

func (s *chunkedSink) write(frame []byte) error {
	s.buf = append(s.buf, frame...)
	return nil
}

func (s *chunkedSink) writeRecord(t watch.EventType, rec *storage.Record) error {
	s.buf = appendEventFrame(s.buf, t, rec.Data)
	return nil
}

func (s *chunkedSink) buffered() int { return len(s.buf) }

// maxKeptSinkBuffer is the largest buffer a sink keeps between flushes; a
// larger one (after a burst) is let go.
const maxKeptSinkBuffer = 1 << 20

func (s *chunkedSink) flush() error {
	s.deadline()
	var err error
	if len(s.buf) > 0 {
		_, err = s.w.Write(s.buf)
		if cap(s.buf) > maxKeptSinkBuffer {
			s.buf = nil
		} else {
			s.buf = s.buf[:0]
		}
	}
	if err == nil {
		err = s.rc.Flush()
	}
	s.failed = s.failed || err != nil
	return err
}

// close leaves the terminating chunk, which net/http writes when the
// handler returns, a fresh deadline: a clean end of stream for a client
// that reads. After a failed write there is nobody to end cleanly for,
// and nothing more may wait.
func (s *chunkedSink) close() {
	if s.failed {
		_ = s.rc.SetWriteDeadline(time.Now())
		return
	}
	s.refreshAt = time.Time{}
	s.deadline()
}

// isWebSocket reports a WebSocket upgrade request (Upgrade: websocket and
// Connection: upgrade, case-insensitive).
func isWebSocket(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket") &&
		strings.Contains(strings.ToLower(r.Header.Get("Connection")), "upgrade")
}

// upgrader accepts any Origin: watch clients are programs, not browsers, and
// sending an Origin is not required of them. It negotiates no subprotocol
// (kube-apiserver has none for watches): one the client offers is not
// chosen, and the client decides whether it can go on without. A failed
// handshake is answered with a Status, like every other error.
var upgrader = websocket.Upgrader{
	HandshakeTimeout: 10 * time.Second,
	ReadBufferSize:   1024,
	WriteBufferSize:  16 << 10,
	CheckOrigin:      func(*http.Request) bool { return true },
	Error: func(w http.ResponseWriter, _ *http.Request, status int, reason error) {
		writeError(w, upgradeError(status, reason))
	},
}

// upgradeError is the Status of a failed WebSocket handshake: gorilla's
// code (400 for a malformed handshake, 405 for a method other than GET)
// with its explanation.
func upgradeError(status int, reason error) error {
	st := metav1.Status{Status: metav1.StatusFailure, Code: int32(status), Message: "WebSocket upgrade failed: " + reason.Error()}
	switch status {
	case http.StatusBadRequest:
		st.Reason = metav1.StatusReasonBadRequest
	case http.StatusForbidden:
		st.Reason = metav1.StatusReasonForbidden
	case http.StatusMethodNotAllowed:
		st.Reason = metav1.StatusReasonMethodNotAllowed
	default:
		st.Reason = metav1.StatusReasonInternalError
	}
	return &apierrors.StatusError{ErrStatus: st}
}

// wsSink sends one text message per event, each within the write timeout
// (see chunkedSink). A reader goroutine discards what the client sends and
// cancels the watch when the client closes.
type wsSink struct {
	conn       *websocket.Conn
	buf        []byte // queued events, back to back
	ends       []int  // where each queued event ends in buf
	timeout    time.Duration
	readerDone chan struct{}
	once       sync.Once
}

// wsReadLimit bounds a client message; watch clients send nothing.
const wsReadLimit = 4 << 10

// upgradeWebSocket upgrades the connection, or answers a Status and
// returns its code.
func upgradeWebSocket(w http.ResponseWriter, r *http.Request, cancel context.CancelFunc, writeTimeout time.Duration) (*wsSink, int) {
	u := upgrader
	code := http.StatusBadRequest
	u.Error = func(w http.ResponseWriter, r *http.Request, status int, reason error) {
		code = status
		upgrader.Error(w, r, status, reason)
	}
	conn, err := u.Upgrade(w, r, nil)
	if err != nil {
		return nil, code
	}
	conn.SetReadLimit(wsReadLimit)
	s := &wsSink{conn: conn, timeout: writeTimeout, readerDone: make(chan struct{})}
	go func() {
		defer close(s.readerDone)
		defer cancel()
		for {
			_, rd, err := conn.NextReader()
			if err != nil {
				return
			}
			if _, err := io.Copy(io.Discard, rd); err != nil {
				return
			}
		}
	}()
	return s, http.StatusSwitchingProtocols
}

// write and writeRecord queue an event in buf; flush sends each queued
// event as one text message. The messages of a watch thus go out in its
// flush slot (see streamWatch), as a chunked watch's writes do.
func (s *wsSink) write(frame []byte) error {
	s.buf = append(s.buf, frame...)
	s.ends = append(s.ends, len(s.buf))
	return nil
}

func (s *wsSink) writeRecord(t watch.EventType, rec *storage.Record) error {
	s.buf = appendEventFrame(s.buf, t, rec.Data)
	s.ends = append(s.ends, len(s.buf))
	return nil
}

func (s *wsSink) buffered() int { return len(s.buf) }

func (s *wsSink) flush() error {
	start := 0
	for _, end := range s.ends {
		_ = s.conn.SetWriteDeadline(time.Now().Add(s.timeout))
		if err := s.conn.WriteMessage(websocket.TextMessage, s.buf[start:end]); err != nil {
			return err
		}
		start = end
	}
	s.ends = s.ends[:0]
	if cap(s.buf) > maxKeptSinkBuffer {
		s.buf = nil
	} else {
		s.buf = s.buf[:0]
	}
	return nil
}

// close sends a normal close, closes the connection and waits for the
// reader goroutine.
func (s *wsSink) close() {
	s.once.Do(func() {
		msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
		_ = s.conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
		// Give the client a moment to answer the close, then cut.
		select {
		case <-s.readerDone:
		case <-time.After(time.Second):
		}
		_ = s.conn.Close()
		<-s.readerDone
	})
}
