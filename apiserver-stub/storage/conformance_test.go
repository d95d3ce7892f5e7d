package storage_test

// A backend-agnostic conformance suite for storage.Interface.
//
// Every case gets a fresh, empty store from a conformanceBackend and talks
// to it through storage.Interface only, so the same cases run against the
// memory store (TestConformanceMemory) and against any other backend (an
// etcd one adds TestConformanceEtcd calling runConformance). What the cases
// assume of a backend, and nothing more:
//
//   - Revisions are global and increase with every write, but need not be
//     contiguous: a case never asks for a computed revision as if it were
//     a write's (rev+1, rev-1); it uses the revisions that writes return,
//     ListResult.Revision, and, only as a lower bound, CurrentRevision
//     (plus cfFar for a revision no backend reaches). The revisions of
//     other keys, or of other users of a shared backend, may sit between
//     two of ours.
//   - Writes are durable when they return, and reads at revision 0 (Get,
//     List, SendInitialEvents without a Revision) see every acknowledged
//     write.
//   - Watches deliver asynchronously: every wait on a channel has a
//     timeout, and "nothing more is coming" is asked with RequestProgress
//     (a Bookmark is delivered after everything before it). Unsolicited
//     progress Bookmarks are allowed anywhere after the initial events; the
//     helpers check that they are consistent with the events around them.
//   - A watcher that never reads is legal and must not block writers.
//
// Compaction is global in a shared backend, so a case only assumes that
// CompactedRevision is at least what it compacted to, never that it is 0;
// and Count is only required to converge (a backend may count from a
// cache), and only for prefixes within one resource.
//
// The randomized case uses a fixed seed, printed on failure;
// CONFORMANCE_SEED=<n> runs it with another.

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/apiserver-stub/storage"
)

// conformanceBackend makes a fresh, empty store for one subtest.
type conformanceBackend struct {
	name string
	new  func(t *testing.T) storage.Interface // cleanup registered with t.Cleanup
}

// conformanceCase is one named case of the suite.
type conformanceCase struct {
	name string
	run  func(t *testing.T, s storage.Interface)
}

func conformanceCases() []conformanceCase {
	return []conformanceCase{
		// Writes and what they return.
		{"CreateRecord", cfCaseCreateRecord},
		{"UpdateRecord", cfCaseUpdateRecord},
		{"DeleteRecord", cfCaseDeleteRecord},
		{"Preconditions", cfCasePreconditions},
		{"ReadYourWrites", cfCaseReadYourWrites},
		// Reads.
		{"GetAtRevision", cfCaseGetAtRevision},
		{"ListAtRevision", cfCaseListAtRevision},
		{"ListPagination", cfCaseListPagination},
		{"ListPredicates", cfCaseListPredicates},
		{"Count", cfCaseCount},
		{"PrefixScoping", cfCasePrefixScoping},
		{"Compact", cfCaseCompact},
		// Watches.
		{"WatchFromRevision", cfCaseWatchFromRevision},
		{"WatchFromZero", cfCaseWatchFromZero},
		{"WatchFutureRevision", cfCaseWatchFutureRevision},
		{"WatchInitialEvents", cfCaseWatchInitialEvents},
		{"WatchSelectorTransitions", cfCaseWatchSelectorTransitions},
		{"WatchCompactedRevision", cfCaseWatchCompactedRevision},
		{"WatchBehindCompaction", cfCaseWatchBehindCompaction},
		{"RequestProgress", cfCaseRequestProgress},
		{"StopClosesChannel", cfCaseStopClosesChannel},
		{"ContextCancelClosesChannel", cfCaseContextCancelClosesChannel},
		{"SlowWatcher", cfCaseSlowWatcher},
		{"WatchDuringConcurrentWrites", cfCaseWatchDuringConcurrentWrites},
		{"Randomized", cfCaseRandomized},
	}
}

// runConformance runs every case against fresh stores of b, one subtest
// per case, one after the other (a compaction in a backend shared by the
// stores is global). With -short the heaviest cases write less.
func runConformance(t *testing.T, b conformanceBackend) {
	t.Helper()
	for _, c := range conformanceCases() {
		t.Run(c.name, func(t *testing.T) {
			s := b.new(t)
			if s == nil {
				t.Fatalf("backend %s returned a nil store", b.name)
			}
			c.run(t, s)
		})
	}
}

func TestConformanceMemory(t *testing.T) {
	runConformance(t, conformanceBackend{
		name: "memory",
		new: func(t *testing.T) storage.Interface {
			return newStore(t, storage.MemoryConfig{})
		},
	})
}

const (
	cfWait  = 10 * time.Second       // bound on any wait for something that must happen
	cfQuiet = 200 * time.Millisecond // how long expectNoEvent watches
	// cfFar is added to a revision to make one that no backend reaches
	// during a test.
	cfFar = 1 << 40
)

// ---------------------------------------------------------------------------
// Objects and records.

// cfTask is a Task whose image marks the version, so that two versions
// with equal selectable attributes still differ.
func cfTask(ns, name, node string, lbls map[string]string, marker string) *kunosv1.Task {
	o := task(ns, name, node, lbls)
	o.Spec.Image = marker
	return o
}

func cfTaskPhase(ns, name, node string, lbls map[string]string, phase kunosv1.TaskPhase, marker string) *kunosv1.Task {
	o := cfTask(ns, name, node, lbls, marker)
	o.Status.Phase = phase
	return o
}

func cfNode(name string, capacity int32) *kunosv1.Node {
	return &kunosv1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: kunosv1.NodeSpec{Capacity: capacity}}
}

func cfJob(ns, name string) *kunosv1.Job {
	return &kunosv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
}

