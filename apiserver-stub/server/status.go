package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/kunos-io/listwatch/apiserver-stub/storage"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// toStatus turns any error into the metav1.Status kube-apiserver would send:
// kind Status, apiVersion v1, status Failure, a code and a reason. Errors
// that are not API errors become 500 InternalError.
func toStatus(err error) *metav1.Status {
	var st metav1.Status
	var apiErr apierrors.APIStatus
	if errors.As(err, &apiErr) {
		st = apiErr.Status()
	} else {
		st = apierrors.NewInternalError(err).Status()
	}
	st.Kind, st.APIVersion = "Status", "v1"
	if st.Status == "" {
		st.Status = metav1.StatusFailure
	}
	if st.Code == 0 {
		st.Code = http.StatusInternalServerError
	}
	return &st
}

// writeError writes err as a Status with its code, and Retry-After when the
// Status asks the client to wait.
func writeError(w http.ResponseWriter, err error) int {
	st := toStatus(err)
	if st.Details != nil && st.Details.RetryAfterSeconds > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(st.Details.RetryAfterSeconds)))
	}
	writeJSON(w, int(st.Code), st)
	return int(st.Code)
}

// writeJSON writes v as a JSON response with the given code.
func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(toStatus(fmt.Errorf("encode response: %w", err)))
		code = http.StatusInternalServerError
	}
	writeRaw(w, code, b)
}

// writeRaw writes pre-encoded JSON.
func writeRaw(w http.ResponseWriter, code int, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

// Messages kube-apiserver uses for 410 responses.
const (
	msgListTooOld     = "The resourceVersion for the provided list is too old."
	msgWatchTooOld    = "The resourceVersion for the provided watch is too old."
	msgContinueTooOld = "The provided continue parameter is too old to display a consistent list result. " +
		"You can start a new list without the continue parameter, or use the continue token in this response " +
		"to retrieve the remainder of the results. Continuing with the provided token results in an " +
		"inconsistent list - objects that were created, modified, or deleted between the time the first " +
		"chunk was returned and now may show up in the list."
)

// tooLargeRV is the 504 kube-apiserver sends for a resourceVersion newer
// than it has: reason Timeout, cause ResourceVersionTooLarge, Retry-After 1.
func tooLargeRV(requested, current int64) error {
	err := apierrors.NewTimeoutError(fmt.Sprintf("Too large resource version: %d, current: %d", requested, current), 1)
	err.ErrStatus.Details.Causes = []metav1.StatusCause{{
		Type:    metav1.CauseTypeResourceVersionTooLarge,
		Message: "Too large resource version",
	}}
	return err
}

// storageError maps a storage error for resource gr (object name, if any)
// to the API error kube-apiserver would return. tooOld is the 410 message.
func storageError(err error, gr schema.GroupResource, name, tooOld string) error {
	var se *storage.Error
	if !errors.As(err, &se) {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			// The request ran out of time (or its client left) in the
			// backend, as kube-apiserver's finisher reports it.
			return apierrors.NewTimeoutError(fmt.Sprintf("request did not complete within requested timeout - %v", err), 0)
		}
		return apierrors.NewInternalError(err)
	}
	switch se.Code {
	case storage.CodeNotFound:
		return apierrors.NewNotFound(gr, name)
	case storage.CodeAlreadyExists:
		return apierrors.NewAlreadyExists(gr, name)
	case storage.CodeConflict:
		return apierrors.NewConflict(gr, name, errors.New(msgModified))
	case storage.CodeCompacted:
		return apierrors.NewResourceExpired(tooOld)
	case storage.CodeFutureRevision:
		return tooLargeRV(se.Revision, se.Current)
	case storage.CodeTooManyWatchers:
		return apierrors.NewTooManyRequests("too many watchers, please try again later", 1)
	case storage.CodeInvalidObject:
		return apierrors.NewBadRequest(se.Error())
	case storage.CodeUnavailable:
		return apierrors.NewServiceUnavailable("storage is unavailable: " + se.Msg)
	case storage.CodeCorrupt:
		return apierrors.NewInternalError(se)
	}
	return apierrors.NewInternalError(err)
}

const msgModified = "the object has been modified; please apply your changes to the latest version and try again"
