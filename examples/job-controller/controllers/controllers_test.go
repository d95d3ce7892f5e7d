package controllers_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/apiserver-stub/stubtest"
	"github.com/kunos-io/listwatch/client"
	"github.com/kunos-io/listwatch/examples/job-controller/controllers"
	"github.com/kunos-io/listwatch/informer"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// cluster runs the three control loops against a server, like the
// job-controller binary does, until stop is called.
type cluster struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func startCluster(t *testing.T, url string, nodes int) *cluster {
	t.Helper()
	c, err := client.New(&client.Config{Host: url})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cl := &cluster{cancel: cancel}
	f := informer.NewFactory(c, informer.FactoryOptions{})
	jobs := informer.ForResource[*kunosv1.Job](f, kunosv1.JobsResource, "")
	tasks := informer.ForResource[*kunosv1.Task](f, kunosv1.TasksResource, "")
	nodeInf := informer.ForResource[*kunosv1.Node](f, kunosv1.NodesResource, "")
	jc, err := controllers.NewJobController(c, jobs, tasks, controllers.JobControllerOptions{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	sched, err := controllers.NewScheduler(c, tasks, nodeInf, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	loops := []func(context.Context){jc.Run, sched.Run}
	for i := 1; i <= nodes; i++ {
		name := fmt.Sprintf("node-%d", i)
		own := informer.ForResource[*kunosv1.Task](f, kunosv1.TasksResource, "", informer.WithFieldSelector("spec.nodeName="+name))
		a, err := controllers.NewNodeAgent(c, own, controllers.NodeAgentOptions{Name: name, Capacity: 2, HeartbeatInterval: 500 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		loops = append(loops, func(ctx context.Context) { _ = a.Run(ctx) })
	}
	f.Start(ctx)
	for _, loop := range loops {
		cl.wg.Add(1)
		go func() { defer cl.wg.Done(); loop(ctx) }()
	}
	t.Cleanup(func() { cl.stop(); f.Shutdown() })
	return cl
}

func (cl *cluster) stop() { cl.cancel(); cl.wg.Wait() }

// taskLog records every Task event of a namespace from a raw watch, in
// resourceVersion order, and checks invariants as events arrive.
type taskLog struct {
	mu        sync.Mutex
	created   map[string]bool
	phase     map[string]kunosv1.TaskPhase
	maxActive int
}

func watchTasks(t *testing.T, c *client.Client, ns string) *taskLog {
	t.Helper()
	tasks := client.For[*kunosv1.Task](c, kunosv1.TasksResource).Namespace(ns)
	_, lm, err := tasks.List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w, err := tasks.Watch(ctx, metav1.ListOptions{ResourceVersion: lm.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	l := &taskLog{created: map[string]bool{}, phase: map[string]kunosv1.TaskPhase{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			task, ok := ev.Object.(*kunosv1.Task)
			if !ok {
				continue
			}
			l.mu.Lock()
			switch ev.Type {
			case watch.Added:
				l.created[task.Name] = true
				l.phase[task.Name] = task.Status.Phase
			case watch.Modified:
				l.phase[task.Name] = task.Status.Phase
			case watch.Deleted:
				delete(l.phase, task.Name)
			}
			active := 0
			for _, p := range l.phase {
				if p != kunosv1.TaskSucceeded && p != kunosv1.TaskFailed {
					active++
				}
			}
			l.maxActive = max(l.maxActive, active)
			l.mu.Unlock()
		}
	}()
	t.Cleanup(func() { cancel(); w.Stop(); <-done })
	return l
}

func (l *taskLog) counts() (created, maxActive int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.created), l.maxActive
}

func newJob(ns, name string, completions, parallelism, backoff int32, command ...string) *kunosv1.Job {
	return &kunosv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: kunosv1.JobSpec{
			Completions: &completions, Parallelism: &parallelism, BackoffLimit: &backoff,
			Template: kunosv1.TaskTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec:       kunosv1.TaskSpec{Command: command},
			},
		},
	}
}

func waitJob(t *testing.T, jobs *client.Resource[*kunosv1.Job], name string, cond func(*kunosv1.Job) bool, what string) *kunosv1.Job {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for {
		j, err := jobs.Get(context.Background(), name, metav1.GetOptions{})
		if err == nil && cond(j) {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s: timed out waiting for %s (last: %+v, err %v)", name, what, j.Status, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func complete(j *kunosv1.Job) bool {
	return meta.IsStatusConditionTrue(j.Status.Conditions, kunosv1.JobComplete)
}

func setup(t *testing.T) (*stubtest.Server, *client.Client) {
	srv := stubtest.Start(t, stubtest.WithBookmarkInterval(time.Second))
	c, err := client.New(&client.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return srv, c
}

func TestJobRunsToExactCompletionsWithinParallelism(t *testing.T) {
	srv, c := setup(t)
	log := watchTasks(t, c, "t1")
	startCluster(t, srv.URL, 3)
	jobs := client.For[*kunosv1.Job](c, kunosv1.JobsResource).Namespace("t1")
	if _, err := jobs.Create(context.Background(), newJob("t1", "exact", 12, 3, 6, "sleep", "0.05"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	j := waitJob(t, jobs, "exact", complete, "Complete")
	created, maxActive := log.counts()
	if j.Status.Succeeded != 12 || j.Status.Active != 0 || created != 12 {
		t.Fatalf("succeeded=%d active=%d created=%d, want 12, 0, 12", j.Status.Succeeded, j.Status.Active, created)
	}
	if maxActive > 3 {
		t.Fatalf("%d Tasks were active at once, parallelism is 3", maxActive)
	}
	if j.Status.StartTime == nil || j.Status.CompletionTime == nil {
		t.Fatalf("start/completion time not set: %+v", j.Status)
	}
}

func TestJobFailsAfterBackoffLimit(t *testing.T) {
	srv, c := setup(t)
	log := watchTasks(t, c, "t2")
	startCluster(t, srv.URL, 2)
	jobs := client.For[*kunosv1.Job](c, kunosv1.JobsResource).Namespace("t2")
	if _, err := jobs.Create(context.Background(), newJob("t2", "doomed", 3, 1, 2, "false"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	j := waitJob(t, jobs, "doomed", func(j *kunosv1.Job) bool {
		return meta.IsStatusConditionTrue(j.Status.Conditions, kunosv1.JobFailed)
	}, "Failed")
	created, _ := log.counts()
	// backoffLimit 2: the third failure fails the Job; with parallelism 1
	// no fourth Task is ever started.
	if j.Status.Failed != 3 || created != 3 || j.Status.Succeeded != 0 {
		t.Fatalf("failed=%d created=%d succeeded=%d, want 3, 3, 0", j.Status.Failed, created, j.Status.Succeeded)
	}
}

func TestDeletingJobDeletesItsTasks(t *testing.T) {
	srv, c := setup(t)
	startCluster(t, srv.URL, 2)
	ctx := context.Background()
	jobs := client.For[*kunosv1.Job](c, kunosv1.JobsResource).Namespace("t3")
	tasks := client.For[*kunosv1.Task](c, kunosv1.TasksResource).Namespace("t3")
	if _, err := jobs.Create(ctx, newJob("t3", "long", 10, 3, 6, "sleep", "60"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitJob(t, jobs, "long", func(j *kunosv1.Job) bool { return j.Status.Active == 3 }, "3 active")
	if err := jobs.Delete(ctx, "long", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		items, _, err := tasks.List(ctx, metav1.ListOptions{})
		if err == nil && len(items) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d Tasks left after their Job was deleted", len(items))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestStatusConflictsAreRetried keeps changing the Job's metadata while the
// controller writes its status: every status write races a conflicting
// write, and the Job still ends with exact counts.
func TestStatusConflictsAreRetried(t *testing.T) {
	srv, c := setup(t)
	log := watchTasks(t, c, "t4")
	startCluster(t, srv.URL, 3)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	jobs := client.For[*kunosv1.Job](c, kunosv1.JobsResource).Namespace("t4")
	if _, err := jobs.Create(ctx, newJob("t4", "contended", 10, 4, 6, "sleep", "0.05"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	go func() {
		for i := 0; ctx.Err() == nil; i++ {
			j, err := jobs.Get(ctx, "contended", metav1.GetOptions{})
			if err == nil {
				j = j.DeepCopy()
				j.Labels = map[string]string{"touch": fmt.Sprint(i)}
				_, _ = jobs.Update(ctx, j, metav1.UpdateOptions{})
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	j := waitJob(t, jobs, "contended", complete, "Complete")
	if created, _ := log.counts(); j.Status.Succeeded != 10 || created != 10 {
		t.Fatalf("succeeded=%d created=%d, want 10, 10", j.Status.Succeeded, created)
	}
}

// TestRestartCreatesNoDuplicates stops every loop mid-Job and starts fresh
// ones (new caches, new queues, new agents): the Job completes with exactly
// its completions and no Task beyond them.
func TestRestartCreatesNoDuplicates(t *testing.T) {
	srv, c := setup(t)
	log := watchTasks(t, c, "t5")
	first := startCluster(t, srv.URL, 3)
	jobs := client.For[*kunosv1.Job](c, kunosv1.JobsResource).Namespace("t5")
	if _, err := jobs.Create(context.Background(), newJob("t5", "restart", 15, 4, 6, "sleep", "0.1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitJob(t, jobs, "restart", func(j *kunosv1.Job) bool { return j.Status.Succeeded >= 4 }, "4 succeeded")
	first.stop()
	startCluster(t, srv.URL, 3)
	j := waitJob(t, jobs, "restart", complete, "Complete")
	if created, maxActive := log.counts(); j.Status.Succeeded != 15 || created != 15 || maxActive > 4 {
		t.Fatalf("succeeded=%d created=%d maxActive=%d, want 15, 15, <=4", j.Status.Succeeded, created, maxActive)
	}
}
