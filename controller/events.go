package controller

// This file holds the event recorder. Invariants: recording never blocks
// and never fails the caller (a full queue drops the event and counts
// it); one goroutine per Manager correlates and writes every event, in
// the order recorded, with client-go's correlation (tools/record
// events_cache.go: aggregation of similar events, count increments by
// patch, a spam filter per source and object); it runs while the Manager
// runs and, when it stops, writes what is queued for at most
// eventFlushTimeout, then ends.

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"

	"github.com/kunos-io/listwatch/apis/kube"
	"github.com/kunos-io/listwatch/client"
)

// client-go's values (tools/record).
const (
	eventQueueLength      = 1000 // maxQueuedEvents
	eventCacheSize        = 4096 // maxLruCacheEntries
	eventSpamBurst        = 25   // defaultSpamBurst
	eventSpamRefill       = 5 * time.Minute
	eventAggregateMax     = 10  // defaultAggregateMaxEvents
	eventAggregateWindow  = 600 // defaultAggregateIntervalInSeconds
	eventMaxTries         = 12  // maxTriesPerEvent
	eventRetryPause       = 10 * time.Second
	eventFlushTimeout     = 5 * time.Second
	eventAggregatedPrefix = "(combined from similar events): "
)

// EventRecorder records Events about objects, as client-go's
// record.EventRecorder does; *Recorder implements it, and tests may use
// a fake.
type EventRecorder interface {
	// Event records an event of type eventtype (corev1.EventTypeNormal or
	// corev1.EventTypeWarning) about obj. reason is a short UpperCamelCase
	// word, message a sentence for humans.
	Event(obj runtime.Object, eventtype, reason, message string)
	// Eventf is Event with a formatted message.
	Eventf(obj runtime.Object, eventtype, reason, messageFmt string, args ...any)
}

// Recorder writes core v1 Events for one component (the Event's source),
// so that kubectl describe and kubectl get events show them. Get one from
// Manager.EventRecorder. Recording is asynchronous and never blocks: the
// Manager's event writer writes them while the Manager runs (events
// recorded before Start wait in its queue), aggregating similar events as
// client-go does and dropping, and counting, what its queue cannot hold.
type Recorder struct {
	w      *eventWriter
	source corev1.EventSource
}

var _ EventRecorder = (*Recorder)(nil)

// EventRecorder returns a Recorder whose Events name component as their
// source (source.component and reportingComponent), like
// controller-runtime's GetEventRecorderFor.
func (m *Manager) EventRecorder(component string) *Recorder {
	return &Recorder{w: m.events, source: corev1.EventSource{Component: component}}
}

// Event records an event about obj; see EventRecorder.
func (r *Recorder) Event(obj runtime.Object, eventtype, reason, message string) {
	r.w.record(obj, r.source, eventtype, reason, message)
}

// Eventf records an event about obj with a formatted message.
func (r *Recorder) Eventf(obj runtime.Object, eventtype, reason, messageFmt string, args ...any) {
	r.w.record(obj, r.source, eventtype, reason, fmt.Sprintf(messageFmt, args...))
}

// eventWriter is the Manager's queue of events and the goroutine that
// correlates and writes them.
type eventWriter struct {
	events  *client.Resource[*corev1.Event]
	kindOf  func(reflect.Type) (schema.GroupVersionKind, bool)
	log     *slog.Logger
	metrics *eventMetrics
	now     func() time.Time
	queue   chan *corev1.Event
	corr    *eventCorrelator

	mu      sync.Mutex
	stopped bool
}

// builtinKinds are the kinds of k8s.io/api a controller may record events
// about without an informer of them (an Event about a Lease, say).
var builtinKinds = func() map[reflect.Type]schema.GroupVersionKind {
	m := map[reflect.Type]schema.GroupVersionKind{}
	for _, d := range kube.Resources {
		m[reflect.TypeOf(d.NewObject())] = d.ResourceInfo().GVK()
	}
	return m
}()

// newEventWriter returns the writer of the Events of a manager. kindOf
// names the kinds of the objects the manager's informers decode, for
// objects that carry no apiVersion and kind.
func newEventWriter(cfg client.Config, kindOf func(reflect.Type) (schema.GroupVersionKind, bool), reg prometheus.Registerer, log *slog.Logger) (*eventWriter, error) {
	c, err := client.New(&cfg)
	if err != nil {
		return nil, err
	}
	m, err := newEventMetrics(reg)
	if err != nil {
		return nil, err
	}
	now := time.Now
	return &eventWriter{
		events:  client.For(c, kube.Events),
		kindOf:  kindOf,
		log:     log,
		metrics: m,
		now:     now,
		queue:   make(chan *corev1.Event, eventQueueLength),
		corr:    newEventCorrelator(now),
	}, nil
}

