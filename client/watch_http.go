package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// httpFrames reads events from a chunked HTTP body: a sequence of JSON
// objects, newlines optional (json.Decoder framing, as client-go).
type httpFrames struct {
	body   io.ReadCloser
	dec    *json.Decoder
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
	return &httpFrames{body: body, dec: json.NewDecoder(body), cancel: cancel}
}

func (f *httpFrames) next(ev *rawEvent) error {
	err := f.dec.Decode(ev)
	if err == nil {
		return nil
	}
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	if errors.As(err, &syntax) || errors.As(err, &typ) {
		return &malformedError{err}
	}
	return err
}

func (f *httpFrames) close() {
	f.cancel()
	f.body.Close()
}
