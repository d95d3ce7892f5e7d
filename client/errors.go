package client

import (
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utiljson "k8s.io/apimachinery/pkg/util/json"
)

// maxErrorBody bounds how much of a non-2xx body is read.
const maxErrorBody = 1 << 20

// responseError turns a non-2xx response into an apimachinery API error:
// the server's metav1.Status when the body is one, else a generic error
// synthesised from the code (as client-go does), so apierrors.IsNotFound,
// IsConflict, IsResourceExpired, IsTooManyRequests, ... work.
func responseError(r *request, code int, h http.Header, body io.Reader) error {
	data, _ := io.ReadAll(io.LimitReader(body, maxErrorBody))
	if st, ok := decodeStatus(h.Get("Content-Type"), data); ok {
		if st.Code == 0 {
			st.Code = int32(code)
		}
		if st.Status == "" {
			st.Status = metav1.StatusFailure
		}
		return &apierrors.StatusError{ErrStatus: *st}
	}
	retry, _ := retryAfterSeconds(h)
	return apierrors.NewGenericServerResponse(code, r.method, r.gvr.GroupResource(), r.name,
		bodySnippet(data), retry, true)
}

// decodeStatus decodes data as a metav1.Status if the body says kind
// Status in the encoding the content type names: JSON (or none), or
// protobuf, which kube-apiserver answers when the request preferred it.
func decodeStatus(contentType string, data []byte) (*metav1.Status, bool) {
	if contentType != "" {
		mt, _, err := mime.ParseMediaType(contentType)
		if err == nil && mt == ContentTypeProtobuf {
			st, err := decodeProtoStatus(data)
			return st, err == nil
		}
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return nil, false
		}
	}
	var st metav1.Status
	if err := utiljson.Unmarshal(data, &st); err != nil || st.Kind != "Status" {
		return nil, false
	}
	if st.APIVersion != "" && st.APIVersion != "v1" && st.APIVersion != "meta.k8s.io/v1" {
		return nil, false
	}
	return &st, true
}

// bodySnippet keeps an error body readable in a message.
func bodySnippet(data []byte) string {
	const max = 512
	s := strings.TrimSpace(string(data))
	if len(s) > max {
		s = s[:max]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		s += "..."
	}
	return s
}
