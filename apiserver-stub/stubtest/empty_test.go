package stubtest_test

import (
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/kunos-io/listwatch/apiserver-stub/stubtest"
)

func TestRestartEmptyLosesEverything(t *testing.T) {
	opts := []stubtest.Option{stubtest.WithBookmarkInterval(time.Second)}
	srv := stubtest.Start(t, opts...)
	for _, name := range []string{"a", "b", "c"} {
		createTask(t, srv, name)
	}
	oldRV := srv.Store().CurrentRevision()
	url := srv.URL
	res, err := http.Get(srv.URL + "/apis/kunos.io/v1/tasks?watch=true&resourceVersion=0")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	srv.RestartEmpty(opts...)
	if _, err := io.ReadAll(res.Body); err == nil {
		t.Fatal("watch ended cleanly across a restart")
	}
	if srv.URL != url {
		t.Fatalf("URL changed: %s -> %s", url, srv.URL)
	}
	if n := srv.Store().Count("/tasks/"); n != 0 {
		t.Fatalf("%d Tasks after RestartEmpty", n)
	}
	if rv := srv.Store().CurrentRevision(); rv >= oldRV {
		t.Fatalf("revision %d after RestartEmpty, was %d", rv, oldRV)
	}
	res, err = http.Get(srv.URL + "/apis/kunos.io/v1/namespaces/default/tasks/a")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Fatalf("get a lost Task: %d", res.StatusCode)
	}
	createTask(t, srv, "a") // the new server works, with its own metrics
	if mfs, err := srv.Registry().Gather(); err != nil || len(mfs) == 0 {
		t.Fatalf("metrics of the new server: %d families, %v", len(mfs), err)
	}
}
