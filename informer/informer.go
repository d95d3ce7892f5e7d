package informer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/kunos-io/listwatch/cache"
	"github.com/kunos-io/listwatch/reflector"
	"k8s.io/utils/clock"
)

// ErrStopped is returned when a handler is added to an informer that has
// stopped. A stopped informer cannot be restarted; build a new one.
var ErrStopped = errors.New("informer: stopped")

// SharedIndexInformer keeps an indexed cache of one collection in step with
// a server and tells any number of handlers about every change.
type SharedIndexInformer[T cache.Object] interface {
	// AddEventHandler registers h, before or after Run. A handler added to
	// a running informer first gets an OnAdd(obj, true) for every cached
	// object, then every later change, with no gap and no duplicate.
	AddEventHandler(h Handler[T], opts ...HandlerOption) (Registration, error)
	// RemoveEventHandler stops delivery to a registration: no call starts
	// after it returns (one in progress may finish). It is idempotent.
	RemoveEventHandler(reg Registration) error
	// RemoveEventHandlerAndWait removes reg and waits until its goroutine
	// has ended or ctx is done. Calling it from reg's own handler
	// deadlocks until ctx is done.
	RemoveEventHandlerAndWait(ctx context.Context, reg Registration) error
	// Run lists and watches until ctx ends, then stops every handler's
	// goroutine and returns once all have ended. An informer runs once.
	Run(ctx context.Context)
	// HasSynced reports whether the cache holds the initial list. See
	// Registration.HasSynced for a handler's own view.
	HasSynced() bool
	// Stale reports that the cache is known to be out of date: the server
	// was found behind its resourceVersion (restarted empty, lost data)
	// and the consistent relist that repairs it has not completed.
	// HasSynced stays true meanwhile, as in client-go; readiness checks
	// should fail.
	Stale() bool
	// LastSyncResourceVersion returns the resourceVersion the cache is
	// known to be up to date with ("" before the first sync).
	LastSyncResourceVersion() string
	// Indexer returns the cache. Read it freely (reads never wait for
	// writes); writing to it desynchronizes it from the server.
	Indexer() cache.Indexer[T]
	// Lister returns a Lister over the cache.
	Lister() cache.Lister[T]
}

type runState int

const (
	idle runState = iota
	running
	stopped
)

// informer is the SharedIndexInformer. It is the reflector's Sink.
//
// Ordering: writers (Sink calls from the reflector, and resyncs) take a
// token (busy) one at a time; the token holder updates the cache and then
// queues the notifications on every admitted listener. A listener added
// while no one holds the token is admitted at once: the cache's snapshot
// and the listener's place in the list are taken in one critical section of
// mu, so it sees each change exactly once, either in the snapshot or as a
// notification. A listener added while the token is held waits in joiners
// and is admitted the same way when the token is released. mu is never held
// while user code runs (key and index functions run inside the cache, with
// the token held but no lock) nor while waiting for a handler.
type informer[T cache.Object] struct {
	lw      reflector.ListerWatcher[T]
	opts    Options[T]
	name    string
	indexer cache.Indexer[T]
	lister  cache.Lister[T]
	metrics MetricsHook
	log     *slog.Logger
	clock   clock.WithTicker

	mu      sync.Mutex
	cond    sync.Cond // signalled when busy becomes false
	busy    bool
	joiners []*listener[T]
	names   map[string]*listener[T]
	seq     int
	state   runState
	started map[*listener[T]]bool

	active atomic.Pointer[[]*listener[T]] // copy-on-write, written under mu
	synced atomic.Bool
	refl   atomic.Pointer[reflector.Reflector[T]]

	abort      chan struct{} // closed when Run's ctx ends: unblocks Block pushes
	resyncWake chan struct{}
	wg         sync.WaitGroup // handler goroutines
}

var _ reflector.Sink[cache.Object] = (*informer[cache.Object])(nil)

// New returns an informer over lw. Call Run to start it. New panics if opts
// are invalid (a negative resync period, an unknown delivery policy, a nil
// index function): those are programming errors.
func New[T cache.Object](lw reflector.ListerWatcher[T], opts Options[T]) SharedIndexInformer[T] {
	return newInformer(lw, opts)
}

