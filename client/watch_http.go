package client

import (
	"context"
	"fmt"
	"io"
)

// httpFrames reads events from a chunked HTTP body: a sequence of JSON
// objects, newlines optional (what json.Decoder accepts, as client-go), or
// length-prefixed protobuf WatchEvents (see protobuf.go). One of fr and pfr
// is set.
type httpFrames struct {
	body   io.ReadCloser
	fr     *framer
	pfr    *lengthFramer
	cancel context.CancelFunc
	broke  func() // marks the server down; nil in tests
}

func (c *Client) openHTTPWatch(ctx context.Context, req *request) (*httpFrames, error) {
	// The request lives until Stop (cancel) or ctx ends.
	wctx, cancel := context.WithCancel(ctx)
	resp, ep, err := c.sendTo(wctx, req)
	if err != nil {
		if ctx.Err() != nil {
			// The caller gave up waiting for the response (a reflector's
			// watchdog does after WatchdogTimeout): the request was likely
			// sent on a connection that died silently, and the pool's other
			// idle connections, as old, are suspect too. Drop them so the
			// next attempt dials afresh instead of trying each in turn.
			c.http.CloseIdleConnections()
		}
		cancel()
		return nil, err
	}
	format, err := responseFormat(resp.Header.Get("Content-Type"), req.allowsProto())
	if err != nil {
		cancel()
		resp.Body.Close()
		return nil, fmt.Errorf("%s: %w", req.describe(), err)
	}
	var f *httpFrames
	if format == formatProtobuf {
		f = newProtoHTTPFrames(resp.Body, cancel)
	} else {
		f = newHTTPFrames(resp.Body, cancel)
	}
	f.broke = func() { c.eps.failed(ep) }
	return f, nil
}

func newHTTPFrames(body io.ReadCloser, cancel context.CancelFunc) *httpFrames {
	return &httpFrames{body: body, fr: newFramer(body), cancel: cancel}
}

// newProtoHTTPFrames reads a protobuf watch stream.
func newProtoHTTPFrames(body io.ReadCloser, cancel context.CancelFunc) *httpFrames {
	return &httpFrames{body: body, pfr: newLengthFramer(body), cancel: cancel}
}

func (f *httpFrames) next(ev *rawEvent) error {
	if f.pfr != nil {
		frame, err := f.pfr.next()
		if err != nil {
			return err
		}
		return parseProtoWatchEvent(frame, ev)
	}
	if frame, ok := f.fr.line(); ok {
		if parseLine(frame, ev) {
			return nil
		}
		f.fr.rewind()
	}
	frame, scan, err := f.fr.next()
	if err != nil {
		return err
	}
	return parseFrame(frame, scan, ev)
}

// recheck frames the event next returned last again with the bracket
// scan, after its unchecked frame failed to decode.
func (f *httpFrames) recheck(ev *rawEvent) error {
	f.fr.rewind()
	ev.reset()
	frame, scan, err := f.fr.next()
	if err != nil {
		return err
	}
	return parseFrame(frame, scan, ev)
}

func (f *httpFrames) close() {
	f.cancel()
	f.body.Close()
}

func (f *httpFrames) broken() {
	if f.broke != nil {
		f.broke()
	}
}