// record makes the Event and queues it, or drops it.
func (w *eventWriter) record(obj runtime.Object, source corev1.EventSource, eventtype, reason, message string) {
	if eventtype != corev1.EventTypeNormal && eventtype != corev1.EventTypeWarning {
		w.log.Error("event not recorded: its type must be Normal or Warning", "type", eventtype, "reason", reason)
		return
	}
	ref, err := w.reference(obj)
	if err != nil {
		w.log.Error("event not recorded: no reference to its object", "err", err, "reason", reason)
		return
	}
	t := metav1.NewTime(w.now())
	ns := ref.Namespace
	if ns == "" {
		ns = metav1.NamespaceDefault
	}
	ev := &corev1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: eventName(ref.Name, t.UnixNano()), Namespace: ns},
		InvolvedObject:      *ref,
		Reason:              reason,
		Message:             message,
		FirstTimestamp:      t,
		LastTimestamp:       t,
		Count:               1,
		Type:                eventtype,
		Source:              source,
		ReportingController: source.Component,
		ReportingInstance:   source.Host,
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		w.metrics.dropped.WithLabelValues("stopped").Inc()
		return
	}
	select {
	case w.queue <- ev:
	default:
		w.metrics.dropped.WithLabelValues("queue_full").Inc()
		w.log.Debug("event dropped: the queue is full", "reason", reason, "object", ref.Name)
	}
}

// reference is client-go's reference.GetReference: kind and apiVersion
// from the object if it carries them, else from the descriptors of the
// manager's informers and of the built-in kinds.
func (w *eventWriter) reference(obj runtime.Object) (*corev1.ObjectReference, error) {
	if obj == nil {
		return nil, fmt.Errorf("nil object")
	}
	if ref, ok := obj.(*corev1.ObjectReference); ok {
		return ref.DeepCopy(), nil
	}
	gvk := obj.GetObjectKind().GroupVersionKind()
	if gvk.Kind == "" || gvk.Version == "" {
		t := reflect.TypeOf(obj)
		var ok bool
		if gvk, ok = builtinKinds[t]; !ok && w.kindOf != nil {
			gvk, ok = w.kindOf(t)
		}
		if !ok {
			return nil, fmt.Errorf("%T has no kind set, and no informer of the manager decodes that type", obj)
		}
	}
	acc, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	return &corev1.ObjectReference{
		Kind:            gvk.Kind,
		APIVersion:      gvk.GroupVersion().String(),
		Name:            acc.GetName(),
		Namespace:       acc.GetNamespace(),
		UID:             acc.GetUID(),
		ResourceVersion: acc.GetResourceVersion(),
	}, nil
}

// eventName is client-go's GenerateEventName: name.<unix nanos in hex>,
// or a UUID if that is no valid name.
func eventName(ref string, nanos int64) string {
	name := fmt.Sprintf("%s.%x", ref, nanos)
	if len(apivalidation.NameIsDNSSubdomain(name, false)) > 0 {
		return string(uuid.NewUUID())
	}
	return name
}

// run writes queued events until ctx is done, then what is queued for at
// most eventFlushTimeout; events recorded later are dropped.
func (w *eventWriter) run(ctx context.Context) {
	for {
		select {
		case ev := <-w.queue:
			w.write(ctx, ev)
			continue
		case <-ctx.Done():
		}
		break
	}
	w.mu.Lock()
	w.stopped = true
	w.mu.Unlock()
	flush, cancel := context.WithTimeout(context.WithoutCancel(ctx), eventFlushTimeout)
	defer cancel()
	for {
		select {
		case ev := <-w.queue:
			if flush.Err() != nil {
				w.metrics.dropped.WithLabelValues("stopped").Inc()
				continue
			}
			w.write(flush, ev)
		default:
			return
		}
	}
}

