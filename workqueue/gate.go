package workqueue

import "sync"

// gate is the lock, the wake-ups and the shutdown state that the FIFO queue
// (Typed) and the PriorityQueue share. Get waits on nonEmpty for an item or
// shutdown; ShutDownWithDrain waits on idle until nprocessing is 0. A later
// ShutDown clears drain, which releases a ShutDownWithDrain still waiting.
type gate struct {
	mu       sync.Mutex
	nonEmpty sync.Cond
	idle     sync.Cond

	nprocessing  int // items handed out by Get and not yet Done
	shuttingDown bool
	drain        bool
}

func (g *gate) init() {
	g.nonEmpty.L = &g.mu
	g.idle.L = &g.mu
}

// shutDown marks the queue as shutting down and wakes every waiter. With
// drain it then waits until every item handed out is Done (or until a plain
// ShutDown cancels the drain). onFirst, if not nil, runs under the lock when
// the queue starts shutting down (not on a second call).
func (g *gate) shutDown(drain bool, onFirst func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.drain = drain
	if !g.shuttingDown && onFirst != nil {
		onFirst()
	}
	g.shuttingDown = true
	g.nonEmpty.Broadcast()
	if !drain {
		g.idle.Broadcast()
		return
	}
	for g.nprocessing != 0 && g.drain {
		g.idle.Wait()
	}
}
