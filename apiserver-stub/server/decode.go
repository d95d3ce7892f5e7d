package server

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/validation/field"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

func tooLarge(limit int64) error {
	return apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("limit is %d bytes", limit))
}

// protobufMediaType is Kubernetes' protobuf encoding, which typed
// client-go clients (kubectl create rolebinding, kubectl auth can-i) send
// for the kinds of k8s.io/api.
const protobufMediaType = "application/vnd.kubernetes.protobuf"

// protoMagic starts every protobuf body: "k8s" and a zero byte, then a
// runtime.Unknown holding the object.
var protoMagic = []byte{0x6b, 0x38, 0x73, 0x00}

// protoUnmarshaler is implemented by the generated types of k8s.io/api.
type protoUnmarshaler interface{ Unmarshal([]byte) error }

// acceptsProtobuf reports whether res takes protobuf bodies: the kinds of
// k8s.io/api do, custom kinds (kunos.io/v1) do not, as for CRDs.
func acceptsProtobuf(res *Resource) bool {
	_, ok := res.New().(protoUnmarshaler)
	return ok
}

// bodyMediaType checks the Content-Type of an object body of res:
// application/json (also when the header is absent), application/yaml,
// and for the kinds of k8s.io/api application/vnd.kubernetes.protobuf.
// Anything else is 415, before the body is read.
func bodyMediaType(contentType string, res *Resource) (string, error) {
	if strings.TrimSpace(contentType) == "" {
		return "application/json", nil
	}
	accepted := "application/json, application/yaml"
	proto := acceptsProtobuf(res)
	if proto {
		accepted += ", " + protobufMediaType
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil || (mt != "application/json" && mt != "application/yaml" && (mt != protobufMediaType || !proto)) {
		return "", unsupportedMediaType(contentType, accepted)
	}
	return mt, nil
}

// bodyJSON returns a body of media type mt (from bodyMediaType) for res
// as JSON.
func bodyJSON(mt string, body []byte, res *Resource) ([]byte, error) {
	switch mt {
	case "application/yaml":
		j, err := yaml.YAMLToJSON(body)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("the body of the request is not valid YAML: %v", err))
		}
		return j, nil
	case protobufMediaType:
		return protobufToJSON(body, res)
	}
	return body, nil
}

// protobufToJSON decodes a protobuf body of res and re-encodes it as
// JSON, so that one decoder (decodeObject) checks every body.
func protobufToJSON(body []byte, res *Resource) ([]byte, error) {
	rest, ok := bytes.CutPrefix(body, protoMagic)
	if !ok {
		return nil, apierrors.NewBadRequest("the body of the request is not a Kubernetes protobuf message (no k8s\\x00 prefix)")
	}
	var u runtime.Unknown
	if err := u.Unmarshal(rest); err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the body of the request is not a valid protobuf message: %v", err))
	}
	if u.ContentEncoding != "" {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("unsupported protobuf content encoding %q", u.ContentEncoding))
	}
	gvk := res.GVK()
	if u.APIVersion != "" && u.APIVersion != gvk.GroupVersion().String() || u.Kind != "" && u.Kind != gvk.Kind {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the body of the request is a %s %s, not a %s", u.APIVersion, u.Kind, gvk))
	}
	obj := res.New()
	if err := obj.(protoUnmarshaler).Unmarshal(u.Raw); err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("%s cannot be decoded from protobuf: %v", gvk.Kind, err))
	}
	obj.GetObjectKind().SetGroupVersionKind(gvk)
	j, err := json.Marshal(obj)
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	return j, nil
}

func unsupportedMediaType(got, accepted string) error {
	return apierrors.NewGenericServerResponse(http.StatusUnsupportedMediaType, "", groupResourceNone, "",
		fmt.Sprintf("the body of the request was in an unknown format (%q) - accepted media types include: %s", got, accepted), 0, false)
}

// fieldValidation is the fieldValidation query parameter.
type fieldValidation int

const (
	fieldValidationWarn fieldValidation = iota // default, as in kube 1.27+
	fieldValidationIgnore
	fieldValidationStrict
)

// parseFieldValidation reads a fieldValidation value that
// ValidateCreateOptions (or its update and patch siblings) accepted.
func parseFieldValidation(v string) fieldValidation {
	switch v {
	case "Ignore":
		return fieldValidationIgnore
	case "Strict":
		return fieldValidationStrict
	}
	return fieldValidationWarn
}

