package controller_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/controller"
)

// taskMaker reconciles a Job into spec.completions Tasks named
// <job>-<i>, each controlled by the Job, finding the Job's Tasks through
// ListOwned.
type taskMaker struct {
	e     *env
	calls counter
}

func (r *taskMaker) Reconcile(ctx context.Context, req controller.Request) (controller.Result, error) {
	r.calls.inc(req)
	job, err := r.e.jobs.Lister().Namespace(req.Namespace).Get(req.Name)
	if apierrors.IsNotFound(err) {
		return controller.Result{}, nil
	}
	if err != nil {
		return controller.Result{}, err
	}
	owned, err := controller.ListOwned(r.e.tasks, job)
	if err != nil {
		return controller.Result{}, controller.TerminalError(err)
	}
	have := map[string]bool{}
	for _, t := range owned {
		have[t.Name] = true
	}
	for i := range job.Spec.CompletionsOrDefault() {
		name := fmt.Sprintf("%s-%d", job.Name, i)
		if have[name] {
			continue
		}
		task := &kunosv1.Task{
			ObjectMeta: metav1.ObjectMeta{
				Name: name, Namespace: job.Namespace,
				OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(job, kunosv1.SchemeGroupVersion.WithKind("Job"))},
			},
			Spec: job.Spec.Template.Spec,
		}
		if _, err := r.e.taskClient.Create(ctx, task, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return controller.Result{}, err
		}
	}
	return controller.Result{}, nil
}

// ownedNames returns the names of the Tasks the cache says job controls.
func ownedNames(t *testing.T, e *env, name string) map[string]types.UID {
	t.Helper()
	job, err := e.jobs.Lister().Namespace("default").Get(name)
	if err != nil {
		return nil
	}
	owned, err := controller.ListOwned(e.tasks, job)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]types.UID{}
	for _, task := range owned {
		out[task.Name] = task.UID
	}
	return out
}

// settle waits until every event so far was handled: a sentinel Job, and
// then the Task it gets, pass through the Job and Task informers after
// them, so once the sentinel was reconciled for its own Task the earlier
// events were delivered and enqueued; then it waits for the queue to
// empty and every Request taken to be done.
func settle(t *testing.T, e *env, r *taskMaker, sentinel string) {
	t.Helper()
	e.createJob(t, sentinel, 1, nil)
	eventually(t, "sentinel "+sentinel+" reconciled for its Task", func() bool { return r.calls.get(req(sentinel)) >= 2 })
	q := map[string]string{"name": "jobs"}
	idle := func() bool {
		depth, _ := metricValue(t, e.reg, "workqueue_depth", q)
		taken, _ := metricValue(t, e.reg, "workqueue_queue_duration_seconds", q)
		done, _ := metricValue(t, e.reg, "workqueue_work_duration_seconds", q)
		return depth == 0 && taken == done
	}
	eventually(t, "an idle controller", func() bool {
		if !idle() {
			return false
		}
		time.Sleep(10 * time.Millisecond)
		return idle()
	})
}

// A Job reconciler that creates owned Tasks: Owns maps each Task event to
// its Job, ListOwned finds a Job's Tasks through the index, a Task deleted
// behind the controller's back is re-created, GenerationChanged drops the
// Job's status writes, and a Task controlled by another kind under the
// Job's name does not reach the Job.
func TestOwnsMapsOwnedObjectsToTheirController(t *testing.T) {
	e := newEnv(t, controller.ManagerOptions{})
	r := &taskMaker{e: e}
	if err := controller.New(e.mgr, "jobs", kunosv1.Jobs, controller.Options{MaxConcurrentReconciles: 2}).
		For(e.jobs, controller.GenerationChanged).
		Owns(controller.Owned(e.tasks)).
		Complete(r); err != nil {
		t.Fatal(err)
	}
	e.start(t)
	ctx := context.Background()

	job := e.createJob(t, "a", 3, nil)
	eventually(t, "3 Tasks owned by Job a", func() bool { return len(ownedNames(t, e, "a")) == 3 })
	tasks, _, err := e.taskClient.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		if ref := metav1.GetControllerOf(task); ref == nil || ref.UID != job.UID {
			t.Fatalf("task %s: controller ref %+v, want Job a (%s)", task.Name, ref, job.UID)
		}
	}

	// A Task's status change reaches its Job.
	before := r.calls.get(req("a"))
	task, err := e.taskClient.Get(ctx, "a-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	task.Status.Phase = kunosv1.TaskSucceeded
	if _, err := e.taskClient.UpdateStatus(ctx, task, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "Job a reconciled after its Task changed", func() bool { return r.calls.get(req("a")) > before })

	// A deleted Task is noticed through its Job and created again.
	oldUID := ownedNames(t, e, "a")["a-2"]
	if err := e.taskClient.Delete(ctx, "a-2", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "Task a-2 re-created", func() bool {
		uid, ok := ownedNames(t, e, "a")["a-2"]
		return ok && uid != oldUID
	})

	// Filtered: a status write on Job a (no generation change), and a Task
	// controlled by another kind that happens to use the name "a".
	settle(t, e, r, "s1")
	before = r.calls.get(req("a"))
	cur, err := e.jobClient.Get(ctx, "a", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cur.Status.Active = 3
	if _, err := e.jobClient.UpdateStatus(ctx, cur, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	foreign := &kunosv1.Task{ObjectMeta: metav1.ObjectMeta{Name: "foreign", Namespace: "default",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "other.io/v1", Kind: "Other", Name: "a", UID: "not-job-a", Controller: new(true)}}}}
	if _, err := e.taskClient.Create(ctx, foreign, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	settle(t, e, r, "s2")
	if got := r.calls.get(req("a")); got != before {
		t.Fatalf("Job a reconciled %d more times after a status write and a foreign Task; want 0", got-before)
	}

	// A spec change bumps the generation and passes.
	cur, err = e.jobClient.Get(ctx, "a", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cur.Spec.Completions = new(int32(4))
	if _, err := e.jobClient.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a fourth Task after a spec change", func() bool { return len(ownedNames(t, e, "a")) == 4 })
}

// Watches maps objects of another type through a function: a Node labelled
// job=<name> reconciles that Job.
func TestWatchesMapsThroughAFunction(t *testing.T) {
	e := newEnv(t, controller.ManagerOptions{})
	var calls counter
	nodeToJob := func(n *kunosv1.Node) []controller.Request {
		if j := n.Labels["job"]; j != "" {
			return []controller.Request{req(j)}
		}
		return nil
	}
	if err := controller.New(e.mgr, "jobs", kunosv1.Jobs, controller.Options{}).
		For(e.jobs).
		Watches(controller.Mapped(e.nodes, nodeToJob, controller.LabelsChanged)).
		Complete(controller.ReconcilerFunc(func(_ context.Context, r controller.Request) (controller.Result, error) {
			calls.inc(r)
			return controller.Result{}, nil
		})); err != nil {
		t.Fatal(err)
	}
	e.start(t)
	e.createJob(t, "a", 1, nil)
	eventually(t, "Job a reconciled", func() bool { return calls.get(req("a")) == 1 })
	if _, err := e.nodeClient.Create(context.Background(), &kunosv1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{"job": "a"}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "Job a reconciled for its Node", func() bool { return calls.get(req("a")) == 2 })
	if calls.get(controller.Request{Name: "n1"}) != 0 {
		t.Fatal("the Node itself was enqueued")
	}
}
