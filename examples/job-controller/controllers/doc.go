// Package controllers holds the three control loops of the job-controller
// example, each written the way a listwatch controller should be:
//
//   - JobController turns a Job into Tasks: it keeps at most spec.parallelism
//     Tasks active, stops at spec.completions succeeded, retries failures up
//     to spec.backoffLimit, maintains the Job's status and deletes a deleted
//     Job's Tasks.
//   - Scheduler assigns unscheduled Tasks to Ready, schedulable Nodes with free
//     capacity.
//   - NodeAgent registers one Node, heartbeats, watches only the Tasks bound
//     to it (fieldSelector spec.nodeName=<node>), runs them and reports status.
//
// Each loop reads from informer caches (listers and indexes), reacts to
// informer events by enqueueing keys into a rate-limited workqueue, and
// writes through the typed client with optimistic concurrency. Objects from
// a cache are shared: every loop deep-copies before it changes one.
package controllers
