package controllers

import (
	"context"
	"fmt"
	"time"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/client"
	"github.com/kunos-io/listwatch/controller"
	"github.com/kunos-io/listwatch/informer"
)

// Options configure the example's controllers.
type Options struct {
	JobWorkers   int   // Job controller workers (default 2)
	Nodes        int   // node agents, named node-1, node-2, ...
	NodeCapacity int32 // Tasks each node runs at once (default 2)
	// Exec runs spec.command for real instead of simulating it.
	Exec              bool
	HeartbeatInterval time.Duration // default 2s
}

// Add wires the Job controller, the scheduler and o.Nodes node agents on
// mgr, over informers from its factory; they run with mgr.Start, and with
// ManagerOptions.LeaderElection only while this replica leads, node agents
// included. Call RegisterNodes too.
func Add(mgr *controller.Manager, o Options) error {
	o = o.withDefaults()
	f := mgr.Factory()
	jobs, err := informer.For(f, kunosv1.Jobs)
	if err != nil {
		return err
	}
	tasks, err := informer.For(f, kunosv1.Tasks)
	if err != nil {
		return err
	}
	nodes, err := informer.For(f, kunosv1.Nodes)
	if err != nil {
		return err
	}
	if err := AddJobController(mgr, jobs, tasks, o.JobWorkers); err != nil {
		return err
	}
	if err := AddScheduler(mgr, tasks, nodes); err != nil {
		return err
	}
	for _, name := range nodeNames(o) {
		// Each agent watches only its own Tasks, like a kubelet.
		own, err := informer.For(f, kunosv1.Tasks, informer.WithFieldSelector("spec.nodeName="+name))
		if err != nil {
			return err
		}
		if err := AddNodeAgent(mgr, nodes, own, NodeAgentOptions{
			Name: name, Capacity: o.NodeCapacity, Exec: o.Exec, HeartbeatInterval: o.HeartbeatInterval,
		}); err != nil {
			return err
		}
	}
	return nil
}

// RegisterNodes creates the Nodes of the agents Add wires, unless they
// exist; call it before the manager starts. The agents re-create their Node
// whenever it disappears later, but a Node that never existed sends them
// no event: the runtime has no way to reconcile an object nothing names.
func RegisterNodes(ctx context.Context, c *client.Client, o Options) error {
	o = o.withDefaults()
	nodes := client.For(c, kunosv1.Nodes)
	for _, name := range nodeNames(o) {
		if err := registerNode(ctx, nodes, name, o.NodeCapacity); err != nil {
			return err
		}
	}
	return nil
}

// wrapReconciler, if set (tests set it, before wiring), wraps every
// reconciler this package wires, given the controller's name: a fence
// that sees every reconcile of every replica.
var wrapReconciler func(name string, r controller.Reconciler) controller.Reconciler

func wrap(name string, r controller.Reconciler) controller.Reconciler {
	if wrapReconciler == nil {
		return r
	}
	return wrapReconciler(name, r)
}

func (o Options) withDefaults() Options {
	if o.JobWorkers <= 0 {
		o.JobWorkers = 2
	}
	if o.NodeCapacity <= 0 {
		o.NodeCapacity = 2
	}
	return o
}

func nodeNames(o Options) []string {
	names := make([]string, o.Nodes)
	for i := range names {
		names[i] = fmt.Sprintf("node-%d", i+1)
	}
	return names
}
