package controllers

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/cache"
	"github.com/kunos-io/listwatch/client"
	"github.com/kunos-io/listwatch/informer"
	"github.com/kunos-io/listwatch/workqueue"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Labels the Job controller puts on the Tasks it creates.
const (
	JobNameLabel = "kunos.io/job-name"
	// ByJobIndex indexes Tasks by the "namespace/name" of their owning Job.
	ByJobIndex = "byJob"
)

// TaskByJob is the index function behind ByJobIndex: a Task's controlling
// Job, from its owner references.
func TaskByJob(t *kunosv1.Task) ([]string, error) {
	if ref := metav1.GetControllerOf(t); ref != nil && ref.Kind == "Job" && ref.APIVersion == kunosv1.SchemeGroupVersion.String() {
		return []string{t.Namespace + "/" + ref.Name}, nil
	}
	return nil, nil
}

// JobController reconciles Jobs into Tasks.
type JobController struct {
	jobs  *client.Resource[*kunosv1.Job]
	tasks *client.Resource[*kunosv1.Task]

	jobInformer  informer.SharedIndexInformer[*kunosv1.Job]
	taskInformer informer.SharedIndexInformer[*kunosv1.Task]

	queue        workqueue.TypedRateLimitingInterface[string]
	expectations *Expectations
	written      writtenJobs
	workers      int
	log          *slog.Logger
}

// writtenJobs remembers, per Job key, the Job our last status write
// returned and the resourceVersion it replaced. While the cache still holds
// exactly that replaced version, the cache has not seen our write, and the
// remembered Job is the fresher base: starting from it avoids a certain 409.
// Versions are only compared for equality: resourceVersions are opaque.
type writtenJobs struct {
	mu   sync.Mutex
	jobs map[string]writtenJob
}

type writtenJob struct {
	replaced string
	job      *kunosv1.Job
}

func (w *writtenJobs) record(key, replaced string, job *kunosv1.Job) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.jobs == nil {
		w.jobs = map[string]writtenJob{}
	}
	w.jobs[key] = writtenJob{replaced: replaced, job: job}
}

// freshest returns our own last written Job if the cached one is the
// version that write replaced, else the cached Job.
func (w *writtenJobs) freshest(key string, cached *kunosv1.Job) *kunosv1.Job {
	w.mu.Lock()
	defer w.mu.Unlock()
	if x, ok := w.jobs[key]; ok {
		if x.job.UID == cached.UID && x.replaced == cached.ResourceVersion {
			return x.job
		}
		delete(w.jobs, key)
	}
	return cached
}

func (w *writtenJobs) forget(key string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.jobs, key)
}

// JobControllerOptions configure a JobController.
type JobControllerOptions struct {
	Workers         int // default 2
	MetricsProvider workqueue.MetricsProvider
	Logger          *slog.Logger
}

