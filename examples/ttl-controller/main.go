// Command ttl-controller deletes finished Jobs (condition Complete or Failed
// true) --ttl after they finished, on an embedded API server or on --server.
package main

import (
	"context"
	"flag"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/apiserver-stub/embed"
	"github.com/kunos-io/listwatch/client"
	"github.com/kunos-io/listwatch/controller"
	"github.com/kunos-io/listwatch/informer"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func main() {
	server := flag.String("server", "", "API server URL (default: start an embedded one)")
	ttl := flag.Duration("ttl", time.Minute, "how long a finished Job is kept")
	addr := flag.String("metrics-addr", "", "address for /metrics, /healthz and /readyz (default: none)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *server, *ttl, *addr); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, server string, ttl time.Duration, metricsAddr string) error {
	if server == "" {
		srv, err := embed.Start(ctx, embed.Options{Listen: "127.0.0.1:0"})
		if err != nil {
			return err
		}
		server = srv.URL
		log.Printf("API server: %s", server)
	}
	mgr, err := controller.NewManager(&client.Config{Host: server}, controller.ManagerOptions{MetricsAddr: metricsAddr})
	if err != nil {
		return err
	}
	jobs, err := informer.For(mgr.Factory(), kunosv1.Jobs) // a SharedIndexInformer[*kunosv1.Job]
	if err != nil {
		return err
	}
	isFinished := func(e controller.Event[*kunosv1.Job]) bool { return !finishedAt(e.Object).IsZero() }
	err = controller.New(mgr, "ttl", kunosv1.Jobs, controller.Options{}).For(jobs, isFinished). // kunosv1.Jobs fixes the type
													Complete(controller.ReconcilerFunc(func(ctx context.Context, req controller.Request) (controller.Result, error) {
			job, err := jobs.Lister().Namespace(req.Namespace).Get(req.Name)
			if err != nil || finishedAt(job).IsZero() {
				return controller.Result{}, nil // gone (a cache fails only with NotFound), or not finished
			}
			if left := time.Until(finishedAt(job).Add(ttl)); left > 0 {
				return controller.Result{RequeueAfter: left}, nil
			}
			controller.LoggerFrom(ctx).Info("deleting a finished Job", "finished", finishedAt(job))
			return controller.Result{}, client.For(mgr.Client(), kunosv1.Jobs).Namespace(job.Namespace).Delete(ctx, job.Name,
				metav1.DeleteOptions{Preconditions: metav1.NewUIDPreconditions(string(job.UID))}) // spares a new Job of that name (409)
		}))
	if err != nil {
		return err
	}
	return mgr.Start(ctx)
}

// finishedAt returns when job finished, or zero if it has not.
func finishedAt(job *kunosv1.Job) time.Time {
	for _, c := range job.Status.Conditions {
		if (c.Type == kunosv1.JobComplete || c.Type == kunosv1.JobFailed) && c.Status == metav1.ConditionTrue {
			return c.LastTransitionTime.Time
		}
	}
	return time.Time{}
}
