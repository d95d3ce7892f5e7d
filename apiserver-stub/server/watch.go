package server

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/kunos-io/listwatch/apiserver-stub/storage"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// watchConn is one open watch as the server tracks it, so that
// DropWatches and Shutdown can end it.
type watchConn struct {
	once   sync.Once
	dropCh chan struct{}
}

func newWatchConn() *watchConn { return &watchConn{dropCh: make(chan struct{})} }

func (c *watchConn) drop() { c.once.Do(func() { close(c.dropCh) }) }

// preTimeoutBookmark is how long before a watch's deadline the last
// BOOKMARK is requested, as kube-apiserver does.
const preTimeoutBookmark = 2 * time.Second

// maxTimeoutSeconds keeps timeoutSeconds from overflowing a Duration.
const maxTimeoutSeconds = int64(100 * 365 * 24 * 3600)

// watchParams are the validated parameters of one watch.
type watchParams struct {
	ri             *requestInfo
	opts           storage.WatchOptions
	allowBookmarks bool
	timeout        time.Duration
	out            outputKind
	tableVersion   string
	includeObject  metav1.IncludeObjectPolicy
}

// handleWatch serves GET ?watch=true on a collection (spec §3): validation
// errors and a future resourceVersion are HTTP errors before streaming; a
// compacted resourceVersion is a 200 with one ERROR event (410 Expired);
// otherwise events stream over chunked HTTP or WebSocket until the timeout,
// the client leaves, or the server drops the watch.
func (s *Server) handleWatch(w http.ResponseWriter, r *http.Request, ri *requestInfo) int {
	p, err := s.parseWatch(r, ri)
	if err != nil {
		return writeError(w, err)
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	watcher, err := s.store.Watch(ctx, ri.prefix(), p.opts)
	var startErr error
	if err != nil {
		if !storage.IsCompacted(err) {
			return writeError(w, storageError(err, ri.gr(), "", msgWatchTooOld))
		}
		startErr = err // reported in-band, as kube-apiserver does
	} else {
		defer watcher.Stop()
	}
	conn := newWatchConn()
	if !s.registerWatch(conn) {
		return writeError(w, apierrors.NewServiceUnavailable("the server is shutting down"))
	}
	defer s.unregisterWatch(conn)

	var sink frameSink
	if isWebSocket(r) {
		ws, code := upgradeWebSocket(w, r, cancel, s.watchWriteTimeout)
		if ws == nil {
			return code // answered with a Status
		}
		sink = ws
	} else {
		sink = newChunkedSink(w, s.watchWriteTimeout)
	}
	defer sink.close()
	res := ri.res.GVR.Resource
	s.metrics.watchers.WithLabelValues(res).Inc()
	defer s.metrics.watchers.WithLabelValues(res).Dec()

	if startErr != nil {
		s.metrics.expired.WithLabelValues("WATCH").Inc()
		_ = sink.write(errorFrame(storageError(startErr, ri.gr(), "", msgWatchTooOld)))
		_ = sink.flush()
		return http.StatusOK
	}
	s.streamWatch(ctx, conn, sink, watcher, p)
	return http.StatusOK
}

// parseWatch validates the request of a watch and works out where it starts.
func (s *Server) parseWatch(r *http.Request, ri *requestInfo) (*watchParams, error) {
	out, tableVersion, err := negotiateOutput(r, false)
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	opts, err := parseListOptions(q, ri.res, true)
	if err != nil {
		return nil, err
	}
	p := &watchParams{ri: ri, allowBookmarks: opts.AllowWatchBookmarks, out: out, tableVersion: tableVersion}
	if out == outputTable {
		if p.includeObject, err = parseIncludeObject(q.Get("includeObject")); err != nil {
			return nil, err
		}
	}
	if opts.LabelSelector != nil && !opts.LabelSelector.Empty() {
		p.opts.Predicate.Label = opts.LabelSelector
	}
	if opts.FieldSelector != nil && !opts.FieldSelector.Empty() {
		p.opts.Predicate.Field = opts.FieldSelector
	}
	rv, _ := parseRV(opts.ResourceVersion) // validated by parseListOptions
	if opts.SendInitialEvents != nil && *opts.SendInitialEvents {
		// Watch-list with NotOlderThan: a snapshot at the current revision,
		// which must have reached rv.
		if rv > 0 {
			if err := s.store.WaitForRevision(r.Context(), ri.prefix(), rv); err != nil {
				return nil, storageError(err, ri.gr(), "", msgWatchTooOld)
			}
		}
		p.opts.SendInitialEvents = true
		p.opts.Revision = rv
	} else {
		p.opts.Revision = rv
	}
	if ts := opts.TimeoutSeconds; ts != nil && *ts > 0 {
		p.timeout = time.Duration(min(*ts, maxTimeoutSeconds)) * time.Second
	} else {
		p.timeout = time.Duration(float64(defaultMinRequestTimeout) * (1 + rand.Float64()))
	}
	return p, nil
}

// busyLinger is how long a watch that had to wait for a flush slot waits
// before it reads its channel again.
const busyLinger = 2 * time.Millisecond

// streamWatch copies events from watcher to sink until the watch ends.
//
// Flushes are gated: a watch writes what it has into its buffer, then
// waits for one of the server's few flush slots (s.flushes) before its
// write(2), without reading its channel meanwhile; once it has a slot it
// adds everything queued while it waited and flushes once. An idle server
// has a slot free, so an event goes out at once. A busy one delivers to
// at most that many connections at a time, with more events per write the
// busier it is, so that fan-out to many watches cannot take every CPU from
// the writers, nor wake every watch goroutine once per event. Events that
// do not fit a waiting watch's channel wait in the store (the watcher's
// pending events), in order, as for any slow client. A watch that found
// no slot free lingers a moment before it reads its channel again, so
// that under load it wakes once per batch of events, not once per event;
// an idle server adds no delay.
func (s *Server) streamWatch(ctx context.Context, conn *watchConn, sink frameSink, watcher storage.Watcher, p *watchParams) {
	res := p.ri.res.GVR.Resource
	deadline := time.NewTimer(p.timeout)
	defer deadline.Stop()
	var bookmarkC, preDeadlineC <-chan time.Time
	var bookmark *time.Timer
	if p.allowBookmarks {
		bookmark = time.NewTimer(time.Duration(s.bookmarkInterval.Load()))
		defer bookmark.Stop()
		bookmarkC = bookmark.C
		if p.timeout > preTimeoutBookmark {
			pre := time.NewTimer(p.timeout - preTimeoutBookmark)
			defer pre.Stop()
			preDeadlineC = pre.C
		}
	}
	st := watchStream{s: s, sink: sink, p: p, res: res, counters: s.metrics.watchEventCounters(res),
		initialDone: !p.opts.SendInitialEvents} // progress bookmarks wait until the initial events are out
	events := watcher.ResultChan()
	slot := s.flushes.slot()
	defer slot.release()
	var linger *time.Timer
	for {
		// While stalled, send nothing and read nothing (the store keeps the
		// events for us); still end on drop, timeout or client exit.
		if gate := s.sendGate(); !isClosed(gate) {
			if !waitFor(gate, conn, deadline.C, ctx.Done()) {
				return
			}
			continue
		}
		settings := s.settingsChanged()
		select {
		case ev, ok := <-events:
			if !st.take(ev, ok, events) {
				return
			}
			if !st.dirty {
				continue
			}
			waited, ok := slot.acquire(conn.dropCh, deadline.C, ctx.Done())
			if !ok {
				return
			}
			// Everything queued while the slot was awaited goes in this write.
			select {
			case ev, more := <-events:
				ok = st.take(ev, more, events)
			default:
			}
			ok = ok && st.flush()
			slot.release()
			if !ok {
				return
			}
			if waited {
				// A busy server: let events gather in the channel rather
				// than wake for each one, which would crowd out the writers.
				if linger == nil {
					linger = time.NewTimer(busyLinger)
					defer linger.Stop()
				} else {
					linger.Reset(busyLinger)
				}
				if !waitFor(linger.C, conn, deadline.C, ctx.Done()) {
					return
				}
			}
		case <-bookmarkC:
			if st.initialDone {
				watcher.RequestProgress()
			}
			bookmark.Reset(time.Duration(s.bookmarkInterval.Load()))
		case <-preDeadlineC:
			watcher.RequestProgress()
		case <-settings:
			if bookmark != nil {
				if !bookmark.Stop() {
					select {
					case <-bookmark.C:
					default:
					}
				}
				bookmark.Reset(time.Duration(s.bookmarkInterval.Load()))
			}
		case <-deadline.C:
			return
		case <-conn.dropCh:
			return
		case <-ctx.Done():
			return
		}
	}
}

// waitFor waits for c; false means the watch ended first: dropped, timed
// out, or its client left.
func waitFor[T any](c <-chan T, conn *watchConn, deadline <-chan time.Time, done <-chan struct{}) bool {
	select {
	case <-c:
		return true
	case <-conn.dropCh:
	case <-deadline:
	case <-done:
	}
	return false
}

// watchStream is the writing side of one watch, and whether it has written
// anything since its last flush.
type watchStream struct {
	s           *Server
	sink        frameSink
	p           *watchParams
	res         string
	counters    *eventCounters
	initialDone bool
	dirty       bool // written but not flushed
}

// maxWatchBatch bounds what one watch buffers before a flush, so that a
// long backlog (a watch-list's initial events) is not held in memory whole.
const maxWatchBatch = 256 << 10

// take writes ev and then every event already queued on events, without
// blocking, up to maxWatchBatch bytes. It reports false when the watch
// must end: the store closed the channel (after a flush of what was
// written), an ERROR was sent, or a write failed.
func (st *watchStream) take(ev storage.Event, ok bool, events <-chan storage.Event) bool {
	start := time.Now()
	defer func() {
		if time.Since(start) > time.Second {
			st.s.metrics.slowWrites.WithLabelValues(st.res).Inc()
		}
	}()
	for {
		if !ok {
			st.flush()
			return false // the store ended the watch: clean end of stream
		}
		frame, rec, last := st.s.frameFor(ev, st.p, &st.initialDone)
		if frame != nil || rec != nil {
			var err error
			if rec != nil {
				err = st.sink.writeRecord(ev.Type, rec)
			} else {
				err = st.sink.write(frame)
			}
			if err != nil {
				st.s.writeFailed(st.res, err)
				return false
			}
			st.dirty = true
			st.counters.inc(ev.Type)
		}
		if last {
			st.flush()
			return false
		}
		if st.sink.buffered() >= maxWatchBatch {
			return true // a long backlog (initial events) goes out in parts
		}
		select {
		case ev, ok = <-events:
		default:
			return true
		}
	}
}

// flush sends what was written; false means the write failed and the
// watch must end.
func (st *watchStream) flush() bool {
	if !st.dirty {
		return true
	}
	start := time.Now()
	if err := st.sink.flush(); err != nil {
		st.s.writeFailed(st.res, err)
		return false
	}
	st.dirty = false
	if time.Since(start) > time.Second {
		st.s.metrics.slowWrites.WithLabelValues(st.res).Inc()
	}
	return true
}

// writeFailed notes a watch whose write failed: the client left, or it did
// not take the event within the write timeout and its connection is cut.
func (s *Server) writeFailed(resource string, err error) {
	if isDeadline(err) {
		s.metrics.writeTimeouts.WithLabelValues(resource).Inc()
		s.log.Debug("watch cut: the client did not read within the write timeout", "resource", resource, "timeout", s.watchWriteTimeout)
	}
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// frameFor renders one store event: a frame, or a record whose plain
// watch frame the sink builds itself; neither means nothing to send. last
// is true for an ERROR, after which the watch ends.
func (s *Server) frameFor(ev storage.Event, p *watchParams, initialDone *bool) (frame []byte, rec *storage.Record, last bool) {
	switch ev.Type {
	case watch.Added, watch.Modified, watch.Deleted:
		if ev.Object == nil {
			return nil, nil, false
		}
		switch p.out {
		case outputTable:
			f, err := s.tableEventFrame(p, ev.Type, ev.Object)
			if err != nil {
				return errorFrame(apierrors.NewInternalError(err)), nil, true
			}
			return f, nil, false
		case outputMetadata:
			pom, err := partialObjectMetadata(ev.Object.Data)
			if err != nil {
				return errorFrame(apierrors.NewInternalError(err)), nil, true
			}
			return eventFrame(ev.Type, pom), nil, false
		}
		return nil, ev.Object, false
	case watch.Bookmark:
		if ev.InitialEventsEnd {
			*initialDone = true
		}
		if !p.allowBookmarks {
			return nil, nil, false
		}
		return bookmarkFrame(p.ri, ev.Revision, ev.InitialEventsEnd), nil, false
	case watch.Error:
		if storage.IsCompacted(ev.Err) {
			s.metrics.expired.WithLabelValues("WATCH").Inc()
		}
		return errorFrame(storageError(ev.Err, p.ri.gr(), "", msgWatchTooOld)), nil, true
	}
	return nil, nil, false
}

// bookmarkFrame is a BOOKMARK event whose object is an empty object of the
// resource's kind with only its resourceVersion (and, for the end of the
// initial events, the k8s.io/initial-events-end annotation).
func bookmarkFrame(ri *requestInfo, rv int64, initialEnd bool) []byte {
	b := make([]byte, 0, 160)
	b = append(b, `{"type":"BOOKMARK","object":{"kind":"`...)
	b = append(b, ri.res.Kind...)
	b = append(b, `","apiVersion":"`...)
	b = append(b, ri.res.GVR.GroupVersion().String()...)
	b = append(b, `","metadata":{"resourceVersion":"`...)
	b = strconv.AppendInt(b, rv, 10)
	b = append(b, '"')
	if initialEnd {
		b = append(b, `,"annotations":{"`+metav1.InitialEventsAnnotationKey+`":"true"}`...)
	}
	b = append(b, "}}}\n"...)
	return b
}

// eventFrame is a watch event {"type":t,"object":obj} and a newline.
func eventFrame(t watch.EventType, obj []byte) []byte {
	return appendEventFrame(make([]byte, 0, len(obj)+32), t, obj)
}

// appendEventFrame appends eventFrame(t, obj) to dst. The sinks build a
// stored object's frame this way, in the buffer they send from: the store
// keeps each object's JSON once and no frame of it.
func appendEventFrame(dst []byte, t watch.EventType, obj []byte) []byte {
	dst = append(dst, `{"type":"`...)
	dst = append(dst, t...)
	dst = append(dst, `","object":`...)
	dst = append(dst, obj...)
	return append(dst, "}\n"...)
}

// errorFrame is an ERROR event carrying err as a Status.
func errorFrame(err error) []byte {
	b, _ := json.Marshal(toStatus(err))
	return eventFrame(watch.Error, b)
}
