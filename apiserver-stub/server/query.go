package server

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metainternalscheme "k8s.io/apimachinery/pkg/apis/meta/internalversion/scheme"
	"k8s.io/apimachinery/pkg/apis/meta/internalversion/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// parseListOptions decodes and validates the query of a list or watch the
// way kube-apiserver does: a malformed parameter or selector is 400
// BadRequest; an inconsistent combination (spec §2.1, §3.1) is 422 Invalid
// on kind ListOptions; a field selector on a field the kind does not expose
// is 400. RV ""/"0" watches are defaulted to sendInitialEvents, as 1.34+
// servers do.
func parseListOptions(q url.Values, res *Resource, forceWatch bool) (*internalversion.ListOptions, error) {
	opts := &internalversion.ListOptions{}
	if err := metainternalscheme.ParameterCodec.DecodeParameters(q, metav1.SchemeGroupVersion, opts); err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	if forceWatch {
		opts.Watch = true
	}
	internalversion.SetListOptionsDefaults(opts, true)
	if errs := validation.ValidateListOptions(opts, true); len(errs) > 0 {
		return nil, apierrors.NewInvalid(schema.GroupKind{Group: metav1.GroupName, Kind: "ListOptions"}, "", errs)
	}
	if opts.FieldSelector != nil {
		for _, req := range opts.FieldSelector.Requirements() {
			if !fieldSupported(res, req.Field) {
				return nil, apierrors.NewBadRequest(fmt.Sprintf("field label not supported: %s", req.Field))
			}
		}
	}
	if opts.Continue != "" && opts.ResourceVersion != "" && opts.ResourceVersion != "0" {
		return nil, apierrors.NewBadRequest("specifying resource version is not allowed when using continue")
	}
	if _, err := parseRV(opts.ResourceVersion); err != nil {
		return nil, err
	}
	return opts, nil
}

// fieldSupported reports whether field selectors may use field on res.
func fieldSupported(res *Resource, field string) bool {
	return field == "metadata.name" || field == "metadata.namespace" || slices.Contains(res.SelectableFields, field)
}

// parseRV parses a resourceVersion parameter: "" and "0" are 0, otherwise a
// positive decimal integer; anything else is 400 BadRequest.
func parseRV(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return 0, apierrors.NewBadRequest(fmt.Sprintf("invalid resource version: %q", s))
	}
	return v, nil
}
