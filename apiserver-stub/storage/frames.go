package storage

import (
	"k8s.io/apimachinery/pkg/watch"
)

// Watch frames are built by the writer of each watch, into the buffer it
// sends from, rather than cached on the Record: a cached frame is a second
// copy of the object's JSON, kept for as long as the record lives (for a
// live object, for good) once any watch has sent it, and a chunked watch
// copies the frame into its buffer anyway. Appending the three parts costs
// the same copy and keeps the JSON once.

// AppendWatchFrame appends the JSON watch event {"type":t,"object":Data}
// followed by a newline to dst, as written on a chunked HTTP watch (and,
// without the newline's meaning, as one WebSocket message).
func (r *Record) AppendWatchFrame(dst []byte, t watch.EventType) []byte {
	dst = append(dst, `{"type":"`...)
	dst = append(dst, t...)
	dst = append(dst, `","object":`...)
	dst = append(dst, r.Data...)
	return append(dst, "}\n"...)
}

// WatchFrame returns a new watch frame for r (see AppendWatchFrame).
func (r *Record) WatchFrame(t watch.EventType) []byte {
	return r.AppendWatchFrame(make([]byte, 0, len(r.Data)+len(t)+24), t)
}
