package controllers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
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
)

// NodeAgentOptions configure a NodeAgent.
type NodeAgentOptions struct {
	Name     string
	Capacity int32 // default 2
	// Exec runs spec.command for real, in a temporary directory; otherwise
	// the run is simulated (see Simulate).
	Exec              bool
	HeartbeatInterval time.Duration // default 2s
	MetricsProvider   workqueue.MetricsProvider
	Logger            *slog.Logger
}

// NodeAgent is the kubelet of the example: it registers its Node, heartbeats,
// and runs the Tasks bound to it.
type NodeAgent struct {
	opts     NodeAgentOptions
	nodes    *client.Resource[*kunosv1.Node]
	tasks    *client.Resource[*kunosv1.Task]
	informer informer.SharedIndexInformer[*kunosv1.Task]
	queue    workqueue.TypedRateLimitingInterface[string]
	log      *slog.Logger

	mu      sync.Mutex
	running map[string]bool // task keys this process is running
	wg      sync.WaitGroup
}

// NewNodeAgent builds an agent. tasks must be an informer over the Tasks
// bound to this node only (fieldSelector spec.nodeName=<name>): the agent
// never caches the rest of the cluster.
func NewNodeAgent(c *client.Client, tasks informer.SharedIndexInformer[*kunosv1.Task], opts NodeAgentOptions) (*NodeAgent, error) {
	if opts.Capacity <= 0 {
		opts.Capacity = 2
	}
	if opts.HeartbeatInterval <= 0 {
		opts.HeartbeatInterval = 2 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	a := &NodeAgent{
		opts:     opts,
		nodes:    client.For[*kunosv1.Node](c, kunosv1.NodesResource),
		tasks:    client.For[*kunosv1.Task](c, kunosv1.TasksResource),
		informer: tasks,
		queue:    newQueue("agent-"+opts.Name, opts.MetricsProvider),
		log:      opts.Logger.With("node", opts.Name),
		running:  map[string]bool{},
	}
	enqueue := func(t *kunosv1.Task) {
		if key, err := cache.MetaNamespaceKeyFunc(t); err == nil {
			a.queue.Add(key)
		}
	}
	if _, err := tasks.AddEventHandler(informer.HandlerFuncs[*kunosv1.Task]{
		AddFunc:    func(t *kunosv1.Task, _ bool) { enqueue(t) },
		UpdateFunc: func(_, t *kunosv1.Task) { enqueue(t) },
	}, informer.WithName("agent")); err != nil {
		return nil, err
	}
	return a, nil
}

// Run registers the Node, then heartbeats and runs Tasks until ctx ends.
// Tasks still running when ctx ends are abandoned in phase Running; the next
// agent of the same name restarts them.
func (a *NodeAgent) Run(ctx context.Context) error {
	if err := a.register(ctx); err != nil {
		return err
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		a.heartbeatLoop(ctx)
	}()
	if informer.WaitForCacheSync(ctx, a.informer.HasSynced) {
		runWorkers(ctx, "agent-"+a.opts.Name, a.queue, 1, a.sync, a.log)
	}
	a.wg.Wait()
	return nil
}

func (a *NodeAgent) register(ctx context.Context) error {
	node := &kunosv1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: a.opts.Name},
		Spec:       kunosv1.NodeSpec{Capacity: a.opts.Capacity},
	}
	_, err := a.nodes.Create(ctx, node, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		err = a.modifyNode(ctx, func(n *kunosv1.Node) bool {
			if n.Spec.Capacity == a.opts.Capacity {
				return false
			}
			n.Spec.Capacity = a.opts.Capacity
			return true
		}, false)
	}
	if err != nil {
		return fmt.Errorf("register node %s: %w", a.opts.Name, err)
	}
	return a.heartbeat(ctx)
}

func (a *NodeAgent) heartbeatLoop(ctx context.Context) {
	t := time.NewTicker(a.opts.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := a.heartbeat(ctx); err != nil && ctx.Err() == nil {
				a.log.Warn("heartbeat failed", "err", err)
			}
		}
	}
}

func (a *NodeAgent) heartbeat(ctx context.Context) error {
	a.mu.Lock()
	running := int32(len(a.running))
	a.mu.Unlock()
	return a.modifyNode(ctx, func(n *kunosv1.Node) bool {
		now := metav1.Now()
		n.Status.HeartbeatTime = &now
		n.Status.RunningTasks = running
		meta.SetStatusCondition(&n.Status.Conditions, metav1.Condition{
			Type: kunosv1.NodeReady, Status: metav1.ConditionTrue, Reason: "AgentHeartbeat",
			Message: "node agent is heartbeating", LastTransitionTime: now,
		})
		return true
	}, true)
}

