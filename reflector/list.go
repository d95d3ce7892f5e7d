package reflector

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// relistRV is the resourceVersion a list asks for: "0" (any, cheapest) the
// first time, the last RV (not older than) afterwards, and "" (consistent)
// once the last RV was found gone or ahead of the server.
func (r *Reflector[T]) relistRV() string {
	switch last := r.LastSyncResourceVersion(); {
	case r.rvUnavailable:
		return ""
	case last == "":
		return "0"
	default:
		return last
	}
}

// list fetches the whole state page by page, transforming every item as its
// page arrives, then replaces the sink's contents.
func (r *Reflector[T]) list(ctx context.Context) result {
	rv := r.relistRV()
	start := r.opts.Clock.Now()
	items, listRV, err := r.pagedList(ctx, rv)
	if err == nil {
		if err = r.sink.Replace(items, listRV); err != nil {
			err = fmt.Errorf("reflector %s: replace after list: %w", r.opts.Name, err)
		}
	}
	if ctx.Err() != nil {
		return result{outcome: canceled}
	}
	r.opts.Metrics.ObserveList(r.opts.Clock.Since(start), err)
	if err != nil {
		r.report("list", err)
		res := classify(err, failed)
		res.rv = rv
		return res
	}
	r.setRV(listRV)
	r.synced.Store(true)
	return result{outcome: ok, rv: rv}
}

// pagedList lists at rv following continue tokens. A 410 on a later page
// (the snapshot the token pins was compacted) falls back to one list
// without a limit at rv, as client-go's pager does.
func (r *Reflector[T]) pagedList(ctx context.Context, rv string) ([]T, string, error) {
	opts := metav1.ListOptions{ResourceVersion: rv, Limit: r.opts.PageSize}
	if rv != "" && rv != "0" {
		// A limit with an RV means Exact on a kube-apiserver; we mean
		// "not older than", which is what a relist needs.
		opts.ResourceVersionMatch = metav1.ResourceVersionMatchNotOlderThan
	}
	var all []T
	for page := 1; ; page++ {
		items, meta, err := r.lw.List(ctx, opts)
		if err != nil {
			if page > 1 && isExpired(err) {
				full := metav1.ListOptions{ResourceVersion: rv}
				if rv != "" && rv != "0" {
					full.ResourceVersionMatch = metav1.ResourceVersionMatchNotOlderThan
				}
				items, meta, err = r.lw.List(ctx, full)
				if err != nil {
					return nil, "", fmt.Errorf("reflector %s: full list after expired page: %w", r.opts.Name, err)
				}
				all, err = r.transformAll(all[:0], items)
				return all, meta.ResourceVersion, err
			}
			return nil, "", fmt.Errorf("reflector %s: list page %d (resourceVersion=%q): %w", r.opts.Name, page, rv, err)
		}
		if all, err = r.transformAll(all, items); err != nil {
			return nil, "", err
		}
		if meta.Continue == "" {
			return all, meta.ResourceVersion, nil
		}
		opts = metav1.ListOptions{Limit: r.opts.PageSize, Continue: meta.Continue}
	}
}

// transformAll appends the transformed items to dst.
func (r *Reflector[T]) transformAll(dst, items []T) ([]T, error) {
	if dst == nil {
		dst = make([]T, 0, len(items))
	}
	for i, it := range items {
		obj, err := r.transform(it)
		if err != nil {
			return nil, err
		}
		dst = append(dst, obj)
		var zero T
		items[i] = zero // let the page's copy go as soon as we hold ours
	}
	return dst, nil
}

// transform checks obj and applies Options.Transform.
func (r *Reflector[T]) transform(obj T) (T, error) {
	if isNil(obj) {
		return obj, fmt.Errorf("reflector %s: server sent a nil object", r.opts.Name)
	}
	if r.opts.Transform == nil {
		return obj, nil
	}
	out, err := r.opts.Transform(obj)
	if err != nil {
		return out, fmt.Errorf("reflector %s: transform %s/%s: %w", r.opts.Name, obj.GetNamespace(), obj.GetName(), err)
	}
	if isNil(out) {
		return out, fmt.Errorf("reflector %s: transform of %s/%s returned nil", r.opts.Name, obj.GetNamespace(), obj.GetName())
	}
	return out, nil
}
