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

// Pods and ConfigMaps are core v1 Pods and ConfigMaps, namespaced, for
// clients and informers on real clusters (apiserver-stub does not serve
// them). Pods select by kube-apiserver's pod fields (spec.nodeName,
// status.phase...).
var (
	Pods = resource.Descriptor[*corev1.Pod]{
		Info: resource.Info{
			GVR: corev1.SchemeGroupVersion.WithResource("pods"), Kind: "Pod", ListKind: "PodList",
			Singular: "pod", ShortNames: []string{"po"}, Namespaced: true, HasStatus: true,
			SelectableFields: []string{
				"spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
				"spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName",
			},
		},
		Fields: podFields,
	}
	ConfigMaps = resource.Descriptor[*corev1.ConfigMap]{Info: resource.Info{
		GVR: corev1.SchemeGroupVersion.WithResource("configmaps"), Kind: "ConfigMap", ListKind: "ConfigMapList",
		Singular: "configmap", ShortNames: []string{"cm"}, Namespaced: true,
	}}
)

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
// types hidden (Pods and ConfigMaps are stored on real clusters).
var Resources = []resource.Untyped{Namespaces, Pods, ConfigMaps, Leases, Events, Roles, ClusterRoles, RoleBindings, ClusterRoleBindings}

// podFields is kube-apiserver's pod ToSelectableFields
// (pkg/registry/core/pod/strategy.go).
func podFields(p *corev1.Pod) fields.Set {
	hostNetwork := "false"
	if p.Spec.HostNetwork {
		hostNetwork = "true"
	}
	podIP := ""
	if len(p.Status.PodIPs) > 0 {
		podIP = p.Status.PodIPs[0].IP
	}
	return fields.Set{
		"spec.nodeName":            p.Spec.NodeName,
		"spec.restartPolicy":       string(p.Spec.RestartPolicy),
		"spec.schedulerName":       p.Spec.SchedulerName,
		"spec.serviceAccountName":  p.Spec.ServiceAccountName,
		"spec.hostNetwork":         hostNetwork,
		"status.phase":             string(p.Status.Phase),
		"status.podIP":             podIP,
		"status.nominatedNodeName": p.Status.NominatedNodeName,
	}
}

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
