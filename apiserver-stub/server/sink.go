package server

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// frameSink is where a watch writes its events: a chunked HTTP body or a
// WebSocket. write takes one complete event.
type frameSink interface {
	write(frame []byte) error
	flush() error
	close()
}

// chunkedSink streams events as the body of a chunked HTTP response, one
// JSON object per line. Headers are flushed at once: client-go's Watch only
// returns when they arrive.
type chunkedSink struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func newChunkedSink(w http.ResponseWriter) *chunkedSink {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache, private")
	w.WriteHeader(http.StatusOK)
	s := &chunkedSink{w: w, rc: http.NewResponseController(w)}
	_ = s.flush()
	return s
}

func (s *chunkedSink) write(frame []byte) error {
	_, err := s.w.Write(frame)
	return err
}

func (s *chunkedSink) flush() error { return s.rc.Flush() }

// close does nothing: returning from the handler ends the chunked body
// with its terminating chunk, a clean end of stream.
func (s *chunkedSink) close() {}

// isWebSocket reports a WebSocket upgrade request (Upgrade: websocket and
// Connection: upgrade, case-insensitive).
func isWebSocket(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket") &&
		strings.Contains(strings.ToLower(r.Header.Get("Connection")), "upgrade")
}

// upgrader accepts any Origin: watch clients are programs, not browsers, and
// sending an Origin is not required of them.
var upgrader = websocket.Upgrader{
	ReadBufferSize:  1024,
	WriteBufferSize: 16 << 10,
	CheckOrigin:     func(*http.Request) bool { return true },
}

// wsSink sends one text message per event. A reader goroutine discards
// what the client sends and cancels the watch when the client closes.
type wsSink struct {
	conn       *websocket.Conn
	readerDone chan struct{}
	once       sync.Once
}

// wsReadLimit bounds a client message; watch clients send nothing.
const wsReadLimit = 4 << 10

func upgradeWebSocket(w http.ResponseWriter, r *http.Request, cancel context.CancelFunc) (*wsSink, error) {
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return nil, err
	}
	conn.SetReadLimit(wsReadLimit)
	s := &wsSink{conn: conn, readerDone: make(chan struct{})}
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
	return s, nil
}

func (s *wsSink) write(frame []byte) error {
	return s.conn.WriteMessage(websocket.TextMessage, frame)
}

func (s *wsSink) flush() error { return nil }

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
