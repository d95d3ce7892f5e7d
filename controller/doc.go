// Package controller runs reconcilers: a controller is its Reconcile
// function and a few lines of wiring, as with controller-runtime, typed
// with generics and without tombstones.
//
//	mgr, err := controller.NewManager(&client.Config{Host: url}, controller.ManagerOptions{MetricsAddr: ":9090"})
//	jobs, err := informer.For(mgr.Factory(), kunosv1.Jobs)   // SharedIndexInformer[*kunosv1.Job]
//	tasks, err := informer.For(mgr.Factory(), kunosv1.Tasks) // SharedIndexInformer[*kunosv1.Task]
//	err = controller.New(mgr, "job", kunosv1.Jobs, controller.Options{MaxConcurrentReconciles: 4}).
//		For(jobs, controller.GenerationChanged).
//		Owns(controller.Owned(tasks)).
//		Complete(controller.ReconcilerFunc(func(ctx context.Context, req controller.Request) (controller.Result, error) {
//			job, err := jobs.Lister().Namespace(req.Namespace).Get(req.Name)
//			...
//			owned, err := controller.ListOwned(tasks, job) // an index, not a scan
//			...
//		}))
//	err = mgr.Start(ctx) // until ctx ends
//
// # Reconcile
//
// A Reconciler gets a Request (namespace and name) and reads the object
// from a cache; it is called again whenever the object, one of the objects
// it owns (Owns) or anything mapped to it (Watches) changes, with events
// coalesced: it must be level-based and idempotent. Its return decides
// what happens next: a zero Result is done; Result.RequeueAfter comes back
// after a delay; an error comes back after the rate limiter's backoff (5 ms
// doubling to 1000 s by default), unless it is a TerminalError, which is
// logged, counted and not retried. A panic is recovered, logged with its
// stack, counted and retried like an error. Up to MaxConcurrentReconciles
// Requests are reconciled at once, never the same one twice at once: the
// workqueue hands a Request to one worker at a time and queues it again if
// it changes meanwhile.
//
// # Wiring
//
// New starts a Builder for the primary objects of a resource.Descriptor[T]
// (kunosv1.Jobs), which fixes T. For takes an informer of T and
// predicates of type Predicate[T] (without For, the manager's factory
// supplies the informer); Owns and Watches take sources made by
// Owned and Mapped, generic functions that check an informer against its
// predicates and map function, because Go methods cannot have type
// parameters of their own. Every type is checked when compiling; wiring
// mistakes the compiler cannot see are errors from Complete.
//
// Owns maps an owned object to the Request of its controller owner (the
// ownerReference with controller: true) and adds OwnerUIDIndex to the owned
// informer; ListOwned reads it to find an owner's objects without a scan.
// Predicates (GenerationChanged, LabelsChanged, AnnotationsChanged, Or,
// Not, or any func(Event[T]) bool) drop events before they are mapped.
//
// # Manager
//
// A Manager owns the client, the informer factory, the metrics and the
// /metrics, /healthz and /readyz endpoints (ready once every cache is
// synced). Start runs everything until its context ends; then the
// controllers stop taking Requests, reconciles in progress finish (their
// context is cancelled after GracefulShutdownTimeout), and the informers
// stop. With ManagerOptions.LeaderElection the caches run from Start but
// the controllers only while this replica leads (see Elector); a lost
// leadership cancels reconciles in progress at once.
//
// # Leader election
//
// NewLeaseElector returns an Elector over a coordination.k8s.io/v1 Lease
// (the k8s.io/api type, through the REST API: it works against a real
// kube-apiserver as against apiserver-stub) with client-go's semantics and
// defaults: LeaseDuration 15s, RenewDeadline 10s, RetryPeriod 2s, release
// on cancel. Give it to ManagerOptions.LeaderElection:
//
//	el, err := controller.NewLeaseElector(cfg, controller.LeaseElectorOptions{Name: "job-controller", Namespace: "kube-system"})
//	mgr, err := controller.NewManager(cfg, controller.ManagerOptions{LeaderElection: el})
//
// A replica takes the Lease when it has no holder or its holder has not
// renewed it for LeaseDuration, as observed locally; the leader renews it
// every RetryPeriod and stops leading (its reconciles are cancelled) when
// it could not renew within RenewDeadline of its last renewal, which is
// before any other replica may take over; every write is conditional on
// the Lease's resourceVersion. A leader that stops releases the Lease
// after its reconciles drained, so another takes over within a
// RetryPeriod or two. leader_election_master_status{name} is 1 on the
// leader, 0 on the others; leader_election_slowpath_total{name} counts
// renewals that had to read the Lease first.
//
// # Events
//
// Manager.EventRecorder(component) returns a Recorder whose Event and
// Eventf write core v1 Events about an object the way client-go's
// recorder does, so that kubectl describe and kubectl get events show
// them: involvedObject from the object (its kind from the object or the
// client's scheme), the component as source, firstTimestamp,
// lastTimestamp and count; a repeat is patched into the first event's
// count; ten distinct messages of one reason within ten minutes become
// one "(combined from similar events)" event; a spam filter lets 25
// events per source and object through, then one per five minutes.
// Recording never blocks a reconciler: events wait in a queue of 1000
// (more are dropped, counted in controller_events_dropped_total{reason})
// for the Manager's writer, which runs while the Manager runs.
//
// # Metrics
//
// controller-runtime's names, labels and buckets, so its dashboards work:
//
//	| metric                                             | type      | labels             |
//	|----------------------------------------------------|-----------|--------------------|
//	| controller_runtime_reconcile_total                 | counter   | controller, result |
//	| controller_runtime_reconcile_errors_total          | counter   | controller         |
//	| controller_runtime_terminal_reconcile_errors_total | counter   | controller         |
//	| controller_runtime_reconcile_panics_total          | counter   | controller         |
//	| controller_runtime_reconcile_time_seconds          | histogram | controller         |
//	| controller_runtime_active_workers                  | gauge     | controller         |
//	| controller_runtime_max_concurrent_reconciles       | gauge     | controller         |
//
// result is success, error, requeue_after or requeue; requeue stays 0
// (Result has no Requeue flag: return an error or RequeueAfter). Errors
// count terminal errors and panics too. Each controller's workqueue is
// named after it and reports the workqueue_* metrics; the manager's client
// and informers report rest_client_*, reflector_* and informer_* (see
// package metrics), all in ManagerOptions.Registerer.
//
// # Helpers
//
// RetryOnConflict retries a read-modify-write on 409 Conflict; MergePatch
// computes a merge patch from a before/after pair; Expectations tell a
// controller when its cache has caught up with its own creations and
// deletions, with client-go's semantics.
package controller
