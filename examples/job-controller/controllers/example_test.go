package controllers_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/apiserver-stub/embed"
	"github.com/kunos-io/listwatch/apiserver-stub/server"
	"github.com/kunos-io/listwatch/client"
	"github.com/kunos-io/listwatch/controller"
	"github.com/kunos-io/listwatch/examples/job-controller/controllers"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The example's controllers wired on a Manager, against an API server
// started in the process, run a Job of three Tasks to completion.
func ExampleAdd() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := embed.Start(ctx, embed.Options{Config: server.Config{Logger: quiet}, Listen: "127.0.0.1:0"})
	if err != nil {
		panic(err)
	}
	defer srv.Stop(context.Background())

	mgr, err := controller.NewManager(&client.Config{Host: srv.URL}, controller.ManagerOptions{Logger: quiet})
	if err != nil {
		panic(err)
	}
	opts := controllers.Options{Nodes: 2}
	if err := controllers.Add(mgr, opts); err != nil {
		panic(err)
	}
	if err := controllers.RegisterNodes(ctx, mgr.Client(), opts); err != nil {
		panic(err)
	}
	done := make(chan error)
	go func() { done <- mgr.Start(ctx) }()

	jobs := client.For(mgr.Client(), kunosv1.Jobs).Namespace("default")
	three := int32(3)
	job := &kunosv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "hello"},
		Spec:       kunosv1.JobSpec{Completions: &three, Parallelism: &three, Template: kunosv1.TaskTemplateSpec{Spec: kunosv1.TaskSpec{Command: []string{"sleep", "0.1"}}}},
	}
	if _, err := jobs.Create(ctx, job, metav1.CreateOptions{}); err != nil {
		panic(err)
	}
	for !meta.IsStatusConditionTrue(job.Status.Conditions, kunosv1.JobComplete) {
		time.Sleep(50 * time.Millisecond)
		if job, err = jobs.Get(ctx, "hello", metav1.GetOptions{}); err != nil {
			panic(err)
		}
	}
	fmt.Printf("%s/%s: %d/%d succeeded, complete\n", job.Namespace, job.Name, job.Status.Succeeded, *job.Spec.Completions)
	cancel()
	fmt.Println("manager stopped:", <-done)
	// Output:
	// default/hello: 3/3 succeeded, complete
	// manager stopped: <nil>
}
