package rbac

// This file defines where the authorizer reads its policy. Invariant: a
// source returns objects the caller must not modify; a missing role is a
// NotFound error, never a nil role without error.

import (
	"context"
	"fmt"

	rbacv1 "k8s.io/api/rbac/v1"
)

// PolicySource gives the authorizer the current RBAC objects.
type PolicySource interface {
	GetRole(ctx context.Context, namespace, name string) (*rbacv1.Role, error)
	GetClusterRole(ctx context.Context, name string) (*rbacv1.ClusterRole, error)
	ListRoleBindings(ctx context.Context, namespace string) ([]*rbacv1.RoleBinding, error)
	ListClusterRoleBindings(ctx context.Context) ([]*rbacv1.ClusterRoleBinding, error)
}

// StaticSource is a PolicySource over fixed objects, for tests and
// examples.
type StaticSource struct {
	Roles               []*rbacv1.Role
	ClusterRoles        []*rbacv1.ClusterRole
	RoleBindings        []*rbacv1.RoleBinding
	ClusterRoleBindings []*rbacv1.ClusterRoleBinding
}

var _ PolicySource = (*StaticSource)(nil)

// GetRole implements PolicySource.
func (s *StaticSource) GetRole(_ context.Context, ns, name string) (*rbacv1.Role, error) {
	for _, r := range s.Roles {
		if r.Namespace == ns && r.Name == name {
			return r, nil
		}
	}
	return nil, fmt.Errorf("role %s/%s not found", ns, name)
}

// GetClusterRole implements PolicySource.
func (s *StaticSource) GetClusterRole(_ context.Context, name string) (*rbacv1.ClusterRole, error) {
	for _, r := range s.ClusterRoles {
		if r.Name == name {
			return r, nil
		}
	}
	return nil, fmt.Errorf("clusterrole %s not found", name)
}

// ListRoleBindings implements PolicySource.
func (s *StaticSource) ListRoleBindings(_ context.Context, ns string) ([]*rbacv1.RoleBinding, error) {
	var out []*rbacv1.RoleBinding
	for _, b := range s.RoleBindings {
		if b.Namespace == ns {
			out = append(out, b)
		}
	}
	return out, nil
}

// ListClusterRoleBindings implements PolicySource.
func (s *StaticSource) ListClusterRoleBindings(context.Context) ([]*rbacv1.ClusterRoleBinding, error) {
	return s.ClusterRoleBindings, nil
}
