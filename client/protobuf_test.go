package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"

	"github.com/kunos-io/listwatch/apis/kube"
	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
)

// The server side of these tests encodes with apimachinery's own protobuf
// serializers, as kube-apiserver does: objects in the "k8s\x00" envelope,
// watch events raw (no envelope) and length-prefixed.
var (
	protoScheme = func() *runtime.Scheme {
		s := runtime.NewScheme()
		utilruntime.Must(corev1.AddToScheme(s))
		utilruntime.Must(coordinationv1.AddToScheme(s))
		return s
	}()
	protoSerializer    = protobuf.NewSerializer(protoScheme, protoScheme)
	protoRawSerializer = protobuf.NewRawSerializer(protoScheme, protoScheme)
)

// protoObject encodes obj in its envelope; its TypeMeta is set from the
// scheme unless already set.
func protoObject(t testing.TB, obj runtime.Object) []byte {
	t.Helper()
	if obj.GetObjectKind().GroupVersionKind().Empty() {
		gvks, _, err := protoScheme.ObjectKinds(obj)
		if err != nil {
			t.Fatal(err)
		}
		obj.GetObjectKind().SetGroupVersionKind(gvks[0])
	}
	var b bytes.Buffer
	if err := protoSerializer.Encode(obj, &b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// protoFrame encodes one watch event as one length-prefixed frame.
func protoFrame(t testing.TB, typ watch.EventType, obj runtime.Object) []byte {
	t.Helper()
	ev := &metav1.WatchEvent{Type: string(typ), Object: runtime.RawExtension{Raw: protoObject(t, obj)}}
	var b bytes.Buffer
	if err := protoRawSerializer.Encode(ev, &b); err != nil {
		t.Fatal(err)
	}
	return lengthPrefixed(b.Bytes())
}

func lengthPrefixed(msg []byte) []byte {
	n := len(msg)
	return append([]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}, msg...)
}

func configMap(name, rv string, data map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", ResourceVersion: rv}, Data: data}
}

func statusObject(code int32, reason metav1.StatusReason, msg string) *metav1.Status {
	return &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status: metav1.StatusFailure, Code: code, Reason: reason, Message: msg}
}

// protoAPI is a kube-apiserver stand-in for ConfigMaps in namespace ns that
// answers protobuf when the Accept header prefers it, and JSON otherwise
// (or always, with jsonOnly, like a server without protobuf).
type protoAPI struct {
	t        *testing.T
	jsonOnly bool
	accepts  atomic.Value // the last Accept header
}

func (a *protoAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t := a.t
	accept := r.Header.Get("Accept")
	a.accepts.Store(accept)
	proto := !a.jsonOnly && strings.HasPrefix(accept, ContentTypeProtobuf)
	write := func(code int, obj runtime.Object) {
		if proto {
			w.Header().Set("Content-Type", ContentTypeProtobuf)
			w.WriteHeader(code)
			w.Write(protoObject(t, obj))
			return
		}
		if obj.GetObjectKind().GroupVersionKind().Empty() {
			gvks, _, _ := protoScheme.ObjectKinds(obj)
			obj.GetObjectKind().SetGroupVersionKind(gvks[0])
		}
		w.Header().Set("Content-Type", ContentTypeJSON)
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(obj)
	}
	const base = "/api/v1/namespaces/ns/configmaps"
	switch {
	case r.URL.Path == base && r.URL.Query().Get("watch") == "true":
		events := []struct {
			typ watch.EventType
			obj runtime.Object
		}{
			{watch.Added, configMap("a", "11", map[string]string{"k": "v1"})},
			{watch.Modified, configMap("a", "12", map[string]string{"k": "v2"})},
			{watch.Deleted, configMap("b", "13", nil)},
			{watch.Bookmark, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{ResourceVersion: "14",
				Annotations: map[string]string{metav1.InitialEventsAnnotationKey: "true"}}}},
			{watch.Error, statusObject(410, metav1.StatusReasonExpired, "too old resource version: 1 (14)")},
		}
		if proto {
			w.Header().Set("Content-Type", ContentTypeProtobuf+";stream=watch")
			for _, ev := range events {
				w.Write(protoFrame(t, ev.typ, ev.obj))
				w.(http.Flusher).Flush()
			}
			return
		}
		w.Header().Set("Content-Type", ContentTypeJSON)
		for _, ev := range events {
			if ev.obj.GetObjectKind().GroupVersionKind().Empty() {
				gvks, _, _ := protoScheme.ObjectKinds(ev.obj)
				ev.obj.GetObjectKind().SetGroupVersionKind(gvks[0])
			}
			json.NewEncoder(w).Encode(map[string]any{"type": ev.typ, "object": ev.obj})
		}
	case r.URL.Path == base:
		write(200, &corev1.ConfigMapList{ListMeta: metav1.ListMeta{ResourceVersion: "10", Continue: "more"},
			Items: []corev1.ConfigMap{*configMap("a", "5", map[string]string{"k": "v"}), *configMap("b", "6", nil)}})
	case r.URL.Path == base+"/a" && r.Method == http.MethodGet:
		write(200, configMap("a", "5", map[string]string{"k": "v"}))
	case r.URL.Path == base+"/a" && r.Method == http.MethodPut:
		var cm corev1.ConfigMap
		if err := json.NewDecoder(r.Body).Decode(&cm); err != nil {
			t.Errorf("update body: %v", err)
		}
		cm.ResourceVersion = "6"
		write(200, &cm)
	default:
		write(404, statusObject(404, metav1.StatusReasonNotFound, fmt.Sprintf("configmaps %q not found", r.URL.Path[len(base):])))
	}
}

