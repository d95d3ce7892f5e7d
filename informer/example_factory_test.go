package informer_test

import (
	"context"
	"log"
	"net/http"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/client"
	"github.com/kunos-io/listwatch/informer"
)

// A Factory shares informers among a program's controllers, starts them,
// reports readiness, and can stop one informer on its own.
func ExampleFactory() {
	ctx := context.Background()
	c, err := client.New(&client.Config{Host: "http://127.0.0.1:8080"})
	if err != nil {
		log.Fatal(err)
	}
	f := informer.NewFactory(c, informer.FactoryOptions{})
	defer f.Shutdown()

	// The descriptor says the Go type: tasks is a SharedIndexInformer[*kunosv1.Task].
	tasks, err := informer.For(f, kunosv1.Tasks)
	if err != nil {
		log.Fatal(err)
	}
	mine, err := informer.For(f, kunosv1.Tasks, informer.WithFieldSelector("spec.nodeName=node-1"))
	if err != nil {
		log.Fatal(err) // e.g. a field Tasks cannot be selected on
	}
	reg, err := mine.AddEventHandler(informer.HandlerFuncs[*kunosv1.Task]{
		AddFunc:    func(t *kunosv1.Task, isInInitialList bool) { log.Println("run", t.Name) },
		DeleteFunc: func(t *kunosv1.Task, finalStateUnknown bool) { log.Println("stop", t.Name) },
	}, informer.WithName("node-agent"), informer.WithDelivery(informer.Delivery{Policy: informer.Block}))
	if err != nil {
		log.Fatal(err)
	}
	http.Handle("/readyz", f.ReadyzHandler())

	f.Start(ctx)
	if !informer.WaitForCacheSync(ctx, tasks.HasSynced, reg.HasSynced) {
		return
	}
	// Later: this node left; stop its informer and its handler.
	informer.Remove(f, kunosv1.Tasks, informer.WithFieldSelector("spec.nodeName=node-1"))
}
