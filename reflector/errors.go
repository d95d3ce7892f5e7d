package reflector

import (
	"errors"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// classify maps a list or watch error to the outcome the state machine acts
// on. other is the outcome of an error that is none of the known kinds.
func classify(err error, other outcome) result {
	switch {
	case err == nil:
		return result{outcome: ok}
	case isExpired(err):
		return result{outcome: expired, err: err}
	case isTooLarge(err):
		return result{outcome: tooLarge, err: err}
	case apierrors.IsTooManyRequests(err):
		res := result{outcome: throttled, err: err}
		if secs, ok := apierrors.SuggestsClientDelay(err); ok && secs > 0 {
			res.delay = time.Duration(secs) * time.Second
		}
		return res
	}
	return result{outcome: other, err: err}
}

// isExpired reports a 410: the requested resourceVersion is compacted away.
func isExpired(err error) bool {
	return apierrors.IsResourceExpired(err) || apierrors.IsGone(err)
}

// isTooLarge reports a request for a resourceVersion the server has not
// reached, including the message-only form of 1.17–1.18.5 servers.
func isTooLarge(err error) bool {
	if apierrors.HasStatusCause(err, metav1.CauseTypeResourceVersionTooLarge) {
		return true
	}
	var st apierrors.APIStatus
	if errors.As(err, &st) && st.Status().Reason == metav1.StatusReasonTimeout {
		return strings.Contains(st.Status().Message, "Too large resource version")
	}
	return false
}
