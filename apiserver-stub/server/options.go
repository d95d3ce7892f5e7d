package server

import (
	"mime"
	"net/http"
	"net/url"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metainternalversionscheme "k8s.io/apimachinery/pkg/apis/meta/internalversion/scheme"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// The options of writes, read and checked the way kube-apiserver's handlers
// (create.go, update.go, patch.go, delete.go in pkg/endpoints/handlers) do
// before anything is written: the query decoded by the meta.k8s.io
// parameter codec (a malformed value is 400 BadRequest), then validated by
// apimachinery's meta/v1/validation (a wrong value is 422 Invalid on kind
// CreateOptions, UpdateOptions, PatchOptions or DeleteOptions).

// writeOptions are what the server uses of a write's options.
type writeOptions struct {
	dryRun bool
	fv     fieldValidation
	// manager is the fieldManager parameter ("" for the User-Agent's);
	// force is server-side apply's.
	manager string
	force   bool
}

func optionsInvalid(kind string, errs field.ErrorList) error {
	return apierrors.NewInvalid(schema.GroupKind{Group: metav1.GroupName, Kind: kind}, "", errs)
}

func decodeQuery(q url.Values, into runtime.Object) error {
	if len(q) == 0 {
		return nil // the zero options, without the codec's reflection
	}
	if err := metainternalversionscheme.ParameterCodec.DecodeParameters(q, metav1.SchemeGroupVersion, into); err != nil {
		return apierrors.NewBadRequest(err.Error())
	}
	return nil
}

func toWriteOptions(dryRun []string, fv string) writeOptions {
	return writeOptions{dryRun: len(dryRun) > 0, fv: parseFieldValidation(fv)}
}

// parseCreateOptions reads the CreateOptions of a POST.
func parseCreateOptions(q url.Values) (writeOptions, error) {
	var o metav1.CreateOptions
	if err := decodeQuery(q, &o); err != nil {
		return writeOptions{}, err
	}
	if errs := metav1validation.ValidateCreateOptions(&o); len(errs) > 0 {
		return writeOptions{}, optionsInvalid("CreateOptions", errs)
	}
	wo := toWriteOptions(o.DryRun, o.FieldValidation)
	wo.manager = o.FieldManager
	return wo, nil
}

// parseUpdateOptions reads the UpdateOptions of a PUT.
func parseUpdateOptions(q url.Values) (writeOptions, error) {
	var o metav1.UpdateOptions
	if err := decodeQuery(q, &o); err != nil {
		return writeOptions{}, err
	}
	if errs := metav1validation.ValidateUpdateOptions(&o); len(errs) > 0 {
		return writeOptions{}, optionsInvalid("UpdateOptions", errs)
	}
	wo := toWriteOptions(o.DryRun, o.FieldValidation)
	wo.manager = o.FieldManager
	return wo, nil
}

// parsePatchOptions reads the PatchOptions of a PATCH of media type mt.
func parsePatchOptions(q url.Values, mt string) (writeOptions, error) {
	var o metav1.PatchOptions
	if err := decodeQuery(q, &o); err != nil {
		return writeOptions{}, err
	}
	if errs := metav1validation.ValidatePatchOptions(&o, patchTypeOf(mt)); len(errs) > 0 {
		return writeOptions{}, optionsInvalid("PatchOptions", errs)
	}
	wo := toWriteOptions(o.DryRun, o.FieldValidation)
	wo.manager = o.FieldManager
	wo.force = o.Force != nil && *o.Force
	return wo, nil
}

// parseDeleteOptions reads the DeleteOptions of a DELETE as kube-apiserver
// does: from the body when there is one (any media type the meta.k8s.io
// codecs read: JSON, YAML, protobuf; apiVersion and kind may be omitted),
// else from the query; then validates them. Nothing is deleted on any
// error, and the object stays.
func (s *Server) parseDeleteOptions(w http.ResponseWriter, r *http.Request) (*metav1.DeleteOptions, error) {
	body, err := s.readBody(w, r)
	if err != nil {
		return nil, err
	}
	opts := &metav1.DeleteOptions{}
	if len(body) > 0 {
		info, err := metaInputSerializer(r.Header.Get("Content-Type"))
		if err != nil {
			return nil, err
		}
		def := metav1.SchemeGroupVersion.WithKind("DeleteOptions")
		obj, _, err := metainternalversionscheme.Codecs.DecoderToVersion(info.Serializer, def.GroupVersion()).Decode(body, &def, opts)
		if err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		if obj != opts {
			return nil, apierrors.NewBadRequest("decoded object cannot be converted to DeleteOptions")
		}
	} else if err := decodeQuery(r.URL.Query(), opts); err != nil {
		return nil, err
	}
	// As kube-apiserver without the AllowUnsafeMalformedObjectDeletion gate.
	opts.IgnoreStoreReadErrorWithClusterBreakingPotential = nil
	if errs := metav1validation.ValidateDeleteOptions(opts); len(errs) > 0 {
		return nil, optionsInvalid("DeleteOptions", errs)
	}
	return opts, nil
}

// metaInputSerializer picks the meta.k8s.io decoder for a Content-Type
// (JSON when absent); anything else is 415, as NegotiateInputSerializer.
func metaInputSerializer(contentType string) (runtime.SerializerInfo, error) {
	types := metainternalversionscheme.Codecs.SupportedMediaTypes()
	if contentType == "" {
		contentType = types[0].MediaType
	}
	if mt, _, err := mime.ParseMediaType(contentType); err == nil {
		if info, ok := runtime.SerializerInfoForMediaType(types, mt); ok {
			return info, nil
		}
	}
	supported := make([]string, 0, len(types))
	for _, t := range types {
		supported = append(supported, t.MediaType)
	}
	return runtime.SerializerInfo{}, unsupportedMediaType(contentType, strings.Join(supported, ", "))
}

// queryBool parses a boolean query parameter as kube-apiserver does
// (runtime.Convert_Slice_string_To_bool, and requestinfo.go for watch):
// absent is false; otherwise the first value decides, and only "0" and
// "false" (in any case) are false, the empty string included being true.
func queryBool(q url.Values, name string) bool {
	v, ok := q[name]
	if !ok || len(v) == 0 {
		return false
	}
	return v[0] != "0" && !strings.EqualFold(v[0], "false")
}
