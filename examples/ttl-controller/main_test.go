package main

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/apiserver-stub/stubtest"
	"github.com/kunos-io/listwatch/client"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The TTL controller, run as the command runs it against a server,
// deletes a Job that finished long ago at once, a Job that finishes while it
// runs no earlier than the TTL after it finished, and never a Job that has
// not finished.
func TestDeletesFinishedJobsAfterTheTTL(t *testing.T) {
	const ttl = 2 * time.Second
	srv := stubtest.Start(t)
	c, err := client.New(&client.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	jobs := client.For(c, kunosv1.Jobs).Namespace("default")
	ctx := context.Background()
	create := func(name string) {
		t.Helper()
		if _, err := jobs.Create(ctx, &kunosv1.Job{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	finish := func(name, condition string, at time.Time) {
		t.Helper()
		job, err := jobs.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		job.Status.Conditions = append(job.Status.Conditions, metav1.Condition{
			Type: condition, Status: metav1.ConditionTrue, Reason: "Test", LastTransitionTime: metav1.NewTime(at),
		})
		if _, err := jobs.UpdateStatus(ctx, job, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	gone := func(name string) bool {
		_, err := jobs.Get(ctx, name, metav1.GetOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
		return apierrors.IsNotFound(err)
	}
	waitGone := func(name string) time.Time {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !gone(name); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("Job %s not deleted", name)
			}
		}
		return time.Now()
	}

	for _, name := range []string{"old", "running", "failing"} {
		create(name)
	}
	finish("old", kunosv1.JobComplete, time.Now().Add(-time.Hour))

	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- run(runCtx, srv.URL, ttl, "") }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	waitGone("old")
	// Conditions keep whole seconds: a Job may be deleted up to 1s early.
	finished := time.Now()
	finish("failing", kunosv1.JobFailed, finished)
	if d := waitGone("failing").Sub(finished); d < ttl-time.Second {
		t.Errorf("a failed Job was deleted %s after it finished, before the TTL (%s)", d, ttl)
	}
	if gone("running") {
		t.Fatal("a running Job was deleted")
	}
	finished = time.Now()
	finish("running", kunosv1.JobComplete, finished)
	if d := waitGone("running").Sub(finished); d < ttl-time.Second {
		t.Errorf("a completed Job was deleted %s after it finished, before the TTL (%s)", d, ttl)
	}
}
