package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// request is one REST call, before it becomes an *http.Request (once per
// attempt: retries rebuild it from here).
type request struct {
	verb         string // Kubernetes verb: get, list, watch, create, update, patch, delete
	method       string
	gvr          schema.GroupVersionResource
	namespace    string
	name         string
	subresources []string
	query        url.Values
	body         []byte
	contentType  string
	// accept is the Accept header: "" for JSON only, or acceptProtobuf /
	// acceptProtobufWatch for a kind that has protobuf encoding.
	accept string
}

// allowsProto says a protobuf answer was asked for and may be decoded.
func (r *request) allowsProto() bool { return r.accept != "" }

// describe names the target for error messages:
// `list tasks in "ns"`, `get tasks "a" in "ns"`, `update nodes/status "n1"`.
func (r *request) describe() string {
	var b strings.Builder
	b.WriteString(r.verb)
	b.WriteByte(' ')
	b.WriteString(r.gvr.Resource)
	for _, s := range r.subresources {
		b.WriteByte('/')
		b.WriteString(s)
	}
	if r.name != "" {
		b.WriteByte(' ')
		b.WriteString(strconv.Quote(r.name))
	}
	if r.namespace != "" {
		b.WriteString(" in ")
		b.WriteString(strconv.Quote(r.namespace))
	}
	return b.String()
}

// path returns the escaped URL path of r below the client's base:
// /api/v1/... for the core group, /apis/G/V/... otherwise.
func (r *request) path(basePath string) string {
	var b strings.Builder
	b.WriteString(basePath)
	if r.gvr.Group == "" {
		b.WriteString("/api/")
	} else {
		b.WriteString("/apis/")
		b.WriteString(url.PathEscape(r.gvr.Group))
		b.WriteByte('/')
	}
	b.WriteString(url.PathEscape(r.gvr.Version))
	if r.namespace != "" {
		b.WriteString("/namespaces/")
		b.WriteString(url.PathEscape(r.namespace))
	}
	b.WriteByte('/')
	b.WriteString(url.PathEscape(r.gvr.Resource))
	if r.name != "" {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(r.name))
	}
	for _, s := range r.subresources {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	return b.String()
}

// url returns the full URL of r on ep, with scheme (http/https or ws/wss).
func (r *request) url(ep *endpoint, websocket bool) *url.URL {
	u := *ep.base
	p := r.path(ep.base.Path)
	u.Path, _ = url.PathUnescape(p)
	u.RawPath = p
	if len(r.query) > 0 {
		u.RawQuery = r.query.Encode() // sorted by key, like client-go
	}
	if websocket {
		if u.Scheme == "https" {
			u.Scheme = "wss"
		} else {
			u.Scheme = "ws"
		}
	}
	return &u
}

// idempotent reports whether r may be sent again after an attempt that
// may have reached the server: reads, watches and deletes (whose retry
// after a success answers NotFound, but never does anything twice).
func (r *request) idempotent() bool {
	return r.method == http.MethodGet || r.method == http.MethodHead || r.method == http.MethodDelete
}

// validate rejects names that cannot be a path segment. Kubernetes names
// never contain '/', and "." / ".." would be resolved away by proxies.
func (r *request) validate() error {
	for _, s := range []struct{ what, v string }{{"namespace", r.namespace}, {"name", r.name}} {
		if s.v == "." || s.v == ".." || strings.Contains(s.v, "/") {
			return fmt.Errorf("%s: invalid %s %q", r.describe(), s.what, s.v)
		}
	}
	if (r.verb == "get" || r.verb == "update" || r.verb == "patch" || r.verb == "delete") && r.name == "" {
		return fmt.Errorf("%s: name is required", r.describe())
	}
	return nil
}

// send performs r, retrying 429 and 5xx responses that carry Retry-After
// (up to maxRetries, honouring the header and ctx) and moving to another
// server on failures (see Config.Hosts). It returns a response with a 2xx
// status, whose body the caller must close, or an error: an API error for
// any other status, a wrapped transport error otherwise.
func (c *Client) send(ctx context.Context, r *request) (*http.Response, error) {
	resp, _, err := c.sendTo(ctx, r)
	return resp, err
}

