// Package storage defines what the API server needs from a backend and holds
// its two implementations: the in-memory MVCC store that the embedded server
// uses by default, and an etcd backend (EtcdStore) with a watch cache per
// resource in front of it, for durability and for several server processes
// over one etcd. The watch caches are in-memory stores that mirror etcd
// (ingest.go), so both backends share one watch fan-out.
//
// The contract follows etcd: one global revision, incremented by every write
// and used as the object's resourceVersion; per-key history until compaction;
// reads at an exact revision; watches that deliver every change after a
// revision, in order, or fail with ErrCompacted. Nothing in server/ may reach
// around this interface, so an etcd backend can replace the memory store.
package storage
