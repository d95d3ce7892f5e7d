package controller

// This file holds the conflict-retry helper. Invariant: fn runs again only
// after a 409 Conflict (another writer changed the object since it was
// read), at most backoff.Steps times in all, and never after ctx is done.

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/wait"
)

// DefaultRetry is client-go's retry.DefaultRetry: 5 attempts, 10 ms apart
// with 10% jitter. It suits conflicts between controllers, which clear in
// milliseconds.
var DefaultRetry = wait.Backoff{Steps: 5, Duration: 10 * time.Millisecond, Factor: 1.0, Jitter: 0.1}

// RetryOnConflict calls fn until it returns something other than a
// Conflict error (the client reports a 409 as an apimachinery StatusError,
// so apierrors.IsConflict recognises it), sleeping backoff between
// attempts, and returns fn's last error. backoff.Steps bounds the attempts
// (fn runs at least once); the zero Backoff means DefaultRetry. fn must read the object again (from
// the server, or from a cache that has caught up) before each write:
// retrying a write of the same stale object only conflicts again.
// If ctx ends while waiting, it returns the last conflict together with
// ctx's error.
//
//	err := controller.RetryOnConflict(ctx, controller.DefaultRetry, func(ctx context.Context) error {
//		job, err := jobs.Get(ctx, name, metav1.GetOptions{})
//		if err != nil {
//			return err
//		}
//		job.Labels["seen"] = "true"
//		_, err = jobs.Update(ctx, job, metav1.UpdateOptions{})
//		return err
//	})
func RetryOnConflict(ctx context.Context, backoff wait.Backoff, fn func(ctx context.Context) error) error {
	if backoff == (wait.Backoff{}) {
		backoff = DefaultRetry
	}
	steps := max(backoff.Steps, 1)
	var err error
	for attempt := 1; ; attempt++ {
		if err = fn(ctx); !apierrors.IsConflict(err) || attempt >= steps {
			return err
		}
		t := time.NewTimer(backoff.Step())
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (gave up retrying: %w)", err, ctx.Err())
		case <-t.C:
		}
	}
}
