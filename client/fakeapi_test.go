package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gorilla/websocket"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
)

// fakeAPI is a small in-memory server for kunos.io/v1 tasks, speaking the
// wire protocol closely enough to exercise the client: CRUD with
// resourceVersion preconditions, paged lists, chunked and WebSocket watches
// from a resourceVersion. It serves one namespace-agnostic collection.
type fakeAPI struct {
	t        testing.TB
	mu       sync.Mutex
	rv       int64
	objs     map[string]*kunosv1.Task // ns/name
	events   []fakeEvent              // every change, in RV order
	changed  chan struct{}            // closed and replaced on every change
	requests []*http.Request
}

type fakeEvent struct {
	typ watch.EventType
	obj *kunosv1.Task
}

func newFakeAPI(t testing.TB) (*fakeAPI, *httptest.Server) {
	f := &fakeAPI{t: t, objs: map[string]*kunosv1.Task{}, changed: make(chan struct{})}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

var taskGR = schema.GroupResource{Group: "kunos.io", Resource: "tasks"}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, err *apierrors.StatusError) {
	st := err.Status()
	st.Kind, st.APIVersion = "Status", "v1"
	writeJSON(w, int(st.Code), st)
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests = append(f.requests, r)
	f.mu.Unlock()
	// /apis/kunos.io/v1[/namespaces/NS]/tasks[/NAME[/status]]
	rest, ok := strings.CutPrefix(r.URL.Path, "/apis/kunos.io/v1/")
	if !ok {
		writeErr(w, apierrors.NewNotFound(schema.GroupResource{}, r.URL.Path))
		return
	}
	parts := strings.Split(rest, "/")
	ns := ""
	if len(parts) >= 2 && parts[0] == "namespaces" {
		ns, parts = parts[1], parts[2:]
	}
	if len(parts) == 0 || parts[0] != "tasks" {
		writeErr(w, apierrors.NewNotFound(schema.GroupResource{}, r.URL.Path))
		return
	}
	name := ""
	if len(parts) > 1 {
		name = parts[1]
	}
	q := r.URL.Query()
	switch {
	case r.Method == http.MethodGet && name == "" && q.Get("watch") == "true":
		f.watch(w, r, ns)
	case r.Method == http.MethodGet && name == "":
		f.list(w, r, ns)
	case r.Method == http.MethodGet:
		f.mu.Lock()
		obj, ok := f.objs[ns+"/"+name]
		f.mu.Unlock()
		if !ok {
			writeErr(w, apierrors.NewNotFound(taskGR, name))
			return
		}
		writeJSON(w, 200, obj)
	case r.Method == http.MethodPost && name == "":
		var obj kunosv1.Task
		if err := json.NewDecoder(r.Body).Decode(&obj); err != nil {
			writeErr(w, apierrors.NewBadRequest(err.Error()))
			return
		}
		if obj.Kind != "Task" || obj.APIVersion != "kunos.io/v1" {
			writeErr(w, apierrors.NewBadRequest("bad kind "+obj.APIVersion+" "+obj.Kind))
			return
		}
		obj.Namespace = ns
		f.mu.Lock()
		if _, ok := f.objs[ns+"/"+obj.Name]; ok {
			f.mu.Unlock()
			writeErr(w, apierrors.NewAlreadyExists(taskGR, obj.Name))
			return
		}
		f.commitLocked(watch.Added, &obj)
		f.mu.Unlock()
		writeJSON(w, http.StatusCreated, &obj)
	case r.Method == http.MethodPut:
		var obj kunosv1.Task
		if err := json.NewDecoder(r.Body).Decode(&obj); err != nil {
			writeErr(w, apierrors.NewBadRequest(err.Error()))
			return
		}
		f.mu.Lock()
		cur, ok := f.objs[ns+"/"+name]
		switch {
		case !ok:
			f.mu.Unlock()
			writeErr(w, apierrors.NewNotFound(taskGR, name))
		case obj.ResourceVersion != cur.ResourceVersion:
			f.mu.Unlock()
			writeErr(w, apierrors.NewConflict(taskGR, name, fmt.Errorf("the object has been modified")))
		default:
			obj.Namespace = ns
			if len(parts) == 3 && parts[2] == "status" {
				cp := cur.DeepCopy()
				cp.Status = obj.Status
				obj = *cp
			}
			f.commitLocked(watch.Modified, &obj)
			f.mu.Unlock()
			writeJSON(w, 200, &obj)
		}
	case r.Method == http.MethodDelete:
		f.mu.Lock()
		cur, ok := f.objs[ns+"/"+name]
		if !ok {
			f.mu.Unlock()
			writeErr(w, apierrors.NewNotFound(taskGR, name))
			return
		}
		f.commitLocked(watch.Deleted, cur.DeepCopy())
		f.mu.Unlock()
		writeJSON(w, 200, &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: "Success"})
	default:
		writeErr(w, apierrors.NewMethodNotSupported(taskGR, r.Method))
	}
}

