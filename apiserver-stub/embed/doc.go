// Package embed runs the listwatch API server inside a Go process: the
// apiserver-stub binary uses it, and so does the example controller when it
// runs on its own embedded server.
//
// Start listens on a TCP address, serves the Kubernetes REST and watch API
// over an in-memory MVCC store, and stops gracefully (open watches get a
// clean end of stream) when its context ends or Stop is called.
package embed
