package controllers

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/client"
	"github.com/kunos-io/listwatch/controller"
	"github.com/kunos-io/listwatch/informer"
	"github.com/kunos-io/listwatch/workqueue"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// NodeAgentOptions configure a node agent.
type NodeAgentOptions struct {
	Name string
	// Capacity is how many Tasks the agent runs at once, and the capacity
	// it declares on its Node (default 2).
	Capacity int32
	// Exec runs spec.command for real, in a temporary directory; otherwise
	// the run is simulated (see Simulate).
	Exec              bool
	HeartbeatInterval time.Duration // default 2s
}

// nodeAgent is the kubelet of the example.
type nodeAgent struct {
	NodeAgentOptions
	nodes      informer.SharedIndexInformer[*kunosv1.Node]
	tasks      informer.SharedIndexInformer[*kunosv1.Task]
	nodeClient *client.Resource[*kunosv1.Node]
	taskClient *client.Resource[*kunosv1.Task]
	running    atomic.Int32

	mu   sync.Mutex
	runs map[types.UID]context.CancelFunc // stops the run of a Task, when it is deleted
}

// AddNodeAgent adds a node agent to mgr as two controllers: "agent-<name>-node"
// registers the Node, re-creates it whenever it is deleted or missing (the
// server restarted empty, say), keeps its capacity and heartbeats;
// "agent-<name>" runs the Tasks bound to it, Capacity at once, each in a
// Reconcile of its own. nodes may hold every Node; tasks must hold the
// Tasks bound to this node only (fieldSelector spec.nodeName=<name>): an
// agent never caches the rest of the cluster.
func AddNodeAgent(mgr *controller.Manager, nodes informer.SharedIndexInformer[*kunosv1.Node], tasks informer.SharedIndexInformer[*kunosv1.Task], o NodeAgentOptions) error {
	if o.Capacity <= 0 {
		o.Capacity = 2
	}
	if o.HeartbeatInterval <= 0 {
		o.HeartbeatInterval = 2 * time.Second
	}
	a := &nodeAgent{
		NodeAgentOptions: o, nodes: nodes, tasks: tasks,
		nodeClient: client.For(mgr.Client(), kunosv1.Nodes),
		taskClient: client.For(mgr.Client(), kunosv1.Tasks),
		runs:       map[types.UID]context.CancelFunc{},
	}
	if _, err := tasks.AddEventHandler(informer.HandlerFuncs[*kunosv1.Task]{
		DeleteFunc: func(t *kunosv1.Task, _ bool) { a.stop(t.UID) },
	}, informer.WithName("agent-"+o.Name+"-deletions")); err != nil {
		return err
	}
	mine := func(e controller.Event[*kunosv1.Node]) bool { return e.Object.Name == o.Name }
	err := controller.New(mgr, "agent-"+o.Name+"-node", kunosv1.Nodes, controller.Options{
		// A failed heartbeat is retried no later than the next one was due.
		RateLimiter: workqueue.NewTypedItemExponentialFailureRateLimiter[controller.Request](5*time.Millisecond, o.HeartbeatInterval),
	}).
		For(nodes, mine, controller.GenerationChanged). // created, deleted, or its spec changed; heartbeats come from RequeueAfter
		Complete(wrap("agent-"+o.Name+"-node", controller.ReconcilerFunc(a.reconcileNode)))
	if err != nil {
		return err
	}
	return controller.New(mgr, "agent-"+o.Name, kunosv1.Tasks, controller.Options{MaxConcurrentReconciles: int(o.Capacity)}).
		For(tasks).
		Complete(wrap("agent-"+o.Name, controller.ReconcilerFunc(a.reconcileTask)))
}

