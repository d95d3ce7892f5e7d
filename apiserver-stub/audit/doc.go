// Package audit writes one JSON line per request the API server answers,
// in the spirit of kube-apiserver's audit events at the ResponseComplete
// stage: when, who (user, groups), what (verb, resource, subresource,
// namespace, name, or the path of a non-resource request), the answer's
// code and the latency. Watches are logged when they end, with their
// duration as latency. Writes are serialized; a write error is reported
// once to the error handler and later events are still attempted.
package audit
