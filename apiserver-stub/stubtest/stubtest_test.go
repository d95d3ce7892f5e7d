package stubtest_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/apiserver-stub/stubtest"
	"go.uber.org/goleak"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func createTask(t testing.TB, srv *stubtest.Server, name string) {
	t.Helper()
	res, err := http.Post(srv.URL+"/apis/kunos.io/v1/namespaces/default/tasks", "application/json",
		strings.NewReader(`{"metadata":{"name":"`+name+`"}}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d", res.StatusCode)
	}
}

func TestStoreSeedingAndCompact(t *testing.T) {
	srv := stubtest.Start(t, stubtest.WithHistory(100), stubtest.WithBookmarkInterval(time.Second))
	// Seed through the store directly.
	task := &kunosv1.Task{ObjectMeta: metav1.ObjectMeta{Name: "seeded", Namespace: "default"}}
	if _, err := srv.Store().Create(context.Background(), "/tasks/default/seeded", task); err != nil {
		t.Fatal(err)
	}
	res, err := http.Get(srv.URL + "/apis/kunos.io/v1/namespaces/default/tasks/seeded")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("seeded object: %d", res.StatusCode)
	}
	createTask(t, srv, "b")
	srv.Compact()
	if srv.Store().CompactedRevision() != srv.Store().CurrentRevision() {
		t.Fatalf("compacted %d, current %d", srv.Store().CompactedRevision(), srv.Store().CurrentRevision())
	}
	res, err = http.Get(srv.URL + "/apis/kunos.io/v1/tasks?resourceVersion=1&resourceVersionMatch=Exact")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusGone {
		t.Fatalf("exact list at a compacted revision: %d", res.StatusCode)
	}
}

func TestRestartKeepsAddressAndData(t *testing.T) {
	srv := stubtest.Start(t)
	createTask(t, srv, "a")
	url := srv.URL
	res, err := http.Get(srv.URL + "/apis/kunos.io/v1/tasks?watch=true&resourceVersion=0")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	srv.Restart()
	if _, err := io.ReadAll(res.Body); err == nil {
		t.Fatal("watch ended cleanly across a restart")
	}
	if srv.URL != url {
		t.Fatalf("URL changed: %s -> %s", url, srv.URL)
	}
	createTask(t, srv, "b")
	srv.Restart()
	srv.Restart()
	res2, err := http.Get(srv.URL + "/apis/kunos.io/v1/tasks")
	if err != nil {
		t.Fatal(err)
	}
	defer res2.Body.Close()
	var l kunosv1.TaskList
	if err := json.NewDecoder(res2.Body).Decode(&l); err != nil || len(l.Items) != 2 {
		t.Fatalf("after restarts: %v %d items", err, len(l.Items))
	}
}

func TestMaxBodyBytes(t *testing.T) {
	srv := stubtest.Start(t, stubtest.WithMaxBodyBytes(100))
	res, err := http.Post(srv.URL+"/apis/kunos.io/v1/nodes", "application/json",
		strings.NewReader(`{"metadata":{"name":"`+strings.Repeat("n", 120)+`"}}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("code %d", res.StatusCode)
	}
}

// Example starts a test server, creates a Task over HTTP and watches the
// Tasks of all namespaces from the beginning, with the bookmark that marks
// the end of the initial state.
func Example() {
	t := &testing.T{} // in a test, pass its *testing.T: t.Cleanup then stops the server
	srv := stubtest.Start(t)
	defer srv.Close()

	res, err := http.Post(srv.URL+"/apis/kunos.io/v1/namespaces/default/tasks", "application/json",
		strings.NewReader(`{"apiVersion":"kunos.io/v1","kind":"Task","metadata":{"name":"hello"},"spec":{"image":"busybox"}}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	res.Body.Close()
	fmt.Println("create:", res.Status)

	w, err := http.Get(srv.URL + "/apis/kunos.io/v1/tasks?watch=true&allowWatchBookmarks=true&resourceVersion=0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer w.Body.Close()
	sc := bufio.NewScanner(w.Body)
	for i := 0; i < 2 && sc.Scan(); i++ {
		var ev struct {
			Type   string
			Object metav1.PartialObjectMetadata
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%s %s name=%q initial-events-end=%q\n", ev.Type, ev.Object.Kind, ev.Object.Name,
			ev.Object.Annotations[metav1.InitialEventsAnnotationKey])
	}
	// Output:
	// create: 201 Created
	// ADDED Task name="hello" initial-events-end=""
	// BOOKMARK Task name="" initial-events-end="true"
}

func TestLimits(t *testing.T) {
	srv := stubtest.Start(t, stubtest.WithMaxListLimit(1), stubtest.WithMaxWatchers(1))
	createTask(t, srv, "a")
	createTask(t, srv, "b")
	res, err := http.Get(srv.URL + "/apis/kunos.io/v1/tasks?limit=10")
	if err != nil {
		t.Fatal(err)
	}
	var l kunosv1.TaskList
	err = json.NewDecoder(res.Body).Decode(&l)
	res.Body.Close()
	if err != nil || len(l.Items) != 1 || l.Continue == "" {
		t.Fatalf("capped list: %v %d items, continue %q", err, len(l.Items), l.Continue)
	}
	w, err := http.Get(srv.URL + "/apis/kunos.io/v1/tasks?watch=true")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Body.Close()
	w2, err := http.Get(srv.URL + "/apis/kunos.io/v1/tasks?watch=true")
	if err != nil {
		t.Fatal(err)
	}
	w2.Body.Close()
	if w2.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("second watch: %d", w2.StatusCode)
	}
}