// NewJobController wires a JobController to its informers. The Task informer
// gets the ByJobIndex index; call before the informers start.
func NewJobController(c *client.Client, jobs informer.SharedIndexInformer[*kunosv1.Job], tasks informer.SharedIndexInformer[*kunosv1.Task], opts JobControllerOptions) (*JobController, error) {
	if opts.Workers <= 0 {
		opts.Workers = 2
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	jc := &JobController{
		jobs:         client.For[*kunosv1.Job](c, kunosv1.JobsResource),
		tasks:        client.For[*kunosv1.Task](c, kunosv1.TasksResource),
		jobInformer:  jobs,
		taskInformer: tasks,
		queue:        newQueue("job", opts.MetricsProvider),
		expectations: NewExpectations(),
		workers:      opts.Workers,
		log:          opts.Logger.With("controller", "job"),
	}
	if err := tasks.Indexer().AddIndexers(cache.Indexers[*kunosv1.Task]{ByJobIndex: TaskByJob}); err != nil {
		return nil, fmt.Errorf("job controller: add task index: %w", err)
	}
	if _, err := jobs.AddEventHandler(informer.HandlerFuncs[*kunosv1.Job]{
		AddFunc:    func(j *kunosv1.Job, _ bool) { jc.enqueue(j) },
		UpdateFunc: func(_, j *kunosv1.Job) { jc.enqueue(j) },
		DeleteFunc: func(j *kunosv1.Job, _ bool) { jc.enqueue(j) },
	}, informer.WithName("job-controller")); err != nil {
		return nil, err
	}
	if _, err := tasks.AddEventHandler(informer.HandlerFuncs[*kunosv1.Task]{
		AddFunc: func(t *kunosv1.Task, _ bool) {
			if key := jobKeyOf(t); key != "" {
				jc.expectations.CreationObserved(key)
				jc.queue.Add(key)
			}
		},
		UpdateFunc: func(_, t *kunosv1.Task) {
			if key := jobKeyOf(t); key != "" {
				jc.queue.Add(key)
			}
		},
		DeleteFunc: func(t *kunosv1.Task, _ bool) {
			if key := jobKeyOf(t); key != "" {
				jc.expectations.DeletionObserved(key)
				jc.queue.Add(key)
			}
		},
	}, informer.WithName("job-controller")); err != nil {
		return nil, err
	}
	return jc, nil
}

func jobKeyOf(t *kunosv1.Task) string {
	keys, _ := TaskByJob(t)
	if len(keys) == 0 {
		return ""
	}
	return keys[0]
}

func (jc *JobController) enqueue(j *kunosv1.Job) {
	key, err := cache.MetaNamespaceKeyFunc(j)
	if err != nil {
		jc.log.Error("cannot key job", "err", err)
		return
	}
	jc.queue.Add(key)
}

// Run waits for the caches, then reconciles until ctx ends.
func (jc *JobController) Run(ctx context.Context) {
	if !informer.WaitForCacheSync(ctx, jc.jobInformer.HasSynced, jc.taskInformer.HasSynced) {
		return
	}
	jc.log.Info("started", "workers", jc.workers)
	runWorkers(ctx, "job", jc.queue, jc.workers, jc.sync, jc.log)
}

func (jc *JobController) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil // malformed key: nothing to retry
	}
	job, err := jc.jobInformer.Lister().Namespace(ns).Get(name)
	if apierrors.IsNotFound(err) {
		jc.expectations.Forget(key)
		jc.written.forget(key)
		return jc.deleteTasks(ctx, key, "")
	}
	if err != nil {
		return err
	}
	job = jc.written.freshest(key, job)
	// Our own creations or deletions have not reached the cache yet: the
	// Task counts below would be stale. The informer event that satisfies
	// the expectation enqueues the Job again.
	if !jc.expectations.Satisfied(key) {
		return nil
	}
	owned, err := jc.ownedTasks(ctx, key, job)
	if err != nil {
		return err
	}
	status := countTasks(owned)
	newStatus := job.Status.DeepCopy()
	newStatus.Active, newStatus.Succeeded, newStatus.Failed = status.active, status.succeeded, status.failed
	now := metav1.Now()
	if newStatus.StartTime == nil {
		newStatus.StartTime = &now
	}

	if !jobFinished(job) {
		switch {
		case status.failed > job.Spec.BackoffLimitOrDefault():
			setCondition(newStatus, kunosv1.JobFailed, "BackoffLimitExceeded",
				fmt.Sprintf("%d Tasks failed, more than the backoff limit of %d", status.failed, job.Spec.BackoffLimitOrDefault()), now)
			newStatus.CompletionTime = &now
			if err := jc.deleteActive(ctx, key, status.activeTasks); err != nil {
				return err
			}
		case status.succeeded >= job.Spec.CompletionsOrDefault():
			setCondition(newStatus, kunosv1.JobComplete, "CompletionsReached",
				fmt.Sprintf("%d of %d Tasks succeeded", status.succeeded, job.Spec.CompletionsOrDefault()), now)
			newStatus.CompletionTime = &now
		default:
			// succeeded + active never exceeds completions, so every active
			// Task may succeed without overshooting.
			want := min(job.Spec.ParallelismOrDefault(), job.Spec.CompletionsOrDefault()-status.succeeded)
			if missing := want - status.active; missing > 0 {
				created, err := jc.createTasks(ctx, key, job, int(missing))
				newStatus.Active += int32(created)
				if err != nil {
					_ = jc.updateStatus(ctx, job, newStatus)
					return err
				}
			}
		}
	}
	return jc.updateStatus(ctx, job, newStatus)
}