// decodeObject parses JSON into a new object of res's kind. apiVersion and
// kind may be omitted (they default to the endpoint's) but must not differ.
// Malformed JSON is 400; values of the wrong type are 422 Invalid for kinds
// with a schema (400 for others); unknown or duplicate fields are 400
// under Strict validation and returned as warnings under Warn.
func decodeObject(res *Resource, data []byte, fv fieldValidation) (runtime.Object, []string, error) {
	return decodeObjectFor(res, "", data, fv)
}

// decodeObjectFor is decodeObject for a write to subresource ("" for the
// main resource): a value of the wrong type in the part such a write
// ignores (.status of the main resource, all but .status of /status) is
// dropped with that part, as kube-apiserver never looks at it.
func decodeObjectFor(res *Resource, subresource string, data []byte, fv fieldValidation) (runtime.Object, []string, error) {
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return nil, nil, apierrors.NewBadRequest("the body of the request must be a JSON object")
	}
	var tm struct {
		APIVersion any `json:"apiVersion"`
		Kind       any `json:"kind"`
	}
	if err := json.Unmarshal(data, &tm); err != nil {
		return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("the body of the request is not a valid JSON object: %v", err))
	}
	gvk := res.GVK()
	if tm.APIVersion != nil && tm.APIVersion != "" && tm.APIVersion != gvk.GroupVersion().String() {
		return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("the API version in the data (%v) does not match the expected API version (%s)", tm.APIVersion, gvk.GroupVersion()))
	}
	if k, ok := tm.Kind.(string); ok && k != "" && k != gvk.Kind && res.custom() {
		return nil, nil, wrongKind(res, k, data)
	}
	if tm.Kind != nil && tm.Kind != "" && tm.Kind != gvk.Kind {
		return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("the kind in the data (%v) does not match the expected kind (%s)", tm.Kind, gvk.Kind))
	}
	obj := res.New()
	strictErrs, err := sigsjson.UnmarshalStrict(data, obj)
	if err != nil {
		// A value of the wrong type: where the kind has a schema, 422 with
		// the field causes kube-apiserver gives (it decodes custom
		// resources without a Go type and lets the schema judge).
		pruned, invalid := schemaDecodeError(res, subresource, data, false)
		if invalid != nil {
			return nil, nil, invalid
		}
		if pruned != nil {
			obj = res.New()
			strictErrs, err = sigsjson.UnmarshalStrict(pruned, obj)
		}
	} else if _, invalid := schemaDecodeError(res, subresource, data, true); invalid != nil {
		// A required field the body lacks: the Go type fills in its zero
		// value, which the later check of the decoded object cannot tell
		// from one the client sent.
		return nil, nil, invalid
	}
	if err != nil {
		return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("%s in version %q cannot be handled as a %s: %v", gvk.Kind, gvk.Version, gvk.Kind, err))
	}
	obj.GetObjectKind().SetGroupVersionKind(gvk)
	var warnings []string
	if len(strictErrs) > 0 {
		msgs := make([]string, len(strictErrs))
		for i, e := range strictErrs {
			msgs[i] = e.Error()
		}
		switch fv {
		case fieldValidationStrict:
			return nil, nil, apierrors.NewBadRequest("strict decoding error: " + strings.Join(msgs, ", "))
		case fieldValidationWarn:
			warnings = msgs
		}
	}
	return obj, warnings, nil
}

// addWarnings sets Warning headers as kube-apiserver does for field
// validation in Warn mode.
func addWarnings(w http.ResponseWriter, warnings []string) {
	for _, m := range warnings {
		w.Header().Add("Warning", fmt.Sprintf("299 - %q", m))
	}
}

