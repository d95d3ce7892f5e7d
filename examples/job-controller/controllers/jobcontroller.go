package controllers

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/cache"
	"github.com/kunos-io/listwatch/client"
	"github.com/kunos-io/listwatch/controller"
	"github.com/kunos-io/listwatch/informer"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/wait"
)

const (
	// JobNameLabel is the label the Job controller puts on its Tasks.
	JobNameLabel = "kunos.io/job-name"
	// ByJobIndex indexes Tasks by the "namespace/name" of their controlling
	// Job, whatever its UID: it finds the Tasks of a deleted Job, and those
	// an earlier Job of the same name left behind.
	ByJobIndex = "byJob"
)

// TaskByJob is the index function behind ByJobIndex.
func TaskByJob(t *kunosv1.Task) ([]string, error) {
	if ref := metav1.GetControllerOfNoCopy(t); ref != nil && ref.Kind == "Job" && ref.APIVersion == kunosv1.SchemeGroupVersion.String() {
		return []string{t.Namespace + "/" + ref.Name}, nil
	}
	return nil, nil
}

// expectationsRecheck is how soon a Job whose Task creations the cache does
// not show yet is looked at again. An informer event usually brings it back
// sooner, but ObserveOwned counts on its own handler, which may run after the
// one that enqueued the Job: then no later event is certain to come.
const expectationsRecheck = 100 * time.Millisecond

// createRetry bounds the retries, within one run, of a Task creation whose
// outcome is unknown (a 5xx, a timeout, a connection lost after the request
// left): 9 attempts over about 13 s, enough for a server replica to fail
// over or etcd to elect a leader. A creation still unknown after that is
// settled by later runs (jobReconciler.uncertain).
var createRetry = wait.Backoff{Steps: 9, Duration: 50 * time.Millisecond, Factor: 2, Jitter: 0.1}

// jobReconciler keeps at most spec.parallelism Tasks of a Job active, stops
// at spec.completions succeeded or at more than spec.backoffLimit failed,
// writes the Job's status and deletes the Tasks of a deleted Job.
type jobReconciler struct {
	jobs       informer.SharedIndexInformer[*kunosv1.Job]
	tasks      informer.SharedIndexInformer[*kunosv1.Task]
	jobClient  *client.Resource[*kunosv1.Job]
	taskClient *client.Resource[*kunosv1.Task]
	// exp holds the Task creations issued and not yet in the cache: while
	// any is outstanding the Job's Tasks are not counted, else they would
	// be created twice.
	exp *controller.Expectations
	// events records what kube's job controller records, as "job-controller".
	events controller.EventRecorder

	// uncertain holds, per Job, the Tasks whose creation still had an
	// unknown outcome when createRetry ran out. Each keeps its expectation
	// (it may exist, and then the informer counts it), and the Job's next
	// runs try it again under the same name until the server says which:
	// there (AlreadyExists, or created now) or refused (the expectation is
	// counted down). Without this, a creation lost in an outage longer than
	// createRetry left the Job waiting for the expectations' timeout.
	uncertainMu sync.Mutex
	uncertain   map[controller.Request][]*kunosv1.Task
}

// AddJobController adds the Job controller, named "job" (its workqueue and
// metrics too), to mgr, reconciling with workers workers. It adds ByJobIndex
// to tasks: call it before mgr starts.
func AddJobController(mgr *controller.Manager, jobs informer.SharedIndexInformer[*kunosv1.Job], tasks informer.SharedIndexInformer[*kunosv1.Task], workers int) error {
	if err := tasks.Indexer().AddIndexers(cache.Indexers[*kunosv1.Task]{ByJobIndex: TaskByJob}); err != nil {
		return fmt.Errorf("job controller: %w", err)
	}
	r := &jobReconciler{
		jobs: jobs, tasks: tasks,
		jobClient:  client.For(mgr.Client(), kunosv1.Jobs),
		taskClient: client.For(mgr.Client(), kunosv1.Tasks),
		exp:        controller.NewExpectations(controller.ExpectationsOptions{Name: "job-expectations"}),
		events:     mgr.EventRecorder("job-controller"),
		uncertain:  map[controller.Request][]*kunosv1.Task{},
	}
	if _, err := controller.ObserveOwned(r.exp, tasks); err != nil {
		return err
	}
	return controller.New(mgr, "job", kunosv1.Jobs, controller.Options{MaxConcurrentReconciles: workers}).
		For(jobs).
		Owns(controller.Owned(tasks)).
		Complete(wrap("job", r))
}

