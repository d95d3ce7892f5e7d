// Package controllers holds the control loops of the job-controller example,
// each a Reconciler on the controller runtime (package controller):
//
//   - the Job controller ("job") turns a Job into Tasks: at most
//     spec.parallelism active, exactly spec.completions succeeded, failures
//     up to spec.backoffLimit; it writes the Job's status and deletes a
//     deleted Job's Tasks. Expectations keep a cache that lags behind its
//     own creations from making it create a Task twice.
//   - the scheduler ("scheduler") binds pending Tasks to Ready, schedulable
//     Nodes with free capacity.
//   - each node agent registers its Node and re-creates it if it disappears
//     ("agent-<name>-node"), heartbeats, and runs the Tasks bound to it, watching
//     only those (fieldSelector spec.nodeName=<name>), at most its capacity
//     at once ("agent-<name>").
//
// Add wires them all on a Manager. They read from the manager's informer
// caches, which are shared: every loop deep-copies before it changes an
// object.
package controllers
