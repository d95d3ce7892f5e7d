package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Timeouts. Every request but a watch is bounded as kube-apiserver bounds
// it (pkg/endpoints/filters/request_deadline.go WithRequestDeadline and
// pkg/server/filters/timeout.go WithTimeoutForNonLongRunningRequests):
//
//   - its context ends at the request timeout (--request-timeout, 60s),
//     lowered by a positive ?timeout=;
//   - the handler runs in its own goroutine; if it has not answered by the
//     deadline, the client gets 504 Timeout "request did not complete
//     within the allotted timeout" and what the handler writes later is
//     dropped; if it had begun answering, the connection is cut;
//   - the request body must arrive within the body read timeout (a read
//     deadline on the connection), else 504 and the connection is closed:
//     a body that trickles or stops short of its Content-Length holds
//     neither a connection nor a goroutine;
//   - writing the answer is bounded by a write deadline a little after the
//     request deadline, so a client that does not read cannot hold the
//     handler either.
//
// Watches are bounded per event instead (WatchWriteTimeout, in sink.go).

// requestTimeout is the timeout of a request that is not a watch: the
// server's, lowered by a positive ?timeout= (a Go duration), as
// kube-apiserver's WithRequestDeadline. A malformed one is 400.
func (s *Server) requestTimeout(q url.Values) (time.Duration, error) {
	d := s.reqTimeout
	v := q.Get("timeout")
	if v == "" {
		return d, nil
	}
	t, err := time.ParseDuration(v)
	if err != nil {
		return 0, apierrors.NewBadRequest(fmt.Sprintf("invalid timeout specified in the request URL - %v", err))
	}
	if t > 0 && t < d {
		d = t
	}
	return d, nil
}

// writeGrace is how long after its deadline the answer of a request may
// still be written.
const writeGrace = 5 * time.Second

// serveWithTimeout serves a request that is not a watch within its timeout.
func (s *Server) serveWithTimeout(w http.ResponseWriter, r *http.Request) {
	var q url.Values
	if r.URL.RawQuery != "" {
		q = r.URL.Query()
	}
	timeout, err := s.requestTimeout(q)
	if err != nil {
		writeError(w, err)
		return
	}
	deadline := time.Now().Add(timeout)
	ctx, cancel := context.WithDeadline(r.Context(), deadline)
	defer cancel()
	_ = http.NewResponseController(w).SetWriteDeadline(deadline.Add(writeGrace))

	tw := &timeoutWriter{w: w, header: make(http.Header)}
	done := make(chan any, 1)
	r = r.WithContext(ctx)
	go func() {
		defer func() {
			p := recover()
			tw.finish()
			done <- p
		}()
		s.serve(tw, r)
	}()
	select {
	case p := <-done:
		if p != nil {
			panic(p) // http.ErrAbortHandler: serve turns other panics into a 500
		}
		return
	case <-ctx.Done():
	}
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		// net/http also cancels the context when a read fails (the body
		// read timeout) or the client leaves; the handler still answers
		// then, and only the deadline cuts it short.
		timer := time.NewTimer(time.Until(deadline))
		defer timer.Stop()
		select {
		case p := <-done:
			if p != nil {
				panic(p)
			}
			return
		case <-timer.C:
		}
	}
	switch tw.timeout(apierrors.NewTimeoutError("request did not complete within the allotted timeout", 0)) {
	case handlerFinished:
		// It finished right at the deadline: its answer stands.
		if p := <-done; p != nil {
			panic(p)
		}
	case answerBegun:
		// The only honest end is a cut.
		panic(http.ErrAbortHandler)
	}
}

// timeoutWriter is the ResponseWriter of a handler that may be timed out:
// headers are the handler's own until it writes them, and after a timeout
// its writes fail with http.ErrHandlerTimeout.
type timeoutWriter struct {
	w      http.ResponseWriter
	header http.Header // the handler's; copied to w when it writes its header

	mu          sync.Mutex
	wroteHeader bool
	timedOut    bool
	finished    bool
}

