package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kunos-io/listwatch/cache"
	"github.com/kunos-io/listwatch/resource"
)

// Resource is a Client bound to one resource (and optionally one
// namespace), decoding its objects as T. T is the Go type of the
// resource's Descriptor, such as *kunosv1.Task, or
// *unstructured.Unstructured (see Dynamic). A Resource is immutable and
// safe for concurrent use.
//
// A Resource that can never work (an invalid descriptor, a namespace on a
// cluster-scoped resource) is still returned, so that calls chain; Err
// reports why, and every call fails at once with that error, before any
// request is sent.
type Resource[T cache.Object] struct {
	c     *Client
	info  resource.Info
	ns    string
	codec *codec[T]
	err   error
}

// For binds c to the resource d describes, with objects of type T: T is
// inferred from d, so a type and another resource's name cannot be paired.
// Decoded objects must be of d's kind, and request bodies without
// apiVersion/kind get them.
func For[T cache.Object](c *Client, d resource.Descriptor[T]) *Resource[T] {
	r := &Resource[T]{c: c, info: d.Info, codec: newCodec[T](d.GVK())}
	if err := d.Validate(); err != nil {
		r.err = fmt.Errorf("client: %w", err)
	}
	return r
}

// Dynamic binds c to the resource info describes (e.g. kunosv1.Tasks.Info),
// with objects as *unstructured.Unstructured, for code that has no Go type
// for them.
func Dynamic(c *Client, info resource.Info) *Resource[*unstructured.Unstructured] {
	return For(c, resource.Descriptor[*unstructured.Unstructured]{Info: info})
}

// Namespace returns a copy of r scoped to namespace ns ("" for all
// namespaces). A namespace on a cluster-scoped resource makes the copy
// fail every call with an error wrapping resource.ErrScope.
func (r *Resource[T]) Namespace(ns string) *Resource[T] {
	cp := *r
	cp.ns = ns
	if cp.err == nil {
		if err := r.info.CheckNamespace(ns); err != nil {
			cp.err = fmt.Errorf("client: %w", err)
		}
	}
	return &cp
}

// Err reports why r cannot work (an invalid descriptor, a namespace on a
// cluster-scoped resource), or nil. Every call of r returns this error.
func (r *Resource[T]) Err() error { return r.err }

// Info returns the descriptor of the resource r addresses.
func (r *Resource[T]) Info() resource.Info { return r.info }

// NamespaceName returns the namespace r is scoped to ("" for all).
func (r *Resource[T]) NamespaceName() string { return r.ns }

func (r *Resource[T]) newRequest(verb, method, name string) *request {
	req := &request{verb: verb, method: method, gvr: r.info.GVR, namespace: r.ns, name: name}
	if r.codec.proto && r.c.protobuf {
		req.accept = acceptProtobuf
		if verb == "watch" {
			req.accept = acceptProtobufWatch
		}
	}
	return req
}

// namedRequest builds a request for the object called name, failing at
// once if r cannot address one (no namespace on a namespaced resource).
func (r *Resource[T]) namedRequest(verb, method, name string) (*request, error) {
	req := r.newRequest(verb, method, name)
	if r.err != nil {
		return req, r.err
	}
	if err := r.info.CheckObjectNamespace(r.ns); err != nil {
		return req, fmt.Errorf("client: %s: %w", req.describe(), err)
	}
	return req, nil
}

// objectRequest builds a request addressed by obj's namespace and name:
// obj's namespace is used when r is not scoped; a mismatch is an error, and
// so is no namespace at all for a namespaced resource. A cluster-scoped
// resource ignores obj's namespace, as the server does.
func (r *Resource[T]) objectRequest(verb, method string, obj T, named bool) (*request, error) {
	req := r.newRequest(verb, method, "")
	if r.err != nil {
		return req, r.err
	}
	body, err := r.codec.encode(obj)
	if err != nil {
		return req, fmt.Errorf("%s: encode: %w", req.describe(), err)
	}
	if named {
		req.name = obj.GetName()
	}
	if ns := obj.GetNamespace(); ns != "" && r.info.Namespaced {
		if r.ns == "" {
			req.namespace = ns
		} else if ns != r.ns {
			return req, fmt.Errorf("%s: object namespace %q does not match the client's %q", req.describe(), ns, r.ns)
		}
	}
	if err := r.info.CheckObjectNamespace(req.namespace); err != nil {
		return req, fmt.Errorf("client: %s: %w", req.describe(), err)
	}
	req.body = body
	return req, nil
}

