package controller

// This file maps owned objects to their owner. Invariants: an owned object
// maps to at most one Request, that of its controller owner (the one
// ownerReference with controller: true), and only if that reference can be
// to the For type; finding a controller's owned objects reads an index
// keyed by the owner's UID, never a scan of the informer's cache.

import (
	"errors"
	"fmt"
	"reflect"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kunos-io/listwatch/cache"
	"github.com/kunos-io/listwatch/informer"
)

// OwnerUIDIndex is the index Owns adds to an owned informer's cache: each
// object under the UID of its controller owner. ListOwned reads it. One
// index serves every controller that owns objects of that informer. UIDs
// rather than names, so that a Job deleted and created again under the same
// name never adopts its predecessor's Tasks.
const OwnerUIDIndex = "controller.kunos.io/owner-uid"

func ownerUIDIndexFunc[O cache.Object](obj O) ([]string, error) {
	if ref := metav1.GetControllerOfNoCopy(obj); ref != nil && ref.UID != "" {
		return []string{string(ref.UID)}, nil
	}
	return nil, nil
}

// ensureOwnerIndex adds OwnerUIDIndex to idx unless it is there already.
// Adding an index to a running informer back-fills it.
func ensureOwnerIndex[O cache.Object](idx cache.Indexer[O]) error {
	if _, ok := idx.GetIndexers()[OwnerUIDIndex]; ok {
		return nil
	}
	err := idx.AddIndexers(cache.Indexers[O]{OwnerUIDIndex: ownerUIDIndexFunc[O]})
	if _, ok := idx.GetIndexers()[OwnerUIDIndex]; ok {
		return nil // added, by us or by a concurrent Owns
	}
	return err
}

// ListOwned returns the objects in inf's cache whose controller owner is
// owner (matched by UID), from the index that Owns added to inf: the
// Tasks of a Job, without scanning every Task. It fails if no controller
// Owns inf. The objects are shared with the cache: read-only.
func ListOwned[O, T cache.Object](inf informer.SharedIndexInformer[O], owner T) ([]O, error) {
	if inf == nil || isNil(owner) {
		return nil, errors.New("controller: ListOwned: nil informer or owner")
	}
	uid := owner.GetUID()
	if uid == "" {
		return nil, fmt.Errorf("controller: ListOwned: owner %s/%s has no UID", owner.GetNamespace(), owner.GetName())
	}
	idx := inf.Indexer()
	if _, ok := idx.GetIndexers()[OwnerUIDIndex]; !ok {
		return nil, fmt.Errorf("controller: ListOwned: the informer has no %s index; pass it to Owns first", OwnerUIDIndex)
	}
	return idx.ByIndex(OwnerUIDIndex, string(uid))
}

// ownerMapper maps an owned object to the Request of its controller owner,
// when that owner can be of the For type.
type ownerMapper struct {
	// kind is the For type's kind: its Go type name, which is the kind
	// apimachinery's scheme registers a type under.
	kind string
	// uidOf looks an object of the For type up in its cache by key.
	uidOf func(key string) (types.UID, bool)
}

func newOwnerMapper[T cache.Object](primary informer.SharedIndexInformer[T]) *ownerMapper {
	t := reflect.TypeFor[T]()
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	idx := primary.Indexer()
	return &ownerMapper{
		kind: t.Name(),
		uidOf: func(key string) (types.UID, bool) {
			obj, ok, err := idx.GetByKey(key)
			if err != nil || !ok {
				return "", false
			}
			return obj.GetUID(), true
		},
	}
}

// request returns the Request of obj's controller owner. The owner is
// identified by UID when it is in the For cache, which also tells a
// cluster-scoped owner of a namespaced object apart; otherwise (the owner
// was deleted, or the For cache has not seen it yet) by kind, in obj's
// namespace.
func (m *ownerMapper) request(obj metav1.Object) (Request, bool) {
	ref := metav1.GetControllerOfNoCopy(obj)
	if ref == nil {
		return Request{}, false
	}
	ns := obj.GetNamespace()
	if ns != "" {
		if uid, ok := m.uidOf(ns + "/" + ref.Name); ok && uid == ref.UID {
			return Request{Namespace: ns, Name: ref.Name}, true
		}
	}
	if uid, ok := m.uidOf(ref.Name); ok && uid == ref.UID {
		return Request{Name: ref.Name}, true
	}
	if ref.Kind != m.kind {
		return Request{}, false
	}
	return Request{Namespace: ns, Name: ref.Name}, true
}
