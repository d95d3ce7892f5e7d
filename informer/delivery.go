package informer

import (
	"fmt"
	"strings"
)

// Policy says what a handler's buffer does when events arrive faster than
// the handler consumes them.
type Policy int

const (
	// Unbounded delivers every notification in order through a buffer that
	// grows without limit, as client-go does, and shrinks again once
	// drained. It never loses an add, an update or a delete, and the
	// informer never waits for the handler; a handler that stays behind
	// costs memory in proportion to its backlog. This is the default.
	Unbounded Policy = iota
	// Coalesce bounds memory instead, at the price of skipping states. It
	// delivers in order while the handler keeps up, through a window of
	// BufferSize notifications; past it, and until that backlog is
	// drained, it keeps at most one pending entry per key (two when an
	// object was deleted and re-created): a new state for a key already
	// pending replaces the pending one, so the handler sees each key's
	// latest state, in order per key, with old set to the state it last
	// saw. Intermediate states may be skipped; deletes of objects the
	// handler saw are always delivered. An object added and deleted while
	// both notifications wait in the coalesced backlog is dropped
	// entirely: the handler never sees it, so a handler that counts adds
	// or deletes (expectations, an audit) must not use Coalesce. Pending
	// memory is bounded by BufferSize plus the number of keys, not by the
	// number of events. Across keys, coalesced entries are delivered in
	// the order their keys became pending. The informer never waits for
	// the handler.
	Coalesce
	// Block delivers every notification in order through a buffer of
	// BufferSize entries; when it is full the informer waits for space, so a
	// slow handler slows the informer (and, through it, every handler of the
	// informer) down to its pace. A handler added to a running informer gets
	// its initial notifications queued whole, past the bound.
	Block
)

// String returns the policy's name.
func (p Policy) String() string {
	switch p {
	case Coalesce:
		return "Coalesce"
	case Block:
		return "Block"
	case Unbounded:
		return "Unbounded"
	}
	return fmt.Sprintf("Policy(%d)", int(p))
}

// ParsePolicy parses a Policy name as returned by Policy.String, ignoring
// case.
func ParsePolicy(s string) (Policy, error) {
	for _, p := range []Policy{Unbounded, Coalesce, Block} {
		if strings.EqualFold(s, p.String()) {
			return p, nil
		}
	}
	return 0, fmt.Errorf("informer: unknown delivery policy %q (want Unbounded, Coalesce or Block)", s)
}

// DefaultBufferSize is the BufferSize used when Delivery leaves it 0.
const DefaultBufferSize = 1024

// Delivery configures how notifications reach a handler.
type Delivery struct {
	// Policy applies when the handler falls behind.
	Policy Policy
	// BufferSize bounds the buffer under Block, is the in-order window
	// under Coalesce and the initial capacity under Unbounded. 0 means
	// DefaultBufferSize.
	BufferSize int
}

func (d Delivery) validate() error {
	switch d.Policy {
	case Coalesce, Block, Unbounded:
	default:
		return fmt.Errorf("informer: unknown delivery policy %d", int(d.Policy))
	}
	if d.BufferSize < 0 {
		return fmt.Errorf("informer: negative delivery buffer size %d", d.BufferSize)
	}
	return nil
}

func (d Delivery) size() int {
	if d.BufferSize == 0 {
		return DefaultBufferSize
	}
	return d.BufferSize
}
