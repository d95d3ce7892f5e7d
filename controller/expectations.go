package controller

// This file holds Expectations, client-go's ControllerExpectations and
// UIDTrackingControllerExpectations (pkg/controller/controller_utils.go)
// with the same semantics. Invariants: an expectation is set, never added
// to, so a reconcile that runs again cannot pile expectations up; each
// creation the cache will show is counted down once, by the informer, and a
// failed creation only when the server certainly did not commit it; each
// expected deletion is counted down once, by UID, whoever reports it first;
// an expectation older than its timeout counts as met; the informer's
// observations reach it without loss (ObserveOwned asks for every
// notification).

import (
	"errors"
	"net/http"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	"github.com/kunos-io/listwatch/cache"
	"github.com/kunos-io/listwatch/informer"
)

// DefaultExpectationsTimeout is client-go's ExpectationsTimeout: how long
// a controller waits for its own writes to reach its cache before it trusts
// the cache anyway.
const DefaultExpectationsTimeout = 5 * time.Minute

// ExpectationsOptions configure Expectations. The zero value is client-go's
// behaviour.
type ExpectationsOptions struct {
	// Timeout after which an unmet expectation counts as met. Default
	// DefaultExpectationsTimeout.
	Timeout time.Duration
	// Clock, for tests. Default: the real clock.
	Clock clock.PassiveClock
	// Name names the handler ObserveOwned registers, in logs and metrics.
	// Default "expectations".
	Name string
}

// Expectations remember, per owner, the creations and deletions a
// controller issued and its informer cache has not shown yet. While any is
// outstanding the cache is stale for that owner and the controller must not
// act on it: counting the owner's Tasks too early creates them twice.
//
// The pattern (the Job controller's):
//
//	if !exp.Satisfied(req) {
//		return controller.Result{}, nil // an informer event will bring req back
//	}
//	exp.ExpectCreations(req, n)
//	for range n {
//		if _, err := tasks.Create(ctx, t, metav1.CreateOptions{}); err != nil {
//			exp.CreationFailed(req, err)
//		}
//	}
//
// and ObserveOwned(exp, tasks) to count the informer's adds and deletes.
type Expectations struct {
	timeout time.Duration
	clock   clock.PassiveClock
	name    string

	mu    sync.Mutex
	items map[Request]*expectation
}

type expectation struct {
	adds, dels int
	uids       map[types.UID]struct{} // deletions still expected
	setAt      time.Time
}

// NewExpectations returns empty Expectations.
func NewExpectations(opts ExpectationsOptions) *Expectations {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultExpectationsTimeout
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Name == "" {
		opts.Name = "expectations"
	}
	return &Expectations{timeout: opts.Timeout, clock: opts.Clock, name: opts.Name, items: map[Request]*expectation{}}
}

// ExpectCreations sets the expectations of owner to n creations and no
// deletions, replacing whatever was expected before, and restarts its
// timeout. Call it before issuing the creations.
func (e *Expectations) ExpectCreations(owner Request, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.items[owner] = &expectation{adds: n, setAt: e.clock.Now()}
}

// ExpectDeletions sets the expectations of owner to the deletion of the
// objects with these UIDs and no creations, replacing whatever was expected
// before, and restarts its timeout. Call it before issuing the deletions.
func (e *Expectations) ExpectDeletions(owner Request, uids []types.UID) {
	set := make(map[types.UID]struct{}, len(uids))
	for _, u := range uids {
		set[u] = struct{}{}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.items[owner] = &expectation{dels: len(set), uids: set, setAt: e.clock.Now()}
}

// CreationObserved counts down one creation for owner: call it when the
// informer shows an object owner created.
func (e *Expectations) CreationObserved(owner Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.items[owner]; ok {
		x.adds--
	}
}

// CreationFailed counts down one creation for owner when err shows that the
// server did not create the object (it refused the request: a 4xx other
// than 408), since the informer will never show it. After any other error
// (a timeout, a 5xx, a connection lost after the request left) the object
// may exist, and if it does the informer will count it: counting it here as
// well would count it twice and let the controller create a replacement
// too early. Such an expectation is met by the informer or, if the object
// was not created, by the timeout. A nil err does nothing.
func (e *Expectations) CreationFailed(owner Request, err error) {
	if err == nil || !Refused(err) {
		return
	}
	e.CreationObserved(owner)
}

// Refused reports whether err is the server's refusal of a request (a 4xx
// other than 408 Request Timeout), which therefore changed nothing. After
// any other error (a timeout, a 5xx, a connection lost after the request
// left) the request may have taken effect.
func Refused(err error) bool {
	var st apierrors.APIStatus
	if !errors.As(err, &st) {
		return false
	}
	code := st.Status().Code
	return code >= 400 && code < 500 && code != http.StatusRequestTimeout
}

// DeletionObserved counts down the expected deletion of the object with
// this UID for owner, once: call it when the informer shows the deletion,
// and also when a delete request failed (the object is gone already, or
// will not be deleted: either way the informer will not show this
// deletion). Whichever comes first counts; the other is ignored, as is a
// UID that was not expected.
func (e *Expectations) DeletionObserved(owner Request, uid types.UID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.items[owner]
	if !ok {
		return
	}
	if _, expected := x.uids[uid]; expected {
		delete(x.uids, uid)
		x.dels--
	}
}

// Satisfied reports whether owner's cache can be trusted: nothing was
// expected, everything expected was observed, or the expectation timed
// out.
func (e *Expectations) Satisfied(owner Request) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.items[owner]
	if !ok {
		return true
	}
	if x.adds <= 0 && x.dels <= 0 {
		return true
	}
	return e.clock.Since(x.setAt) > e.timeout
}

// Pending returns the creations and deletions still expected for owner.
func (e *Expectations) Pending(owner Request) (creations, deletions int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.items[owner]; ok {
		return max(x.adds, 0), max(x.dels, 0)
	}
	return 0, 0
}

// Delete forgets owner's expectations: call it when the owner is gone.
func (e *Expectations) Delete(owner Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.items, owner)
}

// ObserveOwned counts inf's adds and deletes against exp: an object added
// counts a creation, and an object deleted the deletion of its UID, for its
// controller owner (in the object's namespace). The handler gets every
// notification (informer.Unbounded): under a coalescing delivery an object
// created and deleted while the handler lagged would never be seen, and its
// expectation would wait for the timeout. Remove the handler with
// inf.RemoveEventHandler when done.
func ObserveOwned[O cache.Object](exp *Expectations, inf informer.SharedIndexInformer[O]) (informer.Registration, error) {
	if exp == nil || inf == nil {
		return nil, errors.New("controller: ObserveOwned: nil Expectations or informer")
	}
	owner := func(obj O) (Request, bool) {
		ref := metav1.GetControllerOfNoCopy(obj)
		if ref == nil {
			return Request{}, false
		}
		return Request{Namespace: obj.GetNamespace(), Name: ref.Name}, true
	}
	return inf.AddEventHandler(informer.HandlerFuncs[O]{
		AddFunc: func(obj O, _ bool) {
			if r, ok := owner(obj); ok {
				exp.CreationObserved(r)
			}
		},
		DeleteFunc: func(obj O, _ bool) {
			if r, ok := owner(obj); ok {
				exp.DeletionObserved(r, obj.GetUID())
			}
		},
	}, informer.WithName(exp.name), informer.WithDelivery(informer.Delivery{Policy: informer.Unbounded}))
}
