package server

import (
	"mime"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// outputKind is the representation a read answers with.
type outputKind int

const (
	outputJSON     outputKind = iota // the object or list itself
	outputTable                      // a meta.k8s.io Table (kubectl get)
	outputMetadata                   // PartialObjectMetadata(List) (client-go metadata informers)
)

// negotiateOutput picks the representation from the Accept header as
// kube-apiserver does: the first acceptable media range wins. JSON is the
// only encoding; as=Table;g=meta.k8s.io;v=v1 (or v1beta1) asks for a Table,
// as=PartialObjectMetadata (get, watch) or as=PartialObjectMetadataList
// (list) with g=meta.k8s.io;v=v1 for metadata only. A header naming nothing
// we can produce is 406 NotAcceptable.
func negotiateOutput(r *http.Request, list bool) (outputKind, string, error) {
	accept := r.Header.Get("Accept")
	if strings.TrimSpace(accept) == "" {
		return outputJSON, "", nil
	}
	for _, clause := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(clause))
		if err != nil {
			continue
		}
		if mt != "application/json" && mt != "*/*" && mt != "application/*" {
			continue
		}
		switch as := params["as"]; as {
		case "":
			return outputJSON, "", nil
		case "Table":
			if params["g"] == "meta.k8s.io" && (params["v"] == "v1" || params["v"] == "v1beta1") {
				return outputTable, params["v"], nil
			}
		case "PartialObjectMetadata", "PartialObjectMetadataList":
			if params["g"] == "meta.k8s.io" && params["v"] == "v1" && list == (as == "PartialObjectMetadataList") {
				return outputMetadata, "v1", nil
			}
		}
	}
	return 0, "", apierrors.NewGenericServerResponse(http.StatusNotAcceptable, "", groupResourceNone, "",
		"only the following media types are accepted: application/json, application/json;as=Table;v=v1;g=meta.k8s.io", 0, false)
}
