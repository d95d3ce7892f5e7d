package controllers_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/kunos-io/listwatch/apis/kube"
	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/client"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// eventCounts sums the count of the Events in ns by "kind/reason", and
// returns the Events too.
func eventCounts(t *testing.T, c *client.Client, ns string) (map[string]int32, []*corev1.Event) {
	t.Helper()
	evs, _, err := client.For(c, kube.Events).Namespace(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int32{}
	for _, e := range evs {
		counts[e.InvolvedObject.Kind+"/"+e.Reason] += e.Count
	}
	return counts, evs
}

// TestEventsAsKubectlShowsThem checks the Events the Job controller and the
// scheduler record: one SuccessfulCreate per Task (counted across
// client-go's aggregation), one Completed, one Scheduled per Task naming
// its Node, and a Warning BackoffLimitExceeded on a failing Job.
func TestEventsAsKubectlShowsThem(t *testing.T) {
	srv, c := setup(t)
	startCluster(t, srv.URL, 3)
	jobs := client.For(c, kunosv1.Jobs).Namespace("ev")
	if _, err := jobs.Create(context.Background(), newJob("ev", "ok", 12, 3, 6, "sleep", "0.05"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := jobs.Create(context.Background(), newJob("ev", "bad", 3, 2, 1, "false"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitJob(t, jobs, "ok", complete, "Complete")
	waitJob(t, jobs, "bad", func(j *kunosv1.Job) bool { return meta.IsStatusConditionTrue(j.Status.Conditions, kunosv1.JobFailed) }, "Failed")
	var counts map[string]int32
	var evs []*corev1.Event
	eventually(t, "the Events", func() bool {
		counts, evs = eventCounts(t, c, "ev")
		return counts["Job/Completed"] >= 1 && counts["Job/BackoffLimitExceeded"] >= 1 && counts["Task/Scheduled"] >= 12
	})
	okCreates, okScheduled := int32(0), 0
	for _, e := range evs {
		switch {
		case e.InvolvedObject.Name == "ok" && e.Reason == "SuccessfulCreate":
			okCreates += e.Count
			if e.Type != corev1.EventTypeNormal || e.Source.Component != "job-controller" || e.InvolvedObject.APIVersion != "kunos.io/v1" {
				t.Errorf("SuccessfulCreate event: %+v", e)
			}
		case e.InvolvedObject.Name == "ok" && e.Reason == "Completed":
			if e.Count != 1 || e.Type != corev1.EventTypeNormal || e.Message != "Job completed" {
				t.Errorf("Completed event: count %d, %s %q", e.Count, e.Type, e.Message)
			}
		case e.InvolvedObject.Name == "bad" && e.Reason == "BackoffLimitExceeded":
			if e.Count != 1 || e.Type != corev1.EventTypeWarning {
				t.Errorf("BackoffLimitExceeded event: count %d, %s", e.Count, e.Type)
			}
		case e.InvolvedObject.Kind == "Task" && e.Reason == "Scheduled":
			task, err := client.For(c, kunosv1.Tasks).Namespace("ev").Get(context.Background(), e.InvolvedObject.Name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				continue // a failed Job's active Task, deleted
			} else if err != nil {
				t.Fatal(err)
			}
			want := fmt.Sprintf("Successfully assigned ev/%s to %s", task.Name, task.Spec.NodeName)
			if e.Message != want || e.Count != 1 || e.Source.Component != "scheduler" || e.InvolvedObject.UID != task.UID {
				t.Errorf("Scheduled event %q (count %d, from %s), want %q once from scheduler", e.Message, e.Count, e.Source.Component, want)
			}
			if task.Labels["app"] == "ok" {
				okScheduled++
			}
		}
	}
	if okCreates != 12 || okScheduled != 12 {
		t.Fatalf("Job ok: %d SuccessfulCreate and %d Scheduled events, want 12 and 12 (all: %v)", okCreates, okScheduled, counts)
	}
}