// sendTo is send, also returning the endpoint that answered.
func (c *Client) sendTo(ctx context.Context, r *request) (*http.Response, *endpoint, error) {
	if err := r.validate(); err != nil {
		return nil, nil, err
	}
	// Whether an attempt reached a connection matters only for a request
	// that must not be sent twice and that has somewhere else to go.
	traceConn := !r.idempotent() && len(c.eps.list) > 1
	return c.exchange(ctx, r, func(ctx context.Context, ep *endpoint) (*http.Response, bool, error) {
		var gotConn atomic.Bool
		if traceConn {
			ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
				GotConn: func(httptrace.GotConnInfo) { gotConn.Store(true) },
			})
		}
		req, err := c.newHTTPRequest(ctx, r, ep)
		if err != nil {
			return nil, false, err
		}
		resp, err := c.http.Do(req)
		if err != nil {
			// Without a connection, or when the last connection attempt
			// failed to dial (net/http retries a non-idempotent request on
			// a fresh connection only when nothing was written on the
			// first), no byte of the request reached a server.
			sent := !traceConn || (gotConn.Load() && !isDialError(err))
			return nil, sent, err
		}
		return resp, true, nil
	})
}

// attemptFunc performs one attempt of a request against ep. It returns the
// response (any status; for a WebSocket the handshake's, 101 on success)
// or a transport error, and whether the request may have reached the
// server.
type attemptFunc func(ctx context.Context, ep *endpoint) (resp *http.Response, sent bool, err error)

// exchange runs attempts of r until one ends with a 1xx/2xx response,
// which it returns with the endpoint that sent it, or with an error:
//
//   - a transport error or a 503 marks the endpoint down; the request
//     moves at once to a server it has not tried yet, if it is idempotent
//     or was never sent (a 503 counts as sent unless it carries
//     Retry-After, the server's word that it did nothing);
//   - otherwise, like client-go: 429 and 5xx with Retry-After are retried
//     after the wait (up to maxRetries), and a GET whose connection
//     dropped after a second; every other non-2xx is an API error.
func (c *Client) exchange(ctx context.Context, r *request, try attemptFunc) (*http.Response, *endpoint, error) {
	release := func() {}
	defer func() { release() }() // a no-op once the body owns the timeout
	var tried triedSet
	reauthed := false // an exec plugin's token refused once: run it again
	// another records ep as tried and reports whether a server this
	// request has not tried yet remains.
	another := func(ep *endpoint) bool {
		tried.add(ep.index)
		return tried.len() < len(c.eps.list)
	}
	for attempt := 0; ; attempt++ {
		if c.limiter != nil {
			if err := c.limiter.Wait(ctx); err != nil {
				return nil, nil, fmt.Errorf("%s: rate limiter: %w", r.describe(), contextErr(ctx, err))
			}
		}
		if attempt == 0 && c.timeout > 0 && r.verb != "watch" {
			// Like client-go: the first wait for the rate limiter does not
			// count against Config.Timeout; everything after it does.
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, c.timeout)
			release = cancel
		}
		ep := c.eps.pick(&tried)
		tctx := ctx
		var tok string
		if c.exec != nil {
			var err error
			if tok, err = c.exec.token(ctx); err != nil {
				return nil, nil, fmt.Errorf("%s: %w", r.describe(), err)
			}
			tctx = withToken(ctx, tok)
		}
		start := time.Now()
		resp, sent, err := try(tctx, ep)
		if err != nil {
			c.observe(r, 0, start)
			if ctx.Err() == nil {
				c.eps.failed(ep)
				if (r.idempotent() || !sent) && another(ep) {
					c.log.DebugContext(ctx, "trying another server after connection error", "request", r.describe(),
						"server", ep.host, "err", err, "attempt", attempt+1)
					continue
				}
				if r.method == http.MethodGet && attempt < maxRetries && isProbableEOF(err) {
					// A dropped connection on a read: retry like client-go,
					// after its artificial one-second Retry-After.
					c.log.DebugContext(ctx, "retrying request after connection error", "request", r.describe(),
						"err", err, "attempt", attempt+1)
					if sleepCtx(ctx, time.Second) == nil {
						tried.reset()
						continue
					}
				}
			}
			return nil, nil, fmt.Errorf("%s: %w", r.describe(), contextErr(ctx, err))
		}
		c.observe(r, resp.StatusCode, start)
		wait, retry := retryAfter(resp)
		if resp.StatusCode == http.StatusServiceUnavailable {
			c.eps.failed(ep)
			if (r.idempotent() || retry) && another(ep) {
				drain(resp.Body)
				c.log.DebugContext(ctx, "trying another server after HTTP 503", "request", r.describe(),
					"server", ep.host, "attempt", attempt+1)
				continue
			}
		} else if c.eps.succeeded(ep) {
			c.log.InfoContext(ctx, "client: now using another API server", "server", ep.host)
		}
		if resp.StatusCode == http.StatusUnauthorized && c.exec != nil && !reauthed {
			// The plugin's token expired early or was revoked: get a new
			// one and try once more, as client-go's exec authenticator.
			drain(resp.Body)
			c.exec.invalidate(tok)
			reauthed = true
			c.log.DebugContext(ctx, "exec plugin token refused, running the plugin again", "request", r.describe())
			continue
		}
		if resp.StatusCode < 300 {
			resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: release}
			release = func() {}
			return resp, ep, nil
		}
		if retry && resp.StatusCode == http.StatusGatewayTimeout && isTooLargeRV(resp) {
			// The server has not reached the requested resourceVersion:
			// retrying the same request cannot help when it lost its data
			// (it restarted empty), and the caller (the reflector) must
			// see it at once to relist consistently.
			retry = false
		}
		if retry && attempt < maxRetries {
			drain(resp.Body)
			c.log.DebugContext(ctx, "retrying request", "request", r.describe(), "code", resp.StatusCode,
				"retryAfter", wait, "attempt", attempt+1)
			if err := sleepCtx(ctx, wait); err != nil {
				return nil, nil, fmt.Errorf("%s: waiting %v to retry after HTTP %d: %w", r.describe(), wait, resp.StatusCode, err)
			}
			tried.reset()
			continue
		}
		err = responseError(r, resp.StatusCode, resp.Header, resp.Body)
		resp.Body.Close()
		return nil, nil, err
	}
}

