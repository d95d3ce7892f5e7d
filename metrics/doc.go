// Package metrics exports listwatch's moving parts as Prometheus metrics,
// through the hook interfaces that the workqueue, reflector, informer and
// client packages define. It is the only listwatch package that imports
// prometheus/client_golang; the others depend on small interfaces, so a
// program that does not want Prometheus does not pay for it.
//
// Wiring, by hand:
//
//	reg := prometheus.NewRegistry()
//	m := metrics.New(reg)
//	c, err := client.New(&client.Config{Host: url, Metrics: m.Client()})
//	tasks := client.For(c, kunosv1.Tasks).Namespace("default")
//	opts := informer.Options[*kunosv1.Task]{InformerMetrics: m.Informer("tasks")}
//	opts.Name, opts.Metrics = "tasks", m.Reflector("tasks") // same name: stopping the informer removes both
//	inf := informer.New(tasks, opts)
//	q := workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
//		workqueue.TypedRateLimitingQueueConfig[string]{Name: "tasks", MetricsProvider: m.WorkqueueProvider()})
//	http.Handle("/metrics", metrics.Handler(reg))
//
// or through an informer Factory, which asks m for both hooks of every
// informer it builds, under the informer's name:
//
//	f := informer.NewFactory(c, informer.FactoryOptions{MetricsProvider: m})
//
// # Metrics
//
// Names follow Prometheus conventions and, where Kubernetes has the metric,
// Kubernetes' name, type, labels and buckets, so existing dashboards work:
// the workqueue_* metrics are component-base's exactly. Two differences:
// rest_client_* keep Kubernetes' names but are labelled by Kubernetes verb
// and resource rather than HTTP method and host (a client talks to one
// server), and the reflector_* metrics, which Kubernetes removed in 1.14
// because they leaked, are back with bounded labels and deletion on stop.
//
//	| metric                                      | type      | labels               | meaning |
//	|---------------------------------------------|-----------|----------------------|---------|
//	| workqueue_depth                             | gauge     | name                 | items added and not yet taken by Get (one re-added while in processing counts; delayed ones do not) |
//	| workqueue_adds_total                        | counter   | name                 | Add calls |
//	| workqueue_queue_duration_seconds            | histogram | name                 | time from the first Add of an item to the Get that took it; buckets 1e-8..10 s (x10) |
//	| workqueue_work_duration_seconds             | histogram | name                 | time from Get to Done; same buckets |
//	| workqueue_unfinished_work_seconds           | gauge     | name                 | sum of the ages of items in processing, refreshed every 500 ms: grows while a worker is stuck |
//	| workqueue_longest_running_processor_seconds | gauge     | name                 | age of the item in processing the longest |
//	| workqueue_retries_total                     | counter   | name                 | AddAfter / AddRateLimited calls |
//	| reflector_lists_total                       | counter   | name                 | full syncs (paged list or watch-list), failed ones included |
//	| reflector_list_duration_seconds             | histogram | name                 | duration of those syncs; buckets 5 ms..120 s |
//	| reflector_watches_total                     | counter   | name                 | watches the server accepted |
//	| reflector_watch_events_total                | counter   | name, type           | watch events by type: ADDED, MODIFIED, DELETED, BOOKMARK, ERROR, unknown |
//	| reflector_relists_total                     | counter   | name, reason         | relists by reason: expired (410), too-large (504 RV too large), error (a broken stream), watchdog (a silent watch restarted) |
//	| reflector_last_resource_version             | gauge     | name                 | last resourceVersion synced, as a number (15 least significant digits); absent until one is seen |
//	| reflector_last_event_timestamp_seconds      | gauge     | name                 | Unix time the reflector last heard from the server (successful list, event or bookmark) |
//	| reflector_seconds_since_last_event          | gauge     | name                 | seconds since then, computed at scrape time; alert on it to catch a stalled watch |
//	| informer_store_objects                      | gauge     | name                 | objects in the informer's cache |
//	| informer_synced                             | gauge     | name                 | 1 once the initial list is in the cache, else 0 |
//	| informer_pending_notifications              | gauge     | name, handler        | notifications (under the coalescing policy: keys) waiting for a handler |
//	| informer_handler_duration_seconds           | histogram | name, handler        | time one handler call took; buckets 1 ms..10 s |
//	| informer_coalesced_notifications_total      | counter   | name, handler        | notifications merged into a pending one for the same key |
//	| informer_handler_panics_total               | counter   | name, handler        | handler calls that panicked and were recovered |
//	| rest_client_requests_total                  | counter   | verb, resource, code | HTTP attempts by verb, plural resource and status code ("<error>" when no response) |
//	| rest_client_request_duration_seconds        | histogram | verb, resource       | attempt latency (a watch: until its headers); buckets 5 ms..60 s |
//
// # Bounded labels
//
// Label values come from names the program chooses (queue, reflector,
// informer and handler names), verbs, resources, status codes, event types
// and relist reasons. No label ever carries an object name or anything else
// that grows with the data. Event types come off the wire, so anything
// outside the five the protocol defines is counted as "unknown".
//
// An informer's or reflector's series appear with its first report (its
// counters at 0), so a hook handed to something that never runs leaves
// nothing behind; a queue's appear when it is built. They go when the
// component reports its end: a queue's on ShutDown
// (DeleteQueueMetrics), a handler's on RemoveEventHandler (HandlerRemoved),
// an informer's and its reflector's on stop (Stopped). A late report from a
// stopping component never brings a deleted series back. This is the leak
// that made Kubernetes remove its reflector metrics in 2019 (k/k#73587):
// here a program that creates and stops informers in a loop keeps a
// constant number of series.
//
// Live components that share a name share their series; give them
// distinct names. A component with an empty name records nothing.
package metrics
