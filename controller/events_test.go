package controller_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kunos-io/listwatch/apis/kube"
	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/client"
	"github.com/kunos-io/listwatch/controller"
)

// eventsAbout lists the Events of namespace default about the Job name,
// with kubectl describe's field selector.
func eventsAbout(t *testing.T, c *client.Client, job *kunosv1.Job) []*corev1.Event {
	t.Helper()
	events := client.For(c, kube.Events).Namespace("default")
	sel := fmt.Sprintf("involvedObject.name=%s,involvedObject.namespace=default,involvedObject.kind=Job,involvedObject.uid=%s", job.Name, job.UID)
	items, _, err := events.List(context.Background(), metav1.ListOptions{FieldSelector: sel})
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(items, func(a, b *corev1.Event) int { return strings.Compare(a.Message, b.Message) })
	return items
}

func eventsMetric(t *testing.T, e *env, name, label, value string) float64 {
	t.Helper()
	v, _ := metricValue(t, e.reg, name, map[string]string{label: value})
	return v
}

// A Recorder writes Events as client-go's does: involvedObject from the
// object and the scheme, the component as source, a repeat patched into
// count and lastTimestamp, ten distinct messages of one reason combined
// into one event, a spam filter of 25 events per source and object;
// kubectl describe (when on PATH) lists them.
func TestRecorderAggregatesAndFilters(t *testing.T) {
	e := newEnv(t, controller.ManagerOptions{})
	rec := e.mgr.EventRecorder("job-controller")
	run := e.start(t)
	job := e.createJob(t, "j1", 1, nil)
	job.TypeMeta = metav1.TypeMeta{} // as users build them: the kind comes from the scheme

	for range 5 {
		rec.Event(job, corev1.EventTypeNormal, "Created", "created task j1-a")
	}
	var got []*corev1.Event
	eventually(t, "one event with count 5", func() bool {
		got = eventsAbout(t, e.mgr.Client(), job)
		return len(got) == 1 && got[0].Count == 5
	})
	ev := got[0]
	o := ev.InvolvedObject
	if o.Kind != "Job" || o.APIVersion != "kunos.io/v1" || o.Name != "j1" || o.Namespace != "default" || o.UID != job.UID ||
		ev.Source.Component != "job-controller" || ev.ReportingController != "job-controller" || ev.Type != "Normal" ||
		ev.Reason != "Created" || ev.FirstTimestamp.IsZero() || ev.LastTimestamp.Before(&ev.FirstTimestamp) ||
		!strings.HasPrefix(ev.Name, "j1.") {
		t.Fatalf("event: %+v", ev)
	}
	// The recorder counts a write when its answer arrives, which may be
	// after the server's list already shows it.
	eventually(t, "1 create and 4 patches counted", func() bool {
		return eventsMetric(t, e, "controller_events_written_total", "verb", "create") == 1 &&
			eventsMetric(t, e, "controller_events_written_total", "verb", "patch") == 4
	})

	// Distinct messages of one reason: nine events, then one combined
	// event counting the tenth and later ones (EventAggregator).
	for i := range 12 {
		rec.Eventf(job, corev1.EventTypeWarning, "Failed", "task j1-%02d failed", i)
	}
	eventually(t, "9 events and a combined one with count 3", func() bool {
		got = eventsAbout(t, e.mgr.Client(), job)
		return len(got) == 11 && got[0].Count == 3
	})
	if !strings.HasPrefix(got[0].Message, "(combined from similar events): task j1-1") || got[0].Reason != "Failed" {
		t.Fatalf("combined event: %+v", got[0])
	}

	// The spam filter: 25 events per source and object (of one type),
	// then one per 5 minutes. j2 is fresh.
	j2 := e.createJob(t, "j2", 1, nil)
	for i := range 30 {
		rec.Eventf(j2, corev1.EventTypeNormal, fmt.Sprintf("Step%02d", i), "step %d", i)
	}
	eventually(t, "the spam filter", func() bool {
		return eventsMetric(t, e, "controller_events_dropped_total", "reason", "spam_filter") == 5
	})
	if n := len(eventsAbout(t, e.mgr.Client(), j2)); n != 25 {
		t.Fatalf("%d events about j2 written, want 25", n)
	}
	// Another source is filtered apart.
	e.mgr.EventRecorder("other").Event(j2, corev1.EventTypeNormal, "Hello", "from another component")
	eventually(t, "the other source's event", func() bool { return len(eventsAbout(t, e.mgr.Client(), j2)) == 26 })

	if kubectl, err := exec.LookPath("kubectl"); err == nil && !testing.Short() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, kubectl, "--server", e.srv.URL, "describe", "job.kunos.io", "j1", "-n", "default")
		cmd.Env = append(os.Environ(), "KUBECONFIG="+filepath.Join(t.TempDir(), "none"))
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Fatalf("kubectl describe: %v\n%s", err, out.String())
		}
		for _, re := range []string{
			`(?m)^Events:`,
			`(?m)^\s+Normal\s+Created\s+\S+ \(x5 over \S+\)\s+job-controller\s+created task j1-a$`,
			`(?m)^\s+Warning\s+Failed\s+\S+ \(x3 over \S+\)\s+job-controller\s+\(combined from similar events\): task j1-11 failed$`,
			`(?m)^\s+Warning\s+Failed\s+\S+\s+job-controller\s+task j1-00 failed$`,
		} {
			if !regexp.MustCompile(re).MatchString(out.String()) {
				t.Errorf("kubectl describe: no %s in:\n%s", re, out.String())
			}
		}
		if strings.Contains(out.String(), "Step") {
			t.Errorf("kubectl describe j1 shows j2's events:\n%s", out.String())
		}
	} else {
		t.Log("kubectl not on PATH (or -short): describe not checked")
	}

	// The recorder ends with the manager: later events are dropped.
	if err := run.stop(); err != nil {
		t.Fatal(err)
	}
	rec.Event(job, corev1.EventTypeNormal, "Late", "after the manager stopped")
	if v := eventsMetric(t, e, "controller_events_dropped_total", "reason", "stopped"); v != 1 {
		t.Fatalf("dropped after stop: %v", v)
	}
}

// Recording never blocks: with no writer running (the manager not
// started), the queue holds 1000 events and the rest are dropped and
// counted; events of an invalid type are refused.
func TestRecorderNeverBlocks(t *testing.T) {
	e := newEnv(t, controller.ManagerOptions{})
	rec := e.mgr.EventRecorder("c")
	job := &kunosv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "j", Namespace: "default"}}
	for i := range 1500 {
		rec.Eventf(job, corev1.EventTypeNormal, "R", "m%d", i)
	}
	if v := eventsMetric(t, e, "controller_events_dropped_total", "reason", "queue_full"); v != 500 {
		t.Fatalf("queue_full drops: %v, want 500", v)
	}
	rec.Event(job, "Info", "R", "not a valid type")
	if v := eventsMetric(t, e, "controller_events_dropped_total", "reason", "queue_full"); v != 500 {
		t.Fatalf("an invalid event reached the queue: %v", v)
	}
}