func cfLabels(kv ...string) map[string]string {
	m := make(map[string]string, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// cfRecordProblem checks what holds for every record a store hands out:
// Data is the object's JSON with apiVersion and kind set and
// metadata.resourceVersion equal to Revision, and Labels and Fields are
// what the codec extracts from that object. It returns "" if all hold.
func cfRecordProblem(r *storage.Record) string {
	if r == nil {
		return "nil record"
	}
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			ResourceVersion string `json:"resourceVersion"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(r.Data, &head); err != nil {
		return fmt.Sprintf("%s@%d: data does not decode: %v", r.Key, r.Revision, err)
	}
	resource := strings.SplitN(strings.TrimPrefix(r.Key, "/"), "/", 2)[0]
	d, ok := kunosResource(resource)
	if !ok {
		return fmt.Sprintf("record key %q names no kunos.io/v1 resource", r.Key)
	}
	if head.APIVersion != kunosv1.SchemeGroupVersion.String() || head.Kind != d.ResourceInfo().Kind {
		return fmt.Sprintf("%s@%d: apiVersion %q kind %q, want %q %q", r.Key, r.Revision, head.APIVersion, head.Kind, kunosv1.SchemeGroupVersion.String(), d.ResourceInfo().Kind)
	}
	if want := strconv.FormatInt(r.Revision, 10); head.Metadata.ResourceVersion != want {
		return fmt.Sprintf("%s: resourceVersion %q in Data, Revision %d", r.Key, head.Metadata.ResourceVersion, r.Revision)
	}
	obj, err := testCodec{}.Decode(r.Key, r.Data)
	if err != nil {
		return fmt.Sprintf("%s@%d: %v", r.Key, r.Revision, err)
	}
	lbls, flds, err := testCodec{}.Attributes(obj)
	if err != nil {
		return fmt.Sprintf("%s@%d: %v", r.Key, r.Revision, err)
	}
	if !labels.Equals(lbls, r.Labels().Set()) {
		return fmt.Sprintf("%s@%d: Labels %v, but the object has %v", r.Key, r.Revision, r.Labels().Set(), lbls)
	}
	if !maps.Equal(flds, r.Fields().Set()) {
		return fmt.Sprintf("%s@%d: Fields %v, but the object has %v", r.Key, r.Revision, r.Fields().Set(), flds)
	}
	return ""
}

func cfGeneric(data []byte) (map[string]any, error) {
	var m map[string]any
	err := json.Unmarshal(data, &m)
	return m, err
}

// cfRecordDiff compares got with want's state re-versioned to rev: same
// key, Revision rev, same Labels and Fields, and the same JSON but for
// metadata.resourceVersion, which must be rev. It returns "" if they agree.
// Comparing decoded JSON rather than bytes lets a backend re-encode.
func cfRecordDiff(got, want *storage.Record, rev int64) string {
	if p := cfRecordProblem(got); p != "" {
		return p
	}
	if got.Key != want.Key || got.Revision != rev {
		return fmt.Sprintf("record %s@%d, want %s@%d", got.Key, got.Revision, want.Key, rev)
	}
	if !labels.Equals(got.Labels().Set(), want.Labels().Set()) || !maps.Equal(got.Fields().Set(), want.Fields().Set()) {
		return fmt.Sprintf("%s@%d: labels %v fields %v, want %v %v", got.Key, rev, got.Labels().Set(), got.Fields().Set(), want.Labels().Set(), want.Fields().Set())
	}
	g, err := cfGeneric(got.Data)
	if err != nil {
		return err.Error()
	}
	w, err := cfGeneric(want.Data)
	if err != nil {
		return err.Error()
	}
	if md, ok := w["metadata"].(map[string]any); ok {
		md["resourceVersion"] = strconv.FormatInt(rev, 10)
	}
	if !reflect.DeepEqual(g, w) {
		return fmt.Sprintf("%s@%d: data\n\t%s\nwant the state\n\t%s\nat revision %d", got.Key, rev, got.Data, want.Data, rev)
	}
	return ""
}

// cfTaskDiff compares the Task in r with want (what was written).
func cfTaskDiff(r *storage.Record, want *kunosv1.Task) string {
	got, err := decodeTask(r.Data)
	if err != nil {
		return err.Error()
	}
	if got.Namespace != want.Namespace || got.Name != want.Name || !labels.Equals(got.Labels, want.Labels) ||
		got.Spec.NodeName != want.Spec.NodeName || got.Spec.Image != want.Spec.Image || got.Status.Phase != want.Status.Phase {
		return fmt.Sprintf("%s@%d holds %s/%s labels %v node %q image %q phase %q; wrote %s/%s labels %v node %q image %q phase %q",
			r.Key, r.Revision, got.Namespace, got.Name, got.Labels, got.Spec.NodeName, got.Spec.Image, got.Status.Phase,
			want.Namespace, want.Name, want.Labels, want.Spec.NodeName, want.Spec.Image, want.Status.Phase)
	}
	return ""
}

func cfCheckWritten(t testing.TB, op, key string, r *storage.Record, obj runtime.Object) {
	t.Helper()
	if p := cfRecordProblem(r); p != "" {
		t.Fatalf("%s %s: %s", op, key, p)
	}
	if r.Key != key || r.Revision <= 0 {
		t.Fatalf("%s %s: record %s@%d", op, key, r.Key, r.Revision)
	}
	if tk, ok := obj.(*kunosv1.Task); ok {
		if d := cfTaskDiff(r, tk); d != "" {
			t.Fatalf("%s: %s", op, d)
		}
	}
}

func cfCreate(t testing.TB, s storage.Interface, key string, obj runtime.Object) *storage.Record {
	t.Helper()
	r, err := s.Create(context.Background(), key, obj)
	if err != nil {
		t.Fatalf("create %s: %v", key, err)
	}
	cfCheckWritten(t, "create", key, r, obj)
	return r
}

func cfUpdate(t testing.TB, s storage.Interface, key string, pre int64, obj runtime.Object) *storage.Record {
	t.Helper()
	r, err := s.Update(context.Background(), key, pre, obj)
	if err != nil {
		t.Fatalf("update %s (precondition %d): %v", key, pre, err)
	}
	cfCheckWritten(t, "update", key, r, obj)
	return r
}

func cfDelete(t testing.TB, s storage.Interface, key string, pre int64) *storage.Record {
	t.Helper()
	r, err := s.Delete(context.Background(), key, pre)
	if err != nil {
		t.Fatalf("delete %s (precondition %d): %v", key, pre, err)
	}
	cfCheckWritten(t, "delete", key, r, nil)
	return r
}

func cfGet(t testing.TB, s storage.Interface, key string, rev int64) *storage.Record {
	t.Helper()
	r, err := s.Get(context.Background(), key, rev)
	if err != nil {
		t.Fatalf("get %s at %d: %v", key, rev, err)
	}
	if p := cfRecordProblem(r); p != "" {
		t.Fatalf("get %s at %d: %s", key, rev, p)
	}
	return r
}

func cfList(t testing.TB, s storage.Interface, prefix string, opts storage.ListOptions) *storage.ListResult {
	t.Helper()
	res, err := s.List(context.Background(), prefix, opts)
	if err != nil {
		t.Fatalf("list %s %+v: %v", prefix, opts, err)
	}
	if opts.Revision != 0 && res.Revision != opts.Revision {
		t.Fatalf("list %s at %d: ListResult.Revision %d", prefix, opts.Revision, res.Revision)
	}
	for _, r := range res.Items {
		if p := cfRecordProblem(r); p != "" {
			t.Fatalf("list %s: %s", prefix, p)
		}
	}
	return res
}

// cfListDiff compares the items of a list with want.
func cfListDiff(got, want []*storage.Record) string {
	if len(got) != len(want) {
		return fmt.Sprintf("%d items %s, want %d %s", len(got), cfKeys(got), len(want), cfKeys(want))
	}
	for i := range got {
		if d := cfRecordDiff(got[i], want[i], want[i].Revision); d != "" {
			return fmt.Sprintf("item %d: %s", i, d)
		}
	}
	return ""
}

func cfKeys(rs []*storage.Record) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, r := range rs {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s@%d", r.Key, r.Revision)
	}
	b.WriteByte(']')
	return b.String()
}

// cfEventually polls check until it returns "" or cfWait passes.
func cfEventually(t testing.TB, check func() string) {
	t.Helper()
	deadline := time.Now().Add(cfWait)
	for {
		msg := check()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(msg)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func cfLabelSel(t testing.TB, s string) labels.Selector {
	t.Helper()
	sel, err := labels.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return sel
}

func cfFieldSel(t testing.TB, s string) fields.Selector {
	t.Helper()
	sel, err := fields.ParseSelector(s)
	if err != nil {
		t.Fatal(err)
	}
	return sel
}

func cfPredString(p storage.Predicate) string {
	var parts []string
	if p.Label != nil && !p.Label.Empty() {
		parts = append(parts, "labels "+p.Label.String())
	}
	if p.Field != nil && !p.Field.Empty() {
		parts = append(parts, "fields "+p.Field.String())
	}
	if len(parts) == 0 {
		return "everything"
	}
	return strings.Join(parts, ", ")
}

// ---------------------------------------------------------------------------
// A model of the write log.

// cfWrite is one acknowledged write.
type cfWrite struct {
	typ  watch.EventType
	rec  *storage.Record // what the write returned (for Deleted, the deletion record)
	prev *storage.Record // the key's state before it (nil for Added)
	seq  int64           // when the write started, among concurrent writers
}

// cfHistory is the write log of one case, in revision order, and what a
// correct store must answer about it.
type cfHistory struct {
	writes []cfWrite
	cur    map[string]*storage.Record
}

func newCfHistory() *cfHistory { return &cfHistory{cur: map[string]*storage.Record{}} }

// cfHistoryOf builds the model from writes seen by concurrent writers.
func cfHistoryOf(t testing.TB, ws []cfWrite) *cfHistory {
	t.Helper()
	ws = slices.Clone(ws)
	slices.SortFunc(ws, func(a, b cfWrite) int { return cmpInt64(a.rec.Revision, b.rec.Revision) })
	h := newCfHistory()
	for _, w := range ws {
		h.record(t, w.typ, w.rec)
		h.writes[len(h.writes)-1].seq = w.seq
	}
	return h
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// record appends a write; revisions must increase.
func (h *cfHistory) record(t testing.TB, typ watch.EventType, rec *storage.Record) {
	t.Helper()
	if n := len(h.writes); n > 0 && rec.Revision <= h.writes[n-1].rec.Revision {
		t.Fatalf("%s of %s got revision %d, not above the previous write's %d (revisions must increase)", typ, rec.Key, rec.Revision, h.writes[n-1].rec.Revision)
	}
	prev := h.cur[rec.Key]
	if (typ == watch.Added) != (prev == nil) {
		t.Fatalf("%s of %s at %d, but the key's previous state is %v", typ, rec.Key, rec.Revision, prev)
	}
	h.writes = append(h.writes, cfWrite{typ: typ, rec: rec, prev: prev, seq: int64(len(h.writes) + 1)})
	if typ == watch.Deleted {
		delete(h.cur, rec.Key)
	} else {
		h.cur[rec.Key] = rec
	}
}

// lastUnder is the revision of the newest write under prefix (0 if none):
// a Bookmark at or after it shows that a watcher of prefix has been sent
// everything. (Waiting for the newest write of all would make a backend
// with a cache per resource wait for etcd to report progress.)
func (h *cfHistory) lastUnder(prefix string) int64 {
	for i := len(h.writes) - 1; i >= 0; i-- {
		if strings.HasPrefix(h.writes[i].rec.Key, prefix) {
			return h.writes[i].rec.Revision
		}
	}
	return 0
}

// last is the revision of the newest write (0 before any).
func (h *cfHistory) last() int64 {
	if len(h.writes) == 0 {
		return 0
	}
	return h.writes[len(h.writes)-1].rec.Revision
}

func (h *cfHistory) create(t testing.TB, s storage.Interface, key string, obj runtime.Object) *storage.Record {
	t.Helper()
	r := cfCreate(t, s, key, obj)
	h.record(t, watch.Added, r)
	return r
}

func (h *cfHistory) update(t testing.TB, s storage.Interface, key string, pre int64, obj runtime.Object) *storage.Record {
	t.Helper()
	r := cfUpdate(t, s, key, pre, obj)
	h.record(t, watch.Modified, r)
	return r
}

// delete deletes key and checks that the store returned the last state at
// the deletion revision.
func (h *cfHistory) delete(t testing.TB, s storage.Interface, key string, pre int64) *storage.Record {
	t.Helper()
	r := cfDelete(t, s, key, pre)
	if prev := h.cur[key]; prev != nil {
		if r.Revision <= prev.Revision {
			t.Fatalf("delete %s: revision %d, not above the key's %d", key, r.Revision, prev.Revision)
		}
		if d := cfRecordDiff(r, prev, r.Revision); d != "" {
			t.Fatalf("delete %s must return the last state at the deletion revision: %s", key, d)
		}
	}
	h.record(t, watch.Deleted, r)
	return r
}

// stateAt returns key's record at rev, or nil if it did not exist then.
func (h *cfHistory) stateAt(key string, rev int64) *storage.Record {
	var st *storage.Record
	for _, w := range h.writes {
		if w.rec.Revision > rev {
			break
		}
		if w.rec.Key == key {
			st = w.rec
			if w.typ == watch.Deleted {
				st = nil
			}
		}
	}
	return st
}

// liveAt returns the objects under prefix that match pred at rev, in key
// order.
func (h *cfHistory) liveAt(rev int64, prefix string, pred storage.Predicate) []*storage.Record {
	st := map[string]*storage.Record{}
	for _, w := range h.writes {
		if w.rec.Revision > rev {
			break
		}
		if !strings.HasPrefix(w.rec.Key, prefix) {
			continue
		}
		if w.typ == watch.Deleted {
			delete(st, w.rec.Key)
		} else {
			st[w.rec.Key] = w.rec
		}
	}
	var out []*storage.Record
	for _, r := range st {
		if pred.Matches(r) {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b *storage.Record) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// cfExpected is an event a watcher must receive: obj's state at rev.
type cfExpected struct {
	typ watch.EventType
	rev int64
	obj *storage.Record
}

func (x cfExpected) String() string { return fmt.Sprintf("%s %s@%d", x.typ, x.obj.Key, x.rev) }

// eventsAfter returns what a watcher of prefix with pred receives for the
// writes after rev: with a selector, an object that starts matching is
// Added, and one that stops matching is Deleted with its previous state at
// the new revision.
func (h *cfHistory) eventsAfter(rev int64, prefix string, pred storage.Predicate) []cfExpected {
	var out []cfExpected
	for _, w := range h.writes {
		r := w.rec.Revision
		if r <= rev || !strings.HasPrefix(w.rec.Key, prefix) {
			continue
		}
		before := w.prev != nil && pred.Matches(w.prev)
		now := w.typ != watch.Deleted && pred.Matches(w.rec)
		switch {
		case w.typ == watch.Deleted:
			if before {
				out = append(out, cfExpected{watch.Deleted, r, w.rec})
			}
		case now && before:
			out = append(out, cfExpected{watch.Modified, r, w.rec})
		case now:
			out = append(out, cfExpected{watch.Added, r, w.rec})
		case before:
			out = append(out, cfExpected{watch.Deleted, r, w.prev})
		}
	}
	return out
}

func cfDescribe(ev storage.Event) string {
	switch {
	case ev.Type == watch.Error:
		return fmt.Sprintf("ERROR@%d (%v)", ev.Revision, ev.Err)
	case ev.Object == nil:
		end := ""
		if ev.InitialEventsEnd {
			end = " (initial events end)"
		}
		return fmt.Sprintf("%s@%d%s", ev.Type, ev.Revision, end)
	}
	return fmt.Sprintf("%s %s@%d", ev.Type, ev.Object.Key, ev.Revision)
}

func cfDescribeAll(evs []storage.Event) string {
	var parts []string
	for _, ev := range evs {
		parts = append(parts, cfDescribe(ev))
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// cfEventDiff compares one received event with the expected one.
func cfEventDiff(ev storage.Event, x cfExpected) string {
	if ev.Type != x.typ || ev.Revision != x.rev || ev.Object == nil || ev.Object.Key != x.obj.Key {
		return fmt.Sprintf("got %s, want %s", cfDescribe(ev), x)
	}
	if d := cfRecordDiff(ev.Object, x.obj, x.rev); d != "" {
		return fmt.Sprintf("%s: %s", x, d)
	}
	return ""
}

// cfEventsDiff compares the changes a watcher received with want.
func cfEventsDiff(got []storage.Event, want []cfExpected) string {
	for i := 0; i < len(got) && i < len(want); i++ {
		if d := cfEventDiff(got[i], want[i]); d != "" {
			return fmt.Sprintf("event %d: %s\n\tgot  %s\n\twant %v", i, d, cfDescribeAll(got), want)
		}
	}
	if len(got) != len(want) {
		return fmt.Sprintf("got %d events, want %d\n\tgot  %s\n\twant %v", len(got), len(want), cfDescribeAll(got), want)
	}
	return ""
}

// ---------------------------------------------------------------------------
// Reading watches synchronously.

// nextEvent returns the next event of w, failing the test if none comes
// within timeout or the channel closes.
func nextEvent(t testing.TB, w storage.Watcher, timeout time.Duration) storage.Event {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case ev, ok := <-w.ResultChan():
		if !ok {
			t.Fatal("watch channel closed")
		}
		return ev
	case <-timer.C:
		t.Fatalf("no watch event within %v", timeout)
	}
	return storage.Event{}
}

// expectNoEvent fails if w delivers anything but a progress Bookmark, or
// closes, within d.
func expectNoEvent(t testing.TB, w storage.Watcher, d time.Duration) {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatal("watch channel closed, want it open and quiet")
			}
			if ev.Type == watch.Bookmark && !ev.InitialEventsEnd {
				continue
			}
			t.Fatalf("unexpected event %s", cfDescribe(ev))
		case <-timer.C:
			return
		}
	}
}

// expectClosed drains w until its channel closes.
func expectClosed(t testing.TB, w storage.Watcher, timeout time.Duration) {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case _, ok := <-w.ResultChan():
			if !ok {
				return
			}
		case <-timer.C:
			t.Fatalf("watch channel still open after %v", timeout)
		}
	}
}

// cfWatcher reads one watch from the test goroutine and checks the order
// of everything it delivers: change events strictly after the last
// delivered revision (so after the start revision, and after any
// Bookmark), Bookmarks never going back.
type cfWatcher struct {
	w    storage.Watcher
	desc string
	last int64
}

// cfWatch opens a watch, stopped when the test ends.
func cfWatch(t testing.TB, s storage.Interface, prefix string, opts storage.WatchOptions) *cfWatcher {
	t.Helper()
	w, err := s.Watch(context.Background(), prefix, opts)
	if err != nil {
		t.Fatalf("watch %s %+v: %v", prefix, opts, err)
	}
	t.Cleanup(w.Stop)
	cw := &cfWatcher{w: w, desc: fmt.Sprintf("watch %s from %d (%s, initial events %v)", prefix, opts.Revision, cfPredString(opts.Predicate), opts.SendInitialEvents)}
	if !opts.SendInitialEvents {
		cw.last = opts.Revision
	}
	return cw
}

func (cw *cfWatcher) observe(t testing.TB, ev storage.Event) {
	t.Helper()
	switch ev.Type {
	case watch.Bookmark:
		if ev.InitialEventsEnd {
			t.Fatalf("%s: unexpected initial-events-end %s", cw.desc, cfDescribe(ev))
		}
		if ev.Object != nil {
			t.Fatalf("%s: bookmark with an object", cw.desc)
		}
		if ev.Revision < cw.last {
			t.Fatalf("%s: bookmark at %d after revision %d was delivered", cw.desc, ev.Revision, cw.last)
		}
		cw.last = ev.Revision
	case watch.Added, watch.Modified, watch.Deleted:
		if ev.Object == nil {
			t.Fatalf("%s: %s without an object", cw.desc, ev.Type)
		}
		if ev.Revision <= cw.last {
			t.Fatalf("%s: %s, not after revision %d (start, previous event or bookmark)", cw.desc, cfDescribe(ev), cw.last)
		}
		if ev.Object.Revision != ev.Revision {
			t.Fatalf("%s: %s carries an object at revision %d", cw.desc, cfDescribe(ev), ev.Object.Revision)
		}
		if p := cfRecordProblem(ev.Object); p != "" {
			t.Fatalf("%s: %s", cw.desc, p)
		}
		cw.last = ev.Revision
	case watch.Error:
		if ev.Err == nil {
			t.Fatalf("%s: Error event without an error", cw.desc)
		}
	default:
		t.Fatalf("%s: event of unknown type %q", cw.desc, ev.Type)
	}
}

// next returns the next change (or Error) event, skipping progress
// Bookmarks.
func (cw *cfWatcher) next(t testing.TB) storage.Event {
	t.Helper()
	for {
		ev := nextEvent(t, cw.w, cfWait)
		cw.observe(t, ev)
		if ev.Type != watch.Bookmark {
			return ev
		}
	}
}

// expect receives the next change and checks it against want's state at
// rev.
func (cw *cfWatcher) expect(t testing.TB, typ watch.EventType, want *storage.Record, rev int64) storage.Event {
	t.Helper()
	ev := cw.next(t)
	if d := cfEventDiff(ev, cfExpected{typ, rev, want}); d != "" {
		t.Fatalf("%s: %s", cw.desc, d)
	}
	return ev
}

// progress requests progress until a Bookmark at or after minRev arrives
// and returns the changes received before it.
func (cw *cfWatcher) progress(t testing.TB, minRev int64) []storage.Event {
	t.Helper()
	deadline := time.Now().Add(cfWait)
	cw.w.RequestProgress()
	var out []storage.Event
	for {
		left := time.Until(deadline)
		if left <= 0 {
			t.Fatalf("%s: no bookmark at or after %d within %v (got %s)", cw.desc, minRev, cfWait, cfDescribeAll(out))
		}
		ev := nextEvent(t, cw.w, left)
		cw.observe(t, ev)
		switch ev.Type {
		case watch.Error:
			t.Fatalf("%s: unexpected %s after %s", cw.desc, cfDescribe(ev), cfDescribeAll(out))
		case watch.Bookmark:
			if ev.Revision >= minRev {
				return out
			}
			time.Sleep(time.Millisecond) // the watch is still behind: ask again
			cw.w.RequestProgress()
		default:
			out = append(out, ev)
		}
	}
}

// expectEvents checks that exactly want arrives, and nothing else, up to
// revision upTo.
func (cw *cfWatcher) expectEvents(t testing.TB, want []cfExpected, upTo int64) {
	t.Helper()
	if d := cfEventsDiff(cw.progress(t, upTo), want); d != "" {
		t.Fatalf("%s: %s", cw.desc, d)
	}
}

// expectQuiet checks that nothing but a progress Bookmark at or after
// minRev is pending.
func (cw *cfWatcher) expectQuiet(t testing.TB, minRev int64) {
	t.Helper()
	if evs := cw.progress(t, minRev); len(evs) > 0 {
		t.Fatalf("%s: unexpected events %s", cw.desc, cfDescribeAll(evs))
	}
}

// initial reads the initial events up to the Bookmark that ends them and
// returns the objects, in key order, and the snapshot revision.
func (cw *cfWatcher) initial(t testing.TB) ([]*storage.Record, int64) {
	t.Helper()
	var recs []*storage.Record
	var evs []storage.Event
	for {
		ev := nextEvent(t, cw.w, cfWait)
		switch {
		case ev.Type == watch.Added && ev.Object != nil:
			if p := cfRecordProblem(ev.Object); p != "" {
				t.Fatalf("%s: initial event: %s", cw.desc, p)
			}
			recs = append(recs, ev.Object)
			evs = append(evs, ev)
		case ev.Type == watch.Bookmark && ev.InitialEventsEnd:
			end := ev.Revision
			for _, e := range evs {
				if e.Object.Revision > end || e.Revision < e.Object.Revision || e.Revision > end {
					t.Fatalf("%s: initial event %s (object at %d) is not part of the snapshot at %d", cw.desc, cfDescribe(e), e.Object.Revision, end)
				}
			}
			slices.SortFunc(recs, func(a, b *storage.Record) int { return strings.Compare(a.Key, b.Key) })
			for i := 1; i < len(recs); i++ {
				if recs[i].Key == recs[i-1].Key {
					t.Fatalf("%s: two initial events for %s", cw.desc, recs[i].Key)
				}
			}
			cw.last = end
			return recs, end
		default:
			t.Fatalf("%s: %s among the initial events (want ADDED, then one initial-events-end bookmark)", cw.desc, cfDescribe(ev))
		}
	}
}

// cfWatchFailsCompacted checks that a watch from a compacted revision
// reports IsCompacted: the interface asks Watch to fail at once; an Error
// event followed by the end of the watch tells the client the same (410)
// and is accepted too, with a log line.
func cfWatchFailsCompacted(t testing.TB, s storage.Interface, prefix string, opts storage.WatchOptions) {
	t.Helper()
	w, err := s.Watch(context.Background(), prefix, opts)
	if err != nil {
		if !storage.IsCompacted(err) {
			t.Fatalf("watch from compacted revision %d: %v, want IsCompacted", opts.Revision, err)
		}
		return
	}
	defer w.Stop()
	ev := nextEvent(t, w, cfWait)
	if ev.Type != watch.Error || !storage.IsCompacted(ev.Err) {
		t.Fatalf("watch from compacted revision %d succeeded and delivered %s, want IsCompacted", opts.Revision, cfDescribe(ev))
	}
	expectClosed(t, w, cfWait)
	t.Logf("watch from compacted revision %d: reported as an Error event, not by Watch", opts.Revision)
}

// ---------------------------------------------------------------------------
// Reading watches from a goroutine, for the cases with many watchers.

// cfStream is a watch read by its own goroutine into a slice, checked
// against the model after the writes. How it started says what it must
// have received:
//   - initial: ADDED for the snapshot at the end bookmark's revision (at
//     least minStart), then every change after it;
//   - from0: every change after some revision S >= minStart, where every
//     write whose seq is above seqAfter (started after Watch returned)
//     is after S (the cases with many watchers leave minStart 0: that a
//     watch from 0 skips what was acknowledged before it is
//     WatchFromZero's business);
//   - otherwise: every change after start.
type cfStream struct {
	desc     string
	w        storage.Watcher
	prefix   string
	pred     storage.Predicate
	initial  bool
	from0    bool
	start    int64
	minStart int64
	seqAfter int64

	mu      sync.Mutex
	events  []storage.Event
	bm      int64 // highest progress bookmark revision
	reading bool  // consume was called
	done    chan struct{}
}

func cfOpenStream(t testing.TB, s storage.Interface, prefix string, opts storage.WatchOptions) *cfStream {
	t.Helper()
	w, err := s.Watch(context.Background(), prefix, opts)
	if err != nil {
		t.Fatalf("watch %s %+v: %v", prefix, opts, err)
	}
	st := &cfStream{
		desc:    fmt.Sprintf("watch %s from %d (%s, initial events %v)", prefix, opts.Revision, cfPredString(opts.Predicate), opts.SendInitialEvents),
		w:       w,
		prefix:  prefix,
		pred:    opts.Predicate,
		initial: opts.SendInitialEvents,
		start:   opts.Revision,
		from0:   !opts.SendInitialEvents && opts.Revision == 0,
		done:    make(chan struct{}),
	}
	t.Cleanup(func() {
		st.w.Stop()
		if !st.reading {
			return
		}
		select {
		case <-st.done:
		case <-time.After(cfWait):
			t.Errorf("%s: channel not closed %v after Stop", st.desc, cfWait)
		}
	})
	return st
}

// consume reads the channel until it closes; a slow reader pauses now and
// then so that the store must buffer or catch it up.
func (st *cfStream) consume(slow bool) {
	st.reading = true
	go func() {
		defer close(st.done)
		n := 0
		for ev := range st.w.ResultChan() {
			st.mu.Lock()
			st.events = append(st.events, ev)
			if ev.Type == watch.Bookmark && !ev.InitialEventsEnd && ev.Revision > st.bm {
				st.bm = ev.Revision
			}
			st.mu.Unlock()
			if n++; slow && n%16 == 0 {
				time.Sleep(200 * time.Microsecond)
			}
		}
	}()
}

func (st *cfStream) bookmark() (int64, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	n := len(st.events)
	return st.bm, n > 0 && st.events[n-1].Type == watch.Error
}

// catchUp requests progress until the stream has received a Bookmark at
// or after rev (or an Error, which check reports), then stops it and
// waits for its reader.
func (st *cfStream) catchUp(t testing.TB, rev int64, deadline time.Time) {
	t.Helper()
	for {
		bm, failed := st.bookmark()
		if bm >= rev || failed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no progress bookmark at or after %d in time (last %d, %d events)", st.desc, rev, bm, len(st.snapshot()))
		}
		st.w.RequestProgress()
		for wait := time.Now().Add(20 * time.Millisecond); time.Now().Before(wait); {
			if b, f := st.bookmark(); b != bm || f {
				break
			}
			time.Sleep(200 * time.Microsecond)
		}
	}
	st.w.Stop()
	select {
	case <-st.done:
	case <-time.After(cfWait):
		t.Fatalf("%s: channel not closed %v after Stop", st.desc, cfWait)
	}
}

func (st *cfStream) snapshot() []storage.Event {
	st.mu.Lock()
	defer st.mu.Unlock()
	return slices.Clone(st.events)
}

// check compares what the stream received with the model.
func (h *cfHistory) check(st *cfStream) string {
	evs := st.snapshot()
	start := st.start
	if st.initial {
		j := slices.IndexFunc(evs, func(e storage.Event) bool { return e.Type != watch.Added })
		if j < 0 || evs[j].Type != watch.Bookmark || !evs[j].InitialEventsEnd {
			return fmt.Sprintf("initial events not ended by one initial-events-end bookmark: %s", cfDescribeAll(evs))
		}
		start = evs[j].Revision
		if start < st.minStart {
			return fmt.Sprintf("snapshot at %d, but writes up to %d were acknowledged before Watch", start, st.minStart)
		}
		var recs []*storage.Record
		for _, e := range evs[:j] {
			if e.Object == nil || e.Object.Revision > start {
				return fmt.Sprintf("initial event %s not in the snapshot at %d", cfDescribe(e), start)
			}
			recs = append(recs, e.Object)
		}
		slices.SortFunc(recs, func(a, b *storage.Record) int { return strings.Compare(a.Key, b.Key) })
		if d := cfListDiff(recs, h.liveAt(start, st.prefix, st.pred)); d != "" {
			return fmt.Sprintf("initial events at %d: %s", start, d)
		}
		evs = evs[j+1:]
	}
	var changes []storage.Event
	last := start
	for _, e := range evs {
		switch e.Type {
		case watch.Added, watch.Modified, watch.Deleted:
			if e.Object == nil || e.Object.Revision != e.Revision {
				return fmt.Sprintf("%s carries a record at another revision", cfDescribe(e))
			}
			if e.Revision <= last {
				return fmt.Sprintf("%s not after revision %d (previous event or bookmark)", cfDescribe(e), last)
			}
			changes = append(changes, e)
			last = e.Revision
		case watch.Bookmark:
			if e.InitialEventsEnd || e.Object != nil {
				return fmt.Sprintf("unexpected %s", cfDescribe(e))
			}
			if e.Revision < last {
				return fmt.Sprintf("bookmark %d after revision %d was delivered", e.Revision, last)
			}
			last = e.Revision
		default:
			return fmt.Sprintf("unexpected %s", cfDescribe(e))
		}
	}
	if st.from0 {
		// The watch starts at the revision of the Watch call, somewhere
		// before the first write started after Watch returned (h.writes is
		// in revision order) and, if it received anything, before its
		// first event. Starting from the lower of the two, the expected
		// events are exactly what it received: nothing before its first
		// event was missed that a write after Watch returned made.
		start = h.last()
		for _, w := range h.writes {
			if w.seq > st.seqAfter {
				start = w.rec.Revision - 1
				break
			}
		}
		if len(changes) > 0 {
			if changes[0].Revision <= st.minStart {
				return fmt.Sprintf("watch from 0 delivered %s, acknowledged before Watch was called (at %d)", cfDescribe(changes[0]), st.minStart)
			}
			start = min(start, changes[0].Revision-1)
		}
	}
	// A bookmark between events is checked by the order above: it is not
	// below the previous event, and the next event is above it; together
	// with the exact sequence, everything up to it came before it.
	if d := cfEventsDiff(changes, h.eventsAfter(start, st.prefix, st.pred)); d != "" {
		return fmt.Sprintf("after %d: %s", start, d)
	}
	return ""
}

// ---------------------------------------------------------------------------
// Cases: writes.

func cfCaseCreateRecord(t *testing.T, s storage.Interface) {
	ctx := context.Background()
	obj := cfTaskPhase("ns", "a", "n1", cfLabels("app", "web"), kunosv1.TaskRunning, "v1")
	a := cfCreate(t, s, taskKey("ns", "a"), obj)
	if a.Labels().Get("app") != "web" || a.Fields().Get("spec.nodeName") != "n1" || a.Fields().Get("status.phase") != "Running" ||
		a.Fields().Get("metadata.name") != "a" || a.Fields().Get("metadata.namespace") != "ns" {
		t.Fatalf("create: labels %v fields %v", a.Labels().Set(), a.Fields().Set())
	}
	b := cfCreate(t, s, taskKey("ns", "b"), cfTask("ns", "b", "", nil, "v1"))
	if b.Revision <= a.Revision {
		t.Fatalf("second create at %d, first at %d: revisions must increase", b.Revision, a.Revision)
	}
	if b.Labels().Len() != 0 || b.Fields().Get("spec.nodeName") != "" {
		t.Fatalf("create without labels or node: labels %v fields %v", b.Labels().Set(), b.Fields().Set())
	}
	n := cfCreate(t, s, "/nodes/n1", cfNode("n1", 3))
	if n.Revision <= b.Revision || n.Fields().Get("metadata.name") != "n1" || n.Fields().Get("metadata.namespace") != "" {
		t.Fatalf("cluster-scoped create: %s@%d fields %v", n.Key, n.Revision, n.Fields().Set())
	}
	j := cfCreate(t, s, "/jobs/ns/j", cfJob("ns", "j"))

	// What a write returns is what reads return.
	for _, want := range []*storage.Record{a, b, n, j} {
		if d := cfRecordDiff(cfGet(t, s, want.Key, 0), want, want.Revision); d != "" {
			t.Fatalf("get after create: %s", d)
		}
		if d := cfRecordDiff(cfGet(t, s, want.Key, want.Revision), want, want.Revision); d != "" {
			t.Fatalf("get at the create revision: %s", d)
		}
	}
	if d := cfRecordDiff(cfGet(t, s, a.Key, j.Revision), a, a.Revision); d != "" {
		t.Fatalf("get at a later revision: %s", d)
	}
	if _, err := s.Get(ctx, taskKey("ns", "missing"), 0); !storage.IsNotFound(err) {
		t.Fatalf("get of a key never written: %v, want IsNotFound", err)
	}
	// A record is immutable: later writes do not change it.
	data := slices.Clone(a.Data)
	cfUpdate(t, s, a.Key, 0, cfTask("ns", "a", "n9", nil, "v2"))
	if string(a.Data) != string(data) || a.Labels().Get("app") != "web" {
		t.Fatal("an update changed the record an earlier create returned")
	}
	cfEventually(t, func() string {
		if cur := s.CurrentRevision(); cur < j.Revision {
			return fmt.Sprintf("CurrentRevision %d after a write at %d", cur, j.Revision)
		}
		return ""
	})
}

func cfCaseUpdateRecord(t *testing.T, s storage.Interface) {
	key := taskKey("ns", "a")
	r1 := cfCreate(t, s, key, cfTask("ns", "a", "", cfLabels("app", "web", "tier", "fe"), "v1"))
	// The resourceVersion in the object passed in is replaced by the write's.
	in := cfTaskPhase("ns", "a", "n2", cfLabels("app", "web"), kunosv1.TaskRunning, "v2")
	in.ResourceVersion = strconv.FormatInt(r1.Revision+cfFar, 10)
	r2 := cfUpdate(t, s, key, r1.Revision, in)
	if r2.Revision <= r1.Revision {
		t.Fatalf("update at %d after create at %d", r2.Revision, r1.Revision)
	}
	if r2.Labels().Has("tier") || r2.Fields().Get("spec.nodeName") != "n2" || r2.Fields().Get("status.phase") != "Running" {
		t.Fatalf("update: labels %v fields %v, want the new object's", r2.Labels().Set(), r2.Fields().Set())
	}
	other := cfCreate(t, s, taskKey("ns", "b"), cfTask("ns", "b", "", nil, "v1"))
	r3 := cfUpdate(t, s, key, 0, cfTask("ns", "a", "n3", nil, "v3")) // unconditional
	if r3.Revision <= other.Revision {
		t.Fatalf("update at %d after a write at %d", r3.Revision, other.Revision)
	}
	for _, c := range []struct {
		rev  int64
		want *storage.Record
	}{{0, r3}, {r1.Revision, r1}, {r2.Revision, r2}, {other.Revision, r2}, {r3.Revision, r3}} {
		if d := cfRecordDiff(cfGet(t, s, key, c.rev), c.want, c.want.Revision); d != "" {
			t.Fatalf("get at %d: %s", c.rev, d)
		}
	}
}

func cfCaseDeleteRecord(t *testing.T, s storage.Interface) {
	ctx := context.Background()
	h := newCfHistory()
	key := taskKey("ns", "a")
	h.create(t, s, key, cfTask("ns", "a", "n1", cfLabels("app", "web"), "v1"))
	last := h.update(t, s, key, 0, cfTaskPhase("ns", "a", "n2", cfLabels("app", "db"), kunosv1.TaskSucceeded, "v2"))
	other := h.create(t, s, taskKey("ns", "b"), cfTask("ns", "b", "", nil, "v1"))
	del := h.delete(t, s, key, last.Revision) // checks: the last state at the deletion revision
	if del.Revision <= other.Revision {
		t.Fatalf("delete at %d after a write at %d", del.Revision, other.Revision)
	}
	if del.Labels().Get("app") != "db" || del.Fields().Get("spec.nodeName") != "n2" || del.Fields().Get("status.phase") != "Succeeded" {
		t.Fatalf("deletion record: labels %v fields %v, want the last state's", del.Labels().Set(), del.Fields().Set())
	}
	if d := cfTaskDiff(del, cfTaskPhase("ns", "a", "n2", cfLabels("app", "db"), kunosv1.TaskSucceeded, "v2")); d != "" {
		t.Fatalf("deletion record: %s", d)
	}
	if _, err := s.Get(ctx, key, 0); !storage.IsNotFound(err) {
		t.Fatalf("get after delete: %v, want IsNotFound", err)
	}
	if _, err := s.Get(ctx, key, del.Revision); !storage.IsNotFound(err) {
		t.Fatalf("get at the deletion revision: %v, want IsNotFound", err)
	}
	if d := cfRecordDiff(cfGet(t, s, key, other.Revision), last, last.Revision); d != "" {
		t.Fatalf("get before the deletion: %s", d)
	}
	if d := cfListDiff(cfList(t, s, "/tasks/", storage.ListOptions{}).Items, []*storage.Record{other}); d != "" {
		t.Fatalf("list after delete: %s", d)
	}
	if _, err := s.Delete(ctx, key, 0); !storage.IsNotFound(err) {
		t.Fatalf("second delete: %v, want IsNotFound", err)
	}
	// Re-created, the key is a new object.
	re := h.create(t, s, key, cfTask("ns", "a", "", nil, "v3"))
	if re.Revision <= del.Revision {
		t.Fatalf("re-create at %d after delete at %d", re.Revision, del.Revision)
	}
	if d := cfRecordDiff(cfGet(t, s, key, 0), re, re.Revision); d != "" {
		t.Fatalf("get after re-create: %s", d)
	}
	if _, err := s.Get(ctx, key, del.Revision); !storage.IsNotFound(err) {
		t.Fatalf("get at the deletion revision after re-create: %v, want IsNotFound", err)
	}
}

func cfCasePreconditions(t *testing.T, s storage.Interface) {
	ctx := context.Background()
	key, missing := taskKey("ns", "a"), taskKey("ns", "missing")
	r1 := cfCreate(t, s, key, cfTask("ns", "a", "", nil, "v1"))
	unchanged := func(want *storage.Record, after string) {
		t.Helper()
		if d := cfRecordDiff(cfGet(t, s, key, 0), want, want.Revision); d != "" {
			t.Fatalf("after %s the key changed: %s", after, d)
		}
	}
	if _, err := s.Create(ctx, key, cfTask("ns", "a", "n1", nil, "dup")); !storage.IsAlreadyExists(err) {
		t.Fatalf("create of an existing key: %v, want IsAlreadyExists", err)
	}
	unchanged(r1, "a failed create")
	other := cfCreate(t, s, taskKey("ns", "b"), cfTask("ns", "b", "", nil, "v1"))
	// A precondition is the key's own revision; another key's is a conflict.
	for _, pre := range []int64{other.Revision, r1.Revision + cfFar} {
		if _, err := s.Update(ctx, key, pre, cfTask("ns", "a", "n1", nil, "bad")); !storage.IsConflict(err) {
			t.Fatalf("update with precondition %d (key at %d): %v, want IsConflict", pre, r1.Revision, err)
		}
		if _, err := s.Delete(ctx, key, pre); !storage.IsConflict(err) {
			t.Fatalf("delete with precondition %d (key at %d): %v, want IsConflict", pre, r1.Revision, err)
		}
	}
	unchanged(r1, "failed preconditions")
	r2 := cfUpdate(t, s, key, r1.Revision, cfTask("ns", "a", "n1", nil, "v2"))
	if _, err := s.Update(ctx, key, r1.Revision, cfTask("ns", "a", "n2", nil, "stale")); !storage.IsConflict(err) {
		t.Fatalf("update with a stale precondition: %v, want IsConflict", err)
	}
	if _, err := s.Delete(ctx, key, r1.Revision); !storage.IsConflict(err) {
		t.Fatalf("delete with a stale precondition: %v, want IsConflict", err)
	}
	unchanged(r2, "stale preconditions")
	for _, pre := range []int64{0, r1.Revision} {
		if _, err := s.Update(ctx, missing, pre, cfTask("ns", "missing", "", nil, "x")); !storage.IsNotFound(err) {
			t.Fatalf("update of a missing key (precondition %d): %v, want IsNotFound", pre, err)
		}
		if _, err := s.Delete(ctx, missing, pre); !storage.IsNotFound(err) {
			t.Fatalf("delete of a missing key (precondition %d): %v, want IsNotFound", pre, err)
		}
	}
	if _, err := s.Get(ctx, missing, 0); !storage.IsNotFound(err) {
		t.Fatalf("a failed update created the key: %v", err)
	}
	del := cfDelete(t, s, key, r2.Revision)
	for _, pre := range []int64{0, r2.Revision, del.Revision} {
		if _, err := s.Update(ctx, key, pre, cfTask("ns", "a", "", nil, "x")); !storage.IsNotFound(err) {
			t.Fatalf("update of a deleted key (precondition %d): %v, want IsNotFound", pre, err)
		}
	}
	r3 := cfCreate(t, s, key, cfTask("ns", "a", "", nil, "v3"))
	if _, err := s.Update(ctx, key, r2.Revision, cfTask("ns", "a", "", nil, "x")); !storage.IsConflict(err) {
		t.Fatalf("update of a re-created key with the old object's revision: %v, want IsConflict", err)
	}
	cfUpdate(t, s, key, r3.Revision, cfTask("ns", "a", "", nil, "v4"))
	if d := cfRecordDiff(cfGet(t, s, other.Key, 0), other, other.Revision); d != "" {
		t.Fatalf("the other key changed: %s", d)
	}
}

func cfCaseReadYourWrites(t *testing.T, s storage.Interface) {
	ctx := context.Background()
	keys := []string{taskKey("ns", "a"), taskKey("ns", "b"), taskKey("ns2", "a")}
	h := newCfHistory()
	for i := range 60 {
		key := keys[i%len(keys)]
		ns, name := strings.Split(key, "/")[2], strings.Split(key, "/")[3]
		var r *storage.Record
		switch cur := h.cur[key]; {
		case cur == nil:
			r = h.create(t, s, key, cfTask(ns, name, "", nil, fmt.Sprint(i)))
		case i%7 == 0:
			r = h.delete(t, s, key, cur.Revision)
		default:
			r = h.update(t, s, key, cur.Revision, cfTask(ns, name, fmt.Sprintf("n%d", i%3), nil, fmt.Sprint(i)))
		}
		got, err := s.Get(ctx, key, 0)
		if want := h.cur[key]; want == nil {
			if !storage.IsNotFound(err) {
				t.Fatalf("get right after deleting %s at %d: %v %v, want IsNotFound", key, r.Revision, got, err)
			}
		} else if err != nil {
			t.Fatalf("get right after writing %s at %d: %v", key, r.Revision, err)
		} else if d := cfRecordDiff(got, want, want.Revision); d != "" {
			t.Fatalf("get right after a write: %s", d)
		}
		res := cfList(t, s, "/tasks/", storage.ListOptions{})
		if res.Revision < r.Revision {
			t.Fatalf("list at 0 right after a write at %d reads revision %d", r.Revision, res.Revision)
		}
		if d := cfListDiff(res.Items, h.liveAt(h.last(), "/tasks/", storage.Predicate{})); d != "" {
			t.Fatalf("list right after the write at %d: %s", r.Revision, d)
		}
	}
}

// ---------------------------------------------------------------------------
// Cases: reads.

func cfCaseGetAtRevision(t *testing.T, s storage.Interface) {
	ctx := context.Background()
	a, b := taskKey("ns", "a"), taskKey("ns", "b")
	seed := cfCreate(t, s, "/nodes/seed", cfNode("seed", 1))
	a1 := cfCreate(t, s, a, cfTask("ns", "a", "", nil, "a1"))
	b1 := cfCreate(t, s, b, cfTask("ns", "b", "", nil, "b1"))
	a2 := cfUpdate(t, s, a, 0, cfTask("ns", "a", "n1", nil, "a2"))
	a3 := cfUpdate(t, s, a, 0, cfTask("ns", "a", "n2", nil, "a3"))
	da := cfDelete(t, s, a, 0)
	b2 := cfUpdate(t, s, b, 0, cfTask("ns", "b", "n1", nil, "b2"))
	a4 := cfCreate(t, s, a, cfTask("ns", "a", "", nil, "a4"))

	type at struct {
		key  string
		rev  int64
		want *storage.Record // nil: IsNotFound
	}
	check := func(cases []at) {
		t.Helper()
		for _, c := range cases {
			got, err := s.Get(ctx, c.key, c.rev)
			if c.want == nil {
				if !storage.IsNotFound(err) {
					t.Fatalf("get %s at %d: %v %v, want IsNotFound", c.key, c.rev, got, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("get %s at %d: %v", c.key, c.rev, err)
			}
			if d := cfRecordDiff(got, c.want, c.want.Revision); d != "" {
				t.Fatalf("get %s at %d: %s", c.key, c.rev, d)
			}
		}
	}
	check([]at{
		{a, seed.Revision, nil}, // before it existed
		{a, a1.Revision, a1},
		{a, b1.Revision, a1}, // between two of its versions
		{a, a2.Revision, a2},
		{a, a3.Revision, a3},
		{a, da.Revision, nil}, // deleted at
		{a, b2.Revision, nil}, // deleted between
		{a, a4.Revision, a4},
		{a, 0, a4},
		{b, a1.Revision, nil},
		{b, b1.Revision, b1},
		{b, a4.Revision, b2},
		{b, 0, b2},
		{"/nodes/seed", a4.Revision, seed},
	})
	future := max(s.CurrentRevision(), a4.Revision) + cfFar
	if _, err := s.Get(ctx, a, future); !storage.IsFutureRevision(err) {
		t.Fatalf("get at future revision %d: %v, want IsFutureRevision", future, err)
	}
	if _, err := s.Get(ctx, taskKey("ns", "never"), future); !storage.IsFutureRevision(err) {
		t.Fatalf("get of a missing key at future revision %d: %v, want IsFutureRevision", future, err)
	}

	if err := s.Compact(ctx, a3.Revision); err != nil {
		t.Fatal(err)
	}
	for _, c := range []at{{a, a1.Revision, nil}, {a, a2.Revision, nil}, {b, b1.Revision, nil}, {"/nodes/seed", seed.Revision, nil}, {taskKey("ns", "never"), a1.Revision, nil}} {
		if _, err := s.Get(ctx, c.key, c.rev); !storage.IsCompacted(err) {
			t.Fatalf("get %s at %d after compacting to %d: %v, want IsCompacted", c.key, c.rev, a3.Revision, err)
		}
	}
	// At and after the compacted revision everything reads as before.
	check([]at{
		{a, a3.Revision, a3},
		{b, a3.Revision, b1},
		{"/nodes/seed", a3.Revision, seed},
		{a, da.Revision, nil},
		{b, b2.Revision, b2},
		{a, 0, a4},
	})
}

func cfCaseListAtRevision(t *testing.T, s storage.Interface) {
	ctx := context.Background()
	h := newCfHistory()
	h.create(t, s, "/nodes/seed", cfNode("seed", 1))
	var revs []int64
	step := func(r *storage.Record) { revs = append(revs, r.Revision) }
	step(h.create(t, s, taskKey("a", "t1"), cfTask("a", "t1", "n1", nil, "1")))
	step(h.create(t, s, taskKey("a", "t2"), cfTask("a", "t2", "n1", nil, "1")))
	step(h.create(t, s, taskKey("b", "t1"), cfTask("b", "t1", "n2", nil, "1")))
	step(h.update(t, s, taskKey("a", "t1"), 0, cfTask("a", "t1", "n2", nil, "2")))
	step(h.delete(t, s, taskKey("a", "t2"), 0))
	step(h.create(t, s, "/nodes/n1", cfNode("n1", 2)))
	step(h.update(t, s, taskKey("a", "t1"), 0, cfTask("a", "t1", "n3", nil, "3")))
	step(h.create(t, s, taskKey("a", "t2"), cfTask("a", "t2", "", nil, "again")))

	checkAll := func(when string) {
		t.Helper()
		for _, rev := range revs {
			for _, prefix := range []string{"/tasks/", "/tasks/a/", "/nodes/"} {
				res := cfList(t, s, prefix, storage.ListOptions{Revision: rev})
				if d := cfListDiff(res.Items, h.liveAt(rev, prefix, storage.Predicate{})); d != "" {
					t.Fatalf("%s: list %s at %d: %s", when, prefix, rev, d)
				}
				if res.More {
					t.Fatalf("%s: list %s at %d without a limit has More", when, prefix, rev)
				}
			}
		}
	}
	checkAll("before later writes")
	snap := h.last()
	// Later writes do not change what a revision reads.
	for i := range 5 {
		h.update(t, s, taskKey("a", "t1"), 0, cfTask("a", "t1", "x", nil, fmt.Sprint("later", i)))
	}
	h.delete(t, s, taskKey("b", "t1"), 0)
	h.create(t, s, taskKey("a", "t0"), cfTask("a", "t0", "", nil, "new"))
	h.create(t, s, taskKey("b", "t2"), cfTask("b", "t2", "", nil, "new"))
	checkAll("after later writes")
	res := cfList(t, s, "/tasks/", storage.ListOptions{})
	if res.Revision < h.last() {
		t.Fatalf("list at 0 reads revision %d, before the acknowledged write at %d", res.Revision, h.last())
	}
	if d := cfListDiff(res.Items, h.liveAt(h.last(), "/tasks/", storage.Predicate{})); d != "" {
		t.Fatalf("list at 0: %s", d)
	}
	future := max(s.CurrentRevision(), h.last()) + cfFar
	if _, err := s.List(ctx, "/tasks/", storage.ListOptions{Revision: future}); !storage.IsFutureRevision(err) {
		t.Fatalf("list at future revision: %v, want IsFutureRevision", err)
	}
	// Compaction refuses older revisions and keeps the rest intact.
	mid := revs[3]
	if err := s.Compact(ctx, mid); err != nil {
		t.Fatal(err)
	}
	for _, rev := range revs[:3] {
		if _, err := s.List(ctx, "/tasks/", storage.ListOptions{Revision: rev}); !storage.IsCompacted(err) {
			t.Fatalf("list at %d after compacting to %d: %v, want IsCompacted", rev, mid, err)
		}
		if _, err := s.List(ctx, "/tasks/", storage.ListOptions{Revision: rev, After: taskKey("a", "t1"), Limit: 1}); !storage.IsCompacted(err) {
			t.Fatalf("continued list at %d after compacting to %d: %v, want IsCompacted", rev, mid, err)
		}
	}
	revs = revs[3:]
	revs = append(revs, snap, h.last())
	checkAll("after compaction")
}

func cfCaseListPagination(t *testing.T, s storage.Interface) {
	h := newCfHistory()
	for i := range 45 {
		ns, name := fmt.Sprintf("ns%d", i%3), fmt.Sprintf("t%02d", i)
		h.create(t, s, taskKey(ns, name), cfTask(ns, name, []string{"n1", "n2", ""}[i%3], cfLabels("even", fmt.Sprint(i%2 == 0)), "v0"))
	}
	even := storage.Predicate{Label: cfLabelSel(t, "even=true")}
	onN1 := storage.Predicate{Field: cfFieldSel(t, "spec.nodeName=n1")}
	for ci, pc := range []struct {
		prefix string
		pred   storage.Predicate
		limit  int64
	}{
		{"/tasks/", storage.Predicate{}, 7},
		{"/tasks/", storage.Predicate{}, 1},
		{"/tasks/", even, 4},
		{"/tasks/", onN1, 3},
		{"/tasks/ns1/", storage.Predicate{}, 5},
		{"/tasks/ns2/", even, 2},
		{"/tasks/ns0/", storage.Predicate{}, 100},
	} {
		desc := fmt.Sprintf("paging %s (%s) by %d", pc.prefix, cfPredString(pc.pred), pc.limit)
		res := cfList(t, s, pc.prefix, storage.ListOptions{Limit: pc.limit, Predicate: pc.pred})
		rev := res.Revision
		if rev < h.last() {
			t.Fatalf("%s: first page at %d, before the acknowledged write at %d", desc, rev, h.last())
		}
		want := h.liveAt(rev, pc.prefix, pc.pred)
		var got []*storage.Record
		after := ""
		for page := 0; ; page++ {
			if page > len(want)+1 {
				t.Fatalf("%s: more pages than items", desc)
			}
			if int64(len(res.Items)) > pc.limit {
				t.Fatalf("%s: page %d has %d items, limit %d", desc, page, len(res.Items), pc.limit)
			}
			for _, r := range res.Items {
				if r.Key <= after || !strings.HasPrefix(r.Key, pc.prefix) {
					t.Fatalf("%s: page %d after %q holds %s", desc, page, after, r.Key)
				}
				after = r.Key
			}
			got = append(got, res.Items...)
			left := int64(len(want) - len(got))
			if res.More != (left > 0) || (res.More && res.Remaining != left) {
				t.Fatalf("%s: page %d: More %v Remaining %d, want %d left", desc, page, res.More, res.Remaining, left)
			}
			if !res.More {
				break
			}
			if len(res.Items) == 0 {
				t.Fatalf("%s: empty page %d with More", desc, page)
			}
			// Interleave writes around the cursor: update a key before it,
			// delete the next key, create keys right after it and before it.
			live := slices.Sorted(maps.Keys(h.cur))
			i, found := slices.BinarySearch(live, after)
			if i > 0 {
				k := live[i-1]
				ns, name := strings.Split(k, "/")[2], strings.Split(k, "/")[3]
				h.update(t, s, k, 0, cfTask(ns, name, "n1", cfLabels("even", "true"), fmt.Sprintf("p%d-%d", ci, page)))
			}
			if found {
				i++
			}
			if i < len(live) {
				h.delete(t, s, live[i], 0)
			}
			parts := strings.Split(after, "/")
			ns, name := parts[2], parts[3]+fmt.Sprintf("-p%d-%d", ci, page)
			h.create(t, s, taskKey(ns, name), cfTask(ns, name, "n1", cfLabels("even", "true"), "new"))
			h.create(t, s, taskKey(ns, "a"+name), cfTask(ns, "a"+name, "n1", cfLabels("even", "true"), "new"))

			res = cfList(t, s, pc.prefix, storage.ListOptions{Revision: rev, After: after, Limit: pc.limit, Predicate: pc.pred})
		}
		if d := cfListDiff(got, want); d != "" {
			t.Fatalf("%s: pages at %d differ from the snapshot: %s", desc, rev, d)
		}
	}

	// Edges: no limit, a limit of exactly the size, After outside the
	// prefix or between keys.
	rev := cfList(t, s, "/tasks/", storage.ListOptions{}).Revision
	all := h.liveAt(rev, "/tasks/ns0/", storage.Predicate{})
	for _, c := range []struct {
		after string
		limit int64
		want  []*storage.Record
	}{
		{"", 0, all},
		{"", int64(len(all)), all},
		{"/a", 0, all},
		{"/tasks/ns0", 0, all},
		{"/tasks/ns0/t06", 0, all[slices.IndexFunc(all, func(r *storage.Record) bool { return r.Key > "/tasks/ns0/t06" }):]},
		{"/tasks/ns0/t07", 0, all[slices.IndexFunc(all, func(r *storage.Record) bool { return r.Key > "/tasks/ns0/t07" }):]},
		{"/tasks/ns0/zzz", 0, nil},
		{"/tasks/ns1/", 0, nil},
	} {
		res := cfList(t, s, "/tasks/ns0/", storage.ListOptions{Revision: rev, After: c.after, Limit: c.limit})
		if d := cfListDiff(res.Items, c.want); d != "" || res.More {
			t.Fatalf("list /tasks/ns0/ after %q limit %d: More %v %s", c.after, c.limit, res.More, d)
		}
	}
}

func cfCaseListPredicates(t *testing.T, s storage.Interface) {
	h := newCfHistory()
	mk := func(ns, name, node string, lbls map[string]string, phase kunosv1.TaskPhase) *storage.Record {
		return h.create(t, s, taskKey(ns, name), cfTaskPhase(ns, name, node, lbls, phase, "v1"))
	}
	mk("p", "t1", "n1", cfLabels("app", "web", "tier", "fe"), kunosv1.TaskRunning)
	mk("p", "t2", "n1", cfLabels("app", "db"), kunosv1.TaskPending)
	mk("p", "t3", "", cfLabels("app", "web"), kunosv1.TaskPending)
	mk("p", "t4", "n2", cfLabels("app", "web", "tier", "be"), kunosv1.TaskRunning)
	mk("p", "t5", "n2", nil, kunosv1.TaskSucceeded)
	mk("q", "t1", "n1", cfLabels("app", "web"), kunosv1.TaskRunning)
	h.create(t, s, "/nodes/n1", cfNode("n1", 1))
	before := h.last()

	for _, c := range []struct {
		prefix, label, field string
		want                 string // names as ns/name
	}{
		{"/tasks/p/", "", "", "p/t1 p/t2 p/t3 p/t4 p/t5"},
		{"/tasks/p/", "app=web", "", "p/t1 p/t3 p/t4"},
		{"/tasks/p/", "app!=web", "", "p/t2 p/t5"},
		{"/tasks/p/", "tier", "", "p/t1 p/t4"},
		{"/tasks/p/", "!tier", "", "p/t2 p/t3 p/t5"},
		{"/tasks/p/", "app in (web,db),tier notin (fe)", "", "p/t2 p/t3 p/t4"},
		{"/tasks/p/", "app=none", "", ""},
		{"/tasks/p/", "", "spec.nodeName=n1", "p/t1 p/t2"},
		{"/tasks/p/", "", "spec.nodeName=", "p/t3"},
		{"/tasks/p/", "", "spec.nodeName!=n1", "p/t3 p/t4 p/t5"},
		{"/tasks/p/", "", "status.phase=Running", "p/t1 p/t4"},
		{"/tasks/p/", "", "metadata.name=t2", "p/t2"},
		{"/tasks/p/", "", "spec.nodeName=n1,status.phase=Running", "p/t1"},
		{"/tasks/p/", "app=web", "spec.nodeName=n2", "p/t4"},
		{"/tasks/", "", "spec.nodeName=n1", "p/t1 p/t2 q/t1"},
		{"/tasks/", "", "metadata.namespace=q", "q/t1"},
		{"/tasks/", "app=web", "status.phase=Running", "p/t1 p/t4 q/t1"},
	} {
		pred := storage.Predicate{Label: cfLabelSel(t, c.label), Field: cfFieldSel(t, c.field)}
		res := cfList(t, s, c.prefix, storage.ListOptions{Predicate: pred})
		var names []string
		for _, r := range res.Items {
			names = append(names, strings.TrimPrefix(r.Key, "/tasks/"))
		}
		if got := strings.Join(names, " "); got != c.want {
			t.Fatalf("list %s labels %q fields %q: %q, want %q", c.prefix, c.label, c.field, got, c.want)
		}
		if d := cfListDiff(res.Items, h.liveAt(res.Revision, c.prefix, pred)); d != "" {
			t.Fatalf("list %s labels %q fields %q: %s", c.prefix, c.label, c.field, d)
		}
		// Limit and Remaining count matching objects only.
		if n := int64(len(res.Items)); n > 1 {
			page := cfList(t, s, c.prefix, storage.ListOptions{Predicate: pred, Limit: 1, Revision: res.Revision})
			if len(page.Items) != 1 || page.Items[0].Key != res.Items[0].Key || !page.More || page.Remaining != n-1 {
				t.Fatalf("list %s labels %q fields %q limit 1: %s More %v Remaining %d, want %s and %d more",
					c.prefix, c.label, c.field, cfKeys(page.Items), page.More, page.Remaining, res.Items[0].Key, n-1)
			}
		}
	}
	// A selector applies to the state at the revision read.
	h.update(t, s, taskKey("p", "t3"), 0, cfTaskPhase("p", "t3", "n1", cfLabels("app", "db"), kunosv1.TaskRunning, "v2"))
	h.delete(t, s, taskKey("p", "t1"), 0)
	for _, c := range []struct {
		rev         int64
		label, want string
	}{
		{before, "app=web", "/tasks/p/t1 /tasks/p/t3 /tasks/p/t4"},
		{h.last(), "app=web", "/tasks/p/t4"},
		{before, "app=db", "/tasks/p/t2"},
		{h.last(), "app=db", "/tasks/p/t2 /tasks/p/t3"},
	} {
		res := cfList(t, s, "/tasks/p/", storage.ListOptions{Revision: c.rev, Predicate: storage.Predicate{Label: cfLabelSel(t, c.label)}})
		var keys []string
		for _, r := range res.Items {
			keys = append(keys, r.Key)
		}
		if got := strings.Join(keys, " "); got != c.want {
			t.Fatalf("list at %d with %s: %q, want %q", c.rev, c.label, got, c.want)
		}
	}
	res := cfList(t, s, "/tasks/p/", storage.ListOptions{Revision: before, Predicate: storage.Predicate{Field: cfFieldSel(t, "spec.nodeName=n1")}})
	if d := cfListDiff(res.Items, h.liveAt(before, "/tasks/p/", storage.Predicate{Field: cfFieldSel(t, "spec.nodeName=n1")})); d != "" {
		t.Fatalf("field selector at an old revision: %s", d)
	}
}

func cfCaseCount(t *testing.T, s storage.Interface) {
	ctx := context.Background()
	// Count has no revision; it is only required to converge.
	expectCounts := func(want map[string]int) {
		t.Helper()
		cfEventually(t, func() string {
			for _, p := range slices.Sorted(maps.Keys(want)) {
				if got := s.Count(p); got != want[p] {
					return fmt.Sprintf("Count(%q) = %d, want %d", p, got, want[p])
				}
			}
			return ""
		})
	}
	expectCounts(map[string]int{"/tasks/": 0, "/nodes/": 0})
	for _, k := range [][2]string{{"a", "t1"}, {"a", "t2"}, {"a", "t3"}, {"b", "t1"}, {"b", "t2"}, {"a2", "t1"}} {
		cfCreate(t, s, taskKey(k[0], k[1]), cfTask(k[0], k[1], "", nil, "v1"))
	}
	cfCreate(t, s, "/nodes/n1", cfNode("n1", 1))
	cfCreate(t, s, "/nodes/n2", cfNode("n2", 1))
	cfCreate(t, s, "/jobs/a/j1", cfJob("a", "j1"))
	expectCounts(map[string]int{
		"/tasks/":     6,
		"/tasks/a/":   3, // not /tasks/a2/
		"/tasks/a2/":  1,
		"/tasks/b/":   2,
		"/tasks/c/":   0,
		"/nodes/":     2,
		"/jobs/":      1,
		"/jobs/a/":    1,
		"/tasks/a/t":  3, // a prefix that is not a directory
		"/tasks/a/t2": 1,
	})
	cfUpdate(t, s, taskKey("a", "t1"), 0, cfTask("a", "t1", "n1", nil, "v2"))
	cfDelete(t, s, taskKey("a", "t2"), 0)
	cfDelete(t, s, "/nodes/n1", 0)
	last := cfCreate(t, s, taskKey("c", "t1"), cfTask("c", "t1", "", nil, "v1"))
	expectCounts(map[string]int{"/tasks/": 6, "/tasks/a/": 2, "/tasks/c/": 1, "/nodes/": 1, "/tasks/a/t2": 0})
	// Compaction does not change what is live.
	if err := s.Compact(ctx, last.Revision); err != nil {
		t.Fatal(err)
	}
	expectCounts(map[string]int{"/tasks/": 6, "/tasks/a/": 2, "/tasks/c/": 1, "/nodes/": 1})
	cfCreate(t, s, taskKey("a", "t2"), cfTask("a", "t2", "", nil, "again"))
	expectCounts(map[string]int{"/tasks/": 7, "/tasks/a/": 3})
}

func cfCasePrefixScoping(t *testing.T, s storage.Interface) {
	h := newCfHistory()
	h.create(t, s, taskKey("ns", "a"), cfTask("ns", "a", "", nil, "v1"))
	h.create(t, s, taskKey("ns", "b"), cfTask("ns", "b", "", nil, "v1"))
	h.create(t, s, taskKey("ns2", "a"), cfTask("ns2", "a", "", nil, "v1"))
	h.create(t, s, taskKey("other", "a"), cfTask("other", "a", "", nil, "v1"))
	h.create(t, s, "/nodes/ns", cfNode("ns", 1))
	h.create(t, s, "/jobs/ns/a", cfJob("ns", "a"))
	start := h.last()

	prefixes := []string{"/tasks/ns/", "/tasks/ns2/", "/tasks/", "/nodes/", "/jobs/ns/"}
	wantKeys := map[string]string{
		"/tasks/ns/":  "/tasks/ns/a /tasks/ns/b",
		"/tasks/ns2/": "/tasks/ns2/a",
		"/tasks/":     "/tasks/ns/a /tasks/ns/b /tasks/ns2/a /tasks/other/a",
		"/nodes/":     "/nodes/ns",
		"/jobs/ns/":   "/jobs/ns/a",
	}
	for _, p := range prefixes {
		res := cfList(t, s, p, storage.ListOptions{})
		var keys []string
		for _, r := range res.Items {
			keys = append(keys, r.Key)
		}
		if got := strings.Join(keys, " "); got != wantKeys[p] {
			t.Fatalf("list %s: %s, want %s", p, got, wantKeys[p])
		}
		if d := cfListDiff(res.Items, h.liveAt(res.Revision, p, storage.Predicate{})); d != "" {
			t.Fatalf("list %s: %s", p, d)
		}
	}
	watchers := map[string]*cfWatcher{}
	initial := map[string]*cfWatcher{}
	for _, p := range prefixes {
		watchers[p] = cfWatch(t, s, p, storage.WatchOptions{Revision: start})
		initial[p] = cfWatch(t, s, p, storage.WatchOptions{SendInitialEvents: true, Revision: start})
	}
	for _, p := range prefixes {
		recs, end := initial[p].initial(t)
		if d := cfListDiff(recs, h.liveAt(end, p, storage.Predicate{})); d != "" {
			t.Fatalf("initial events of %s: %s", p, d)
		}
	}
	h.update(t, s, taskKey("ns", "a"), 0, cfTask("ns", "a", "n1", nil, "v2"))
	h.update(t, s, taskKey("ns2", "a"), 0, cfTask("ns2", "a", "n1", nil, "v2"))
	h.delete(t, s, taskKey("other", "a"), 0)
	h.update(t, s, "/nodes/ns", 0, cfNode("ns", 2))
	h.create(t, s, taskKey("ns", "c"), cfTask("ns", "c", "", nil, "v1"))
	h.create(t, s, taskKey("nsx", "a"), cfTask("nsx", "a", "", nil, "v1"))
	h.delete(t, s, "/jobs/ns/a", 0)
	h.delete(t, s, taskKey("ns", "b"), 0)
	for _, p := range prefixes {
		watchers[p].expectEvents(t, h.eventsAfter(start, p, storage.Predicate{}), h.lastUnder(p))
		initial[p].expectEvents(t, h.eventsAfter(initial[p].last, p, storage.Predicate{}), h.lastUnder(p))
	}
}

func cfCaseCompact(t *testing.T, s storage.Interface) {
	ctx := context.Background()
	r1 := cfCreate(t, s, taskKey("ns", "a"), cfTask("ns", "a", "", nil, "1"))
	r2 := cfUpdate(t, s, taskKey("ns", "a"), 0, cfTask("ns", "a", "", nil, "2"))
	r3 := cfUpdate(t, s, taskKey("ns", "a"), 0, cfTask("ns", "a", "", nil, "3"))
	if err := s.Compact(ctx, r2.Revision); err != nil {
		t.Fatalf("compact to %d: %v", r2.Revision, err)
	}
	if c := s.CompactedRevision(); c < r2.Revision || c > r3.Revision {
		t.Fatalf("CompactedRevision %d after compacting to %d (current %d)", c, r2.Revision, r3.Revision)
	}
	// Compacting to an older revision is a no-op, not an error.
	if err := s.Compact(ctx, r1.Revision); err != nil && !storage.IsCompacted(err) {
		t.Fatalf("compact to an already compacted revision: %v", err)
	}
	if err := s.Compact(ctx, r2.Revision); err != nil && !storage.IsCompacted(err) {
		t.Fatalf("compact to the compacted revision again: %v", err)
	}
	if c := s.CompactedRevision(); c < r2.Revision {
		t.Fatalf("CompactedRevision went back to %d", c)
	}
	if d := cfRecordDiff(cfGet(t, s, taskKey("ns", "a"), r2.Revision), r2, r2.Revision); d != "" {
		t.Fatalf("get at the compacted revision: %s", d)
	}
	if _, err := s.Get(ctx, taskKey("ns", "a"), r1.Revision); !storage.IsCompacted(err) {
		t.Fatalf("get below the compacted revision: %v, want IsCompacted", err)
	}
	future := max(s.CurrentRevision(), r3.Revision) + cfFar
	if err := s.Compact(ctx, future); !storage.IsFutureRevision(err) {
		t.Fatalf("compact to a future revision: %v, want IsFutureRevision", err)
	}
	if err := s.Compact(ctx, r3.Revision); err != nil {
		t.Fatal(err)
	}
	if c := s.CompactedRevision(); c < r3.Revision {
		t.Fatalf("CompactedRevision %d after compacting to %d", c, r3.Revision)
	}
	// The newest version of a live key survives any compaction.
	if d := cfRecordDiff(cfGet(t, s, taskKey("ns", "a"), 0), r3, r3.Revision); d != "" {
		t.Fatalf("get after compacting to the newest write: %s", d)
	}
	if d := cfRecordDiff(cfGet(t, s, taskKey("ns", "a"), r3.Revision), r3, r3.Revision); d != "" {
		t.Fatalf("get at the compacted revision: %s", d)
	}
	r4 := cfUpdate(t, s, taskKey("ns", "a"), r3.Revision, cfTask("ns", "a", "", nil, "4"))
	if r4.Revision <= r3.Revision {
		t.Fatalf("write after compaction at %d, compacted %d", r4.Revision, r3.Revision)
	}
}

// ---------------------------------------------------------------------------
// Cases: watches.

func cfCaseWatchFromRevision(t *testing.T, s storage.Interface) {
	h := newCfHistory()
	h.create(t, s, "/nodes/seed", cfNode("seed", 1))
	h.create(t, s, taskKey("ns", "a"), cfTask("ns", "a", "", cfLabels("v", "1"), "1"))
	h.create(t, s, taskKey("ns", "b"), cfTask("ns", "b", "", nil, "1"))
	h.update(t, s, taskKey("ns", "a"), 0, cfTask("ns", "a", "n1", cfLabels("v", "2"), "2"))
	h.update(t, s, "/nodes/seed", 0, cfNode("seed", 2)) // not under /tasks/
	h.delete(t, s, taskKey("ns", "b"), 0)
	h.create(t, s, taskKey("ns2", "c"), cfTask("ns2", "c", "", nil, "1"))
	h.update(t, s, taskKey("ns2", "c"), 0, cfTask("ns2", "c", "n2", nil, "2"))
	h.update(t, s, taskKey("ns", "a"), 0, cfTask("ns", "a", "n2", cfLabels("v", "3"), "3"))

	// From every revision of the history: the first write's (a node),
	// one of a write to another prefix, the one just before the newest
	// (one event left to replay), the newest (nothing to replay).
	var starts []int64
	for _, w := range h.writes {
		starts = append(starts, w.rec.Revision)
	}
	var ws []*cfWatcher
	for _, start := range starts {
		for _, prefix := range []string{"/tasks/", "/tasks/ns/"} {
			cw := cfWatch(t, s, prefix, storage.WatchOptions{Revision: start})
			// Exactly the changes after start, in order, each once.
			cw.expectEvents(t, h.eventsAfter(start, prefix, storage.Predicate{}), h.lastUnder(prefix))
			cw.expectQuiet(t, h.lastUnder(prefix))
			ws = append(ws, cw)
		}
	}
	// Then they all follow live writes.
	live := h.last()
	h.create(t, s, taskKey("ns", "d"), cfTask("ns", "d", "", nil, "1"))
	h.update(t, s, "/nodes/seed", 0, cfNode("seed", 3))
	h.delete(t, s, taskKey("ns2", "c"), 0)
	h.update(t, s, taskKey("ns", "a"), 0, cfTask("ns", "a", "", nil, "4"))
	for i, cw := range ws {
		prefix := []string{"/tasks/", "/tasks/ns/"}[i%2]
		cw.expectEvents(t, h.eventsAfter(live, prefix, storage.Predicate{}), h.lastUnder(prefix))
	}
}

func cfCaseWatchFromZero(t *testing.T, s storage.Interface) {
	h := newCfHistory()
	h.create(t, s, taskKey("ns", "a"), cfTask("ns", "a", "", nil, "1"))
	h.create(t, s, taskKey("ns", "b"), cfTask("ns", "b", "", nil, "1"))
	acked := h.last()
	zero := cfWatch(t, s, "/tasks/", storage.WatchOptions{})
	zeroSel := cfWatch(t, s, "/tasks/", storage.WatchOptions{Predicate: storage.Predicate{Field: cfFieldSel(t, "spec.nodeName=n1")}})
	current := cfWatch(t, s, "/tasks/", storage.WatchOptions{Revision: acked})
	// Nothing acknowledged before the watch is replayed.
	expectNoEvent(t, zero.w, cfQuiet)
	for _, cw := range []*cfWatcher{zero, zeroSel, current} {
		cw.expectQuiet(t, acked)
	}
	c := h.create(t, s, taskKey("ns", "c"), cfTask("ns", "c", "", nil, "1"))
	a := h.update(t, s, taskKey("ns", "a"), 0, cfTask("ns", "a", "n1", nil, "2"))
	for _, cw := range []*cfWatcher{zero, current} {
		cw.expect(t, watch.Added, c, c.Revision)
		cw.expect(t, watch.Modified, a, a.Revision)
	}
	zeroSel.expect(t, watch.Added, a, a.Revision)
	for _, cw := range []*cfWatcher{zero, zeroSel, current} {
		cw.expectQuiet(t, h.last())
	}
	// Right after a write is acknowledged, a watch from 0 starts after it,
	// however quickly it is opened.
	for i := range 25 {
		x := h.update(t, s, taskKey("ns", "a"), 0, cfTask("ns", "a", "", nil, fmt.Sprint("x", i)))
		cw := cfWatch(t, s, "/tasks/ns/", storage.WatchOptions{})
		y := h.update(t, s, taskKey("ns", "b"), 0, cfTask("ns", "b", "", nil, fmt.Sprint("y", i)))
		ev := cw.next(t)
		if ev.Object != nil && ev.Object.Key == x.Key && ev.Revision == x.Revision {
			t.Fatalf("round %d: a watch from 0 opened after the write at %d was acknowledged delivered it; it must start at the current revision (CurrentRevision %d)", i, x.Revision, s.CurrentRevision())
		}
		if d := cfEventDiff(ev, cfExpected{watch.Modified, y.Revision, y}); d != "" {
			t.Fatalf("round %d: %s", i, d)
		}
		cw.w.Stop()
	}
}

func cfCaseWatchFutureRevision(t *testing.T, s storage.Interface) {
	r := cfCreate(t, s, taskKey("ns", "a"), cfTask("ns", "a", "", nil, "1"))
	future := max(s.CurrentRevision(), r.Revision) + cfFar
	w, err := s.Watch(context.Background(), "/tasks/", storage.WatchOptions{Revision: future})
	if err == nil {
		w.Stop()
	}
	if !storage.IsFutureRevision(err) {
		t.Fatalf("watch from future revision %d: %v, want IsFutureRevision", future, err)
	}
	// A watch from the revision a write just returned is not in the future.
	cw := cfWatch(t, s, "/tasks/", storage.WatchOptions{Revision: r.Revision})
	cw.expectQuiet(t, r.Revision)
}

func cfCaseWatchInitialEvents(t *testing.T, s storage.Interface) {
	h := newCfHistory()
	h.create(t, s, taskKey("ns", "a"), cfTask("ns", "a", "", cfLabels("app", "web"), "1"))
	h.create(t, s, taskKey("ns", "b"), cfTask("ns", "b", "n1", cfLabels("app", "db"), "1"))
	h.create(t, s, taskKey("ns2", "c"), cfTask("ns2", "c", "", cfLabels("app", "web"), "1"))
	h.create(t, s, taskKey("ns", "gone"), cfTask("ns", "gone", "", cfLabels("app", "web"), "1"))
	h.update(t, s, taskKey("ns", "a"), 0, cfTask("ns", "a", "n1", cfLabels("app", "web"), "2"))
	h.delete(t, s, taskKey("ns", "gone"), 0)
	acked := h.last()

	web := storage.Predicate{Label: cfLabelSel(t, "app=web")}
	type iw struct {
		prefix string
		opts   storage.WatchOptions
		cw     *cfWatcher
	}
	ws := []*iw{
		{prefix: "/tasks/", opts: storage.WatchOptions{SendInitialEvents: true, Revision: acked}},
		{prefix: "/tasks/ns/", opts: storage.WatchOptions{SendInitialEvents: true, Revision: acked}},
		{prefix: "/tasks/", opts: storage.WatchOptions{SendInitialEvents: true, Revision: acked, Predicate: web}},
		{prefix: "/tasks/", opts: storage.WatchOptions{SendInitialEvents: true}}, // consistent: sees every acknowledged write
		{prefix: "/tasks/empty/", opts: storage.WatchOptions{SendInitialEvents: true}},
	}
	for _, w := range ws {
		w.cw = cfWatch(t, s, w.prefix, w.opts)
	}
	for _, w := range ws {
		recs, end := w.cw.initial(t)
		if end < acked {
			t.Fatalf("%s: snapshot at %d, before the acknowledged write at %d", w.cw.desc, end, acked)
		}
		if d := cfListDiff(recs, h.liveAt(end, w.prefix, w.opts.Predicate)); d != "" {
			t.Fatalf("%s: initial events: %s", w.cw.desc, d)
		}
	}
	// Then live events, each once.
	h.update(t, s, taskKey("ns", "b"), 0, cfTask("ns", "b", "n1", cfLabels("app", "web"), "2")) // starts matching app=web
	h.create(t, s, taskKey("ns", "e"), cfTask("ns", "e", "", cfLabels("app", "db"), "1"))
	h.delete(t, s, taskKey("ns", "a"), 0)
	h.update(t, s, taskKey("ns2", "c"), 0, cfTask("ns2", "c", "", cfLabels("app", "db"), "2")) // stops matching
	for _, w := range ws {
		w.cw.expectEvents(t, h.eventsAfter(w.cw.last, w.prefix, w.opts.Predicate), h.lastUnder(w.prefix))
	}
	// The snapshot does not need history: a Revision below the compacted
	// one is only a lower bound.
	if err := s.Compact(context.Background(), h.last()); err != nil {
		t.Fatal(err)
	}
	cw := cfWatch(t, s, "/tasks/", storage.WatchOptions{SendInitialEvents: true, Revision: acked})
	recs, end := cw.initial(t)
	if end < h.last() {
		t.Fatalf("snapshot at %d after compaction, want at least %d", end, h.last())
	}
	if d := cfListDiff(recs, h.liveAt(end, "/tasks/", storage.Predicate{})); d != "" {
		t.Fatalf("initial events after compaction: %s", d)
	}
	f := h.create(t, s, taskKey("ns", "f"), cfTask("ns", "f", "", nil, "1"))
	cw.expect(t, watch.Added, f, f.Revision)
	cw.expectQuiet(t, h.last())
}

func cfCaseWatchSelectorTransitions(t *testing.T, s storage.Interface) {
	h := newCfHistory()
	h.create(t, s, "/nodes/n1", cfNode("n1", 1))
	start := h.last()
	red, blue := cfLabels("color", "red"), cfLabels("color", "blue")
	preds := []struct {
		name  string
		pred  storage.Predicate
		types string // the event types the writes below produce, in order
	}{
		{"label color=red", storage.Predicate{Label: cfLabelSel(t, "color=red")}, "AMDADAMD"},
		{"field spec.nodeName=n1", storage.Predicate{Field: cfFieldSel(t, "spec.nodeName=n1")}, "AMDADAMD"},
		{"both", storage.Predicate{Label: cfLabelSel(t, "color=red"), Field: cfFieldSel(t, "spec.nodeName=n1")}, "AMDADAD"},
		{"field status.phase=Running", storage.Predicate{Field: cfFieldSel(t, "status.phase=Running")}, "AMMD"},
		{"label color!=red", storage.Predicate{Label: cfLabelSel(t, "color!=red")}, "ADAMDAD"},
	}
	live := make([]*cfWatcher, len(preds))
	for i, p := range preds {
		live[i] = cfWatch(t, s, "/tasks/", storage.WatchOptions{Revision: start, Predicate: p.pred})
	}
	tk, u := taskKey("s", "t"), taskKey("s", "u")
	h.create(t, s, tk, cfTaskPhase("s", "t", "", blue, kunosv1.TaskPending, "1"))     // red: -  n1: -  running: -
	h.update(t, s, tk, 0, cfTaskPhase("s", "t", "n1", red, kunosv1.TaskPending, "2")) // enter     enter
	h.update(t, s, tk, 0, cfTaskPhase("s", "t", "n1", red, kunosv1.TaskPending, "3")) // modified  modified
	h.update(t, s, tk, 0, cfTaskPhase("s", "t", "n2", blue, kunosv1.TaskRunning, "4"))
	mid := h.last()                                                                    // leave     leave     enter
	h.update(t, s, tk, 0, cfTaskPhase("s", "t", "n2", blue, kunosv1.TaskRunning, "5")) // -         -         modified
	h.update(t, s, tk, 0, cfTaskPhase("s", "t", "n1", red, kunosv1.TaskRunning, "6"))  // enter     enter     modified
	h.delete(t, s, tk, 0)                                                              // deleted   deleted   deleted
	h.create(t, s, u, cfTaskPhase("s", "u", "n2", red, kunosv1.TaskPending, "1"))      // added     -
	h.update(t, s, u, 0, cfTaskPhase("s", "u", "n1", red, kunosv1.TaskPending, "2"))   // modified  enter
	h.update(t, s, u, 0, cfTaskPhase("s", "u", "n1", blue, kunosv1.TaskPending, "3"))  // leave     modified
	h.delete(t, s, u, 0)                                                               // -         deleted

	letters := map[watch.EventType]string{watch.Added: "A", watch.Modified: "M", watch.Deleted: "D"}
	for i, p := range preds {
		want := h.eventsAfter(start, "/tasks/", p.pred)
		var types string
		for _, x := range want {
			types += letters[x.typ]
		}
		if types != p.types {
			t.Fatalf("model error: %s yields %s, want %s", p.name, types, p.types)
		}
		// Live and replayed watchers see the same.
		live[i].expectEvents(t, want, h.last())
		cfWatch(t, s, "/tasks/", storage.WatchOptions{Revision: start, Predicate: p.pred}).expectEvents(t, want, h.last())
		cfWatch(t, s, "/tasks/s/", storage.WatchOptions{Revision: mid, Predicate: p.pred}).expectEvents(t, h.eventsAfter(mid, "/tasks/s/", p.pred), h.last())
	}
	// Spelled out for one leave: the Deleted of a watcher whose selector
	// stopped matching carries the previous (matching) state at the new
	// revision.
	cw := cfWatch(t, s, "/tasks/", storage.WatchOptions{Revision: start, Predicate: preds[0].pred})
	cw.next(t)
	cw.next(t)
	ev := cw.next(t)
	obj, err := decodeTask(ev.Object.Data)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Type != watch.Deleted || ev.Revision != mid || obj.ResourceVersion != strconv.FormatInt(mid, 10) ||
		obj.Labels["color"] != "red" || obj.Spec.NodeName != "n1" || ev.Object.Labels().Get("color") != "red" {
		t.Fatalf("leaving color=red: %s with %s, labels %v, node %q; want DELETED at %d with the previous state", cfDescribe(ev), obj.ResourceVersion, obj.Labels, obj.Spec.NodeName, mid)
	}
}

func cfCaseWatchCompactedRevision(t *testing.T, s storage.Interface) {
	h := newCfHistory()
	var revs []int64
	for i := range 6 {
		key := taskKey("ns", fmt.Sprint("t", i%3))
		if h.cur[key] == nil {
			revs = append(revs, h.create(t, s, key, cfTask("ns", fmt.Sprint("t", i%3), "", nil, fmt.Sprint(i))).Revision)
		} else {
			revs = append(revs, h.update(t, s, key, 0, cfTask("ns", fmt.Sprint("t", i%3), "", nil, fmt.Sprint(i))).Revision)
		}
	}
	compacted := revs[3]
	if err := s.Compact(context.Background(), compacted); err != nil {
		t.Fatal(err)
	}
	for _, rev := range revs[:3] {
		cfWatchFailsCompacted(t, s, "/tasks/", storage.WatchOptions{Revision: rev})
		cfWatchFailsCompacted(t, s, "/tasks/ns/", storage.WatchOptions{Revision: rev, Predicate: storage.Predicate{Label: cfLabelSel(t, "x=y")}})
	}
	// From the compacted revision itself, the rest is replayed.
	cw := cfWatch(t, s, "/tasks/", storage.WatchOptions{Revision: compacted})
	cw.expectEvents(t, h.eventsAfter(compacted, "/tasks/", storage.Predicate{}), h.last())
	// Initial events do not need history.
	iw := cfWatch(t, s, "/tasks/", storage.WatchOptions{SendInitialEvents: true, Revision: revs[0]})
	recs, end := iw.initial(t)
	if d := cfListDiff(recs, h.liveAt(end, "/tasks/", storage.Predicate{})); d != "" {
		t.Fatalf("initial events after compaction: %s", d)
	}
}

func cfCaseWatchBehindCompaction(t *testing.T, s storage.Interface) {
	h := newCfHistory()
	h.create(t, s, "/nodes/seed", cfNode("seed", 1))
	start := h.last()
	cw := cfWatch(t, s, "/tasks/", storage.WatchOptions{Revision: start}) // does not read during the writes
	for i := range 600 {
		key := taskKey("ns", fmt.Sprint("t", i%50))
		if h.cur[key] == nil {
			h.create(t, s, key, cfTask("ns", fmt.Sprint("t", i%50), "", nil, fmt.Sprint(i)))
		} else {
			h.update(t, s, key, 0, cfTask("ns", fmt.Sprint("t", i%50), "", nil, fmt.Sprint(i)))
		}
	}
	if err := s.Compact(context.Background(), h.last()); err != nil {
		t.Fatal(err)
	}
	// It gets a prefix of the history, in order, and then either the rest
	// (it was buffered) or an IsCompacted Error, after which the channel
	// closes.
	want := h.eventsAfter(start, "/tasks/", storage.Predicate{})
	var got []storage.Event
	for len(got) < len(want) {
		ev := cw.next(t)
		if ev.Type == watch.Error {
			if !storage.IsCompacted(ev.Err) {
				t.Fatalf("error event %v, want IsCompacted", ev.Err)
			}
			expectClosed(t, cw.w, cfWait)
			t.Logf("expired after %d of %d events", len(got), len(want))
			return
		}
		if d := cfEventDiff(ev, want[len(got)]); d != "" {
			t.Fatalf("event %d: %s", len(got), d)
		}
		got = append(got, ev)
	}
	cw.expectQuiet(t, h.last())
	t.Logf("received all %d events despite compaction", len(want))
}

func cfCaseRequestProgress(t *testing.T, s storage.Interface) {
	h := newCfHistory()
	h.create(t, s, "/nodes/seed", cfNode("seed", 1))
	start := h.last()
	all := cfWatch(t, s, "/tasks/", storage.WatchOptions{Revision: start})
	none := cfWatch(t, s, "/tasks/", storage.WatchOptions{Revision: start, Predicate: storage.Predicate{Label: cfLabelSel(t, "app=none")}})
	other := cfWatch(t, s, "/jobs/", storage.WatchOptions{Revision: start})
	idle := cfWatch(t, s, "/tasks/", storage.WatchOptions{})

	// An idle watcher: a bookmark at or after the newest write.
	idle.expectQuiet(t, start)
	for i := range 300 {
		key := taskKey("ns", fmt.Sprint("t", i%20))
		if h.cur[key] == nil {
			h.create(t, s, key, cfTask("ns", fmt.Sprint("t", i%20), "", nil, fmt.Sprint(i)))
		} else {
			h.update(t, s, key, 0, cfTask("ns", fmt.Sprint("t", i%20), "", nil, fmt.Sprint(i)))
		}
	}
	// Requested while 300 events are pending: the bookmark comes after
	// every event up to its revision.
	all.w.RequestProgress()
	none.w.RequestProgress()
	all.expectEvents(t, h.eventsAfter(start, "/tasks/", storage.Predicate{}), h.last())
	// Watchers that match nothing still learn the revision moved on.
	none.expectQuiet(t, h.last())
	other.expectQuiet(t, h.last())
	idle.expectEvents(t, h.eventsAfter(start, "/tasks/", storage.Predicate{}), h.last())
	// Repeated requests are harmless.
	for range 5 {
		all.w.RequestProgress()
	}
	all.expectQuiet(t, h.last())
	expectNoEvent(t, all.w, cfQuiet)
}

func cfCaseStopClosesChannel(t *testing.T, s storage.Interface) {
	h := newCfHistory()
	for i := range 300 {
		h.create(t, s, taskKey("ns", fmt.Sprintf("t%03d", i)), cfTask("ns", fmt.Sprintf("t%03d", i), "", nil, "1"))
	}
	start := h.last()
	stopped := cfWatch(t, s, "/tasks/", storage.WatchOptions{Revision: start})
	busy := cfWatch(t, s, "/tasks/", storage.WatchOptions{SendInitialEvents: true}) // 300 initial events pending
	behind := cfWatch(t, s, "/tasks/", storage.WatchOptions{Revision: h.writes[0].rec.Revision})
	kept := cfWatch(t, s, "/tasks/", storage.WatchOptions{Revision: start})
	h.update(t, s, taskKey("ns", "t000"), 0, cfTask("ns", "t000", "n1", nil, "2"))

	for _, cw := range []*cfWatcher{stopped, busy, behind} {
		cw.w.Stop()
		expectClosed(t, cw.w, cfWait)
		cw.w.Stop() // idempotent
		cw.w.RequestProgress()
	}
	// Writes go on, and the other watcher is unaffected.
	h.update(t, s, taskKey("ns", "t001"), 0, cfTask("ns", "t001", "n1", nil, "2"))
	kept.expectEvents(t, h.eventsAfter(start, "/tasks/", storage.Predicate{}), h.last())
}

func cfCaseContextCancelClosesChannel(t *testing.T, s storage.Interface) {
	h := newCfHistory()
	h.create(t, s, taskKey("ns", "a"), cfTask("ns", "a", "", nil, "1"))
	start := h.last()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := s.Watch(ctx, "/tasks/", storage.WatchOptions{Revision: start})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	wi, err := s.Watch(ctx, "/tasks/", storage.WatchOptions{SendInitialEvents: true})
	if err != nil {
		t.Fatal(err)
	}
	defer wi.Stop()
	kept := cfWatch(t, s, "/tasks/", storage.WatchOptions{Revision: start})
	h.update(t, s, taskKey("ns", "a"), 0, cfTask("ns", "a", "n1", nil, "2"))
	cancel()
	expectClosed(t, w, cfWait)
	expectClosed(t, wi, cfWait)
	w.Stop() // after the context ended: harmless

	// A deadline ends a watch the same way.
	tctx, tcancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer tcancel()
	wt, err := s.Watch(tctx, "/tasks/", storage.WatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer wt.Stop()
	expectClosed(t, wt, cfWait)

	// An already ended context: Watch fails, or the watch ends at once.
	if wd, err := s.Watch(ctx, "/tasks/", storage.WatchOptions{}); err == nil {
		defer wd.Stop()
		expectClosed(t, wd, cfWait)
	}
	h.update(t, s, taskKey("ns", "a"), 0, cfTask("ns", "a", "n2", nil, "3"))
	kept.expectEvents(t, h.eventsAfter(start, "/tasks/", storage.Predicate{}), h.last())
}

func cfCaseSlowWatcher(t *testing.T, s storage.Interface) {
	seed := cfCreate(t, s, "/nodes/seed", cfNode("seed", 1))
	start := seed.Revision
	slow := cfOpenStream(t, s, "/tasks/", storage.WatchOptions{Revision: start})
	slowSel := cfOpenStream(t, s, "/tasks/", storage.WatchOptions{Revision: start, Predicate: storage.Predicate{Field: cfFieldSel(t, "spec.nodeName=n1")}})
	slowInit := cfOpenStream(t, s, "/tasks/", storage.WatchOptions{SendInitialEvents: true, Revision: start})
	slowInit.minStart = start
	fast := cfOpenStream(t, s, "/tasks/", storage.WatchOptions{Revision: start})
	fast.consume(false)
	// More watchers that never read at all, until they are stopped.
	for i := range 8 {
		w, err := s.Watch(context.Background(), fmt.Sprintf("/tasks/ns%d/", i%2), storage.WatchOptions{Revision: start})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(w.Stop)
	}

	const writers = 2
	perWriter := 1000
	if testing.Short() {
		perWriter = 600
	}
	var mu sync.Mutex
	var writes []cfWrite
	errs := make(chan error, writers)
	for g := range writers {
		go func() {
			var mine []cfWrite
			var werr error
			defer func() { // publish the writes before reporting
				mu.Lock()
				writes = append(writes, mine...)
				mu.Unlock()
				errs <- werr
			}()
			ns := fmt.Sprintf("ns%d", g)
			for i := range perWriter {
				name := fmt.Sprintf("t%d", i%300)
				key := taskKey(ns, name)
				obj := cfTask(ns, name, []string{"n1", "n2"}[i%2], nil, fmt.Sprint(i))
				var (
					r   *storage.Record
					err error
					typ = watch.Added
				)
				if i < 300 {
					r, err = s.Create(context.Background(), key, obj)
				} else {
					typ = watch.Modified
					r, err = s.Update(context.Background(), key, 0, obj)
				}
				if err != nil {
					werr = fmt.Errorf("write %s: %w", key, err)
					return
				}
				mine = append(mine, cfWrite{typ: typ, rec: r})
			}
		}()
	}
	timeout := time.After(30 * time.Second)
	for range writers {
		select {
		case err := <-errs:
			if err != nil {
				t.Fatal(err)
			}
		case <-timeout:
			t.Fatal("writers blocked: watchers that do not read must not hold them up")
		}
	}
	h := cfHistoryOf(t, append([]cfWrite{{typ: watch.Added, rec: seed}}, writes...))
	deadline := time.Now().Add(20 * time.Second)
	// The fast reader got everything while the others read nothing.
	fast.catchUp(t, h.lastUnder(fast.prefix), deadline)
	if d := h.check(fast); d != "" {
		t.Fatalf("%s: %s", fast.desc, d)
	}
	// Now the slow ones read, and lose nothing.
	for _, st := range []*cfStream{slow, slowSel, slowInit} {
		st.consume(false)
	}
	for _, st := range []*cfStream{slow, slowSel, slowInit} {
		st.catchUp(t, h.lastUnder(st.prefix), deadline)
		if d := h.check(st); d != "" {
			t.Fatalf("%s: %s", st.desc, d)
		}
	}
	if n := len(h.writes); n != writers*perWriter+1 {
		t.Fatalf("%d writes recorded", n)
	}
}

func cfCaseWatchDuringConcurrentWrites(t *testing.T, s storage.Interface) {
	seed := cfCreate(t, s, "/nodes/seed", cfNode("seed", 1))
	var (
		started atomic.Int64 // writes started
		acked   atomic.Int64 // highest acknowledged revision
		mu      sync.Mutex
		writes  []cfWrite
	)
	acked.Store(seed.Revision)
	const writers = 3
	perWriter := 250
	if testing.Short() {
		perWriter = 100
	}
	errs := make(chan error, writers)
	for g := range writers {
		go func() {
			cur := map[string]bool{}
			var mine []cfWrite
			var werr error
			defer func() { // publish the writes before reporting
				mu.Lock()
				writes = append(writes, mine...)
				mu.Unlock()
				errs <- werr
			}()
			ns := fmt.Sprintf("w%d", g)
			for i := range perWriter {
				name := fmt.Sprint("k", i%7)
				key := taskKey(ns, name)
				seq := started.Add(1)
				var (
					r   *storage.Record
					err error
					typ watch.EventType
				)
				switch {
				case !cur[key]:
					typ = watch.Added
					r, err = s.Create(context.Background(), key, cfTask(ns, name, "", nil, fmt.Sprint(i)))
				case i%5 == 0:
					typ = watch.Deleted
					r, err = s.Delete(context.Background(), key, 0)
				default:
					typ = watch.Modified
					r, err = s.Update(context.Background(), key, 0, cfTask(ns, name, fmt.Sprint("n", i%3), nil, fmt.Sprint(i)))
				}
				if err != nil {
					werr = fmt.Errorf("%s %s: %w", typ, key, err)
					return
				}
				cur[key] = typ != watch.Deleted
				mine = append(mine, cfWrite{typ: typ, rec: r, seq: seq})
				for {
					a := acked.Load()
					if r.Revision <= a || acked.CompareAndSwap(a, r.Revision) {
						break
					}
				}
			}
		}()
	}
	var streams []*cfStream
	for i := range 12 {
		prefix := []string{"/tasks/", "/tasks/w1/"}[i%2]
		var st *cfStream
		switch i % 3 {
		case 0:
			st = cfOpenStream(t, s, prefix, storage.WatchOptions{Revision: acked.Load()})
		case 1:
			st = cfOpenStream(t, s, prefix, storage.WatchOptions{})
			st.seqAfter = started.Load()
		case 2:
			lo := acked.Load()
			st = cfOpenStream(t, s, prefix, storage.WatchOptions{SendInitialEvents: true})
			st.minStart = lo
		}
		st.consume(i%4 == 3)
		streams = append(streams, st)
		time.Sleep(time.Duration(i%4) * time.Millisecond)
	}
	for range writers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	h := cfHistoryOf(t, append([]cfWrite{{typ: watch.Added, rec: seed}}, writes...))
	deadline := time.Now().Add(20 * time.Second)
	for _, st := range streams {
		st.catchUp(t, h.lastUnder(st.prefix), deadline)
		if d := h.check(st); d != "" {
			t.Fatalf("%s: %s", st.desc, d)
		}
	}
}

// conformanceSeed drives the randomized case; CONFORMANCE_SEED overrides it.
const conformanceSeed = 20250611

func cfCaseRandomized(t *testing.T, s storage.Interface) {
	seed := uint64(conformanceSeed)
	if v := os.Getenv("CONFORMANCE_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("CONFORMANCE_SEED: %v", err)
		}
		seed = n
	}
	t.Logf("seed %d (CONFORMANCE_SEED=%d reproduces it)", seed, seed)
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("seed %d: %s", seed, fmt.Sprintf(format, args...))
	}
	ctx := context.Background()
	r := rand.New(rand.NewPCG(seed, 0xc0f0))
	h := newCfHistory()
	base := h.create(t, s, "/nodes/base", cfNode("base", 1)).Revision
	var keys []string
	for _, ns := range []string{"a", "b"} {
		for i := range 4 {
			keys = append(keys, taskKey(ns, fmt.Sprint("k", i)))
		}
	}
	prefixes := []string{"/tasks/", "/tasks/a/", "/tasks/b/", "/tasks/a/k1"}
	preds := []storage.Predicate{
		{},
		{Label: cfLabelSel(t, "color=red")},
		{Label: cfLabelSel(t, "tier")},
		{Field: cfFieldSel(t, "spec.nodeName=n1")},
		{Field: cfFieldSel(t, "spec.nodeName=")},
		{Field: cfFieldSel(t, "status.phase=Running")},
		{Label: cfLabelSel(t, "color=blue"), Field: cfFieldSel(t, "spec.nodeName=n2")},
	}
	randomRev := func() int64 { return base + r.Int64N(h.last()-base+1) }
	// A watch start: any revision of the history, often one of the newest
	// writes' (a watch with almost nothing to replay).
	randomStart := func() int64 {
		if n := len(h.writes); r.IntN(2) == 0 {
			return h.writes[max(n-1-r.IntN(3), 0)].rec.Revision
		}
		return randomRev()
	}
	stale := func(cur int64) int64 { // a revision that is not the key's
		for {
			if rev := randomRev(); rev != cur {
				return rev
			}
		}
	}

	ops, maxWatchers := 700, 14
	if testing.Short() {
		ops = 300
	}
	var streams []*cfStream
	var lazy []*cfStream
	for op := range ops {
		if len(streams) < maxWatchers && r.IntN(ops/maxWatchers) == 0 {
			prefix, pred := prefixes[r.IntN(len(prefixes))], preds[r.IntN(len(preds))]
			var st *cfStream
			switch m := r.IntN(10); {
			case m < 3:
				opts := storage.WatchOptions{SendInitialEvents: true, Predicate: pred}
				if r.IntN(2) == 0 {
					opts.Revision = randomRev()
				}
				st = cfOpenStream(t, s, prefix, opts)
				st.minStart = opts.Revision // only a lower bound
				if opts.Revision == 0 {
					st.minStart = h.last() // consistent
				}
			case m < 5:
				st = cfOpenStream(t, s, prefix, storage.WatchOptions{Predicate: pred})
				st.seqAfter = int64(len(h.writes))
			default:
				st = cfOpenStream(t, s, prefix, storage.WatchOptions{Revision: randomStart(), Predicate: pred})
			}
			if r.IntN(4) == 0 {
				lazy = append(lazy, st) // reads only after all writes
			} else {
				st.consume(r.IntN(3) == 0)
			}
			streams = append(streams, st)
		}

		key := keys[r.IntN(len(keys))]
		ns, name := strings.Split(key, "/")[2], strings.Split(key, "/")[3]
		lbls := cfLabels("color", []string{"red", "blue"}[r.IntN(2)])
		if r.IntN(2) == 0 {
			lbls["tier"] = "x"
		}
		obj := cfTaskPhase(ns, name, []string{"", "n1", "n2"}[r.IntN(3)], lbls,
			[]kunosv1.TaskPhase{kunosv1.TaskPending, kunosv1.TaskRunning}[r.IntN(2)], fmt.Sprint("op", op))
		cur := h.cur[key]
		roll := r.IntN(100)
		var err error
		var want func(error) bool
		switch {
		case cur == nil && roll < 85:
			h.create(t, s, key, obj)
		case cur == nil && roll < 93:
			_, err = s.Update(ctx, key, []int64{0, randomRev()}[r.IntN(2)], obj)
			want = storage.IsNotFound
		case cur == nil:
			_, err = s.Delete(ctx, key, 0)
			want = storage.IsNotFound
		case roll < 30:
			h.update(t, s, key, 0, obj)
		case roll < 52:
			h.update(t, s, key, cur.Revision, obj)
		case roll < 60:
			_, err = s.Update(ctx, key, stale(cur.Revision), obj)
			want = storage.IsConflict
		case roll < 72:
			h.delete(t, s, key, 0)
		case roll < 80:
			h.delete(t, s, key, cur.Revision)
		case roll < 86:
			_, err = s.Delete(ctx, key, stale(cur.Revision))
			want = storage.IsConflict
		default:
			_, err = s.Create(ctx, key, obj)
			want = storage.IsAlreadyExists
		}
		if want != nil && !want(err) {
			fail("op %d on %s (current %v): error %v", op, key, cur != nil, err)
		}

		// Reads at random revisions agree with the model.
		if r.IntN(15) == 0 {
			rev := randomRev()
			if r.IntN(4) == 0 {
				rev = 0
			}
			at := rev
			if at == 0 {
				at = h.last()
			}
			if r.IntN(2) == 0 {
				k := keys[r.IntN(len(keys))]
				got, err := s.Get(ctx, k, rev)
				switch w := h.stateAt(k, at); {
				case w == nil && !storage.IsNotFound(err):
					fail("get %s at %d: %v %v, want IsNotFound", k, rev, got, err)
				case w != nil && err != nil:
					fail("get %s at %d: %v", k, rev, err)
				case w != nil:
					if d := cfRecordDiff(got, w, w.Revision); d != "" {
						fail("get %s at %d: %s", k, rev, d)
					}
				}
			} else {
				prefix, pred, limit := prefixes[r.IntN(len(prefixes))], preds[r.IntN(len(preds))], int64(r.IntN(4))
				res, err := s.List(ctx, prefix, storage.ListOptions{Revision: rev, Predicate: pred, Limit: limit})
				if err != nil {
					fail("list %s at %d: %v", prefix, rev, err)
				}
				if res.Revision < at || (rev != 0 && res.Revision != rev) {
					fail("list %s at %d read revision %d", prefix, rev, res.Revision)
				}
				w := h.liveAt(at, prefix, pred)
				n := len(w)
				if limit > 0 && int64(n) > limit {
					w = w[:limit]
				}
				if d := cfListDiff(res.Items, w); d != "" {
					fail("list %s (%s) at %d limit %d: %s", prefix, cfPredString(pred), rev, limit, d)
				}
				if left := int64(n - len(w)); res.More != (left > 0) || (res.More && res.Remaining != left) {
					fail("list %s at %d limit %d: More %v Remaining %d, want %d left", prefix, rev, limit, res.More, res.Remaining, left)
				}
			}
		}
	}
	for _, st := range lazy {
		st.consume(false)
	}
	deadline := time.Now().Add(20 * time.Second)
	for i, st := range streams {
		st.catchUp(t, h.lastUnder(st.prefix), deadline)
		if d := h.check(st); d != "" {
			fail("watcher %d, %s: %s", i, st.desc, d)
		}
	}
	t.Logf("%d writes, %d watchers", len(h.writes), len(streams))
}
