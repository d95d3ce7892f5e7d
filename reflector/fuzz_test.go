package reflector_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/reflector"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
)

// FuzzEventStream feeds the reflector arbitrary streams (any event type,
// any object, any resourceVersion, ends anywhere) and checks that it never
// panics, never reports a resourceVersion it was not given, and stops with
// its context.
//
// Input: byte 0 selects watch-list; then 3 bytes per event: type, object,
// resourceVersion.
func FuzzEventStream(f *testing.F) {
	f.Add([]byte{1, 0, 0, 5, 0, 0, 6, 6, 0, 9, 1, 0, 10, 3, 0, 11})
	f.Add([]byte{0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 5, 7, 0, 0})
	f.Add([]byte{1, 4, 3, 0, 4, 6, 0, 6, 0, 1, 4, 4, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 || len(data) > 3*200 {
			return
		}
		lw := &fuzzLW{done: make(chan struct{}), rvs: map[string]bool{"": true, "1": true}}
		lw.streams = parseStreams(data[1:], lw.rvs)
		on := data[0]%2 == 1
		r := reflector.New[*kunosv1.Task](lw, newCheckSink(), reflector.Options[*kunosv1.Task]{
			WatchList:            &on,
			InitialBackoff:       time.Microsecond,
			MaxBackoff:           time.Microsecond,
			InitialEventsTimeout: time.Second,
			Logger:               discardLogger(),
		})
		ctx, cancel := context.WithCancel(context.Background())
		stopped := make(chan struct{})
		go func() { defer close(stopped); r.Run(ctx) }()
		select {
		case <-lw.done:
		case <-time.After(5 * time.Second):
			t.Error("streams not consumed")
		}
		cancel()
		<-stopped
		if rv := r.LastSyncResourceVersion(); !lw.rvs[rv] {
			t.Fatalf("resourceVersion %q was never sent", rv)
		}
	})
}

var fuzzTypes = []watch.EventType{watch.Added, watch.Modified, watch.Deleted, watch.Bookmark, watch.Error, "JUNK", watch.Bookmark}

func parseStreams(data []byte, rvs map[string]bool) [][]watch.Event {
	var streams [][]watch.Event
	var cur []watch.Event
	for i := 0; i+2 < len(data); i += 3 {
		ti, oi, rb := int(data[i])%8, data[i+1]%7, data[i+2]
		if ti == 7 { // end this stream
			streams = append(streams, cur)
			cur = nil
			continue
		}
		rv := strconv.Itoa(int(rb))
		switch rb {
		case 250:
			rv = ""
		case 251:
			rv = "x"
		}
		rvs[rv] = true
		var obj runtime.Object
		switch oi {
		case 0, 1:
			o := &kunosv1.Task{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "k" + strconv.Itoa(int(rb)%4), ResourceVersion: rv}}
			if ti == 6 {
				o.Annotations = map[string]string{metav1.InitialEventsAnnotationKey: "true"}
			}
			obj = o
		case 2:
			obj = (*kunosv1.Task)(nil)
		case 3:
			obj = &kunosv1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n", ResourceVersion: rv}}
		case 4:
			s := apierrors.NewResourceExpired("gone").Status()
			obj = &s
		case 5:
			s := apierrors.NewTooManyRequests("slow", 0).Status()
			obj = &s
		case 6:
			obj = nil
		}
		cur = append(cur, watch.Event{Type: fuzzTypes[ti], Object: obj})
	}
	return append(streams, cur)
}

// fuzzLW lists one object at RV "1" and serves the streams in order, one per
// Watch; once they are all served it reports done and fails further calls.
type fuzzLW struct {
	mu      sync.Mutex
	streams [][]watch.Event
	rvs     map[string]bool
	done    chan struct{}
	once    sync.Once
}

func (l *fuzzLW) List(context.Context, metav1.ListOptions) ([]*kunosv1.Task, metav1.ListMeta, error) {
	return []*kunosv1.Task{{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "k0", ResourceVersion: "1"}}},
		metav1.ListMeta{ResourceVersion: "1"}, nil
}

func (l *fuzzLW) Watch(ctx context.Context, _ metav1.ListOptions) (watch.Interface, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.streams) == 0 {
		l.once.Do(func() { close(l.done) })
		return nil, apierrors.NewServiceUnavailable("no more streams")
	}
	evs := l.streams[0]
	l.streams = l.streams[1:]
	w := watch.NewFakeWithChanSize(len(evs), false)
	for _, ev := range evs {
		w.Action(ev.Type, ev.Object)
	}
	w.Stop() // the stream ends after its events
	return w, nil
}
