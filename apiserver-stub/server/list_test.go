package server_test

import (
	"encoding/json"
	"net/url"
	"strconv"
	"testing"

	"github.com/kunos-io/listwatch/apiserver-stub/stubtest"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

type listBody struct {
	Kind     string          `json:"kind"`
	Metadata metav1.ListMeta `json:"metadata"`
	Items    []struct {
		Metadata metav1.ObjectMeta `json:"metadata"`
	} `json:"items"`
}

func list(t *testing.T, srv *stubtest.Server, path string, q url.Values) (listBody, resp) {
	t.Helper()
	r := get(t, srv, path+"?"+q.Encode())
	var l listBody
	if r.code == 200 {
		if err := json.Unmarshal(r.body, &l); err != nil {
			t.Fatal(err)
		}
	}
	return l, r
}

func names(l listBody) []string {
	var out []string
	for _, it := range l.Items {
		out = append(out, it.Metadata.Name)
	}
	return out
}

func TestListResourceVersionSemantics(t *testing.T) {
	srv := stubtest.Start(t)
	rvA := mustCreate(t, srv, "a")
	mustCreate(t, srv, "b")
	cur := srv.Store().CurrentRevision()
	rvs := func(s int64) string { return strconv.FormatInt(s, 10) }

	for _, q := range []url.Values{{}, {"resourceVersion": {"0"}}, {"resourceVersion": {rvs(rvA)}},
		{"resourceVersion": {rvs(rvA)}, "resourceVersionMatch": {"NotOlderThan"}}} {
		l, r := list(t, srv, tasksNS, q)
		if r.code != 200 || len(l.Items) != 2 || l.Metadata.ResourceVersion != rvs(cur) {
			t.Fatalf("%v: %d %s", q, r.code, r.body)
		}
	}
	// Exact, and legacy limit>0 with an RV: the snapshot at that revision.
	for _, q := range []url.Values{{"resourceVersion": {rvs(rvA)}, "resourceVersionMatch": {"Exact"}},
		{"resourceVersion": {rvs(rvA)}, "limit": {"10"}}} {
		l, r := list(t, srv, tasksNS, q)
		if r.code != 200 || len(l.Items) != 1 || l.Items[0].Metadata.Name != "a" || l.Metadata.ResourceVersion != rvs(rvA) {
			t.Fatalf("%v: %d %s", q, r.code, r.body)
		}
	}
	// Future revisions: 504 Timeout with cause ResourceVersionTooLarge and Retry-After.
	for _, q := range []url.Values{{"resourceVersion": {rvs(cur + 5)}},
		{"resourceVersion": {rvs(cur + 5)}, "resourceVersionMatch": {"Exact"}},
		{"resourceVersion": {rvs(cur + 5)}, "resourceVersionMatch": {"NotOlderThan"}}} {
		_, r := list(t, srv, tasksNS, q)
		st := wantStatus(t, r, 504, metav1.StatusReasonTimeout)
		if st.Details == nil || len(st.Details.Causes) != 1 || st.Details.Causes[0].Type != metav1.CauseTypeResourceVersionTooLarge || r.header.Get("Retry-After") != "1" {
			t.Fatalf("%v: %s (Retry-After %q)", q, r.body, r.header.Get("Retry-After"))
		}
	}
	// Get at a future RV: 504 too.
	wantStatus(t, get(t, srv, tasksNS+"/a?resourceVersion="+rvs(cur+1)), 504, metav1.StatusReasonTimeout)

	// Compaction: exact reads below it are 410 Expired.
	mustCreate(t, srv, "c")
	srv.Compact()
	_, r := list(t, srv, tasksNS, url.Values{"resourceVersion": {rvs(rvA)}, "resourceVersionMatch": {"Exact"}})
	if st := wantStatus(t, r, 410, metav1.StatusReasonExpired); st.Message != "The resourceVersion for the provided list is too old." {
		t.Fatalf("message %q", st.Message)
	}
	// NotOlderThan an old revision is still fine.
	l, r := list(t, srv, tasksNS, url.Values{"resourceVersion": {rvs(rvA)}})
	if r.code != 200 || len(l.Items) != 3 {
		t.Fatalf("NotOlderThan after compaction: %d %s", r.code, r.body)
	}
}

func TestListValidation(t *testing.T) {
	srv := stubtest.Start(t)
	mustCreate(t, srv, "a")
	cases := []struct {
		q      string
		code   int
		reason metav1.StatusReason
	}{
		{"labelSelector=a%20in%20(", 400, metav1.StatusReasonBadRequest},
		{"fieldSelector=spec.image%3Dx", 400, metav1.StatusReasonBadRequest},
		{"fieldSelector=%3D%3D%3D", 400, metav1.StatusReasonBadRequest},
		{"limit=abc", 400, metav1.StatusReasonBadRequest},
		{"resourceVersion=abc", 400, metav1.StatusReasonBadRequest},
		{"resourceVersion=-3", 400, metav1.StatusReasonBadRequest},
		{"continue=%21%21", 400, metav1.StatusReasonBadRequest},
		{"continue=eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MCwic3RhcnQiOiJhIn0", 400, metav1.StatusReasonBadRequest}, // rv 0
		{"resourceVersionMatch=Exact", 422, metav1.StatusReasonInvalid},
		{"resourceVersion=0&resourceVersionMatch=Exact", 422, metav1.StatusReasonInvalid},
		{"resourceVersion=1&resourceVersionMatch=Sometimes", 422, metav1.StatusReasonInvalid},
		{"sendInitialEvents=true", 422, metav1.StatusReasonInvalid},
		{"continue=x&resourceVersion=1&resourceVersionMatch=Exact", 422, metav1.StatusReasonInvalid},
		{"continue=eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MSwic3RhcnQiOiJhIn0&resourceVersion=5", 400, metav1.StatusReasonBadRequest},
	}
	for _, c := range cases {
		r := get(t, srv, tasksNS+"?"+c.q)
		wantStatus(t, r, c.code, c.reason)
	}
	// Supported field selectors.
	for _, q := range []string{"fieldSelector=metadata.name%3Da", "fieldSelector=metadata.namespace%3Ddefault",
		"fieldSelector=spec.nodeName%3D", "fieldSelector=status.phase!%3DRunning", "labelSelector=app%20in%20(x,y)"} {
		l, r := list(t, srv, tasksNS, mustParseQuery(t, q))
		if r.code != 200 || len(l.Items) != 1 {
			t.Fatalf("%s: %d %s", q, r.code, r.body)
		}
	}
	l, r := list(t, srv, tasksNS, url.Values{"labelSelector": {"app=y"}})
	if r.code != 200 || len(l.Items) != 0 {
		t.Fatalf("non-matching selector: %s", r.body)
	}
}

func mustParseQuery(t *testing.T, q string) url.Values {
	v, err := url.ParseQuery(q)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestListPagingAcrossWritesAndCompaction: every page of a list reads the
// revision of the first page, whatever is written in between; after
// compaction the next page is 410 Expired with a fresh token that
// continues at the latest revision.
func TestListPagingAcrossWritesAndCompaction(t *testing.T) {
	srv := stubtest.Start(t)
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		mustCreate(t, srv, n)
	}
	l, r := list(t, srv, tasksAll, url.Values{"limit": {"2"}})
	if r.code != 200 || len(l.Items) != 2 || l.Metadata.Continue == "" || l.Metadata.RemainingItemCount == nil || *l.Metadata.RemainingItemCount != 3 {
		t.Fatalf("page 1: %s", r.body)
	}
	rv1 := l.Metadata.ResourceVersion
	got := names(l)
	// Writes between pages are not seen.
	mustCreate(t, srv, "bb")
	wantCode(t, do(t, srv, "DELETE", tasksNS+"/e", "", ""), 200)
	for l.Metadata.Continue != "" {
		l, r = list(t, srv, tasksAll, url.Values{"limit": {"2"}, "continue": {l.Metadata.Continue}})
		if r.code != 200 || l.Metadata.ResourceVersion != rv1 {
			t.Fatalf("next page: %d %s", r.code, r.body)
		}
		got = append(got, names(l)...)
	}
	if want := []string{"a", "b", "c", "d", "e"}; !equal(got, want) {
		t.Fatalf("pages %v, want %v", got, want)
	}

	// Compaction between pages: 410 with a fresh continue token.
	l, _ = list(t, srv, tasksAll, url.Values{"limit": {"2"}})
	mustCreate(t, srv, "f")
	srv.Compact()
	_, r = list(t, srv, tasksAll, url.Values{"limit": {"2"}, "continue": {l.Metadata.Continue}})
	st := wantStatus(t, r, 410, metav1.StatusReasonExpired)
	if st.Continue == "" {
		t.Fatalf("no fresh continue token: %s", r.body)
	}
	l2, r := list(t, srv, tasksAll, url.Values{"limit": {"10"}, "continue": {st.Continue}})
	if r.code != 200 || !equal(names(l2), []string{"bb", "c", "d", "f"}) {
		t.Fatalf("continue with the fresh token: %d %s", r.code, r.body)
	}
}

func wantCode(t *testing.T, r resp, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("code %d, want %d: %s", r.code, code, r.body)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
