// Package reflector keeps a local copy of one Kubernetes collection up to
// date: a Reflector lists and watches a ListerWatcher and hands what it
// learns to a Sink (an informer's store, or any cache.Indexer through
// NewStoreSink).
//
// # Behaviour
//
// The Reflector follows client-go v0.37's reflector on the wire, so it works
// against kube-apiserver and apiserver-stub alike:
//
//   - Initial sync by watch-list (sendInitialEvents=true,
//     resourceVersionMatch=NotOlderThan): the ADDEDs are transformed and
//     buffered until the BOOKMARK annotated k8s.io/initial-events-end, whose
//     resourceVersion the Sink's Replace receives; the same stream then goes
//     on with live events. If the server answers with an error other than
//     410 or 429, the reflector falls back to a paged list for this cycle;
//     if the end bookmark does not come within InitialEventsTimeout, for
//     good (client-go would wait forever).
//   - Paged list at resourceVersion "0" the first time, at the last
//     resourceVersion (NotOlderThan) on a relist, following continue tokens;
//     a 410 on a later page falls back to one full list. A 410 or a
//     "too large resource version" on a list retries at once with "" (a
//     consistent read).
//   - Watch from the last resourceVersion with bookmarks and a timeout
//     randomized in [MinWatchTimeout, 2*MinWatchTimeout). Every event and
//     bookmark advances the resourceVersion (for a watch started at "" or
//     "0", from the first event that is not ADDED). A clean end of stream
//     re-watches at once, without a relist.
//   - 410 Gone (an HTTP error or an ERROR event): relist, after a backoff,
//     at the last resourceVersion, and consistently if that is gone too.
//     429: wait for Retry-After, then retry the same step. An ERROR event, an
//     object of the wrong type or a failed Transform (the Sink may have
//     missed an event): relist after a backoff. Other errors opening a
//     watch, and a watch that closes within a second with no event: re-watch
//     after a backoff (the Sink is still whole). Backoffs are jittered,
//     exponential (InitialBackoff to MaxBackoff) and start over after
//     BackoffResetAfter without one.
//   - Watchdog: a watch that sends nothing, not even a bookmark, for
//     WatchdogTimeout (two bookmark intervals and a margin) is presumed dead,
//     as a half-open TCP connection would be on any transport, and is
//     restarted from the last resourceVersion. The watchdog also bounds the
//     wait for a watch to open: a request sent on a connection that died
//     silently gets no response, and is abandoned (then retried after a
//     backoff) after WatchdogTimeout.
//
// # Differences from client-go
//
// Where client-go's users have reported trouble, the reflector does better
// while staying compatible on the wire:
//
//   - a watch that dies silently (half-open TCP, a stalled proxy) is caught
//     by the watchdog; client-go relies on HTTP/2 pings;
//   - a server that never ends a watch-list makes the reflector list
//     instead; client-go waits forever;
//   - Transform also runs on watch-list items before they are buffered, so
//     the transient copy is the transformed one;
//   - a failed watch request or a watch closed at once with nothing sent
//     re-watches from the last resourceVersion instead of relisting (the
//     cache is still whole); relists are kept for 410s and for streams that
//     may have lost an event;
//   - a relist at the last resourceVersion is paged too, with
//     resourceVersionMatch=NotOlderThan, rather than one unbounded list;
//   - the backoff's quiet period counts from the last failure, so a
//     persistent failure stays at the cap rather than resetting every two
//     minutes.
//
// The states and every transition between them are listed in one place,
// the type state and the method transition (state.go); Run is a loop over
// them, in the caller's goroutine.
//
// Objects handed to the Sink are owned by it: the reflector keeps no
// reference. Transform runs in the reflector's goroutine with no lock held.
package reflector