func newInformer[T cache.Object](lw reflector.ListerWatcher[T], opts Options[T]) *informer[T] {
	s, err := newInformerChecked(lw, opts)
	if err != nil {
		panic(err)
	}
	return s
}

// newInformerChecked is New returning an error instead of panicking, for
// the Factory, whose callers get errors.
func newInformerChecked[T cache.Object](lw reflector.ListerWatcher[T], opts Options[T]) (*informer[T], error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if lw == nil {
		return nil, fmt.Errorf("informer %s: nil ListerWatcher", opts.Name)
	}
	s := &informer[T]{
		lw:         lw,
		opts:       opts,
		name:       opts.Name,
		indexer:    cache.NewIndexer(cache.MetaNamespaceKeyFunc, opts.Indexers),
		metrics:    opts.InformerMetrics,
		log:        opts.Logger.With("informer", opts.Name),
		clock:      opts.Clock,
		names:      map[string]*listener[T]{},
		started:    map[*listener[T]]bool{},
		abort:      make(chan struct{}),
		resyncWake: make(chan struct{}, 1),
	}
	s.cond.L = &s.mu
	s.lister = cache.NewLister(s.indexer, opts.Resource)
	empty := []*listener[T]{}
	s.active.Store(&empty)
	return s, nil
}

func (s *informer[T]) Indexer() cache.Indexer[T] { return s.indexer }
func (s *informer[T]) Lister() cache.Lister[T]   { return s.lister }
func (s *informer[T]) HasSynced() bool           { return s.synced.Load() }

// Stale implements SharedIndexInformer.
func (s *informer[T]) Stale() bool {
	r := s.refl.Load()
	return r != nil && r.Stale()
}

func (s *informer[T]) LastSyncResourceVersion() string {
	if r := s.refl.Load(); r != nil {
		return r.LastSyncResourceVersion()
	}
	return ""
}

