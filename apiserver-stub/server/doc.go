// Package server serves the kunos.io/v1 API (Nodes, Tasks, Jobs), and the
// built-in kinds controllers need (coordination.k8s.io/v1 Leases for leader
// election, core v1 Events for kubectl describe), with the Kubernetes REST
// and watch protocol over a storage.Interface, so that stock kubectl and
// unmodified client-go informers work against it as against kube-apiserver.
// Each resource is one Resource descriptor (Go type, GVR, kind, scope,
// selectable fields, table columns): see Resources.
//
// What it serves (see /work/shared/reference/kubernetes-wire-protocol.md):
//
//   - /apis/GROUP/VERSION/[namespaces/NS/]RESOURCE[/NAME[/status]] and, for
//     Events, /api/v1/[namespaces/NS/]events[/NAME]: create, get, list,
//     update, patch (JSON merge patch and JSON patch; strategic merge patch
//     for the built-in kinds), delete,
//     and watch (?watch=true) over chunked HTTP or, on the same URL, over a
//     WebSocket. Every error is a metav1.Status with kube-apiserver's code
//     and reason.
//   - List: label and field selectors, limit/continue with consistent
//     pages, resourceVersion and resourceVersionMatch semantics, 410 Expired
//     below the compacted revision, 504 ResourceVersionTooLarge above the
//     current one.
//   - Watch: from "", "0" (initial ADDED events, then the
//     k8s.io/initial-events-end bookmark when bookmarks are allowed, as
//     1.34+ servers default), from N (every later event, in order), watch-list
//     (sendInitialEvents=true), periodic bookmarks, timeoutSeconds, an ERROR
//     event with 410 Expired when N is compacted.
//   - Discovery (/api, /api/v1, /apis, /apis/GROUP, /apis/GROUP/VERSION;
//     not the aggregated form), /version, /healthz,
//     /readyz, /livez, an OpenAPI v3 index that lets kubectl validate
//     server-side, Table output for kubectl get, and /metrics (with the
//     Go and process collectors when the server makes its own registry).
//
// Field selectors take metadata.name, metadata.namespace and each kind's
// own fields: Task spec.nodeName and status.phase; Event
// involvedObject.{kind,namespace,name,uid,apiVersion,resourceVersion,fieldPath},
// reason, reportingComponent, source and type, as kube-apiserver has them.
//
// Write semantics of kunos.io/v1 are those of custom resources with a status
// subresource: create sets uid, creationTimestamp, generation 1 and drops
// .status; an update (PUT, or PATCH with JSON merge patch or JSON patch)
// of the main resource keeps the stored .status and bumps generation when
// .spec changes; /status changes .status only; update requires
// metadata.resourceVersion; an update that changes nothing writes nothing;
// delete of an object with finalizers only sets deletionTimestamp. Leases
// and Events have no status subresource and no generation.
//
// Hostile input is refused as kube-apiserver refuses it, before anything is
// written (hostile_test.go holds the table): the options of every write
// and delete are decoded and validated first (400, 422), so a DELETE with
// an invalid propagationPolicy or gracePeriodSeconds keeps the object; a
// create that sets metadata.resourceVersion gets the 500 kube-apiserver's
// storage answers; writes without a resourceVersion (patches, deletes)
// retry a lost race until they apply; a failed WebSocket upgrade answers a
// Status; ?watch= and other booleans read as kube-apiserver reads them.
// Every request but a watch is bounded by Config.RequestTimeout (504
// Timeout, ?timeout= lowers it) and its body by Config.BodyReadTimeout; a
// watch whose client does not read is cut after Config.WatchWriteTimeout.
//
// Watch delivery cannot starve writers (watch.go, flushgate.go): a watch
// gathers its events in a buffer and writes them to its connection only
// in one of a few flush slots (Config.WatchFlushConcurrency, one per two
// CPUs). An idle server has a slot free, so an event goes out at once; a
// busy one writes many events per write(2) and wakes each watch once per
// batch, not once per event.
//
// Security is a filter in front of routing (filter.go): Config.Authenticator
// (401 Unauthorized), Config.Authorizer with the attributes of
// authz.RequestAttributes (403 Forbidden, with kube-apiserver's message),
// then Config.Audit. The handlers and the store know nothing of it. RBAC
// reads its policy from the store through StorePolicy; the
// rbac.authorization.k8s.io/v1 kinds are ordinary stored resources, and
// SelfSubjectAccessReview and SelfSubjectReview are create-only reviews
// (Resource.Review). Bodies of the k8s.io/api kinds may be protobuf, as
// kubectl's typed clients send them.
//
// Objects are encoded once, by the store (via Codec); lists and watch
// events copy those bytes and never re-encode them. Fault injection for
// tests: DropWatches, StallWatches, SetBookmarkInterval; package stubtest
// wraps them around a real listener.
package server
