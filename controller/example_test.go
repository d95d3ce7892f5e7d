package controller_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/apiserver-stub/embed"
	"github.com/kunos-io/listwatch/apiserver-stub/server"
	"github.com/kunos-io/listwatch/client"
	"github.com/kunos-io/listwatch/controller"
	"github.com/kunos-io/listwatch/informer"
)

// A controller that labels every Job it sees, wired on a Manager and run
// against an API server started in the process.
func Example() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := embed.Start(ctx, embed.Options{Config: server.Config{Logger: logger}, Listen: "127.0.0.1:0"})
	if err != nil {
		panic(err)
	}
	defer srv.Stop(context.Background())

	mgr, err := controller.NewManager(&client.Config{Host: srv.URL}, controller.ManagerOptions{Logger: logger})
	if err != nil {
		panic(err)
	}
	jobs, err := informer.For(mgr.Factory(), kunosv1.Jobs) // a SharedIndexInformer[*kunosv1.Job]
	if err != nil {
		panic(err)
	}
	jobClient := client.For(mgr.Client(), kunosv1.Jobs)
	labelled := make(chan string)

	err = controller.New(mgr, "labeller", kunosv1.Jobs, controller.Options{}).
		For(jobs, controller.GenerationChanged).
		Complete(controller.ReconcilerFunc(func(ctx context.Context, req controller.Request) (controller.Result, error) {
			job, err := jobs.Lister().Namespace(req.Namespace).Get(req.Name)
			if apierrors.IsNotFound(err) || job.Labels["seen"] == "true" {
				return controller.Result{}, nil // gone, or done already
			}
			if err != nil {
				return controller.Result{}, err
			}
			after := job.DeepCopy() // cached objects are shared: copy before changing
			if after.Labels == nil {
				after.Labels = map[string]string{}
			}
			after.Labels["seen"] = "true"
			patch, err := controller.MergePatch(job, after)
			if err != nil {
				return controller.Result{}, controller.TerminalError(err)
			}
			if _, err := jobClient.Namespace(req.Namespace).Patch(ctx, req.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
				return controller.Result{}, err // retried with backoff
			}
			select {
			case labelled <- req.String():
			case <-ctx.Done():
			}
			return controller.Result{}, nil
		}))
	if err != nil {
		panic(err)
	}
	done := make(chan error)
	go func() { done <- mgr.Start(ctx) }()

	if _, err := jobClient.Namespace("default").Create(ctx, &kunosv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "demo"}}, metav1.CreateOptions{}); err != nil {
		panic(err)
	}
	fmt.Println("labelled", <-labelled)
	cancel()
	fmt.Println("manager stopped:", <-done)
	// Output:
	// labelled default/demo
	// manager stopped: <nil>
}