func (s *informer[T]) AddEventHandler(h Handler[T], opts ...HandlerOption) (Registration, error) {
	if h == nil {
		return nil, fmt.Errorf("informer %s: nil handler", s.name)
	}
	var cfg handlerConfig
	for _, o := range opts {
		o(&cfg)
	}
	d := s.opts.Delivery
	if cfg.delivery != nil {
		d = *cfg.delivery
		if err := d.validate(); err != nil {
			return nil, fmt.Errorf("informer %s: %w", s.name, err)
		}
	}
	resync := s.opts.ResyncPeriod
	if cfg.resync != nil {
		resync = *cfg.resync
		if resync < 0 {
			return nil, fmt.Errorf("informer %s: negative resync period %s", s.name, resync)
		}
		if resync > 0 && resync < MinResyncPeriod {
			resync = MinResyncPeriod
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == stopped {
		return nil, fmt.Errorf("informer %s: add handler: %w", s.name, ErrStopped)
	}
	name := cfg.name
	if name == "" {
		for {
			s.seq++
			name = fmt.Sprintf("handler-%d", s.seq)
			if s.names[name] == nil {
				break
			}
		}
	} else if s.names[name] != nil {
		return nil, fmt.Errorf("informer %s: a handler named %q is already registered", s.name, name)
	}
	l := newListener(name, h, d, s.metrics, s.log, s.HasSynced)
	l.owner = s
	l.resync = resync
	s.names[name] = l
	if s.busy {
		s.joiners = append(s.joiners, l)
	} else {
		s.admitLocked(l)
	}
	if s.state == running {
		s.startLocked(l)
	}
	return l, nil
}

// admitLocked queues the cache's current content on l as initial adds and
// makes l receive every later change. Called with mu held and no writer
// active, so no change can fall between the two.
func (s *informer[T]) admitLocked(l *listener[T]) {
	for _, obj := range s.indexer.List() {
		key, err := cache.MetaNamespaceKeyFunc(obj)
		if err != nil {
			continue // cannot happen: the cache stored it under this key
		}
		l.push(notification[T]{kind: kindAdd, flag: true, key: key, obj: obj}, true, s.abort)
	}
	l.admitted.Store(true)
	l.nextResync = s.clock.Now().Add(l.resync)
	next := append(slices.Clone(*s.active.Load()), l)
	s.active.Store(&next)
	if l.resync > 0 {
		select { // let the resync loop see its deadline
		case s.resyncWake <- struct{}{}:
		default:
		}
	}
}

func (s *informer[T]) startLocked(l *listener[T]) {
	if s.started[l] {
		return
	}
	s.started[l] = true
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		l.run()
	}()
}

func (s *informer[T]) RemoveEventHandler(reg Registration) error {
	l, ok := reg.(*listener[T])
	if !ok || l == nil {
		return fmt.Errorf("informer %s: remove handler: registration %T does not belong to this informer", s.name, reg)
	}
	if l.owner != any(s) {
		return fmt.Errorf("informer %s: remove handler %s: registration belongs to another informer", s.name, l.name)
	}
	s.mu.Lock()
	if s.names[l.name] != l {
		s.mu.Unlock()
		return nil // already removed
	}
	delete(s.names, l.name)
	s.joiners = slices.DeleteFunc(s.joiners, func(x *listener[T]) bool { return x == l })
	next := slices.DeleteFunc(slices.Clone(*s.active.Load()), func(x *listener[T]) bool { return x == l })
	s.active.Store(&next)
	wasStarted := s.started[l]
	delete(s.started, l)
	s.mu.Unlock()

	l.removed.Store(true)
	l.close()
	if !wasStarted {
		s.metrics.HandlerRemoved(l.name)
		close(l.done) // its goroutine never ran
	}
	// Otherwise the goroutine reports HandlerRemoved as it ends.
	return nil
}

func (s *informer[T]) RemoveEventHandlerAndWait(ctx context.Context, reg Registration) error {
	if err := s.RemoveEventHandler(reg); err != nil {
		return err
	}
	select {
	case <-reg.Done():
		return nil
	case <-ctx.Done():
		return fmt.Errorf("informer %s: waiting for handler %s to end: %w", s.name, reg.Name(), ctx.Err())
	}
}

func (s *informer[T]) Run(ctx context.Context) {
	if !s.start() {
		s.log.Warn("informer: Run called again; an informer runs once")
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	r := reflector.New(s.lw, reflector.Sink[T](s), s.opts.Options)
	s.refl.Store(r)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		<-ctx.Done()
		close(s.abort)
	}()
	go func() {
		defer wg.Done()
		s.resyncLoop(ctx)
	}()
	r.Run(ctx)
	cancel()
	wg.Wait()
	s.stop()
}

// start moves the informer to running and starts the goroutines of the
// handlers registered so far; false if it ran before.
func (s *informer[T]) start() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != idle {
		return false
	}
	s.state = running
	for _, l := range *s.active.Load() {
		s.startLocked(l)
	}
	for _, l := range s.joiners {
		s.startLocked(l)
	}
	return true
}

// stop ends every handler's goroutine and waits for them. The sink must
// no longer be called.
func (s *informer[T]) stop() {
	s.mu.Lock()
	s.state = stopped
	ls := slices.Concat(*s.active.Load(), s.joiners)
	s.mu.Unlock()
	for _, l := range ls {
		l.close()
	}
	s.wg.Wait()
	s.metrics.SetSynced(false)
	s.metrics.Stopped()
}

// acquire takes the writer token; release returns it and admits the
// listeners that joined meanwhile.
func (s *informer[T]) acquire() {
	s.mu.Lock()
	for s.busy {
		s.cond.Wait()
	}
	s.busy = true
	s.mu.Unlock()
}

func (s *informer[T]) release() {
	s.mu.Lock()
	for _, l := range s.joiners {
		s.admitLocked(l)
	}
	s.joiners = nil
	s.busy = false
	s.cond.Broadcast()
	s.mu.Unlock()
}

// distribute queues n on every admitted listener. The token is held.
func (s *informer[T]) distribute(n notification[T]) {
	for _, l := range *s.active.Load() {
		l.push(n, false, s.abort)
	}
}
