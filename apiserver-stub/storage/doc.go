// Package storage defines what the API server needs from a backend and holds
// the in-memory MVCC implementation that the embedded server uses.
//
// The contract follows etcd: one global revision, incremented by every write
// and used as the object's resourceVersion; per-key history until compaction;
// reads at an exact revision; watches that deliver every change after a
// revision, in order, or fail with ErrCompacted. Nothing in server/ may reach
// around this interface, so an etcd backend can replace the memory store.
package storage