// Create creates obj (POST) and returns the object as stored.
func (r *Resource[T]) Create(ctx context.Context, obj T, opts metav1.CreateOptions) (T, error) {
	var zero T
	req, err := r.objectRequest("create", http.MethodPost, obj, false)
	if err != nil {
		return zero, err
	}
	if req.query, err = optionsQuery(&opts); err != nil {
		return zero, fmt.Errorf("%s: %w", req.describe(), err)
	}
	return r.doObject(ctx, req)
}

// Get returns the object named name.
func (r *Resource[T]) Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error) {
	var zero T
	req, err := r.namedRequest("get", http.MethodGet, name)
	if err != nil {
		return zero, err
	}
	if req.query, err = optionsQuery(&opts); err != nil {
		return zero, fmt.Errorf("%s: %w", req.describe(), err)
	}
	return r.doObject(ctx, req)
}

// Update replaces obj (PUT); obj must carry metadata.resourceVersion, and
// a stale one fails with a Conflict error. Status changes are ignored by
// the server: use UpdateStatus.
func (r *Resource[T]) Update(ctx context.Context, obj T, opts metav1.UpdateOptions) (T, error) {
	return r.update(ctx, obj, opts, nil)
}

// UpdateStatus replaces obj's status through the /status subresource.
func (r *Resource[T]) UpdateStatus(ctx context.Context, obj T, opts metav1.UpdateOptions) (T, error) {
	return r.update(ctx, obj, opts, []string{"status"})
}

func (r *Resource[T]) update(ctx context.Context, obj T, opts metav1.UpdateOptions, sub []string) (T, error) {
	var zero T
	req, err := r.objectRequest("update", http.MethodPut, obj, true)
	if err != nil {
		return zero, err
	}
	req.subresources = sub
	if req.query, err = optionsQuery(&opts); err != nil {
		return zero, fmt.Errorf("%s: %w", req.describe(), err)
	}
	return r.doObject(ctx, req)
}

// Patch applies data of patch type pt to the object named name, or to one
// of its subresources (e.g. "status").
func (r *Resource[T]) Patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions, subresources ...string) (T, error) {
	var zero T
	req, err := r.namedRequest("patch", http.MethodPatch, name)
	if err != nil {
		return zero, err
	}
	req.subresources = subresources
	req.body, req.contentType = data, string(pt)
	if req.body == nil {
		req.body = []byte{}
	}
	if req.query, err = optionsQuery(&opts); err != nil {
		return zero, fmt.Errorf("%s: %w", req.describe(), err)
	}
	return r.doObject(ctx, req)
}

// Delete deletes the object named name. The response body (the deleted
// object or a Status) is discarded.
func (r *Resource[T]) Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error {
	req, err := r.namedRequest("delete", http.MethodDelete, name)
	if err != nil {
		return err
	}
	// client-go always sends DeleteOptions as a JSON body.
	opts.TypeMeta = metav1.TypeMeta{Kind: "DeleteOptions", APIVersion: "v1"}
	body, err := json.Marshal(&opts)
	if err != nil {
		return fmt.Errorf("%s: encode options: %w", req.describe(), err)
	}
	req.body = body
	req.query = r.c.addTimeout(nil)
	resp, err := r.c.send(ctx, req)
	if err != nil {
		return err
	}
	drain(resp.Body)
	return nil
}

// doObject performs req and decodes a single T from the response.
func (r *Resource[T]) doObject(ctx context.Context, req *request) (T, error) {
	var zero T
	req.query = r.c.addTimeout(req.query)
	data, format, err := r.c.do(ctx, req)
	if err != nil {
		return zero, err
	}
	var obj T
	if format == formatProtobuf {
		obj, err = r.codec.decodeProto(data, false)
	} else {
		obj, err = r.codec.decode(data, false)
	}
	if err != nil {
		return zero, fmt.Errorf("%s: decode response: %w", req.describe(), err)
	}
	return obj, nil
}

// do performs req and returns the whole 2xx body and its encoding.
func (c *Client) do(ctx context.Context, req *request) ([]byte, wireFormat, error) {
	resp, err := c.send(ctx, req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	format, err := responseFormat(resp.Header.Get("Content-Type"), req.allowsProto())
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", req.describe(), err)
	}
	data, err := readBody(resp)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: read response: %w", req.describe(), contextErr(ctx, err))
	}
	return data, format, nil
}

// readBody reads a whole response body, sized by Content-Length when the
// server sent one (lists are large; growing by doubling copies them twice).
func readBody(resp *http.Response) ([]byte, error) {
	if n := resp.ContentLength; n > 0 && n < 1<<30 {
		buf := bytes.NewBuffer(make([]byte, 0, n+1))
		_, err := buf.ReadFrom(resp.Body)
		return buf.Bytes(), err
	}
	return io.ReadAll(resp.Body)
}
