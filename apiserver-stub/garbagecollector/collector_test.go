package garbagecollector_test

import (
	"net/http"
	"slices"
	"testing"

	"github.com/kunos-io/listwatch/apiserver-stub/stubtest"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// kubectl delete job X --cascade=foreground: the Job stays, marked
// (deletionTimestamp, foregroundDeletion, generation bumped), until its
// Tasks are gone; a Task another finalizer holds holds the Job too.
func TestForegroundWaitsForDependents(t *testing.T) {
	srv := stubtest.Start(t, stubtest.WithControllers())
	job := create(t, srv, jobs, "Job", "j", nil)
	for _, n := range names(3, "t") {
		create(t, srv, tasks, "Task", n, []metav1.OwnerReference{ref("Job", "j", job, true)})
	}
	create(t, srv, tasks, "Task", "held", []metav1.OwnerReference{ref("Job", "j", job, true)}, "test.kunos.io/hold")
	del(t, srv, jobs+"/j", metav1.DeletePropagationForeground)

	j := get(t, srv, jobs+"/j")
	if j == nil || j.Metadata.DeletionTimestamp == nil || !slices.Contains(j.Metadata.Finalizers, metav1.FinalizerDeleteDependents) || j.Metadata.Generation != 2 {
		t.Fatalf("job after a foreground delete: %+v", j)
	}
	// The collector deletes the dependents one by one, in no set order:
	// wait for all of them to be handled.
	eventually(t, "the free tasks to go and the held one to be deleted", func() bool {
		for _, n := range names(3, "t") {
			if get(t, srv, tasks+"/"+n) != nil {
				return false
			}
		}
		h := get(t, srv, tasks+"/held")
		return h == nil || h.Metadata.DeletionTimestamp != nil
	})
	h := get(t, srv, tasks+"/held")
	if h == nil || h.Metadata.DeletionTimestamp == nil {
		t.Fatalf("held task: %+v", h)
	}
	if get(t, srv, jobs+"/j") == nil {
		t.Fatal("the job went before a blocking dependent")
	}
	if code, b := do(t, srv, http.MethodPatch, tasks+"/held", map[string]any{"metadata": map[string]any{"finalizers": nil}}); code != http.StatusOK {
		t.Fatalf("release: %d %s", code, b)
	}
	eventually(t, "the job to go", func() bool { return get(t, srv, jobs+"/j") == nil })
}

// kubectl delete job X --cascade=orphan: the Job goes, its Tasks stay
// without the reference to it.
func TestOrphanKeepsDependents(t *testing.T) {
	srv := stubtest.Start(t, stubtest.WithControllers())
	job := create(t, srv, jobs, "Job", "j", nil)
	other := create(t, srv, jobs, "Job", "other", nil)
	create(t, srv, tasks, "Task", "a", []metav1.OwnerReference{ref("Job", "j", job, true)})
	create(t, srv, tasks, "Task", "b", []metav1.OwnerReference{ref("Job", "j", job, true), ref("Job", "other", other, false)})
	del(t, srv, jobs+"/j", metav1.DeletePropagationOrphan)
	eventually(t, "the job to go", func() bool { return get(t, srv, jobs+"/j") == nil })
	a, b := get(t, srv, tasks+"/a"), get(t, srv, tasks+"/b")
	if a == nil || len(a.Metadata.OwnerReferences) != 0 {
		t.Fatalf("task a: %+v", a)
	}
	if b == nil || len(b.Metadata.OwnerReferences) != 1 || b.Metadata.OwnerReferences[0].UID != other {
		t.Fatalf("task b: %+v", b)
	}
}

// Background (the default): the Job goes at once, then its Tasks; one with
// another live owner only loses its reference.
func TestBackgroundCollectsDependents(t *testing.T) {
	srv := stubtest.Start(t, stubtest.WithControllers())
	job := create(t, srv, jobs, "Job", "j", nil)
	other := create(t, srv, jobs, "Job", "other", nil)
	create(t, srv, tasks, "Task", "a", []metav1.OwnerReference{ref("Job", "j", job, false)})
	create(t, srv, tasks, "Task", "b", []metav1.OwnerReference{ref("Job", "j", job, false), ref("Job", "other", other, false)})
	if code, b := do(t, srv, http.MethodDelete, jobs+"/j", nil); code != http.StatusOK {
		t.Fatalf("delete: %d %s", code, b)
	}
	if get(t, srv, jobs+"/j") != nil {
		t.Fatal("a background delete left the job")
	}
	eventually(t, "task a to go", func() bool { return get(t, srv, tasks+"/a") == nil })
	eventually(t, "task b to lose its reference", func() bool {
		b := get(t, srv, tasks+"/b")
		return b != nil && len(b.Metadata.OwnerReferences) == 1 && b.Metadata.OwnerReferences[0].UID == other
	})
}

// An object created with an owner that never existed (or with the uid
// of another object) is collected.
func TestDanglingOwnerIsCollected(t *testing.T) {
	srv := stubtest.Start(t, stubtest.WithControllers())
	create(t, srv, jobs, "Job", "j", nil)
	create(t, srv, tasks, "Task", "a", []metav1.OwnerReference{ref("Job", "j", "not-its-uid", false)})
	create(t, srv, tasks, "Task", "b", []metav1.OwnerReference{ref("Job", "ghost", "ghost-uid", false)})
	create(t, srv, tasks, "Task", "c", []metav1.OwnerReference{{APIVersion: "unknown.io/v1", Kind: "Thing", Name: "x", UID: "u"}})
	eventually(t, "dangling tasks to go", func() bool {
		return get(t, srv, tasks+"/a") == nil && get(t, srv, tasks+"/b") == nil
	})
	eventually(t, "idle", srv.GCIdle)
	if get(t, srv, tasks+"/c") == nil {
		t.Fatal("a task whose owner's kind is not served was collected")
	}
}
