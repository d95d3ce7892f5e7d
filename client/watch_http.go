package client

import (
	"context"
	"fmt"
	"io"
)

// httpFrames reads events from a chunked HTTP body: a sequence of JSON
// objects, newlines optional (what json.Decoder accepts, as client-go).
type httpFrames struct {
	body   io.ReadCloser
	fr     *framer
	cancel context.CancelFunc
}

func (c *Client) openHTTPWatch(ctx context.Context, req *request) (*httpFrames, error) {
	// The request lives until Stop (cancel) or ctx ends.
	wctx, cancel := context.WithCancel(ctx)
	resp, err := c.send(wctx, req)
	if err != nil {
		cancel()
		return nil, err
	}
	if err := checkContentType(resp); err != nil {
		cancel()
		resp.Body.Close()
		return nil, fmt.Errorf("%s: %w", req.describe(), err)
	}
	return newHTTPFrames(resp.Body, cancel), nil
}

func newHTTPFrames(body io.ReadCloser, cancel context.CancelFunc) *httpFrames {
	return &httpFrames{body: body, fr: newFramer(body), cancel: cancel}
}

func (f *httpFrames) next(ev *rawEvent) error {
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