// ownedTasks returns the Tasks of job from the cache, deleting those that
// name the Job but belong to an earlier Job of the same name.
func (jc *JobController) ownedTasks(ctx context.Context, key string, job *kunosv1.Job) ([]*kunosv1.Task, error) {
	tasks, err := jc.taskInformer.Indexer().ByIndex(ByJobIndex, key)
	if err != nil {
		return nil, err
	}
	owned := tasks[:0:0]
	for _, t := range tasks {
		if ref := metav1.GetControllerOf(t); ref != nil && ref.UID == job.UID {
			owned = append(owned, t)
		}
	}
	if len(owned) != len(tasks) {
		if err := jc.deleteTasks(ctx, key, job.UID); err != nil {
			return nil, err
		}
	}
	return owned, nil
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

// createTasks creates n Tasks for job and returns how many were created.
// Expectations are raised first, so a concurrent sync that runs before the
// informer sees the new Tasks waits instead of creating more.
func (jc *JobController) createTasks(ctx context.Context, key string, job *kunosv1.Job, n int) (int, error) {
	jc.expectations.ExpectCreations(key, n)
	created := 0
	for i := 0; i < n; i++ {
		t := newTaskFor(job)
		if _, err := jc.tasks.Namespace(job.Namespace).Create(ctx, t, metav1.CreateOptions{}); err != nil {
			// The creations not issued will never be observed.
			for j := i; j < n; j++ {
				jc.expectations.CreationObserved(key)
			}
			return created, fmt.Errorf("create task for job %s: %w", key, err)
		}
		created++
	}
	jc.log.Debug("created tasks", "job", key, "count", created)
	return created, nil
}

func newTaskFor(job *kunosv1.Job) *kunosv1.Task {
	labels := map[string]string{}
	for k, v := range job.Spec.Template.Labels {
		labels[k] = v
	}
	labels[JobNameLabel] = job.Name
	return &kunosv1.Task{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    job.Name + "-",
			Namespace:       job.Namespace,
			Labels:          labels,
			Annotations:     job.Spec.Template.Annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(job, kunosv1.SchemeGroupVersion.WithKind("Job"))},
		},
		Spec: *job.Spec.Template.Spec.DeepCopy(),
	}
}

// deleteTasks deletes the Tasks indexed under key, except those owned by keepUID.
func (jc *JobController) deleteTasks(ctx context.Context, key string, keepUID types.UID) error {
	tasks, err := jc.taskInformer.Indexer().ByIndex(ByJobIndex, key)
	if err != nil {
		return err
	}
	var doomed []*kunosv1.Task
	for _, t := range tasks {
		if ref := metav1.GetControllerOf(t); ref != nil && (keepUID == "" || ref.UID != keepUID) {
			doomed = append(doomed, t)
		}
	}
	return jc.deleteActive(ctx, key, doomed)
}

func (jc *JobController) deleteActive(ctx context.Context, key string, tasks []*kunosv1.Task) error {
	for _, t := range tasks {
		err := jc.tasks.Namespace(t.Namespace).Delete(ctx, t.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete task %s/%s of job %s: %w", t.Namespace, t.Name, key, err)
		}
	}
	if len(tasks) > 0 {
		jc.log.Debug("deleted tasks", "job", key, "count", len(tasks))
	}
	return nil
}

// updateStatus writes status if it changed, retrying conflicts against the
// server's latest copy (the cache may lag behind our own last write).
func (jc *JobController) updateStatus(ctx context.Context, job *kunosv1.Job, status *kunosv1.JobStatus) error {
	if statusEqual(&job.Status, status) {
		return nil
	}
	jobs := jc.jobs.Namespace(job.Namespace)
	key := job.Namespace + "/" + job.Name
	current := job.DeepCopy()
	for attempt := 0; ; attempt++ {
		current.Status = *status
		updated, err := jobs.UpdateStatus(ctx, current, metav1.UpdateOptions{})
		if err == nil {
			jc.written.record(key, current.ResourceVersion, updated)
			return nil
		}
		if !apierrors.IsConflict(err) || attempt == 4 {
			return fmt.Errorf("update status of job %s/%s: %w", job.Namespace, job.Name, err)
		}
		latest, gerr := jobs.Get(ctx, job.Name, metav1.GetOptions{})
		if gerr != nil {
			return fmt.Errorf("get job %s/%s after conflict: %w", job.Namespace, job.Name, gerr)
		}
		if latest.UID != job.UID {
			return nil // replaced by a new Job of the same name
		}
		current = latest.DeepCopy()
		time.Sleep(time.Duration(attempt+1) * 10 * time.Millisecond)
	}
}

func statusEqual(a, b *kunosv1.JobStatus) bool {
	if a.Active != b.Active || a.Succeeded != b.Succeeded || a.Failed != b.Failed {
		return false
	}
	if (a.StartTime == nil) != (b.StartTime == nil) || (a.CompletionTime == nil) != (b.CompletionTime == nil) {
		return false
	}
	if len(a.Conditions) != len(b.Conditions) {
		return false
	}
	for i := range a.Conditions {
		if a.Conditions[i].Type != b.Conditions[i].Type || a.Conditions[i].Status != b.Conditions[i].Status {
			return false
		}
	}
	return true
}
