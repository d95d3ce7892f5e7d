package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestClientHook(t *testing.T) {
	m := New(nil)
	c := m.Client()
	c.ObserveRequest("list", "tasks", 200, 20*time.Millisecond)
	c.ObserveRequest("list", "tasks", 200, 30*time.Millisecond)
	c.ObserveRequest("update", "tasks", 409, time.Millisecond)
	c.ObserveRequest("watch", "nodes", 0, time.Second)
	c.ObserveRequest("get", "nodes", -1, time.Second)

	want := `
# HELP rest_client_requests_total Number of HTTP requests to the API server, by verb, resource and status code ("<error>" when no response arrived).
# TYPE rest_client_requests_total counter
rest_client_requests_total{code="200",resource="tasks",verb="list"} 2
rest_client_requests_total{code="409",resource="tasks",verb="update"} 1
rest_client_requests_total{code="<error>",resource="nodes",verb="get"} 1
rest_client_requests_total{code="<error>",resource="nodes",verb="watch"} 1
`
	if err := testutil.CollectAndCompare(m.rest.requests, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(m.rest.duration); n != 4 {
		t.Fatalf("duration series = %d, want 4 (verb x resource)", n)
	}
}