// validateNew checks the metadata of an object about to be created.
func validateNew(res *Resource, obj runtime.Object) error {
	acc, err := meta.Accessor(obj)
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	errs := apivalidation.ValidateObjectMetaAccessor(acc, res.Namespaced, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	if res.Validate != nil {
		errs = append(errs, res.Validate(obj, nil)...)
	}
	serrs, err := schemaErrors(res, obj, nil)
	if err != nil {
		return err
	}
	errs = append(errs, serrs...)
	if len(errs) > 0 {
		return apierrors.NewInvalid(res.GVK().GroupKind(), acc.GetName(), errs)
	}
	return nil
}

// schemaErrors validates obj against its kind's schema (none: no errors);
// with old set, changes are judged with ratcheting (see
// kindSchema.validateValue).
func schemaErrors(res *Resource, obj, old runtime.Object) (field.ErrorList, error) {
	if res.schema == nil {
		return nil, nil
	}
	v, err := toJSONValue(obj)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	var ov any
	if old != nil {
		if ov, err = toJSONValue(old); err != nil {
			return nil, apierrors.NewInternalError(err)
		}
	}
	return res.schema.validateTyped(v, ov), nil
}

// schemaDecodeError validates a body as sent against the kind's schema,
// without the part a write to subresource ignores: the Invalid error for
// what the schema refuses (only missing required fields if requiredOnly)
// or, when it refuses nothing and a part was dropped, the body without that
// part (to decode again). Both nil: no schema, or not a JSON object.
func schemaDecodeError(res *Resource, subresource string, data []byte, requiredOnly bool) ([]byte, error) {
	if res.schema == nil {
		return nil, nil
	}
	var m map[string]any
	if err := utiljson.Unmarshal(data, &m); err != nil || m == nil {
		return nil, nil
	}
	if requiredOnly && !res.schema.required.mayLack(m) {
		// The common case, a body with every required field: no need for
		// the validator, which the decoded object meets later anyway.
		return nil, nil
	}
	if md, ok := m["metadata"]; ok {
		// Metadata is decoded before any schema applies: a wrong type
		// there stays a 400, as in kube-apiserver.
		b, err := json.Marshal(md)
		if err != nil || json.Unmarshal(b, &metav1.ObjectMeta{}) != nil {
			return nil, nil
		}
	}
	dropped := false
	if res.HasStatus {
		for k := range m {
			keep := k == "apiVersion" || k == "kind" || k == "metadata" || (k == "status") == (subresource == "status")
			if !keep {
				delete(m, k)
				dropped = true
			}
		}
	}
	errs := res.schema.validateValue(m, nil)
	if requiredOnly {
		errs = slices.DeleteFunc(errs, func(e *field.Error) bool { return e.Type != field.ErrorTypeRequired })
	}
	if len(errs) > 0 {
		name, _ := lookupJSON(m, "metadata.name")
		s, _ := name.(string)
		return nil, apierrors.NewInvalid(res.GVK().GroupKind(), s, errs)
	}
	if !dropped {
		return nil, nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, nil
	}
	return b, nil
}

// validateUpdate checks the metadata of an update against the old object:
// valid on its own, and name, namespace, uid and the like unchanged.
func validateUpdate(res *Resource, obj, old runtime.Object) error {
	acc, err := meta.Accessor(obj)
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	oldAcc, err := meta.Accessor(old)
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	errs := apivalidation.ValidateObjectMetaAccessor(acc, res.Namespaced, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	errs = append(errs, apivalidation.ValidateObjectMetaAccessorUpdate(acc, oldAcc, field.NewPath("metadata"))...)
	if res.Validate != nil {
		errs = append(errs, res.Validate(obj, old)...)
	}
	serrs, err := schemaErrors(res, obj, old)
	if err != nil {
		return err
	}
	errs = append(errs, serrs...)
	if len(errs) > 0 {
		return apierrors.NewInvalid(res.GVK().GroupKind(), acc.GetName(), errs)
	}
	return nil
}

// structField returns the addressable field name (Spec or Status) of obj.
func structField(obj runtime.Object, name string) reflect.Value {
	return reflect.ValueOf(obj).Elem().FieldByName(name)
}

// copyField sets dst.name = src.name (both of the same kind).
func copyField(dst, src runtime.Object, name string) {
	structField(dst, name).Set(structField(src, name))
}

// resetField zeroes obj.name.
func resetField(obj runtime.Object, name string) {
	f := structField(obj, name)
	f.Set(reflect.Zero(f.Type()))
}

func fieldEqual(a, b runtime.Object, name string) bool {
	return reflect.DeepEqual(structField(a, name).Interface(), structField(b, name).Interface())
}

// newUID returns a random RFC 4122 version 4 UUID.
func newUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// wrongKindError is a custom resource's answer to a body of another kind
// of its group and version: kube-apiserver decodes it (custom resources
// have no Go type to refuse it), and validation finds the kind wrong
// (customResourceValidator.ValidateTypeMeta), after the namespace checks
// of admission. name is the body's metadata.name.
type wrongKindError struct {
	*apierrors.StatusError
	name string
}

func (e *wrongKindError) Unwrap() error { return e.StatusError }

// wrongKind is 422 Invalid with one cause on kind, named by the body's own
// kind and name as kube-apiserver names it.
func wrongKind(res *Resource, kind string, data []byte) error {
	var m struct {
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	_ = json.Unmarshal(data, &m)
	gvk := res.GVK()
	errs := field.ErrorList{field.Invalid(field.NewPath("kind"), kind, "must be "+gvk.Kind)}
	return &wrongKindError{
		StatusError: apierrors.NewInvalid(schema.GroupKind{Group: gvk.Group, Kind: kind}, m.Metadata.Name, errs),
		name:        m.Metadata.Name,
	}
}