func newProtoTestClient(t *testing.T, api *protoAPI, contentType string) *Client {
	t.Helper()
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	c, err := New(&Config{Host: srv.URL, QPS: -1, ContentType: contentType})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// exerciseConfigMaps runs a get, an update, a list, a NotFound and a watch
// against api and checks what the client decodes, whatever the encoding.
func exerciseConfigMaps(t *testing.T, c *Client, api *protoAPI, wantAccept, wantWatchAccept string) {
	t.Helper()
	ctx := context.Background()
	cms := For(c, kube.ConfigMaps).Namespace("ns")

	cm, err := cms.Get(ctx, "a", metav1.GetOptions{})
	if err != nil || cm.Name != "a" || cm.Data["k"] != "v" || cm.Kind != "ConfigMap" || cm.APIVersion != "v1" {
		t.Fatalf("get: %v %+v", err, cm)
	}
	if got := api.accepts.Load(); got != wantAccept {
		t.Errorf("get sent Accept %q, want %q", got, wantAccept)
	}
	cm.Data["k"] = "w"
	if up, err := cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil || up.ResourceVersion != "6" || up.Data["k"] != "w" {
		t.Fatalf("update: %v %+v", err, up)
	}

	items, meta, err := cms.List(ctx, metav1.ListOptions{})
	if err != nil || len(items) != 2 || meta.ResourceVersion != "10" || meta.Continue != "more" {
		t.Fatalf("list: %v %d items, %+v", err, len(items), meta)
	}
	if it := items[0]; it.Name != "a" || it.Data["k"] != "v" || it.Kind != "ConfigMap" || it.APIVersion != "v1" || items[1].Name != "b" {
		t.Fatalf("list items: %+v", items)
	}

	_, err = cms.Get(ctx, "nope", metav1.GetOptions{})
	if !apierrors.IsNotFound(err) || !strings.Contains(err.Error(), `"/nope" not found`) {
		t.Fatalf("get of a missing object: %v", err)
	}

	w, err := cms.Watch(ctx, metav1.ListOptions{SendInitialEvents: ptr.To(true), AllowWatchBookmarks: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if got := api.accepts.Load(); got != wantWatchAccept {
		t.Errorf("watch sent Accept %q, want %q", got, wantWatchAccept)
	}
	var got []string
	for ev := range w.ResultChan() {
		switch o := ev.Object.(type) {
		case *corev1.ConfigMap:
			if o.Kind != "ConfigMap" || o.APIVersion != "v1" {
				t.Errorf("%s event object of kind %q %q", ev.Type, o.APIVersion, o.Kind)
			}
			got = append(got, fmt.Sprintf("%s %s@%s %s %s", ev.Type, o.Name, o.ResourceVersion, o.Data["k"], o.Annotations[metav1.InitialEventsAnnotationKey]))
		case *metav1.Status:
			got = append(got, fmt.Sprintf("%s %d %s %s", ev.Type, o.Code, o.Reason, o.Kind))
		default:
			t.Fatalf("%s event carries %T", ev.Type, ev.Object)
		}
	}
	want := []string{"ADDED a@11 v1 ", "MODIFIED a@12 v2 ", "DELETED b@13  ", "BOOKMARK @14  true", "ERROR 410 Expired Status"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("watch events:\n got %q\nwant %q", got, want)
	}
}

// Built-in kinds speak protobuf by default, with JSON as the fallback the
// Accept header offers; the watch asks for the protobuf stream.
func TestProtobufBuiltinKinds(t *testing.T) {
	api := &protoAPI{t: t}
	c := newProtoTestClient(t, api, "")
	exerciseConfigMaps(t, c, api, acceptProtobuf, acceptProtobufWatch)
}

// A server without protobuf (apiserver-stub) answers JSON to the same
// requests, and the client decodes it.
func TestProtobufFallsBackToJSON(t *testing.T) {
	api := &protoAPI{t: t, jsonOnly: true}
	c := newProtoTestClient(t, api, ContentTypeProtobuf)
	exerciseConfigMaps(t, c, api, acceptProtobuf, acceptProtobufWatch)
}

// ContentTypeJSON asks for JSON only.
func TestProtobufDisabled(t *testing.T) {
	api := &protoAPI{t: t}
	c := newProtoTestClient(t, api, ContentTypeJSON)
	exerciseConfigMaps(t, c, api, ContentTypeJSON, ContentTypeJSON)
}

func TestContentTypeValidated(t *testing.T) {
	if _, err := New(&Config{Host: "http://h", ContentType: "application/yaml"}); err == nil {
		t.Fatal("application/yaml accepted")
	}
}

// Kinds without protobuf encoding (custom resources, unstructured) ask
// for JSON only, and a protobuf answer to them is an error rather than a
// decoding attempt.
func TestProtobufOnlyForKindsThatHaveIt(t *testing.T) {
	var accept atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		accept.Store(r.Header.Get("Accept"))
		w.Header().Set("Content-Type", ContentTypeProtobuf)
		w.Write(protoObject(t, configMap("a", "1", nil)))
	}))
	defer srv.Close()
	c, err := New(&Config{Host: srv.URL, QPS: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, err = For(c, kunosv1.Tasks).Namespace("ns").Get(ctx, "a", metav1.GetOptions{})
	if err == nil || !strings.Contains(err.Error(), "unexpected response Content-Type") {
		t.Fatalf("typed custom resource: %v", err)
	}
	if got := accept.Load(); got != ContentTypeJSON {
		t.Errorf("custom resource sent Accept %q", got)
	}
	_, err = Dynamic(c, kube.ConfigMaps.Info).Namespace("ns").Get(ctx, "a", metav1.GetOptions{})
	if err == nil || accept.Load() != ContentTypeJSON {
		t.Fatalf("unstructured ConfigMap: %v, Accept %q", err, accept.Load())
	}
	// A Lease asks for protobuf, and a ConfigMap in its place is refused.
	_, err = For(c, kube.Leases).Namespace("ns").Get(ctx, "a", metav1.GetOptions{})
	if err == nil || !strings.Contains(err.Error(), "got v1 ConfigMap, want coordination.k8s.io/v1 Lease") {
		t.Fatalf("lease: %v", err)
	}
}

// A protobuf Status with ResourceVersionTooLarge on a 504 with Retry-After
// is not retried: the caller must see it at once (see exchange).
func TestProtobufTooLargeResourceVersion(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		st := statusObject(504, metav1.StatusReasonTimeout, "Too large resource version")
		st.Details = &metav1.StatusDetails{Causes: []metav1.StatusCause{{Type: metav1.CauseTypeResourceVersionTooLarge}}, RetryAfterSeconds: 1}
		w.Header().Set("Content-Type", ContentTypeProtobuf)
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(504)
		w.Write(protoObject(t, st))
	}))
	defer srv.Close()
	c, err := New(&Config{Host: srv.URL, QPS: -1})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = For(c, kube.ConfigMaps).Namespace("ns").List(context.Background(), metav1.ListOptions{ResourceVersion: "99"})
	if !apierrors.IsTimeout(err) || calls.Load() != 1 {
		t.Fatalf("err %v after %d calls", err, calls.Load())
	}
}