// commitLocked applies a change at the next RV and records the event.
func (f *fakeAPI) commitLocked(t watch.EventType, obj *kunosv1.Task) {
	f.rv++
	obj.ResourceVersion = strconv.FormatInt(f.rv, 10)
	obj.Kind, obj.APIVersion = "Task", "kunos.io/v1"
	key := obj.Namespace + "/" + obj.Name
	if t == watch.Deleted {
		delete(f.objs, key)
	} else {
		f.objs[key] = obj
	}
	f.events = append(f.events, fakeEvent{t, obj.DeepCopy()})
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *fakeAPI) list(w http.ResponseWriter, r *http.Request, ns string) {
	q := r.URL.Query()
	f.mu.Lock()
	var keys []string
	for k, o := range f.objs {
		if ns == "" || o.Namespace == ns {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	items := make([]kunosv1.Task, 0, len(keys))
	for _, k := range keys {
		if k > q.Get("continue") {
			items = append(items, *f.objs[k])
		}
	}
	list := kunosv1.TaskList{TypeMeta: metav1.TypeMeta{Kind: "TaskList", APIVersion: "kunos.io/v1"}}
	list.ResourceVersion = strconv.FormatInt(f.rv, 10)
	f.mu.Unlock()
	if limit, _ := strconv.Atoi(q.Get("limit")); limit > 0 && len(items) > limit {
		items = items[:limit]
		last := items[limit-1]
		list.Continue = last.Namespace + "/" + last.Name
	}
	list.Items = items
	writeJSON(w, 200, &list)
}

// watch streams every event after resourceVersion (or the current state
// as ADDED for ""/"0") until the client goes away.
func (f *fakeAPI) watch(w http.ResponseWriter, r *http.Request, ns string) {
	var send func(b []byte) error
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	if websocket.IsWebSocketUpgrade(r) {
		up := websocket.Upgrader{}
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		go func() { // notice the client closing
			for {
				if _, _, err := conn.NextReader(); err != nil {
					cancel()
					return
				}
			}
		}()
		send = func(b []byte) error { return conn.WriteMessage(websocket.TextMessage, b) }
	} else {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		send = func(b []byte) error {
			if _, err := w.Write(b); err != nil {
				return err
			}
			w.(http.Flusher).Flush()
			return nil
		}
	}
	rv, _ := strconv.ParseInt(r.URL.Query().Get("resourceVersion"), 10, 64)
	f.mu.Lock()
	next := len(f.events)
	var initial []fakeEvent
	if rv == 0 {
		for _, o := range f.objs {
			initial = append(initial, fakeEvent{watch.Added, o.DeepCopy()})
		}
	} else {
		next = 0
		for next < len(f.events) && mustAtoi(f.events[next].obj.ResourceVersion) <= rv {
			next++
		}
	}
	f.mu.Unlock()
	emit := func(e fakeEvent) error {
		if ns != "" && e.obj.Namespace != ns {
			return nil
		}
		b, _ := json.Marshal(map[string]any{"type": e.typ, "object": e.obj})
		return send(append(b, '\n'))
	}
	for _, e := range initial {
		if emit(e) != nil {
			return
		}
	}
	for {
		f.mu.Lock()
		pending := f.events[next:]
		next = len(f.events)
		changed := f.changed
		f.mu.Unlock()
		for _, e := range pending {
			if emit(e) != nil {
				return
			}
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return
		}
	}
}

func mustAtoi(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}
