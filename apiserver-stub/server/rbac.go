package server

// This file describes the rbac.authorization.k8s.io/v1 kinds. Invariant:
// RBAC objects are stored and served like any other resource; only the
// authorizer (through StorePolicy) gives them meaning. Roles,
// ClusterRoles, RoleBindings and ClusterRoleBindings are served like
// Leases, with kube-apiserver's table columns
// (printers.go printRole, printRoleBinding) and the checks of its
// validation that RBAC evaluation relies on: a binding's roleRef names a
// role kind it may name and cannot change, and every subject has a kind
// and a name.

import (
	"strings"
	"time"

	"github.com/kunos-io/listwatch/apis/kube"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// The GVRs of the RBAC resources, as package apis/kube describes them.
var (
	RolesResource               = kube.Roles.GVR
	ClusterRolesResource        = kube.ClusterRoles.GVR
	RoleBindingsResource        = kube.RoleBindings.GVR
	ClusterRoleBindingsResource = kube.ClusterRoleBindings.GVR
)

var colCreatedAt = metav1.TableColumnDefinition{Name: "Created At", Type: "date",
	Description: colAge.Description}

func rbacResources() []Resource {
	roleCells := func(m *metav1.ObjectMeta) []any {
		return []any{m.Name, m.CreationTimestamp.UTC().Format(time.RFC3339)}
	}
	bindingColumns := []metav1.TableColumnDefinition{colName,
		{Name: "Role", Type: "string", Description: "RoleRef references a Role or ClusterRole."},
		colAge,
		{Name: "Users", Type: "string", Priority: 1, Description: "Users in the binding"},
		{Name: "Groups", Type: "string", Priority: 1, Description: "Groups in the binding"},
		{Name: "ServiceAccounts", Type: "string", Priority: 1, Description: "ServiceAccounts in the binding"},
	}
	bindingCells := func(m *metav1.ObjectMeta, ref rbacv1.RoleRef, subjects []rbacv1.Subject, now time.Time) []any {
		var users, groups, sas []string
		for _, s := range subjects {
			switch s.Kind {
			case rbacv1.UserKind:
				users = append(users, s.Name)
			case rbacv1.GroupKind:
				groups = append(groups, s.Name)
			case rbacv1.ServiceAccountKind:
				sas = append(sas, s.Namespace+"/"+s.Name)
			}
		}
		return []any{m.Name, ref.Kind + "/" + ref.Name, since(m.CreationTimestamp.Time, now),
			strings.Join(users, ", "), strings.Join(groups, ", "), strings.Join(sas, ", ")}
	}
	roleColumns := []metav1.TableColumnDefinition{colName, colCreatedAt}
	role := ResourceOf(kube.Roles, Serving[*rbacv1.Role]{StrategicMerge: true, Columns: roleColumns,
		Cells: func(r *rbacv1.Role, _ time.Time) []any { return roleCells(&r.ObjectMeta) }})
	clusterRole := ResourceOf(kube.ClusterRoles, Serving[*rbacv1.ClusterRole]{StrategicMerge: true, Columns: roleColumns,
		Cells: func(r *rbacv1.ClusterRole, _ time.Time) []any { return roleCells(&r.ObjectMeta) }})
	roleBinding := ResourceOf(kube.RoleBindings, Serving[*rbacv1.RoleBinding]{StrategicMerge: true, Columns: bindingColumns,
		Cells: func(b *rbacv1.RoleBinding, now time.Time) []any {
			return bindingCells(&b.ObjectMeta, b.RoleRef, b.Subjects, now)
		}})
	roleBinding.Validate = func(obj, old runtime.Object) field.ErrorList {
		b := obj.(*rbacv1.RoleBinding)
		var oldRef *rbacv1.RoleRef
		if old != nil {
			oldRef = &old.(*rbacv1.RoleBinding).RoleRef
		}
		return validateBinding(b.RoleRef, oldRef, b.Subjects, true)
	}
	clusterRoleBinding := ResourceOf(kube.ClusterRoleBindings, Serving[*rbacv1.ClusterRoleBinding]{StrategicMerge: true,
		Columns: bindingColumns,
		Cells: func(b *rbacv1.ClusterRoleBinding, now time.Time) []any {
			return bindingCells(&b.ObjectMeta, b.RoleRef, b.Subjects, now)
		}})
	clusterRoleBinding.Validate = func(obj, old runtime.Object) field.ErrorList {
		b := obj.(*rbacv1.ClusterRoleBinding)
		var oldRef *rbacv1.RoleRef
		if old != nil {
			oldRef = &old.(*rbacv1.ClusterRoleBinding).RoleRef
		}
		return validateBinding(b.RoleRef, oldRef, b.Subjects, false)
	}
	return []Resource{role, clusterRole, roleBinding, clusterRoleBinding}
}

// validateBinding checks a binding as kube-apiserver's RBAC validation
// does, in the parts evaluation depends on.
func validateBinding(ref rbacv1.RoleRef, oldRef *rbacv1.RoleRef, subjects []rbacv1.Subject, namespaced bool) field.ErrorList {
	var errs field.ErrorList
	p := field.NewPath("roleRef")
	if ref.APIGroup != rbacv1.GroupName {
		errs = append(errs, field.NotSupported(p.Child("apiGroup"), ref.APIGroup, []string{rbacv1.GroupName}))
	}
	kinds := []string{"ClusterRole"}
	if namespaced {
		kinds = []string{"Role", "ClusterRole"}
	}
	if ref.Kind != "ClusterRole" && (!namespaced || ref.Kind != "Role") {
		errs = append(errs, field.NotSupported(p.Child("kind"), ref.Kind, kinds))
	}
	if ref.Name == "" {
		errs = append(errs, field.Required(p.Child("name"), ""))
	}
	if oldRef != nil && *oldRef != ref {
		errs = append(errs, field.Invalid(p, ref, "cannot change roleRef"))
	}
	for i, s := range subjects {
		sp := field.NewPath("subjects").Index(i)
		if s.Name == "" {
			errs = append(errs, field.Required(sp.Child("name"), ""))
		}
		switch s.Kind {
		case rbacv1.UserKind, rbacv1.GroupKind:
			if s.APIGroup != rbacv1.GroupName {
				errs = append(errs, field.NotSupported(sp.Child("apiGroup"), s.APIGroup, []string{rbacv1.GroupName}))
			}
		case rbacv1.ServiceAccountKind:
			if s.APIGroup != "" {
				errs = append(errs, field.NotSupported(sp.Child("apiGroup"), s.APIGroup, []string{""}))
			}
			if s.Namespace == "" && !namespaced {
				errs = append(errs, field.Required(sp.Child("namespace"), ""))
			}
		default:
			errs = append(errs, field.NotSupported(sp.Child("kind"), s.Kind,
				[]string{rbacv1.ServiceAccountKind, rbacv1.UserKind, rbacv1.GroupKind}))
		}
	}
	return errs
}
