package controllers

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
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

// Scheduler binds unscheduled Tasks to Nodes.
type Scheduler struct {
	tasks        *client.Resource[*kunosv1.Task]
	taskInformer informer.SharedIndexInformer[*kunosv1.Task]
	nodeInformer informer.SharedIndexInformer[*kunosv1.Node]
	queue        workqueue.TypedRateLimitingInterface[string]
	log          *slog.Logger

	// assumed holds binds written to the server but not yet seen in the
	// cache, so that a stale cache does not overcommit a Node.
	mu      sync.Mutex
	assumed map[string]string // task key -> node name
}

// NewScheduler wires a Scheduler to its informers; call before they start.
func NewScheduler(c *client.Client, tasks informer.SharedIndexInformer[*kunosv1.Task], nodes informer.SharedIndexInformer[*kunosv1.Node], provider workqueue.MetricsProvider, log *slog.Logger) (*Scheduler, error) {
	if log == nil {
		log = slog.Default()
	}
	s := &Scheduler{
		tasks:        client.For[*kunosv1.Task](c, kunosv1.TasksResource),
		taskInformer: tasks,
		nodeInformer: nodes,
		queue:        newQueue("scheduler", provider),
		log:          log.With("controller", "scheduler"),
		assumed:      map[string]string{},
	}
	if err := tasks.Indexer().AddIndexers(cache.Indexers[*kunosv1.Task]{ByNodeIndex: TaskByNode, PendingIndex: TaskPending}); err != nil {
		return nil, fmt.Errorf("scheduler: add task index: %w", err)
	}
	if _, err := tasks.AddEventHandler(informer.HandlerFuncs[*kunosv1.Task]{
		AddFunc:    func(t *kunosv1.Task, _ bool) { s.onTask(t) },
		UpdateFunc: func(_, t *kunosv1.Task) { s.onTask(t) },
		DeleteFunc: func(t *kunosv1.Task, _ bool) { s.forget(t); s.requeueAllPending() },
	}, informer.WithName("scheduler")); err != nil {
		return nil, err
	}
	// A Node becoming Ready or gaining capacity may unblock pending Tasks.
	if _, err := nodes.AddEventHandler(informer.HandlerFuncs[*kunosv1.Node]{
		AddFunc:    func(*kunosv1.Node, bool) { s.requeueAllPending() },
		UpdateFunc: func(*kunosv1.Node, *kunosv1.Node) { s.requeueAllPending() },
	}, informer.WithName("scheduler")); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Scheduler) onTask(t *kunosv1.Task) {
	if t.Spec.NodeName != "" {
		s.forget(t)
		if taskDone(t) {
			s.requeueAllPending() // capacity freed
		}
		return
	}
	if key, err := cache.MetaNamespaceKeyFunc(t); err == nil {
		s.queue.Add(key)
	}
}

func (s *Scheduler) forget(t *kunosv1.Task) {
	key, _ := cache.MetaNamespaceKeyFunc(t)
	s.mu.Lock()
	delete(s.assumed, key)
	s.mu.Unlock()
}

func (s *Scheduler) requeueAllPending() {
	keys, err := s.taskInformer.Indexer().IndexKeys(PendingIndex, "pending")
	if err != nil {
		s.log.Error("list pending tasks", "err", err)
		return
	}
	for _, key := range keys {
		s.queue.Add(key)
	}
}

func taskDone(t *kunosv1.Task) bool {
	return t.Status.Phase == kunosv1.TaskSucceeded || t.Status.Phase == kunosv1.TaskFailed
}

// Run waits for the caches, then schedules until ctx ends. One worker keeps
// capacity accounting simple: binds are decided one at a time.
func (s *Scheduler) Run(ctx context.Context) {
	if !informer.WaitForCacheSync(ctx, s.taskInformer.HasSynced, s.nodeInformer.HasSynced) {
		return
	}
	s.log.Info("started")
	runWorkers(ctx, "scheduler", s.queue, 1, s.sync, s.log)
}

func (s *Scheduler) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	task, err := s.taskInformer.Lister().Namespace(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	s.mu.Lock()
	_, alreadyBound := s.assumed[key]
	s.mu.Unlock()
	if task.Spec.NodeName != "" || taskDone(task) || alreadyBound {
		return nil
	}
	node := s.pickNode(time.Now())
	if node == "" {
		// No room now; a Node or Task event requeues, and so does this.
		s.queue.AddAfter(key, time.Second)
		return nil
	}
	bound := task.DeepCopy()
	bound.Spec.NodeName = node
	// Update carries the cached resourceVersion: if the Task changed since,
	// the server answers 409 and the key is retried with a fresh cache.
	if _, err := s.tasks.Namespace(ns).Update(ctx, bound, metav1.UpdateOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("bind task %s to %s: %w", key, node, err)
	}
	s.mu.Lock()
	s.assumed[key] = node
	s.mu.Unlock()
	s.log.Debug("bound", "task", key, "node", node)
	return nil
}

// pickNode returns the Ready, schedulable Node with the most free capacity,
// or "" if none has room.
func (s *Scheduler) pickNode(now time.Time) string {
	nodes, err := s.nodeInformer.Lister().List(labels.Everything())
	if err != nil {
		return ""
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })
	s.mu.Lock()
	assumedOn := map[string]int32{}
	for _, n := range s.assumed {
		assumedOn[n]++
	}
	s.mu.Unlock()
	best, bestFree := "", int32(0)
	for _, n := range nodes {
		if !NodeReady(n, now) || n.Spec.Unschedulable {
			continue
		}
		free := n.Spec.Capacity - s.activeOn(n.Name) - assumedOn[n.Name]
		if free > bestFree {
			best, bestFree = n.Name, free
		}
	}
	return best
}

func (s *Scheduler) activeOn(node string) int32 {
	tasks, _ := s.taskInformer.Indexer().ByIndex(ByNodeIndex, node)
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