// cancelOnClose releases a request's timeout when its body is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

func (c *Client) newHTTPRequest(ctx context.Context, r *request, ep *endpoint) (*http.Request, error) {
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, r.url(ep, false).String(), body)
	if err != nil {
		return nil, err
	}
	accept := r.accept
	if accept == "" {
		accept = ContentTypeJSON
	}
	req.Header.Set("Accept", accept)
	if r.body != nil {
		ct := r.contentType
		if ct == "" {
			ct = "application/json"
		}
		req.Header.Set("Content-Type", ct)
	}
	c.setCommonHeaders(ctx, req.Header)
	return req, nil
}

func (c *Client) setCommonHeaders(ctx context.Context, h http.Header) {
	h.Set("User-Agent", c.userAgent)
	tok := c.token
	if t, ok := ctx.Value(tokenKey{}).(string); ok {
		tok = t
	}
	if tok != "" {
		h.Set("Authorization", "Bearer "+tok)
	}
}

func (c *Client) observe(r *request, code int, start time.Time) {
	if c.metrics != nil {
		c.metrics.ObserveRequest(r.verb, r.gvr.Resource, code, time.Since(start))
	}
}

// isTooLargeRV reports whether resp is a Status with the cause
// ResourceVersionTooLarge. It reads the body (bounded) and puts it back.
func isTooLargeRV(resp *http.Response) bool {
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	if err != nil {
		return false
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == ContentTypeProtobuf {
		st, ok := decodeStatus(ContentTypeProtobuf, b)
		if !ok || st.Details == nil {
			return false
		}
		for _, c := range st.Details.Causes {
			if c.Type == metav1.CauseTypeResourceVersionTooLarge {
				return true
			}
		}
		return false
	}
	return bytes.Contains(b, []byte(`"`+string(metav1.CauseTypeResourceVersionTooLarge)+`"`))
}

// retryAfter reports whether resp may be retried and after how long:
// 429 and 5xx with an integer Retry-After header, like client-go.
func retryAfter(resp *http.Response) (time.Duration, bool) {
	if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode < 500 {
		return 0, false
	}
	secs, ok := retryAfterSeconds(resp.Header)
	if !ok {
		return 0, false
	}
	return time.Duration(secs) * time.Second, true
}

// maxRetryAfter caps a single server-requested wait; the caller's context
// bounds the total.
const maxRetryAfter = 10 * time.Minute

func retryAfterSeconds(h http.Header) (int, bool) {
	v := h.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	secs, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || secs < 0 {
		return 0, false
	}
	if time.Duration(secs)*time.Second > maxRetryAfter {
		secs = int(maxRetryAfter / time.Second)
	}
	return secs, true
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// drain reads a little of an unwanted body so the connection can be reused.
func drain(body io.ReadCloser) {
	_, _ = io.CopyN(io.Discard, body, 64<<10)
	body.Close()
}

// isProbableEOF reports a connection that broke under a request (reset,
// closed, EOF), as opposed to one that could not be made at all.
func isProbableEOF(err error) bool {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "connection reset by peer") || strings.Contains(msg, "http2: client connection lost") ||
		strings.Contains(msg, "server sent GOAWAY and closed the connection")
}

// isDialError reports an error from making a connection (refused,
// unreachable, no route, dial timeout): the request was not sent.
func isDialError(err error) bool {
	var op *net.OpError
	return (errors.As(err, &op) && op.Op == "dial") || errors.Is(err, syscall.ECONNREFUSED)
}

// contextErr prefers the context's error (Canceled, DeadlineExceeded) over
// the transport's rewording of it, so errors.Is works for callers.
func contextErr(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
		return fmt.Errorf("%w (%v)", ctxErr, err)
	}
	return err
}