// modifyNode applies change to the server's latest Node and writes it back,
// retrying on conflict.
func (a *NodeAgent) modifyNode(ctx context.Context, change func(*kunosv1.Node) bool, status bool) error {
	for attempt := 0; ; attempt++ {
		n, err := a.nodes.Get(ctx, a.opts.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		n = n.DeepCopy()
		if !change(n) {
			return nil
		}
		if status {
			_, err = a.nodes.UpdateStatus(ctx, n, metav1.UpdateOptions{})
		} else {
			_, err = a.nodes.Update(ctx, n, metav1.UpdateOptions{})
		}
		if err == nil || !apierrors.IsConflict(err) || attempt == 4 {
			return err
		}
	}
}

func (a *NodeAgent) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	task, err := a.informer.Lister().Namespace(ns).Get(name)
	if apierrors.IsNotFound(err) || (err == nil && (taskDone(task) || task.Spec.NodeName != a.opts.Name)) {
		return nil
	}
	if err != nil {
		return err
	}
	a.mu.Lock()
	if a.running[key] {
		a.mu.Unlock()
		return nil
	}
	a.running[key] = true
	a.mu.Unlock()
	// A Task found Running here but not in a.running was started by an
	// earlier agent process that died: it is restarted from the beginning.
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		defer func() {
			a.mu.Lock()
			delete(a.running, key)
			a.mu.Unlock()
		}()
		a.runTask(ctx, task)
	}()
	return nil
}

func (a *NodeAgent) runTask(ctx context.Context, task *kunosv1.Task) {
	start := metav1.Now()
	applied, err := a.setTaskStatus(ctx, task, func(s *kunosv1.TaskStatus) bool {
		if s.Phase == kunosv1.TaskSucceeded || s.Phase == kunosv1.TaskFailed {
			return false // our cache was stale: it already finished
		}
		s.Phase, s.StartTime, s.Message = kunosv1.TaskRunning, &start, "running on "+a.opts.Name
		return true
	})
	if err != nil || !applied {
		if err != nil {
			a.log.Warn("cannot mark task running", "task", task.Name, "err", err)
		}
		return
	}
	runCtx := ctx
	if ts := task.Spec.TimeoutSeconds; ts != nil && *ts > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, time.Duration(*ts)*time.Second)
		defer cancel()
	}
	var code int32
	var msg string
	if a.opts.Exec {
		code, msg = execCommand(runCtx, task.Spec.Command)
	} else {
		code, msg = Simulate(runCtx, task.Spec.Command)
	}
	if ctx.Err() != nil {
		return // the agent is stopping: leave the Task Running for the next agent
	}
	done := metav1.Now()
	if _, err := a.setTaskStatus(ctx, task, func(s *kunosv1.TaskStatus) bool {
		s.Phase = kunosv1.TaskSucceeded
		if code != 0 {
			s.Phase = kunosv1.TaskFailed
		}
		c := code
		s.ExitCode, s.CompletionTime, s.Message = &c, &done, msg
		return true
	}); err != nil && ctx.Err() == nil {
		a.log.Warn("cannot report task result", "task", task.Name, "err", err)
	}
}

// setTaskStatus applies change to the server's latest status of task and
// writes it, retrying on conflict; change returns false to write nothing.
// It reports whether the change was written, and gives up quietly if the
// Task was deleted.
func (a *NodeAgent) setTaskStatus(ctx context.Context, task *kunosv1.Task, change func(*kunosv1.TaskStatus) bool) (bool, error) {
	tasks := a.tasks.Namespace(task.Namespace)
	for attempt := 0; ; attempt++ {
		latest, err := tasks.Get(ctx, task.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if latest.UID != task.UID {
			return false, nil
		}
		latest = latest.DeepCopy()
		if !change(&latest.Status) {
			return false, nil
		}
		_, err = tasks.UpdateStatus(ctx, latest, metav1.UpdateOptions{})
		if err == nil {
			return true, nil
		}
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		if !apierrors.IsConflict(err) || attempt == 4 {
			return false, err
		}
	}
}

// Simulate stands in for running a command: "sleep N" sleeps N seconds,
// "false" and "exit N" (N ≠ 0) fail, anything else succeeds after a short
// random pause. It honours ctx (the Task's timeout).
func Simulate(ctx context.Context, command []string) (exitCode int32, message string) {
	d := time.Duration(200+rand.IntN(600)) * time.Millisecond
	var code int32
	if len(command) > 0 {
		switch command[0] {
		case "false":
			code = 1
		case "exit":
			if len(command) > 1 {
				n, _ := strconv.Atoi(command[1])
				code = int32(n)
			}
		case "sleep":
			if len(command) > 1 {
				if secs, err := strconv.ParseFloat(command[1], 64); err == nil && secs >= 0 {
					d = time.Duration(secs * float64(time.Second))
				}
			}
		}
	}
	select {
	case <-ctx.Done():
		return 124, "timed out"
	case <-time.After(d):
	}
	if code != 0 {
		return code, fmt.Sprintf("simulated exit code %d", code)
	}
	return 0, "simulated run succeeded"
}

func execCommand(ctx context.Context, command []string) (int32, string) {
	if len(command) == 0 {
		return 1, "empty command"
	}
	dir, err := os.MkdirTemp("", "listwatch-task-")
	if err != nil {
		return 1, fmt.Sprintf("temporary directory: %v", err)
	}
	defer os.RemoveAll(dir)
	cmd := exec.CommandContext(ctx, command[0], command[1:]...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	tail := string(out)
	if len(tail) > 256 {
		tail = tail[len(tail)-256:]
	}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return 0, tail
	case ctx.Err() != nil:
		return 124, "timed out"
	case errors.As(err, &exitErr):
		return int32(exitErr.ExitCode()), tail
	default:
		return 127, err.Error()
	}
}