// reconcileNode registers the Node if it is missing, sets its capacity, and
// heartbeats every HeartbeatInterval.
func (a *nodeAgent) reconcileNode(ctx context.Context, req controller.Request) (controller.Result, error) {
	node, err := a.nodes.Lister().Get(a.Name)
	if err != nil { // not in the cache: deleted (the server may have restarted empty)
		// The Node's event brings it back here, for the heartbeat.
		return controller.Result{}, registerNode(ctx, a.nodeClient, a.Name, a.Capacity)
	}
	if node.Spec.Capacity != a.Capacity {
		patch := fmt.Appendf(nil, `{"spec":{"capacity":%d}}`, a.Capacity)
		if _, err := a.nodeClient.Patch(ctx, a.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			return controller.Result{}, err
		}
	}
	// The agent alone writes its Node's status: a merge patch carries no
	// resourceVersion, so it cannot conflict.
	after := node.DeepCopy()
	now := metav1.Now()
	after.Status.HeartbeatTime, after.Status.RunningTasks = &now, a.running.Load()
	meta.SetStatusCondition(&after.Status.Conditions, metav1.Condition{
		Type: kunosv1.NodeReady, Status: metav1.ConditionTrue, Reason: "AgentHeartbeat",
		Message: "node agent is heartbeating", LastTransitionTime: now,
	})
	patch, err := controller.MergePatch(node, after)
	if err == nil {
		_, err = a.nodeClient.Patch(ctx, a.Name, types.MergePatchType, patch, metav1.PatchOptions{}, "status")
	}
	if apierrors.IsNotFound(err) {
		// Gone from the server while the cache still holds it (deleted, or
		// the server lost its data): register it now rather than retry
		// the heartbeat until the cache catches up.
		return controller.Result{RequeueAfter: a.HeartbeatInterval}, registerNode(ctx, a.nodeClient, a.Name, a.Capacity)
	}
	if err != nil {
		return controller.Result{}, err
	}
	return controller.Result{RequeueAfter: a.HeartbeatInterval}, nil
}

// registerNode creates the Node name unless it exists.
func registerNode(ctx context.Context, nodes *client.Resource[*kunosv1.Node], name string, capacity int32) error {
	node := &kunosv1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: kunosv1.NodeSpec{Capacity: capacity}}
	if _, err := nodes.Create(ctx, node, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("register Node %s: %w", name, err)
	}
	return nil
}

// reconcileTask runs a Task bound to this node to its end and reports its
// result. A Task found Running but not running here was started by an
// earlier agent that stopped: it runs again from the beginning. When the
// agent stops, or loses leadership, the Task is left Running for the next.
func (a *nodeAgent) reconcileTask(ctx context.Context, req controller.Request) (controller.Result, error) {
	task, err := a.tasks.Lister().Namespace(req.Namespace).Get(req.Name)
	if err != nil || taskDone(task) || task.Spec.NodeName != a.Name {
		return controller.Result{}, nil
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	a.mu.Lock()
	a.runs[task.UID] = cancel // registered before the Running write, which fails if the Task is already gone
	a.mu.Unlock()
	defer a.stop(task.UID)

	start := metav1.Now()
	if started, err := a.setStatus(ctx, task, func(s *kunosv1.TaskStatus) bool {
		if s.Phase == kunosv1.TaskSucceeded || s.Phase == kunosv1.TaskFailed {
			return false // our cache was behind: it finished already
		}
		s.Phase, s.StartTime, s.Message = kunosv1.TaskRunning, &start, "running on "+a.Name
		return true
	}); err != nil || !started {
		return controller.Result{}, err
	}
	if ts := task.Spec.TimeoutSeconds; ts != nil && *ts > 0 {
		var cancelTimeout context.CancelFunc
		runCtx, cancelTimeout = context.WithTimeout(runCtx, time.Duration(*ts)*time.Second)
		defer cancelTimeout()
	}
	a.running.Add(1)
	run := Simulate
	if a.Exec {
		run = execCommand
	}
	code, msg := run(runCtx, task.Spec.Command)
	a.running.Add(-1)
	if ctx.Err() != nil {
		return controller.Result{}, nil // stopping: the Task stays Running for the next agent
	}
	done := metav1.Now()
	_, err = a.setStatus(ctx, task, func(s *kunosv1.TaskStatus) bool {
		s.Phase = kunosv1.TaskSucceeded
		if code != 0 {
			s.Phase = kunosv1.TaskFailed
		}
		s.ExitCode, s.CompletionTime, s.Message = &code, &done, msg
		return true
	})
	return controller.Result{}, err
}

// stop cancels the run of the Task with this UID, if it runs here.
func (a *nodeAgent) stop(uid types.UID) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if cancel, ok := a.runs[uid]; ok {
		cancel()
		delete(a.runs, uid)
	}
}

// setStatus applies change to the server's latest status of task and
// writes it, again after a Conflict; change returns false to write nothing.
// It reports whether it wrote, and gives up quietly if the Task is gone.
func (a *nodeAgent) setStatus(ctx context.Context, task *kunosv1.Task, change func(*kunosv1.TaskStatus) bool) (bool, error) {
	tasks := a.taskClient.Namespace(task.Namespace)
	wrote := false
	err := controller.RetryOnConflict(ctx, controller.DefaultRetry, func(ctx context.Context) error {
		latest, err := tasks.Get(ctx, task.Name, metav1.GetOptions{})
		if err == nil && latest.UID == task.UID && change(&latest.Status) {
			_, err = tasks.UpdateStatus(ctx, latest, metav1.UpdateOptions{})
			wrote = err == nil
		}
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	})
	return wrote, err
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
