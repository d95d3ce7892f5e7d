package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utiljson "k8s.io/apimachinery/pkg/util/json"
)

// typedList is a list response decoded straight into []T.
type typedList[T any] struct {
	Kind       string          `json:"kind"`
	APIVersion string          `json:"apiVersion"`
	Metadata   metav1.ListMeta `json:"metadata"`
	Items      []T             `json:"items"`
}

// List performs ONE list request (one page when opts.Limit is set) and
// returns its items and list metadata; metadata.Continue is non-empty when
// more pages remain. opts.Watch is ignored. See ListAll to follow pages.
func (r *Resource[T]) List(ctx context.Context, opts metav1.ListOptions) ([]T, metav1.ListMeta, error) {
	opts.Watch = false
	if r.err != nil {
		return nil, metav1.ListMeta{}, r.err
	}
	req := r.newRequest("list", http.MethodGet, "")
	req.query = r.c.addTimeout(listQuery(&opts))
	data, format, err := r.c.do(ctx, req)
	if err != nil {
		return nil, metav1.ListMeta{}, err
	}
	var (
		items []T
		meta  metav1.ListMeta
	)
	if format == formatProtobuf {
		items, meta, err = r.codec.decodeProtoList(data)
	} else {
		items, meta, err = r.decodeList(data)
	}
	if err != nil {
		return nil, metav1.ListMeta{}, fmt.Errorf("%s: decode response: %w", req.describe(), err)
	}
	return items, meta, nil
}

func (r *Resource[T]) decodeList(data []byte) ([]T, metav1.ListMeta, error) {
	cd := r.codec
	if !cd.unstructured {
		var l typedList[T]
		if err := utiljson.Unmarshal(data, &l); err != nil {
			return nil, metav1.ListMeta{}, err
		}
		if err := cd.checkListKind(l.Kind, l.APIVersion); err != nil {
			return nil, metav1.ListMeta{}, err
		}
		for i, it := range l.Items {
			if isNil(it) {
				return nil, metav1.ListMeta{}, fmt.Errorf("items[%d] is null", i)
			}
			if err := cd.checkKind(it, false); err != nil {
				return nil, metav1.ListMeta{}, fmt.Errorf("items[%d]: %w", i, err)
			}
		}
		return l.Items, l.Metadata, nil
	}
	// Unstructured: items are decoded one by one into maps (Kubernetes'
	// number handling), missing kinds inferred from the list kind.
	var l typedList[json.RawMessage]
	if err := utiljson.Unmarshal(data, &l); err != nil {
		return nil, metav1.ListMeta{}, err
	}
	if err := cd.checkListKind(l.Kind, l.APIVersion); err != nil {
		return nil, metav1.ListMeta{}, err
	}
	items := make([]T, len(l.Items))
	itemCodec := *cd
	itemCodec.gvk.Kind = strings.TrimSuffix(l.Kind, "List")
	for i, raw := range l.Items {
		obj, err := itemCodec.decode(raw, false)
		if err != nil {
			return nil, metav1.ListMeta{}, fmt.Errorf("items[%d]: %w", i, err)
		}
		items[i] = obj
	}
	return items, l.Metadata, nil
}

// checkListKind checks a list's kind and apiVersion: "<Kind>List" in the
// resource's group/version.
func (c *codec[T]) checkListKind(kind, apiVersion string) error {
	if kind == "" {
		return fmt.Errorf("list has no kind")
	}
	if apiVersion != c.gvk.GroupVersion().String() {
		return fmt.Errorf("got list %s %s, want %s", apiVersion, kind, c.gvk.GroupVersion())
	}
	if !strings.HasSuffix(kind, "List") || (c.gvk.Kind != "" && kind != c.gvk.Kind+"List") {
		want := "a list"
		if c.gvk.Kind != "" {
			want = c.gvk.Kind + "List"
		}
		return fmt.Errorf("got kind %s, want %s", kind, want)
	}
	return nil
}

// ListAll lists every page, following metadata.continue with the same
// limit (resourceVersion and resourceVersionMatch cleared on later pages,
// as the server requires). If a later page fails because its continue
// token expired (410 Expired), it falls back to one full list without
// limit at the originally requested resourceVersion, like client-go's
// pager. The returned ListMeta is that of the last response.
func (r *Resource[T]) ListAll(ctx context.Context, opts metav1.ListOptions) ([]T, metav1.ListMeta, error) {
	items, meta, err := r.List(ctx, opts)
	if err != nil || meta.Continue == "" {
		return items, meta, err
	}
	page := opts
	page.ResourceVersion, page.ResourceVersionMatch = "", ""
	for meta.Continue != "" {
		page.Continue = meta.Continue
		var more []T
		more, meta, err = r.List(ctx, page)
		if apierrors.IsResourceExpired(err) {
			r.c.log.DebugContext(ctx, "continue token expired, falling back to a full list",
				"resource", r.info.GVR.Resource, "namespace", r.ns)
			full := opts
			full.Limit, full.Continue = 0, ""
			return r.List(ctx, full)
		}
		if err != nil {
			return nil, metav1.ListMeta{}, err
		}
		items = append(items, more...)
	}
	return items, meta, nil
}