// What timeout found.
const (
	answeredTimeout = iota // the handler had not answered: the 504 is sent
	answerBegun            // it had begun its answer: the connection must be cut
	handlerFinished        // it had answered in full
)

func (tw *timeoutWriter) Header() http.Header { return tw.header }

func (tw *timeoutWriter) WriteHeader(code int) {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	if tw.timedOut || tw.wroteHeader {
		return
	}
	tw.writeHeaderLocked(code)
}

func (tw *timeoutWriter) writeHeaderLocked(code int) {
	dst := tw.w.Header()
	for k, v := range tw.header {
		dst[k] = v
	}
	tw.wroteHeader = true
	tw.w.WriteHeader(code)
}

func (tw *timeoutWriter) Write(p []byte) (int, error) {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	if tw.timedOut {
		return 0, http.ErrHandlerTimeout
	}
	if !tw.wroteHeader {
		tw.writeHeaderLocked(http.StatusOK)
	}
	return tw.w.Write(p)
}

// Unwrap lets http.ResponseController reach the connection (read and
// write deadlines).
func (tw *timeoutWriter) Unwrap() http.ResponseWriter { return tw.w }

// timeout ends the handler's say: it answers err unless the handler had
// begun or finished its answer, and reports which.
func (tw *timeoutWriter) timeout(err error) int {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	switch {
	case tw.finished:
		return handlerFinished
	case tw.wroteHeader:
		tw.timedOut = true
		return answerBegun
	}
	tw.timedOut = true
	writeError(tw.w, err)
	return answeredTimeout
}

// finish marks the handler done: nothing it wrote may be cut any more.
func (tw *timeoutWriter) finish() {
	tw.mu.Lock()
	tw.finished = true
	tw.mu.Unlock()
}

func (tw *timeoutWriter) isTimedOut() bool {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	return tw.timedOut
}

// answeredCode is the code the client got for a request whose handler
// answered code: 504 if the request timed out first.
func answeredCode(w http.ResponseWriter, code int) int {
	if tw, ok := w.(*timeoutWriter); ok && tw.isTimedOut() {
		return http.StatusGatewayTimeout
	}
	return code
}

// ctxError is the API error for a request whose context ended, as
// kube-apiserver's finisher reports it.
func ctxError(ctx context.Context) error {
	return apierrors.NewTimeoutError(fmt.Sprintf("request did not complete within requested timeout - %s", ctx.Err()), 0)
}

// readBody reads the request body, at most the server's MaxBodyBytes (413
// beyond), within the body read timeout and the request's deadline (504
// after). On any failure the connection is closed after the answer: what
// is left of the body is never read.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	limit := s.maxBody
	if r.ContentLength > limit {
		w.Header().Set("Connection", "close")
		return nil, tooLarge(limit)
	}
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	rc := http.NewResponseController(w)
	deadline := time.Now().Add(s.bodyTimeout)
	if d, ok := r.Context().Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	deadlineSet := rc.SetReadDeadline(deadline) == nil
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		// The read deadline stays: net/http must not wait for the rest.
		w.Header().Set("Connection", "close")
		if isDeadline(err) {
			return nil, apierrors.NewTimeoutError(fmt.Sprintf("the request body did not arrive within the allotted timeout (%v)", s.bodyTimeout), 0)
		}
		return nil, apierrors.NewBadRequest(fmt.Sprintf("reading the request body: %v", err))
	}
	if int64(len(b)) > limit {
		w.Header().Set("Connection", "close")
		return nil, tooLarge(limit)
	}
	if deadlineSet {
		// net/http reads on after the body (to see the client leave); a
		// deadline left behind would end the request's context.
		_ = rc.SetReadDeadline(time.Time{})
	}
	return b, nil
}

func isDeadline(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
