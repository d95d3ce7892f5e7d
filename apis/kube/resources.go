package kube

import (
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/fields"

	"github.com/kunos-io/listwatch/resource"
)

var (
	// Leases are coordination.k8s.io/v1 Leases, namespaced, as leader
	// election uses them.
	Leases = resource.Descriptor[*coordinationv1.Lease]{Info: resource.Info{
		GVR: coordinationv1.SchemeGroupVersion.WithResource("leases"), Kind: "Lease", ListKind: "LeaseList",
		Singular: "lease", Namespaced: true,
	}}
	// Events are core v1 Events, namespaced. Their selectable fields are
	// kube-apiserver's (involvedObject.*, reason, source, type...), so
	// kubectl describe finds an object's events by field selector.
	Events = resource.Descriptor[*corev1.Event]{
		Info: resource.Info{
			GVR: corev1.SchemeGroupVersion.WithResource("events"), Kind: "Event", ListKind: "EventList",
			Singular: "event", ShortNames: []string{"ev"}, Namespaced: true,
			SelectableFields: []string{
				"involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
				"involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
				"reason", "reportingComponent", "source", "type",
			},
		},
		Fields: eventFields,
	}
)

// Namespaces are core v1 Namespaces, cluster-scoped, with a /status
// subresource; status.phase (Active, Terminating) is selectable.
var Namespaces = resource.Descriptor[*corev1.Namespace]{
	Info: resource.Info{
		GVR: corev1.SchemeGroupVersion.WithResource("namespaces"), Kind: "Namespace", ListKind: "NamespaceList",
		Singular: "namespace", ShortNames: []string{"ns"}, HasStatus: true,
		SelectableFields: []string{"status.phase"},
	},
	Fields: func(ns *corev1.Namespace) fields.Set { return fields.Set{"status.phase": string(ns.Status.Phase)} },
}

// The rbac.authorization.k8s.io/v1 kinds: what RBAC authorization reads.
var (
	Roles = resource.Descriptor[*rbacv1.Role]{Info: resource.Info{
		GVR: rbacv1.SchemeGroupVersion.WithResource("roles"), Kind: "Role", ListKind: "RoleList",
		Singular: "role", Namespaced: true,
	}}
	ClusterRoles = resource.Descriptor[*rbacv1.ClusterRole]{Info: resource.Info{
		GVR: rbacv1.SchemeGroupVersion.WithResource("clusterroles"), Kind: "ClusterRole", ListKind: "ClusterRoleList",
		Singular: "clusterrole",
	}}
	RoleBindings = resource.Descriptor[*rbacv1.RoleBinding]{Info: resource.Info{
		GVR: rbacv1.SchemeGroupVersion.WithResource("rolebindings"), Kind: "RoleBinding", ListKind: "RoleBindingList",
		Singular: "rolebinding", Namespaced: true,
	}}
	ClusterRoleBindings = resource.Descriptor[*rbacv1.ClusterRoleBinding]{Info: resource.Info{
		GVR: rbacv1.SchemeGroupVersion.WithResource("clusterrolebindings"), Kind: "ClusterRoleBinding",
		ListKind: "ClusterRoleBindingList", Singular: "clusterrolebinding",
	}}
)

// The self reviews (kubectl auth can-i, kubectl auth whoami): create-only,
// cluster-scoped, never stored.
var (
	SelfSubjectAccessReviews = resource.Descriptor[*authorizationv1.SelfSubjectAccessReview]{Info: resource.Info{
		GVR: authorizationv1.SchemeGroupVersion.WithResource("selfsubjectaccessreviews"), Kind: "SelfSubjectAccessReview",
		ListKind: "SelfSubjectAccessReviewList", Singular: "selfsubjectaccessreview",
	}}
	SelfSubjectReviews = resource.Descriptor[*authenticationv1.SelfSubjectReview]{Info: resource.Info{
		GVR: authenticationv1.SchemeGroupVersion.WithResource("selfsubjectreviews"), Kind: "SelfSubjectReview",
		ListKind: "SelfSubjectReviewList", Singular: "selfsubjectreview",
	}}
)

// Resources lists the stored descriptors of this package with their Go
// types hidden.
var Resources = []resource.Untyped{Namespaces, Leases, Events, Roles, ClusterRoles, RoleBindings, ClusterRoleBindings}

// eventFields is kube-apiserver's ToSelectableFields for Events
// (pkg/registry/core/event/strategy.go): source is the source component,
// or the reporting controller of events written through events.k8s.io.
func eventFields(e *corev1.Event) fields.Set {
	source := e.Source.Component
	if source == "" {
		source = e.ReportingController
	}
	return fields.Set{
		"involvedObject.kind":            e.InvolvedObject.Kind,
		"involvedObject.namespace":       e.InvolvedObject.Namespace,
		"involvedObject.name":            e.InvolvedObject.Name,
		"involvedObject.uid":             string(e.InvolvedObject.UID),
		"involvedObject.apiVersion":      e.InvolvedObject.APIVersion,
		"involvedObject.resourceVersion": e.InvolvedObject.ResourceVersion,
		"involvedObject.fieldPath":       e.InvolvedObject.FieldPath,
		"reason":                         e.Reason,
		"reportingComponent":             e.ReportingController,
		"source":                         source,
		"type":                           e.Type,
	}
}
