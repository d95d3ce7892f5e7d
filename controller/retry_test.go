package controller_test

import (
	"context"
	"errors"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/kunos-io/listwatch/controller"
)

// RetryOnConflict against the server: a stale Update gets the server's 409,
// which the client reports so that the helper recognises it, and the next
// attempt, reading afresh, succeeds.
func TestRetryOnConflictWithTheServer(t *testing.T) {
	e := newEnv(t, controller.ManagerOptions{})
	ctx := context.Background()
	e.createJob(t, "a", 1, nil)
	stale, err := e.jobClient.Get(ctx, "a", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	other := stale.DeepCopy()
	other.Labels = map[string]string{"by": "other"}
	if _, err := e.jobClient.Update(ctx, other, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	attempts := 0
	err = controller.RetryOnConflict(ctx, controller.DefaultRetry, func(ctx context.Context) error {
		attempts++
		job := stale
		if attempts > 1 {
			if job, err = e.jobClient.Get(ctx, "a", metav1.GetOptions{}); err != nil {
				return err
			}
		}
		job = job.DeepCopy()
		job.Labels = map[string]string{"by": "me"}
		_, err := e.jobClient.Update(ctx, job, metav1.UpdateOptions{})
		return err
	})
	if err != nil || attempts != 2 {
		t.Fatalf("err %v after %d attempts; want success at the second", err, attempts)
	}
}

func TestRetryOnConflictBounds(t *testing.T) {
	conflict := apierrors.NewConflict(schema.GroupResource{Resource: "jobs"}, "a", errors.New("changed"))
	count := func(backoff wait.Backoff, ret error) (int, error) {
		n := 0
		err := controller.RetryOnConflict(context.Background(), backoff, func(context.Context) error { n++; return ret })
		return n, err
	}
	if n, err := count(wait.Backoff{}, conflict); n != controller.DefaultRetry.Steps || !apierrors.IsConflict(err) {
		t.Errorf("always conflicting, zero backoff: %d attempts, %v; want %d and the conflict", n, err, controller.DefaultRetry.Steps)
	}
	if n, err := count(wait.Backoff{Steps: 2, Duration: time.Millisecond}, conflict); n != 2 || !apierrors.IsConflict(err) {
		t.Errorf("Steps 2: %d attempts, %v", n, err)
	}
	other := apierrors.NewNotFound(schema.GroupResource{Resource: "jobs"}, "a")
	if n, err := count(wait.Backoff{}, other); n != 1 || !apierrors.IsNotFound(err) {
		t.Errorf("not a conflict: %d attempts, %v; want 1 and NotFound", n, err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := controller.RetryOnConflict(ctx, wait.Backoff{Steps: 5, Duration: time.Hour}, func(context.Context) error { return conflict })
	if !errors.Is(err, context.Canceled) || !apierrors.IsConflict(err) {
		t.Errorf("cancelled while waiting: %v; want the conflict and context.Canceled", err)
	}
}
