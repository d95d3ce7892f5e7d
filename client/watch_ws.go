package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// maxWSMessage bounds one WebSocket watch event.
const maxWSMessage = 64 << 20

// wsFrames reads one watch event per WebSocket message.
type wsFrames struct {
	conn      *websocket.Conn
	buf       bytes.Buffer
	closeOnce sync.Once
	broke     func() // marks the server down
}

// dialWebSocket performs the upgrade handshake for req, with the same rate
// limiting, retries, failover and error mapping as plain requests.
func (c *Client) dialWebSocket(ctx context.Context, req *request) (*wsFrames, error) {
	if err := req.validate(); err != nil {
		return nil, err
	}
	var conn *websocket.Conn
	resp, ep, err := c.exchange(ctx, req, func(ctx context.Context, ep *endpoint) (*http.Response, bool, error) {
		h := http.Header{}
		h.Set("Accept", "application/json")
		// kube-apiserver's WebSocket handler rejects a handshake without Origin.
		h.Set("Origin", ep.origin)
		c.setCommonHeaders(ctx, h)
		wc, resp, err := c.dialer.DialContext(ctx, req.url(ep, true).String(), h)
		if err == nil {
			conn = wc
			return resp, true, nil
		}
		if resp != nil {
			return resp, true, nil // a refused handshake: its status decides
		}
		return nil, true, fmt.Errorf("websocket: %w", err)
	})
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	if conn == nil {
		return nil, fmt.Errorf("%s: server answered HTTP %d instead of upgrading to WebSocket", req.describe(), resp.StatusCode)
	}
	conn.SetReadLimit(maxWSMessage)
	return &wsFrames{conn: conn, broke: func() { c.eps.failed(ep) }}, nil
}

func (f *wsFrames) next(ev *rawEvent) error {
	for {
		_, rd, err := f.conn.NextReader()
		if err != nil {
			if errors.Is(err, websocket.ErrReadLimit) {
				return &malformedError{fmt.Errorf("message larger than %d bytes", maxWSMessage)}
			}
			var ce *websocket.CloseError
			if errors.As(err, &ce) && ce.Code == websocket.CloseNormalClosure {
				return io.EOF
			}
			return err
		}
		f.buf.Reset()
		if _, err := f.buf.ReadFrom(rd); err != nil {
			if errors.Is(err, websocket.ErrReadLimit) {
				return &malformedError{fmt.Errorf("message larger than %d bytes", maxWSMessage)}
			}
			return err
		}
		if err := parseMessage(f.buf.Bytes(), ev); err != errEmptyMessage {
			return err
		}
	}
}

var errEmptyMessage = errors.New("empty message")

// recheck parses the last message again with full checks, after its
// unchecked event failed to decode; the message is still in buf.
func (f *wsFrames) recheck(ev *rawEvent) error {
	ev.reset()
	return parseMessageChecked(f.buf.Bytes(), ev)
}

// parseMessage parses one WebSocket message as one watch event. A
// whitespace-only message is skipped (errEmptyMessage): some proxies send
// them as keep-alives. The canonical envelope is taken as the message is,
// unchecked (the line path of frame.go, the message being the line).
func parseMessage(data []byte, ev *rawEvent) error {
	if parseLine(bytes.TrimSpace(data), ev) {
		return nil
	}
	return parseMessageChecked(data, ev)
}

// parseMessageChecked is parseMessage with the bracket scan.
func parseMessageChecked(data []byte, ev *rawEvent) error {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return errEmptyMessage
	}
	var s valueScan
	if data[0] == '{' && s.scan(data) && s.end == len(data) {
		return parseFrame(data, s, ev)
	}
	// Not exactly one object: let the JSON decoder say what is wrong.
	ev.Object = nil
	if err := json.Unmarshal(data, ev); err != nil {
		return &malformedError{fmt.Errorf("message %s: %w", snippet(data), err)}
	}
	return nil
}

// close sends a normal-closure frame (best effort) and closes the socket,
// which unblocks a pending read.
func (f *wsFrames) close() {
	f.closeOnce.Do(func() {
		_ = f.conn.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		f.conn.Close()
	})
}

func snippet(b []byte) string {
	const max = 64
	s := string(b)
	if len(s) > max {
		s = s[:max] + "..."
	}
	return fmt.Sprintf("%q", strings.TrimSpace(s))
}

func (f *wsFrames) broken() {
	if f.broke != nil {
		f.broke()
	}
}
