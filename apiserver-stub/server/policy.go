package server

// This file gives the RBAC authorizer its policy from the server's store,
// and creates the bootstrap policy. Invariants: the policy is read at the
// store's current revision on every call (a binding applies to the next
// request after its write is answered); storage knows nothing of RBAC, it
// only serves keys; decoded objects are cached by key and revision, so an
// unchanged binding or role is decoded once.

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/kunos-io/listwatch/apiserver-stub/auth/rbac"
	"github.com/kunos-io/listwatch/apiserver-stub/storage"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// StorePolicy reads RBAC objects from a store for the RBAC authorizer.
type StorePolicy struct {
	store storage.Interface
	codec storage.Codec

	mu    sync.Mutex
	cache map[string]decoded // by key
}

type decoded struct {
	rev int64
	obj runtime.Object
}

var _ rbac.PolicySource = (*StorePolicy)(nil)

// NewStorePolicy returns the policy source of the RBAC objects in st
// (written through a Server over st).
func NewStorePolicy(st storage.Interface) *StorePolicy {
	return &StorePolicy{store: st, codec: NewCodec(), cache: map[string]decoded{}}
}

// decode returns the object of rec, decoding it only when its key or
// revision is new.
func (p *StorePolicy) decode(rec *storage.Record) (runtime.Object, error) {
	p.mu.Lock()
	d, ok := p.cache[rec.Key]
	p.mu.Unlock()
	if ok && d.rev == rec.Revision {
		return d.obj, nil
	}
	obj, err := p.codec.Decode(rec.Key, rec.Data)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.cache[rec.Key] = decoded{rev: rec.Revision, obj: obj}
	p.mu.Unlock()
	return obj, nil
}

// forget drops cached objects under prefix that a list no longer returned.
func (p *StorePolicy) forget(prefix string, seen map[string]bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k := range p.cache {
		if strings.HasPrefix(k, prefix) && !seen[k] {
			delete(p.cache, k)
		}
	}
}

func getAs[T runtime.Object](ctx context.Context, p *StorePolicy, key string) (T, error) {
	var zero T
	rec, err := p.store.Get(ctx, key, 0)
	if err != nil {
		if storage.IsNotFound(err) {
			p.forget(key, nil)
		}
		return zero, fmt.Errorf("get %s: %w", key, err)
	}
	obj, err := p.decode(rec)
	if err != nil {
		return zero, err
	}
	t, ok := obj.(T)
	if !ok {
		return zero, fmt.Errorf("%s holds a %T", key, obj)
	}
	return t, nil
}

func listAs[T runtime.Object](ctx context.Context, p *StorePolicy, prefix string) ([]T, error) {
	res, err := p.store.List(ctx, prefix, storage.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", prefix, err)
	}
	out := make([]T, 0, len(res.Items))
	seen := make(map[string]bool, len(res.Items))
	for _, rec := range res.Items {
		seen[rec.Key] = true
		obj, err := p.decode(rec)
		if err != nil {
			return nil, err
		}
		if t, ok := obj.(T); ok {
			out = append(out, t)
		}
	}
	p.forget(prefix, seen)
	return out, nil
}

// GetRole implements rbac.PolicySource.
func (p *StorePolicy) GetRole(ctx context.Context, ns, name string) (*rbacv1.Role, error) {
	return getAs[*rbacv1.Role](ctx, p, "/"+RolesResource.Resource+"/"+ns+"/"+name)
}

// GetClusterRole implements rbac.PolicySource.
func (p *StorePolicy) GetClusterRole(ctx context.Context, name string) (*rbacv1.ClusterRole, error) {
	return getAs[*rbacv1.ClusterRole](ctx, p, "/"+ClusterRolesResource.Resource+"/"+name)
}

// ListRoleBindings implements rbac.PolicySource.
func (p *StorePolicy) ListRoleBindings(ctx context.Context, ns string) ([]*rbacv1.RoleBinding, error) {
	return listAs[*rbacv1.RoleBinding](ctx, p, "/"+RoleBindingsResource.Resource+"/"+ns+"/")
}

// ListClusterRoleBindings implements rbac.PolicySource.
func (p *StorePolicy) ListClusterRoleBindings(ctx context.Context) ([]*rbacv1.ClusterRoleBinding, error) {
	return listAs[*rbacv1.ClusterRoleBinding](ctx, p, "/"+ClusterRoleBindingsResource.Resource+"/")
}

// EnsureBootstrapPolicy creates in st every object of rbac.Bootstrap that
// is missing; existing ones (perhaps changed by an administrator) are
// kept. Several servers over one store may run it at once.
func EnsureBootstrapPolicy(ctx context.Context, st storage.Interface) error {
	roles, bindings := rbac.Bootstrap()
	now := time.Now().Truncate(time.Second)
	for _, r := range roles {
		r.UID, r.CreationTimestamp.Time = newUIDType(), now
		if _, err := st.Create(ctx, "/"+ClusterRolesResource.Resource+"/"+r.Name, r); err != nil && !storage.IsAlreadyExists(err) {
			return fmt.Errorf("bootstrap clusterrole %s: %w", r.Name, err)
		}
	}
	for _, b := range bindings {
		b.UID, b.CreationTimestamp.Time = newUIDType(), now
		if _, err := st.Create(ctx, "/"+ClusterRoleBindingsResource.Resource+"/"+b.Name, b); err != nil && !storage.IsAlreadyExists(err) {
			return fmt.Errorf("bootstrap clusterrolebinding %s: %w", b.Name, err)
		}
	}
	return nil
}
