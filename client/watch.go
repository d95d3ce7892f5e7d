package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// frameReader yields the raw events of one watch stream.
type frameReader interface {
	// next fills ev with the next event. It returns a *malformedError for
	// bytes that are not a watch event, any other error when the stream
	// ended (io.EOF for a clean end).
	next(ev *rawEvent) error
	// close tears down the connection; it unblocks a pending next.
	close()
	// broken reports that the stream failed without a clean end (not by
	// close or the context): its server is presumed down.
	broken()
	// recheck refills ev with the event next returned last, framed again
	// with full checks, after an event marked unchecked failed to decode
	// (see frame.go). Only a reader that marks events unchecked is called.
	recheck(ev *rawEvent) error
}

// streamWatcher is a watch.Interface fed by one goroutine reading frames.
// The goroutine is the only sender on result and closes it when it ends:
// at the end of the stream, on Stop, or when the context is cancelled.
type streamWatcher[T any] struct {
	result   chan watch.Event
	done     chan struct{}
	stopOnce sync.Once
	frames   frameReader
	decode   func(*rawEvent) (watch.Event, error)
	log      *slog.Logger
	what     string // e.g. `watch tasks in "ns"`, for logs and errors
}

func newStreamWatcher[T any](ctx context.Context, frames frameReader, decode func(*rawEvent) (watch.Event, error), log *slog.Logger, what string) *streamWatcher[T] {
	w := &streamWatcher[T]{
		result: make(chan watch.Event),
		done:   make(chan struct{}),
		frames: frames,
		decode: decode,
		log:    log,
		what:   what,
	}
	go w.run(ctx)
	return w
}

// Stop ends the watch: it closes the connection, and the result channel is
// closed shortly after. Safe to call more than once and concurrently.
func (w *streamWatcher[T]) Stop() {
	w.stopOnce.Do(func() {
		close(w.done)
		w.frames.close()
	})
}

func (w *streamWatcher[T]) stopped() bool {
	select {
	case <-w.done:
		return true
	default:
		return false
	}
}

// ResultChan returns the events; it is closed when the watch ends.
func (w *streamWatcher[T]) ResultChan() <-chan watch.Event { return w.result }

func (w *streamWatcher[T]) run(ctx context.Context) {
	defer close(w.result)
	defer w.Stop()
	// Cancelling ctx stops the watch even while a read is blocked.
	unregister := context.AfterFunc(ctx, w.Stop)
	defer unregister()

	var raw rawEvent
	for {
		raw.reset()
		ev, err := readEvent(w.frames, &raw, w.decode)
		if err != nil {
			var bad *malformedError
			if !errors.As(err, &bad) {
				// End of stream, Stop, ctx, or a broken connection: the
				// caller re-watches from its last resourceVersion. After a
				// broken connection, on another server if there is one.
				if !errors.Is(err, io.EOF) && ctx.Err() == nil && !w.stopped() {
					w.frames.broken()
				}
				w.log.Debug("watch ended", "watch", w.what, "err", err)
				return
			}
			w.log.Debug("watch stream malformed", "watch", w.what, "err", err)
			ev = errorEvent(fmt.Sprintf("%s: malformed watch stream: %v", w.what, err))
			select {
			case w.result <- ev:
			case <-w.done:
			}
			return
		}
		select {
		case w.result <- ev:
		case <-w.done:
			return
		}
	}
}

// readEvent reads and decodes the next event of frames into raw (reset).
// Its errors are those of frames.next, or a *malformedError for an event
// that does not decode.
func readEvent(frames frameReader, raw *rawEvent, decode func(*rawEvent) (watch.Event, error)) (watch.Event, error) {
	if err := frames.next(raw); err != nil {
		return watch.Event{}, err
	}
	ev, err := decode(raw)
	if err != nil && raw.unchecked {
		// The cut may be wrong (a newline inside the event, or two
		// events on a line): frame it again with full checks, and let
		// that decide. Its errors are the stream's, as next's are.
		if err := frames.recheck(raw); err != nil {
			return watch.Event{}, err
		}
		ev, err = decode(raw)
	}
	if err != nil {
		return watch.Event{}, &malformedError{err}
	}
	return ev, nil
}

// Watch starts a watch of the collection with opts (Watch is forced on)
// and returns once the server answered with its response headers (or the
// WebSocket handshake completed). Events carry T, or *metav1.Status for
// ERROR. The watch ends when the server closes the stream, on Stop, or
// when ctx is cancelled; the result channel is then closed.
func (r *Resource[T]) Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	opts.Watch = true
	if r.err != nil {
		return nil, r.err
	}
	req := r.newRequest("watch", http.MethodGet, "")
	req.query = listQuery(&opts)
	var (
		frames frameReader
		err    error
	)
	switch r.c.transport {
	case TransportWebSocket:
		frames, err = r.c.dialWebSocket(ctx, req)
	default:
		frames, err = r.c.openHTTPWatch(ctx, req)
	}
	if err != nil {
		return nil, err
	}
	return newStreamWatcher[T](ctx, frames, r.codec.decodeEvent, r.c.log, req.describe()), nil
}
