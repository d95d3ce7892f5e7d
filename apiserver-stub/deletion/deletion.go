package deletion

import (
	"context"
	"slices"
	"time"

	"github.com/kunos-io/listwatch/apiserver-stub/storage"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// HoldFunc reports whether finalizers of an object's own kind, beyond
// metadata.finalizers, keep it once it is marked for deletion (a
// Namespace's spec.finalizers). It is called on the object about to be
// written with its deletionTimestamp set and may mark it further (a
// Namespace's status.phase Terminating). Nil holds nothing.
type HoldFunc func(obj runtime.Object) bool

// Options of a Delete.
type Options struct {
	// Policy is the propagation policy; "" keeps the policy the object's
	// finalizers already express (an earlier delete's), else Background.
	Policy metav1.DeletionPropagation
	// DryRun computes the answer without writing.
	DryRun bool
	// Check, if set, is called with the current object before each
	// attempt (preconditions); its error is returned as is.
	Check func(obj runtime.Object, acc metav1.Object) error
	// Hold: see HoldFunc.
	Hold HoldFunc
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Result of a Delete.
type Result struct {
	// Record is the object's last state: the removed one (at the deletion
	// revision) or the one marked for deletion.
	Record *storage.Record
	// Object is Record decoded.
	Object runtime.Object
	// Removed says the object is gone; otherwise it is marked for
	// deletion and finalizers keep it.
	Removed bool
}

// Delete deletes the object at key as kube-apiserver's registry does (see
// the package doc). A missing key is the store's NotFound error.
func Delete(ctx context.Context, store storage.Interface, codec storage.Codec, key string, opts Options) (Result, error) {
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	for {
		if err := ctx.Err(); err != nil {
			return Result{}, err
		}
		cur, err := store.Get(ctx, key, 0)
		if err != nil {
			return Result{}, err
		}
		obj, err := codec.Decode(cur.Key, cur.Data)
		if err != nil {
			return Result{}, err
		}
		acc, err := meta.Accessor(obj)
		if err != nil {
			return Result{}, err
		}
		if opts.Check != nil {
			if err := opts.Check(obj, acc); err != nil {
				return Result{}, err
			}
		}
		old := slices.Clone(acc.GetFinalizers())
		acc.SetFinalizers(FinalizersFor(acc.GetFinalizers(), opts.Policy))
		changed := !sameSet(old, acc.GetFinalizers())
		held := false
		if acc.GetDeletionTimestamp() == nil && (len(acc.GetFinalizers()) > 0 || opts.Hold != nil) {
			// Mark a copy to ask the kind whether it holds the object.
			markDeleting(acc, now())
			held = opts.Hold != nil && opts.Hold(obj)
			changed = true
		} else if opts.Hold != nil && acc.GetDeletionTimestamp() != nil {
			held = opts.Hold(obj)
		}
		if len(acc.GetFinalizers()) == 0 && !held {
			// Nothing keeps it: remove it now.
			if opts.DryRun {
				last, err := codec.Decode(cur.Key, cur.Data)
				return Result{Record: cur, Object: last, Removed: true}, err
			}
			rec, err := store.Delete(ctx, key, cur.Revision)
			if storage.IsConflict(err) {
				continue
			}
			if err != nil {
				return Result{}, err
			}
			out, err := codec.Decode(rec.Key, rec.Data)
			if err != nil {
				return Result{}, err
			}
			return Result{Record: rec, Object: out, Removed: true}, nil
		}
		if !changed {
			return Result{Record: cur, Object: obj}, nil
		}
		if opts.DryRun {
			// The answer is what a write would store.
			data, err := codec.Encode(obj)
			if err != nil {
				return Result{}, err
			}
			return Result{Record: &storage.Record{Key: key, Revision: cur.Revision, Data: data}, Object: obj}, nil
		}
		rec, err := store.Update(ctx, key, cur.Revision, obj)
		if storage.IsConflict(err) {
			continue
		}
		if err != nil {
			return Result{}, err
		}
		return Result{Record: rec, Object: obj}, nil
	}
}

// markDeleting sets deletionTimestamp (once, bumping a tracked
// generation, as kube-apiserver's markAsDeleting) and a zero grace period.
func markDeleting(acc metav1.Object, now time.Time) {
	if acc.GetDeletionTimestamp() == nil {
		if g := acc.GetGeneration(); g > 0 {
			acc.SetGeneration(g + 1)
		}
		t := metav1.NewTime(now.Truncate(time.Second))
		acc.SetDeletionTimestamp(&t)
	}
	zero := int64(0)
	acc.SetDeletionGracePeriodSeconds(&zero)
}

// FinalizersFor returns finalizers with the garbage collector's
// finalizers set for policy: Orphan keeps or adds "orphan" and drops
// "foregroundDeletion", Foreground the reverse, Background drops both, ""
// leaves them as they are.
func FinalizersFor(finalizers []string, policy metav1.DeletionPropagation) []string {
	if policy == "" {
		return finalizers
	}
	out := make([]string, 0, len(finalizers)+1)
	for _, f := range finalizers {
		if f != metav1.FinalizerOrphanDependents && f != metav1.FinalizerDeleteDependents {
			out = append(out, f)
		}
	}
	switch policy {
	case metav1.DeletePropagationOrphan:
		out = append(out, metav1.FinalizerOrphanDependents)
	case metav1.DeletePropagationForeground:
		out = append(out, metav1.FinalizerDeleteDependents)
	}
	if sameSet(out, finalizers) {
		return finalizers // keep the order the object had
	}
	return out
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	for _, x := range b {
		if !slices.Contains(a, x) {
			return false
		}
	}
	return true
}

// MutateFunc changes obj in place and reports whether it changed it.
type MutateFunc func(obj runtime.Object, acc metav1.Object) (bool, error)

// Mutate applies fn to the current state of the object at key and writes
// the result with the read revision as precondition, retrying on a
// concurrent write. When fn changes nothing, nothing is written and the
// current record is returned. When the result is marked for deletion and
// nothing holds it any more (no finalizer, hold false), the object is
// removed instead and removed is true.
func Mutate(ctx context.Context, store storage.Interface, codec storage.Codec, key string, hold HoldFunc, fn MutateFunc) (rec *storage.Record, removed bool, err error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, false, err
		}
		cur, err := store.Get(ctx, key, 0)
		if err != nil {
			return nil, false, err
		}
		obj, err := codec.Decode(cur.Key, cur.Data)
		if err != nil {
			return nil, false, err
		}
		acc, err := meta.Accessor(obj)
		if err != nil {
			return nil, false, err
		}
		changed, err := fn(obj, acc)
		if err != nil {
			return nil, false, err
		}
		if !changed {
			return cur, false, nil
		}
		if Finished(obj, acc, hold) {
			rec, err := store.Delete(ctx, key, cur.Revision)
			if storage.IsConflict(err) {
				continue
			}
			return rec, err == nil, err
		}
		rec, err = store.Update(ctx, key, cur.Revision, obj)
		if storage.IsConflict(err) {
			continue
		}
		return rec, false, err
	}
}

// Finished reports whether obj is marked for deletion and nothing keeps
// it: no finalizer, and hold (if set) false.
func Finished(obj runtime.Object, acc metav1.Object, hold HoldFunc) bool {
	return acc.GetDeletionTimestamp() != nil && len(acc.GetFinalizers()) == 0 && (hold == nil || !hold(obj))
}
