package storage

import "context"

// Invariant of List: one call reads one revision under the read lock, and a
// later page asked for at the same revision (what a continue token carries)
// reads the same snapshot, because per-key history keeps every version a
// read at a non-compacted revision can see. Pages are in key order and
// resume strictly after opts.After, so interleaved writes neither repeat
// nor skip items.

// List implements Interface.
func (s *MemoryStore) List(ctx context.Context, prefix string, opts ListOptions) (*ListResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if opts.Limit < 0 {
		return nil, &Error{Code: CodeInvalidObject, Msg: "negative list limit"}
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	rev, err := s.readRevisionLocked(opts.Revision)
	if err != nil {
		return nil, err
	}
	from := prefix
	if opts.After != "" && opts.After >= prefix {
		from = opts.After + "\x00" // the smallest key after After
	}
	res := &ListResult{Revision: rev}
	pred := opts.Predicate
	s.index.ascendPrefix(prefix, from, func(h *keyHistory) bool {
		rec := h.at(rev)
		if rec == nil || !pred.Matches(rec) {
			return true
		}
		if opts.Limit == 0 || int64(len(res.Items)) < opts.Limit {
			res.Items = append(res.Items, rec)
		} else {
			res.More = true
			res.Remaining++
		}
		return true
	})
	return res, nil
}