// A malformed protobuf watch stream ends with one ERROR event (code 500)
// saying what was wrong, after the good events before it.
func TestProtobufWatchMalformed(t *testing.T) {
	good := protoFrame(t, watch.Added, configMap("a", "1", nil))
	for name, tail := range map[string][]byte{
		"wrong kind":     protoFrame(t, watch.Added, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "l"}}),
		"no magic":       lengthPrefixed([]byte("\x0a\x05ADDED\x12\x04\x0a\x02{}")),
		"bad varint":     lengthPrefixed([]byte("\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff")),
		"unknown type":   protoFrame(t, "WAT", configMap("a", "1", nil)),
		"frame too big":  {0x7f, 0xff, 0xff, 0xff},
		"object garbage": lengthPrefixed(append([]byte("\x0a\x05ADDED\x12\x0c\x0a\x0a"), append(append([]byte{}, protoMagic...), "\x12\x04\xff\xff\xff\xff"...)...)),
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", ContentTypeProtobuf+";stream=watch")
				w.Write(good)
				w.Write(tail)
			}))
			defer srv.Close()
			c, err := New(&Config{Host: srv.URL, QPS: -1})
			if err != nil {
				t.Fatal(err)
			}
			w, err := For(c, kube.ConfigMaps).Namespace("ns").Watch(context.Background(), metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var evs []watch.Event
			for ev := range w.ResultChan() {
				evs = append(evs, ev)
			}
			if len(evs) != 2 || evs[0].Type != watch.Added {
				t.Fatalf("events %+v", evs)
			}
			st, ok := evs[1].Object.(*metav1.Status)
			if !ok || evs[1].Type != watch.Error || st.Code != 500 || !strings.Contains(st.Message, "malformed watch stream") {
				t.Fatalf("last event %+v", evs[1])
			}
			t.Log(st.Message)
		})
	}
}

