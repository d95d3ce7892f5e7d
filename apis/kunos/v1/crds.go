package v1

import _ "embed" // the generated CRDs

// CustomResourceDefinitionsYAML holds the CustomResourceDefinitions of Task,
// Job and Node (apiextensions.k8s.io/v1, several YAML documents), generated
// from the Go types of this package by hack/update-codegen.sh: structural
// OpenAPI v3 schemas whose descriptions are the doc comments, validation
// (counts and capacities never negative, a Task's timeoutSeconds at least 1,
// the Task phases), the status subresource, the selectable fields
// spec.nodeName and status.phase of Tasks, and printer columns. Apply it to
// a real cluster to serve kunos.io/v1 there; apiserver-stub publishes the
// same schemas in /openapi/v2 and /openapi/v3 and validates with them.
//
//go:embed zz_generated.crds.yaml
var CustomResourceDefinitionsYAML []byte
