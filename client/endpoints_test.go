package client

import (
	"net/url"
	"testing"
	"time"
)

func testEndpoints(t *testing.T, n int) (*endpoints, *time.Time) {
	t.Helper()
	var bases []*url.URL
	for i := range n {
		u, err := parseHost("test", "http://10.0.0."+string(rune('1'+i))+":80")
		if err != nil {
			t.Fatal(err)
		}
		bases = append(bases, u)
	}
	es := newEndpoints(bases)
	now := time.Unix(1000, 0)
	es.now = func() time.Time { return now }
	return es, &now
}

// TestEndpointSelection: sticky to the current server while it is up; a
// failed one is skipped for its cooldown; the first that answers becomes
// current and stays current when the failed one recovers.
func TestEndpointSelection(t *testing.T) {
	es, now := testEndpoints(t, 3)
	var tried triedSet
	if e := es.pick(&tried); e.index != 0 {
		t.Fatalf("first pick = %d", e.index)
	}
	es.failed(es.list[0])
	if e := es.pick(&tried); e.index != 1 {
		t.Fatalf("pick after 0 failed = %d", e.index)
	}
	if !es.succeeded(es.list[1]) || es.current().index != 1 {
		t.Fatalf("current = %d after 1 answered", es.current().index)
	}
	// 0's cooldown ends: 1 stays current (no flapping back).
	*now = now.Add(endpointCooldownMax)
	if e := es.pick(&tried); e.index != 1 {
		t.Fatalf("pick after cooldown = %d, want the sticky 1", e.index)
	}
	if es.succeeded(es.list[0]) {
		t.Fatal("a success on 0 switched away from an up current endpoint")
	}
	// 1 fails: 2 is next after it, in order.
	es.failed(es.list[1])
	if e := es.pick(&tried); e.index != 2 {
		t.Fatalf("pick after 1 failed = %d", e.index)
	}
	// Within one request, tried endpoints are skipped even when up.
	tried.add(2)
	if e := es.pick(&tried); e.index != 0 {
		t.Fatalf("pick with 2 tried = %d", e.index)
	}
}

// TestEndpointAllDown: with every endpoint down the one whose cooldown ends
// first is tried; cooldowns double per consecutive failure up to the cap,
// and a success resets them.
func TestEndpointAllDown(t *testing.T) {
	es, now := testEndpoints(t, 2)
	es.failed(es.list[0])
	es.failed(es.list[0]) // 2s
	es.failed(es.list[1]) // 1s
	var tried triedSet
	if e := es.pick(&tried); e.index != 1 {
		t.Fatalf("pick with both down = %d, want the one back first", e.index)
	}
	for range 10 {
		es.failed(es.list[0])
	}
	if d := time.Duration(es.list[0].downUntil.Load() - now.UnixNano()); d != endpointCooldownMax {
		t.Fatalf("cooldown after 12 failures = %v", d)
	}
	es.list[0].succeed()
	if !es.list[0].up(now.UnixNano()) || es.list[0].failures.Load() != 0 {
		t.Fatal("success did not reset the endpoint")
	}
	// A single endpoint is always picked, down or not.
	one, _ := testEndpoints(t, 1)
	one.failed(one.list[0])
	if e := one.pick(&tried); e != one.list[0] {
		t.Fatal("single endpoint not picked")
	}
}

func TestTriedSet(t *testing.T) {
	var s triedSet
	for _, i := range []int{3, 70, 3, 0, 70} {
		s.add(i)
	}
	if s.len() != 3 || !s.has(0) || !s.has(3) || !s.has(70) || s.has(1) || s.has(71) {
		t.Fatalf("set = %+v", s)
	}
	s.reset()
	if s.len() != 0 || s.has(3) || s.has(70) {
		t.Fatalf("after reset: %+v", s)
	}
}