// A stream cut inside a frame ends the watch without an event (the
// reflector re-watches), like a JSON stream cut inside an object.
func TestProtobufWatchCut(t *testing.T) {
	frame := protoFrame(t, watch.Added, configMap("a", "1", nil))
	for _, cut := range []int{2, len(frame) - 1} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", ContentTypeProtobuf+";stream=watch")
			w.Write(frame)
			w.Write(frame[:cut])
		}))
		c, err := New(&Config{Host: srv.URL, QPS: -1})
		if err != nil {
			t.Fatal(err)
		}
		w, err := For(c, kube.ConfigMaps).Namespace("ns").Watch(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for ev := range w.ResultChan() {
			if ev.Type != watch.Added {
				t.Fatalf("cut at %d: event %+v", cut, ev)
			}
			n++
		}
		if n != 1 {
			t.Fatalf("cut at %d: %d events", cut, n)
		}
		srv.Close()
	}
}

// decodeStatus reads a protobuf Status body; a protobuf body that is not
// one falls back to the generic error of the code.
func TestProtobufStatusBody(t *testing.T) {
	r := &request{verb: "get", method: http.MethodGet, gvr: schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, name: "a"}
	h := http.Header{"Content-Type": {ContentTypeProtobuf}}
	err := responseError(r, 409, h, bytes.NewReader(protoObject(t, statusObject(0, metav1.StatusReasonConflict, "changed"))))
	if !apierrors.IsConflict(err) || !strings.Contains(err.Error(), "changed") {
		t.Fatalf("err = %v", err)
	}
	var se *apierrors.StatusError
	if !errors.As(err, &se) || se.ErrStatus.Code != 409 || se.ErrStatus.Kind != "Status" {
		t.Fatalf("status %+v", err)
	}
	err = responseError(r, 403, h, bytes.NewReader(protoObject(t, configMap("a", "1", nil))))
	if !apierrors.IsForbidden(err) {
		t.Fatalf("err = %v", err)
	}
}
