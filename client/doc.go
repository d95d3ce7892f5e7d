// Package client is a typed REST client for Kubernetes-style APIs: CRUD,
// paged lists and watches over chunked HTTP or WebSocket, against
// apiserver-stub or a real kube-apiserver.
//
// A Client holds the connection settings (host, credentials, TLS, rate
// limit); For binds it to one resource, given by its resource.Descriptor,
// which also fixes the Go type:
//
//	c, err := client.New(&client.Config{Host: "https://127.0.0.1:6443", BearerToken: tok})
//	tasks := client.For(c, kunosv1.Tasks).Namespace("default")
//	t, err := tasks.Get(ctx, "build-1", metav1.GetOptions{})
//
// Dynamic works for any resource without a Go type, with
// *unstructured.Unstructured objects. The client has no scheme and no API
// group of its own: the descriptor says the kind every object must have.
// A namespace that does not fit the descriptor's scope (one on a
// cluster-scoped resource, none on a namespaced create) fails at once with
// an error wrapping resource.ErrScope, before any request.
//
// Errors returned for non-2xx responses are apimachinery API errors
// (k8s.io/apimachinery/pkg/api/errors), so apierrors.IsNotFound,
// IsConflict, IsResourceExpired and friends work on them. Transport errors
// are wrapped with the verb, resource, namespace and name.
//
// Watch returns a watch.Interface whose events carry objects of type T
// (and *metav1.Status for ERROR events). A malformed event ends the stream
// with one final ERROR event (code 500) instead of a panic or a silent
// close. A Resource is itself a reflector.ListerWatcher[T] (the package
// does not import the reflector: the methods match), and ListerWatcher
// adds fixed selectors to one.
//
// Requests are rate limited (Config.QPS/Burst; a watch counts once, when
// it starts). Responses 429 and 5xx carrying Retry-After are retried up to
// 10 times, honouring the header and the context, and a GET whose
// connection drops is retried after a second, both like client-go.
//
// Several replicas of one API server (one store, shared resourceVersions)
// are given with Config.Hosts. The client sticks to one of them; on a
// connection error or a 503 it moves to the next, retrying the request
// there when that cannot do anything twice (reads, watches and deletes
// always, writes only when they never left the client), and a watch whose
// stream breaks sends the reflector's re-watch to another replica, so an
// informer resumes from its last resourceVersion without a relist:
//
//	c, err := client.New(&client.Config{Hosts: []string{"https://api-0:6443", "https://api-1:6443"}})
//
// Objects returned by the client are owned by the caller; objects passed in
// are not modified. Decoded objects keep their apiVersion and kind (client-go's
// typed clients clear them).
//
// Wire details follow client-go: ListOptions are encoded as its parameter
// codec does (sorted, empty values omitted), request bodies are JSON, and a
// WebSocket watch sends an Origin header, which kube-apiserver requires.
// For the k8s.io/api kinds (Go types with generated protobuf code) gets,
// lists and HTTP watches ask for protobuf with JSON as the fallback, as
// client-go's typed clients do (Config.ContentType); each answer is decoded
// as the Content-Type the server sent. Custom resources, unstructured
// objects and WebSocket watches use JSON.
package client
