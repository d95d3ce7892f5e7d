package server

// This file serves core v1 Namespaces and their part of the lifecycle that
// belongs to the request path, as kube-apiserver's namespace registry
// (pkg/registry/core/namespace) and its NamespaceLifecycle admission
// plugin do:
//
//   - a new Namespace is Active, has the finalizer "kubernetes" in
//     spec.finalizers and the label kubernetes.io/metadata.name;
//   - an update of the main resource keeps spec.finalizers and status;
//   - a delete marks it Terminating (deletionTimestamp, status.phase)
//     and spec.finalizers holds it until the namespace controller
//     (package namespace) has removed its content and the finalizer;
//   - creating a namespaced object in a Namespace that does not exist is
//     404 NotFound; in one that is terminating, 403 Forbidden with the
//     cause NamespaceTerminating;
//   - default, kube-system and kube-public exist from the start and may
//     not be deleted.

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/kunos-io/listwatch/apis/kube"
	"github.com/kunos-io/listwatch/apiserver-stub/storage"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// NamespacesResource is the GVR of core v1 Namespaces.
var NamespacesResource = kube.Namespaces.GVR

// SystemNamespaces exist from the start (the server creates them when
// missing) and may not be deleted.
var SystemNamespaces = []string{metav1.NamespaceDefault, metav1.NamespaceSystem, metav1.NamespacePublic}

// NamespaceKey is the storage key of the Namespace name.
func NamespaceKey(name string) string { return "/" + NamespacesResource.Resource + "/" + name }

func namespaceResource() Resource {
	r := ResourceOf(kube.Namespaces, Serving[*corev1.Namespace]{
		StrategicMerge: true,
		Columns: []metav1.TableColumnDefinition{colName,
			{Name: "Status", Type: "string", Description: "The status of the namespace"},
			colAge},
		Cells: func(ns *corev1.Namespace, now time.Time) []any {
			return []any{ns.Name, string(ns.Status.Phase), since(ns.CreationTimestamp.Time, now)}
		},
	})
	r.Hold = func(obj runtime.Object) bool {
		ns, ok := obj.(*corev1.Namespace)
		if !ok {
			return false
		}
		ns.Status.Phase = corev1.NamespaceTerminating
		return len(ns.Spec.Finalizers) > 0
	}
	r.PrepareCreate = func(obj runtime.Object) {
		ns, ok := obj.(*corev1.Namespace)
		if !ok {
			return
		}
		ns.Status = corev1.NamespaceStatus{Phase: corev1.NamespaceActive}
		if !slices.Contains(ns.Spec.Finalizers, corev1.FinalizerKubernetes) {
			ns.Spec.Finalizers = append(ns.Spec.Finalizers, corev1.FinalizerKubernetes)
		}
		if ns.Labels == nil {
			ns.Labels = map[string]string{}
		}
		ns.Labels[corev1.LabelMetadataName] = ns.Name
	}
	r.PrepareUpdate = func(obj, old runtime.Object) {
		ns, ok1 := obj.(*corev1.Namespace)
		o, ok2 := old.(*corev1.Namespace)
		if !ok1 || !ok2 {
			return
		}
		ns.Spec.Finalizers = o.Spec.Finalizers
		ns.Status = o.Status
		if ns.Labels == nil {
			ns.Labels = map[string]string{}
		}
		ns.Labels[corev1.LabelMetadataName] = ns.Name
	}
	return r
}

// admitNamespace is NamespaceLifecycle for a create of name in ri: the
// namespace must exist (404) and not be terminating (403).
func (s *Server) admitNamespace(ctx context.Context, ri *requestInfo, name string) error {
	if !ri.res.Namespaced {
		return nil
	}
	rec, err := s.store.Get(ctx, NamespaceKey(ri.namespace), 0)
	if storage.IsNotFound(err) {
		return apierrors.NewNotFound(NamespacesResource.GroupResource(), ri.namespace)
	}
	if err != nil {
		return storageError(err, NamespacesResource.GroupResource(), ri.namespace, msgListTooOld)
	}
	obj, err := s.codec.Decode(rec.Key, rec.Data)
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	ns, _ := obj.(*corev1.Namespace)
	if ns != nil && (ns.DeletionTimestamp != nil || ns.Status.Phase == corev1.NamespaceTerminating) {
		e := apierrors.NewForbidden(ri.gr(), name,
			fmt.Errorf("unable to create new content in namespace %s because it is being terminated", ri.namespace))
		e.ErrStatus.Details.Causes = append(e.ErrStatus.Details.Causes, metav1.StatusCause{
			Type:    corev1.NamespaceTerminatingCause,
			Message: fmt.Sprintf("namespace %s is being terminated", ri.namespace),
			Field:   "metadata.namespace",
		})
		return e
	}
	return nil
}

// refuseImmortal is 403 for a delete of a system namespace.
func refuseImmortal(ri *requestInfo, name string) error {
	if ri.res.GVR != NamespacesResource || !slices.Contains(SystemNamespaces, name) {
		return nil
	}
	return apierrors.NewForbidden(ri.gr(), name, fmt.Errorf("this namespace may not be deleted"))
}

// EnsureSystemNamespaces creates the SystemNamespaces that store lacks,
// as kube-apiserver's system namespaces controller does at start.
func EnsureSystemNamespaces(ctx context.Context, store storage.Interface) error {
	return EnsureNamespaces(ctx, store, SystemNamespaces...)
}

// EnsureNamespaces creates each named Namespace that store lacks, Active
// and with its finalizer, as a create through the API would. It is
// idempotent, and safe against another server doing it over the same
// store. Names are not validated: pass DNS labels.
func EnsureNamespaces(ctx context.Context, store storage.Interface, names ...string) error {
	res, _ := resources.lookup(NamespacesResource.GroupVersion(), NamespacesResource.Resource)
	for _, name := range names {
		if _, err := store.Get(ctx, NamespaceKey(name), 0); err == nil {
			continue
		} else if !storage.IsNotFound(err) {
			return fmt.Errorf("server: system namespace %s: %w", name, err)
		}
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
			Name: name, UID: newUIDType(), CreationTimestamp: metav1.NewTime(time.Now().Truncate(time.Second)),
		}}
		res.PrepareCreate(ns)
		if _, err := store.Create(ctx, NamespaceKey(name), ns); err != nil && !storage.IsAlreadyExists(err) {
			return fmt.Errorf("server: system namespace %s: %w", name, err)
		}
	}
	return nil
}
