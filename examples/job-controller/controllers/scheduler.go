package controllers

import (
	"context"
	"fmt"
	"sort"
	"time"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/cache"
	"github.com/kunos-io/listwatch/client"
	"github.com/kunos-io/listwatch/controller"
	"github.com/kunos-io/listwatch/informer"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Task indexes the scheduler adds.
const (
	// ByNodeIndex indexes Tasks by spec.nodeName.
	ByNodeIndex = "byNode"
	// PendingIndex holds, under the value "pending", the Tasks waiting for a
	// Node, so requeueing them costs their number, not the cluster's.
	PendingIndex = "pending"
)

// TaskByNode is the index function behind ByNodeIndex.
func TaskByNode(t *kunosv1.Task) ([]string, error) {
	if t.Spec.NodeName == "" {
		return nil, nil
	}
	return []string{t.Spec.NodeName}, nil
}

// TaskPending is the index function behind PendingIndex.
func TaskPending(t *kunosv1.Task) ([]string, error) {
	if t.Spec.NodeName == "" && !taskDone(t) {
		return []string{"pending"}, nil
	}
	return nil, nil
}

// HeartbeatTimeout is how old a Node's heartbeat may be before the scheduler
// stops placing Tasks on it.
const HeartbeatTimeout = 15 * time.Second

// scheduler binds each pending Task to the Ready, schedulable Node with the
// most free capacity. It runs one worker, so binds are decided one at a
// time and assumed needs no lock.
type scheduler struct {
	tasks  informer.SharedIndexInformer[*kunosv1.Task]
	nodes  informer.SharedIndexInformer[*kunosv1.Node]
	client *client.Resource[*kunosv1.Task]
	// assumed holds the binds written but not yet in the cache, so that a
	// cache behind our own writes does not overcommit a Node.
	assumed map[controller.Request]string
	events  controller.EventRecorder // as "scheduler", like kube-scheduler's default-scheduler
}

// AddScheduler adds the scheduler, named "scheduler", to mgr. It adds
// ByNodeIndex and PendingIndex to tasks: call it before mgr starts.
func AddScheduler(mgr *controller.Manager, tasks informer.SharedIndexInformer[*kunosv1.Task], nodes informer.SharedIndexInformer[*kunosv1.Node]) error {
	if err := tasks.Indexer().AddIndexers(cache.Indexers[*kunosv1.Task]{ByNodeIndex: TaskByNode, PendingIndex: TaskPending}); err != nil {
		return fmt.Errorf("scheduler: %w", err)
	}
	s := &scheduler{tasks: tasks, nodes: nodes, client: client.For(mgr.Client(), kunosv1.Tasks), assumed: map[controller.Request]string{},
		events: mgr.EventRecorder("scheduler")}
	pending := func(e controller.Event[*kunosv1.Task]) bool {
		return e.Type != controller.Delete && e.Object.Spec.NodeName == "" && !taskDone(e.Object)
	}
	freesCapacity := func(e controller.Event[*kunosv1.Task]) bool {
		return e.Object.Spec.NodeName != "" && (e.Type == controller.Delete || e.Type == controller.Update && taskDone(e.Object) && !taskDone(e.Old))
	}
	return controller.New(mgr, "scheduler", kunosv1.Tasks, controller.Options{MaxConcurrentReconciles: 1}).
		For(tasks, pending).
		Watches(controller.Mapped(tasks, func(*kunosv1.Task) []controller.Request { return s.pending() }, freesCapacity)).
		// A Node registered, Ready again or changed may make room.
		Watches(controller.Mapped(nodes, func(*kunosv1.Node) []controller.Request { return s.pending() })).
		Complete(wrap("scheduler", s))
}

// pending returns the Requests of every pending Task, from PendingIndex.
func (s *scheduler) pending() []controller.Request {
	tasks, _ := s.tasks.Indexer().ByIndex(PendingIndex, "pending")
	reqs := make([]controller.Request, len(tasks))
	for i, t := range tasks {
		reqs[i] = controller.Request{Namespace: t.Namespace, Name: t.Name}
	}
	return reqs
}

func taskDone(t *kunosv1.Task) bool {
	return t.Status.Phase == kunosv1.TaskSucceeded || t.Status.Phase == kunosv1.TaskFailed
}

func (s *scheduler) Reconcile(ctx context.Context, req controller.Request) (controller.Result, error) {
	task, err := s.tasks.Lister().Namespace(req.Namespace).Get(req.Name)
	if _, bound := s.assumed[req]; err != nil || bound || task.Spec.NodeName != "" || taskDone(task) {
		return controller.Result{}, nil // gone, bound or done
	}
	node := s.pickNode(time.Now())
	if node == "" {
		return controller.Result{RequeueAfter: time.Second}, nil // no room now; a Node or Task event may bring it back sooner
	}
	bound := task.DeepCopy()
	bound.Spec.NodeName = node
	// The Update carries the cached resourceVersion: if the Task changed
	// since, the server answers 409 and the retry reads a fresher cache.
	if _, err := s.client.Namespace(req.Namespace).Update(ctx, bound, metav1.UpdateOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			return controller.Result{}, nil
		}
		return controller.Result{}, fmt.Errorf("bind to %s: %w", node, err)
	}
	s.assumed[req] = node
	s.events.Eventf(task, corev1.EventTypeNormal, "Scheduled", "Successfully assigned %s/%s to %s", task.Namespace, task.Name, node)
	return controller.Result{}, nil
}

// pickNode returns the Ready, schedulable Node with the most free capacity,
// or "" if none has room.
func (s *scheduler) pickNode(now time.Time) string {
	assumedOn := map[string]int32{}
	for req, node := range s.assumed {
		if t, err := s.tasks.Lister().Namespace(req.Namespace).Get(req.Name); err != nil || t.Spec.NodeName != "" {
			delete(s.assumed, req) // the cache shows the bind now, or the Task is gone
		} else {
			assumedOn[node]++
		}
	}
	nodes, _ := s.nodes.Lister().List(labels.Everything())
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })
	best, bestFree := "", int32(0)
	for _, n := range nodes {
		if !NodeReady(n, now) || n.Spec.Unschedulable {
			continue
		}
		if free := n.Spec.Capacity - s.activeOn(n.Name) - assumedOn[n.Name]; free > bestFree {
			best, bestFree = n.Name, free
		}
	}
	return best
}

func (s *scheduler) activeOn(node string) int32 {
	tasks, _ := s.tasks.Indexer().ByIndex(ByNodeIndex, node)
	var n int32
	for _, t := range tasks {
		if !taskDone(t) {
			n++
		}
	}
	return n
}

// NodeReady reports whether n has a true Ready condition and a recent heartbeat.
func NodeReady(n *kunosv1.Node, now time.Time) bool {
	if !meta.IsStatusConditionTrue(n.Status.Conditions, kunosv1.NodeReady) {
		return false
	}
	return n.Status.HeartbeatTime != nil && now.Sub(n.Status.HeartbeatTime.Time) < HeartbeatTimeout
}