// write correlates one event and writes it, retrying as client-go does
// (up to 12 tries, 10s apart, the first pause randomized) when the server
// could not be reached; a server that refuses it is not asked again.
func (w *eventWriter) write(ctx context.Context, ev *corev1.Event) {
	res := w.corr.correlate(ev)
	if res.skip {
		w.metrics.dropped.WithLabelValues("spam_filter").Inc()
		return
	}
	for try := 1; ; try++ {
		if w.writeOnce(ctx, res.event, res.patch) {
			return
		}
		if try >= eventMaxTries || ctx.Err() != nil {
			w.metrics.dropped.WithLabelValues("write_failed").Inc()
			w.log.Error("event not written: retry limit reached or stopping", "reason", ev.Reason, "object", ev.InvolvedObject.Name)
			return
		}
		pause := eventRetryPause
		if try == 1 {
			pause = time.Duration(float64(pause) * rand.Float64())
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
}

// writeOnce creates the event, or for a repeat (count > 1) patches the
// one written before (creating it if it is gone). It reports whether it is
// done with the event: written, or refused by the server.
func (w *eventWriter) writeOnce(ctx context.Context, ev *corev1.Event, patch []byte) bool {
	events := w.events.Namespace(ev.Namespace)
	var out *corev1.Event
	var err error
	verb := "create"
	if ev.Count > 1 {
		verb = "patch"
		out, err = events.Patch(ctx, ev.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	}
	if ev.Count <= 1 || apierrors.IsNotFound(err) {
		verb = "create"
		cp := ev.DeepCopy()
		cp.ResourceVersion = ""
		out, err = events.Create(ctx, cp, metav1.CreateOptions{})
	}
	if err == nil {
		w.metrics.written.WithLabelValues(verb).Inc()
		w.corr.updateState(out)
		return true
	}
	// As client-go: an answer from the server is final, only a failure to
	// reach it is retried.
	if _, ok := errors.AsType[*apierrors.StatusError](err); ok {
		if !apierrors.IsAlreadyExists(err) {
			w.log.Error("event refused by the server (not retried)", "err", err, "reason", ev.Reason, "object", ev.InvolvedObject.Name)
		}
		w.metrics.dropped.WithLabelValues("refused").Inc()
		return true
	}
	w.log.Warn("could not write event (will retry)", "err", err, "reason", ev.Reason)
	return false
}

// eventCorrelator is client-go's EventCorrelator: an aggregator, an
// observer that turns repeats into count increments, and a spam filter.
// Only the writer goroutine uses it.
type eventCorrelator struct {
	now        func() time.Time
	aggregates *lruCache[aggregateRecord]
	logs       *lruCache[eventLog]
	spam       *lruCache[*rate.Limiter]
}

type aggregateRecord struct {
	localKeys map[string]struct{}
	last      time.Time
}

type eventLog struct {
	count           int32
	firstTimestamp  metav1.Time
	name            string
	resourceVersion string
}

type correlation struct {
	event *corev1.Event
	patch []byte
	skip  bool
}

func newEventCorrelator(now func() time.Time) *eventCorrelator {
	return &eventCorrelator{
		now:        now,
		aggregates: newLRU[aggregateRecord](eventCacheSize),
		logs:       newLRU[eventLog](eventCacheSize),
		spam:       newLRU[*rate.Limiter](eventCacheSize),
	}
}

func join(ss ...string) string { return strings.Join(ss, "") }

// eventKey identifies an event exactly (getEventKey).
func eventKey(e *corev1.Event) string {
	o := e.InvolvedObject
	return join(e.Source.Component, e.Source.Host, o.Kind, o.Namespace, o.Name, o.FieldPath, string(o.UID), o.APIVersion,
		e.Type, e.Reason, e.Message)
}

// spamKey groups the events of one source about one object (getSpamKey).
func spamKey(e *corev1.Event) string {
	o := e.InvolvedObject
	return join(e.Source.Component, e.Source.Host, o.Kind, o.Namespace, o.Name, string(o.UID), o.APIVersion, e.Type)
}

// aggregateKey groups similar events, those that differ only by message
// (EventAggregatorByReasonFunc).
func aggregateKey(e *corev1.Event) string {
	o := e.InvolvedObject
	return join(e.Source.Component, e.Source.Host, o.Kind, o.Namespace, o.Name, string(o.UID), o.APIVersion,
		e.Type, e.Reason, e.ReportingController, e.ReportingInstance)
}

// correlate is EventCorrelate: aggregate, observe, then filter.
func (c *eventCorrelator) correlate(ev *corev1.Event) correlation {
	agg, key := c.aggregate(ev)
	observed, patch := c.observe(agg, key)
	if c.filter(observed) {
		return correlation{skip: true}
	}
	return correlation{event: observed, patch: patch}
}

// aggregate is EventAggregate: once eventAggregateMax distinct messages
// with one aggregate key were seen within eventAggregateWindow seconds,
// the event becomes one combined event, counted under the aggregate key.
func (c *eventCorrelator) aggregate(ev *corev1.Event) (*corev1.Event, string) {
	now := metav1.NewTime(c.now())
	akey, local := aggregateKey(ev), ev.Message
	rec, _ := c.aggregates.get(akey)
	if now.Sub(rec.last) > eventAggregateWindow*time.Second || rec.localKeys == nil {
		rec = aggregateRecord{localKeys: map[string]struct{}{}}
	}
	rec.localKeys[local] = struct{}{}
	rec.last = now.Time
	c.aggregates.add(akey, rec)
	if len(rec.localKeys) < eventAggregateMax {
		return ev, eventKey(ev)
	}
	for k := range rec.localKeys { // PopAny
		delete(rec.localKeys, k)
		break
	}
	return &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: fmt.Sprintf("%v.%x", ev.InvolvedObject.Name, now.UnixNano()), Namespace: ev.Namespace},
		Count:          1,
		FirstTimestamp: now,
		InvolvedObject: ev.InvolvedObject,
		LastTimestamp:  now,
		Message:        eventAggregatedPrefix + ev.Message,
		Type:           ev.Type,
		Reason:         ev.Reason,
		Source:         ev.Source,
	}, akey
}

// observe is eventObserve: a repeat of an event seen before takes its
// name, first timestamp and count+1, and comes with the patch that
// writes them (count, lastTimestamp, message), a merge patch that means
// the same to every server as client-go's strategic one.
func (c *eventCorrelator) observe(ev *corev1.Event, key string) (*corev1.Event, []byte) {
	out := ev.DeepCopy()
	var patch []byte
	if last, ok := c.logs.get(key); ok && last.count > 0 {
		out.Name = last.name
		out.ResourceVersion = last.resourceVersion
		out.FirstTimestamp = last.firstTimestamp
		out.Count = last.count + 1
		patch = fmt.Appendf(nil, `{"count":%d,"lastTimestamp":%q,"message":%q}`,
			out.Count, out.LastTimestamp.UTC().Format(time.RFC3339), out.Message)
	}
	c.logs.add(key, eventLog{count: out.Count, firstTimestamp: out.FirstTimestamp, name: out.Name, resourceVersion: out.ResourceVersion})
	return out, patch
}

// filter is EventSourceObjectSpamFilter: a token bucket per source and
// object, of eventSpamBurst tokens refilled one per eventSpamRefill.
func (c *eventCorrelator) filter(ev *corev1.Event) bool {
	key := spamKey(ev)
	l, ok := c.spam.get(key)
	if !ok {
		l = rate.NewLimiter(rate.Every(eventSpamRefill), eventSpamBurst)
	}
	c.spam.add(key, l)
	return !l.AllowN(c.now(), 1)
}

// updateState records what the server stored (UpdateState).
func (c *eventCorrelator) updateState(ev *corev1.Event) {
	c.logs.add(eventKey(ev), eventLog{count: ev.Count, firstTimestamp: ev.FirstTimestamp, name: ev.Name, resourceVersion: ev.ResourceVersion})
}

// lruCache is a least-recently-used map of bounded size.
type lruCache[V any] struct {
	size  int
	order *list.List // of *lruEntry[V], most recent first
	items map[string]*list.Element
}

type lruEntry[V any] struct {
	key string
	val V
}

func newLRU[V any](size int) *lruCache[V] {
	return &lruCache[V]{size: size, order: list.New(), items: map[string]*list.Element{}}
}

func (c *lruCache[V]) get(key string) (V, bool) {
	if e, ok := c.items[key]; ok {
		c.order.MoveToFront(e)
		return e.Value.(*lruEntry[V]).val, true
	}
	var zero V
	return zero, false
}

func (c *lruCache[V]) add(key string, v V) {
	if e, ok := c.items[key]; ok {
		e.Value.(*lruEntry[V]).val = v
		c.order.MoveToFront(e)
		return
	}
	c.items[key] = c.order.PushFront(&lruEntry[V]{key: key, val: v})
	if c.order.Len() > c.size {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.items, oldest.Value.(*lruEntry[V]).key)
	}
}

// eventMetrics count what the event writer did.
type eventMetrics struct {
	written *prometheus.CounterVec // verb: create, patch
	dropped *prometheus.CounterVec // reason
}

func newEventMetrics(reg prometheus.Registerer) (*eventMetrics, error) {
	m := &eventMetrics{
		written: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "controller_events_written_total",
			Help: "Events written to the server by the event recorder, by verb (create, or patch for a repeat).",
		}, []string{"verb"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "controller_events_dropped_total",
			Help: "Events recorded but not written, by reason: queue_full, spam_filter, refused (by the server), write_failed (after retries), stopped (the manager had stopped).",
		}, []string{"reason"}),
	}
	var err error
	m.written = register(reg, m.written, &err)
	m.dropped = register(reg, m.dropped, &err)
	if err != nil {
		return nil, fmt.Errorf("controller: register event metrics: %w", err)
	}
	for _, v := range []string{"create", "patch"} {
		m.written.WithLabelValues(v).Add(0)
	}
	for _, r := range []string{"queue_full", "spam_filter", "refused", "write_failed", "stopped"} {
		m.dropped.WithLabelValues(r).Add(0)
	}
	return m, nil
}
