package storage

import (
	"sync/atomic"

	"k8s.io/apimachinery/pkg/watch"
)

// frameCache holds the encoded watch frames of a record, built on first use,
// so that all watchers of an event share one encoding per event type.
type frameCache struct {
	added, modified, deleted atomic.Pointer[[]byte]
}

// WatchFrame returns the JSON watch event {"type":T,"object":Data} followed
// by a newline, as written on a chunked HTTP watch (and, without the
// newline's meaning, as one WebSocket message). The bytes are shared: never
// modify them.
func (r *Record) WatchFrame(t watch.EventType) []byte {
	var slot *atomic.Pointer[[]byte]
	switch t {
	case watch.Added:
		slot = &r.frames.added
	case watch.Modified:
		slot = &r.frames.modified
	case watch.Deleted:
		slot = &r.frames.deleted
	default:
		return encodeFrame(t, r.Data)
	}
	if p := slot.Load(); p != nil {
		return *p
	}
	b := encodeFrame(t, r.Data)
	slot.CompareAndSwap(nil, &b)
	return *slot.Load()
}

func encodeFrame(t watch.EventType, data []byte) []byte {
	b := make([]byte, 0, len(data)+len(t)+24)
	b = append(b, `{"type":"`...)
	b = append(b, t...)
	b = append(b, `","object":`...)
	b = append(b, data...)
	b = append(b, "}\n"...)
	return b
}
