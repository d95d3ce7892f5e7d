// Package stubtest runs the listwatch API server in-process for tests: a
// real HTTP server on 127.0.0.1 over the in-memory MVCC store, with fault
// injection for the situations a controller must survive.
//
//	srv := stubtest.Start(t, stubtest.WithBookmarkInterval(time.Second))
//	// point a client at srv.URL ...
//	srv.Compact()          // history gone: watches from old RVs get 410
//	srv.DropWatches()      // every watch ends cleanly: clients re-watch
//	srv.StallWatches(true) // watches stay open but silent (no bookmarks either)
//	srv.Restart()          // every connection cut, same address, same data
//
// The server is stopped, and its goroutines ended, by t.Cleanup.
package stubtest
