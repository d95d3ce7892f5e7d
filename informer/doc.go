// Package informer keeps typed, indexed caches of Kubernetes-style
// collections in step with a server and delivers their changes to handlers.
//
// A SharedIndexInformer[T] runs a reflector (list, then watch, relist on
// 410) that fills a cache.Indexer[T], and tells every registered Handler[T]
// about each change:
//
//	tasks := client.For(c, kunosv1.Tasks).Namespace("default") // a lister-watcher itself
//	var opts informer.Options[*kunosv1.Task]
//	opts.Name = "tasks" // the embedded reflector.Options: one Name, Logger, Clock for both
//	inf := informer.New(tasks, opts)
//	reg, err := inf.AddEventHandler(informer.HandlerFuncs[*kunosv1.Task]{
//		AddFunc:    func(t *kunosv1.Task, isInInitialList bool) { queue.Add(key(t)) },
//		UpdateFunc: func(old, t *kunosv1.Task) { queue.Add(key(t)) },
//		DeleteFunc: func(t *kunosv1.Task, finalStateUnknown bool) { queue.Add(key(t)) },
//	}, informer.WithName("task-controller"))
//	go inf.Run(ctx)
//	informer.WaitForCacheSync(ctx, reg.HasSynced)
//
// Most programs build informers through a Factory, which shares one informer
// per resource, Go type, namespace and selectors, starts and stops them
// together, stops one on its own (Remove), and reports readiness
// (ReadyzHandler). For takes a resource.Descriptor and infers the informer's
// type from it, and refuses at once what could never list (a namespace on a
// cluster-scoped resource, a selector on a field the resource lacks):
//
//	tasks, err := informer.For(f, kunosv1.Tasks, informer.WithFieldSelector("spec.nodeName=node-1"))
//
// # Notifications
//
// Handlers are typed and objects are never nil: a delete carries the
// object's last known state, with finalStateUnknown set when the deletion
// was learnt from a relist rather than a watch event, so there is no
// tombstone type to assert. Objects are shared with the cache and with other
// handlers: deep-copy before changing one.
//
// A relist replaces the cache atomically, then notifies only real changes:
// adds, deletes (finalStateUnknown) and updates whose resourceVersion
// changed. A resync (Options.ResyncPeriod, WithResyncPeriod) calls
// OnUpdate(obj, obj) for every cached object.
//
// A handler added to a running informer first gets OnAdd(obj, true) for
// everything in the cache, then every later change, with no gap and no
// duplicate. Its Registration's HasSynced turns true once the informer has
// synced and those initial notifications were handled.
//
// # Delivery
//
// Each registration has its own goroutine and buffer, so a slow handler
// never delays another; what happens when a handler falls behind is its
// Delivery policy:
//
//   - Unbounded (default): every notification, in order, through a buffer
//     that grows as needed (client-go's behaviour) and shrinks once
//     drained. Nothing is lost and the informer never waits.
//   - Coalesce: in order while the handler keeps up (a window of
//     BufferSize); past it, one pending entry per key: the handler sees
//     each key's latest state in order, intermediate states may be
//     skipped, and an object added and deleted while both wait in that
//     backlog is dropped entirely, so a handler that counts adds or
//     deletes must not use it. Memory is bounded by the window plus the
//     number of keys, and the informer never waits for the handler.
//   - Block: every notification, in order, through a buffer of BufferSize;
//     when full, the informer waits (backpressure).
//
// Per key, every policy delivers states in resourceVersion order, and an
// update's old object is the state that handler last saw. A panicking
// handler is recovered, logged and counted (MetricsHook.HandlerPanicked),
// and keeps receiving. No lock of the informer is held while handler code
// runs, so a handler may call back into the informer (under Block, a
// handler that adds a handler to its own informer while that informer waits
// for it makes the new registration wait until the informer moves on).
//
// RemoveEventHandler stops delivery at once (a call in progress finishes);
// RemoveEventHandlerAndWait also waits until the handler's goroutine ended.
package informer
