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
}

// dialWebSocket performs the upgrade handshake for req, with the same rate
// limiting, retries and error mapping as plain requests.
func (c *Client) dialWebSocket(ctx context.Context, req *request) (*wsFrames, error) {
	if err := req.validate(); err != nil {
		return nil, err
	}
	u := c.url(req, true).String()
	h := http.Header{}
	h.Set("Accept", "application/json")
	// kube-apiserver's WebSocket handler rejects a handshake without Origin.
	h.Set("Origin", c.base.Scheme+"://"+c.base.Host)
	c.setCommonHeaders(h)
	for attempt := 0; ; attempt++ {
		if c.limiter != nil {
			if err := c.limiter.Wait(ctx); err != nil {
				return nil, fmt.Errorf("%s: rate limiter: %w", req.describe(), contextErr(ctx, err))
			}
		}
		start := time.Now()
		conn, resp, err := c.dialer.DialContext(ctx, u, h)
		if err == nil {
			c.observe(req, http.StatusSwitchingProtocols, start)
			conn.SetReadLimit(maxWSMessage)
			return &wsFrames{conn: conn}, nil
		}
		if resp == nil {
			c.observe(req, 0, start)
			return nil, fmt.Errorf("%s: websocket: %w", req.describe(), contextErr(ctx, err))
		}
		c.observe(req, resp.StatusCode, start)
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			resp.Body.Close()
			return nil, fmt.Errorf("%s: server answered HTTP %d instead of upgrading to WebSocket", req.describe(), resp.StatusCode)
		}
		if wait, retry := retryAfter(resp); retry && attempt < maxRetries {
			resp.Body.Close()
			if err := sleepCtx(ctx, wait); err != nil {
				return nil, fmt.Errorf("%s: waiting %v to retry after HTTP %d: %w", req.describe(), wait, resp.StatusCode, err)
			}
			continue
		}
		err = responseError(req, resp.StatusCode, resp.Header, resp.Body)
		resp.Body.Close()
		return nil, err
	}
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

// parseMessage parses one WebSocket message as one watch event. A
// whitespace-only message is skipped (errEmptyMessage): some proxies send
// them as keep-alives.
func parseMessage(data []byte, ev *rawEvent) error {
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