func (r *jobReconciler) Reconcile(ctx context.Context, req controller.Request) (controller.Result, error) {
	named, err := r.tasks.Indexer().ByIndex(ByJobIndex, req.String())
	if err != nil {
		return controller.Result{}, err
	}
	job, err := r.jobs.Lister().Namespace(req.Namespace).Get(req.Name)
	if err != nil { // gone (a cache fails only with NotFound): the server has no garbage collector
		r.exp.Delete(req)
		r.takeUncertain(req)
		return controller.Result{}, r.deleteTasks(ctx, named)
	}
	if err := r.settleUncertain(ctx, req, jobFinished(job)); err != nil {
		return controller.Result{}, err
	}
	if !r.exp.Satisfied(req) {
		return controller.Result{RequeueAfter: expectationsRecheck}, nil
	}
	var owned, leftover []*kunosv1.Task
	for _, t := range named {
		if metav1.GetControllerOfNoCopy(t).UID == job.UID {
			owned = append(owned, t)
		} else {
			leftover = append(leftover, t) // an earlier Job's of the same name
		}
	}
	if err := r.deleteTasks(ctx, leftover); err != nil {
		return controller.Result{}, err
	}

	c := countTasks(owned)
	status := job.Status.DeepCopy()
	status.Active, status.Succeeded, status.Failed = c.active, c.succeeded, c.failed
	now := metav1.Now()
	if status.StartTime == nil {
		status.StartTime = &now
	}
	var createErr error
	var finished func() // records the Event of a Job this run finishes, once its status is written
	if !jobFinished(job) {
		switch {
		case c.failed > job.Spec.BackoffLimitOrDefault():
			if err := r.deleteTasks(ctx, c.activeTasks); err != nil {
				return controller.Result{}, err // not marked Failed yet, so the next run deletes again
			}
			for _, t := range c.activeTasks {
				r.events.Eventf(job, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted task: %v", t.Name)
			}
			setCondition(status, kunosv1.JobFailed, "BackoffLimitExceeded",
				fmt.Sprintf("%d Tasks failed, more than the backoff limit of %d", c.failed, job.Spec.BackoffLimitOrDefault()), now)
			status.CompletionTime = &now
			finished = func() {
				r.events.Event(job, corev1.EventTypeWarning, "BackoffLimitExceeded", "Job has reached the specified backoff limit")
			}
		case c.succeeded >= job.Spec.CompletionsOrDefault():
			setCondition(status, kunosv1.JobComplete, "CompletionsReached",
				fmt.Sprintf("%d of %d Tasks succeeded", c.succeeded, job.Spec.CompletionsOrDefault()), now)
			status.CompletionTime = &now
			finished = func() { r.events.Event(job, corev1.EventTypeNormal, "Completed", "Job completed") }
		default:
			// succeeded + active never exceeds completions, so every active
			// Task may succeed without overshooting.
			want := min(job.Spec.ParallelismOrDefault(), job.Spec.CompletionsOrDefault()-c.succeeded)
			if missing := int(want - c.active); missing > 0 {
				var created int
				created, createErr = r.createTasks(ctx, req, job, missing)
				status.Active += int32(created)
			}
		}
	}
	// The status counts what was created even when a creation failed.
	statusErr := r.writeStatus(ctx, job, status)
	if statusErr == nil && finished != nil {
		finished()
	}
	return controller.Result{}, errors.Join(createErr, statusErr)
}

type taskCounts struct {
	active, succeeded, failed int32
	activeTasks               []*kunosv1.Task
}

func countTasks(tasks []*kunosv1.Task) taskCounts {
	var c taskCounts
	for _, t := range tasks {
		switch t.Status.Phase {
		case kunosv1.TaskSucceeded:
			c.succeeded++
		case kunosv1.TaskFailed:
			c.failed++
		default:
			if t.DeletionTimestamp == nil {
				c.active++
				c.activeTasks = append(c.activeTasks, t)
			}
		}
	}
	return c
}

func jobFinished(j *kunosv1.Job) bool {
	return meta.IsStatusConditionTrue(j.Status.Conditions, kunosv1.JobComplete) ||
		meta.IsStatusConditionTrue(j.Status.Conditions, kunosv1.JobFailed)
}

func setCondition(s *kunosv1.JobStatus, typ, reason, msg string, now metav1.Time) {
	meta.SetStatusCondition(&s.Conditions, metav1.Condition{
		Type: typ, Status: metav1.ConditionTrue, Reason: reason, Message: msg, LastTransitionTime: now,
	})
}

// createTasks creates n Tasks for job and returns how many it created. The
// expectations are set first, so that no run counts the Job's Tasks before
// the cache shows these.
func (r *jobReconciler) createTasks(ctx context.Context, req controller.Request, job *kunosv1.Job, n int) (int, error) {
	r.exp.ExpectCreations(req, n)
	for i := range n {
		t := newTaskFor(job)
		if err := r.createOnce(ctx, t, false); err != nil {
			if ctx.Err() == nil {
				r.events.Eventf(job, corev1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
			}
			if controller.Refused(err) {
				r.exp.CreationFailed(req, err)
			} else {
				r.addUncertain(req, t) // its expectation stays until settled
			}
			for range n - i - 1 {
				r.exp.CreationObserved(req) // never issued
			}
			return i, fmt.Errorf("create a Task for Job %s: %w", req, err)
		}
		r.events.Eventf(job, corev1.EventTypeNormal, "SuccessfulCreate", "Created task: %v", t.Name)
	}
	return n, nil
}

// createOnce creates t, named on this side rather than by generateName, so
// that a creation whose outcome is unknown can be tried again under the
// same name: AlreadyExists then means an earlier attempt created it (on
// the first attempt too when again is set: t was tried in an earlier run).
// It returns nil once t certainly exists, the server's refusal, or the
// last unknown outcome when createRetry runs out.
func (r *jobReconciler) createOnce(ctx context.Context, t *kunosv1.Task, again bool) error {
	tasks := r.taskClient.Namespace(t.Namespace)
	backoff := createRetry // Step counts its Steps down: compare with createRetry's
	for attempt := 1; ; attempt++ {
		_, err := tasks.Create(ctx, t, metav1.CreateOptions{})
		if err == nil || ((again || attempt > 1) && apierrors.IsAlreadyExists(err)) {
			return nil
		}
		if controller.Refused(err) || attempt >= createRetry.Steps {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(backoff.Step()):
		}
	}
}

func (r *jobReconciler) addUncertain(req controller.Request, t *kunosv1.Task) {
	r.uncertainMu.Lock()
	defer r.uncertainMu.Unlock()
	r.uncertain[req] = append(r.uncertain[req], t)
}

func (r *jobReconciler) takeUncertain(req controller.Request) []*kunosv1.Task {
	r.uncertainMu.Lock()
	defer r.uncertainMu.Unlock()
	ts := r.uncertain[req]
	delete(r.uncertain, req)
	return ts
}

// settleUncertain tries again, under the same names, the Task creations of
// the Job req whose outcome was unknown, and counts down the expectation of
// each the server refused. One the cache shows, or the server now says
// exists, was created: the informer counts it. Those still unknown are
// kept, and the run fails so that it is retried with backoff. Never more
// than one worker runs a Job, so a Task is never tried twice at once. A
// finished Job needs no more Tasks: its uncertain ones are dropped, and
// their expectations counted down.
func (r *jobReconciler) settleUncertain(ctx context.Context, req controller.Request, finished bool) error {
	pending := r.takeUncertain(req)
	var keep []*kunosv1.Task
	var errs []error
	for _, t := range pending {
		if _, seen, _ := r.tasks.Indexer().GetByKey(t.Namespace + "/" + t.Name); seen {
			continue
		}
		if finished {
			r.exp.CreationObserved(req) // not needed any more, whether it exists or not
			continue
		}
		err := r.createOnce(ctx, t, true)
		switch {
		case err == nil:
		case controller.Refused(err):
			r.exp.CreationFailed(req, err)
		default:
			keep = append(keep, t)
			errs = append(errs, err)
		}
	}
	if len(keep) > 0 {
		r.uncertainMu.Lock()
		r.uncertain[req] = append(keep, r.uncertain[req]...)
		r.uncertainMu.Unlock()
		return fmt.Errorf("Task creations for Job %s still of unknown outcome: %w", req, errors.Join(errs...))
	}
	return nil
}

func newTaskFor(job *kunosv1.Job) *kunosv1.Task {
	labels := maps.Clone(job.Spec.Template.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[JobNameLabel] = job.Name
	return &kunosv1.Task{
		ObjectMeta: metav1.ObjectMeta{
			Name:            job.Name + "-" + utilrand.String(5),
			Namespace:       job.Namespace,
			Labels:          labels,
			Annotations:     job.Spec.Template.Annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(job, kunosv1.SchemeGroupVersion.WithKind("Job"))},
		},
		Spec: *job.Spec.Template.Spec.DeepCopy(),
	}
}

func (r *jobReconciler) deleteTasks(ctx context.Context, tasks []*kunosv1.Task) error {
	for _, t := range tasks {
		err := r.taskClient.Namespace(t.Namespace).Delete(ctx, t.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete Task %s/%s: %w", t.Namespace, t.Name, err)
		}
	}
	return nil
}

// writeStatus writes status if it changed. The cache may lag behind the
// server (our own last write, or anyone's): after a Conflict it starts
// again from the server's copy.
func (r *jobReconciler) writeStatus(ctx context.Context, job *kunosv1.Job, status *kunosv1.JobStatus) error {
	if equality.Semantic.DeepEqual(&job.Status, status) {
		return nil
	}
	jobs := r.jobClient.Namespace(job.Namespace)
	next := job.DeepCopy()
	return controller.RetryOnConflict(ctx, controller.DefaultRetry, func(ctx context.Context) error {
		next.Status = *status
		_, err := jobs.UpdateStatus(ctx, next, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			latest, gerr := jobs.Get(ctx, job.Name, metav1.GetOptions{})
			if gerr != nil || latest.UID != job.UID {
				return gerr // gone or replaced: the next run sees it
			}
			next = latest
		}
		return err
	})
}
