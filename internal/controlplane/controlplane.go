// Package controlplane starts the controllers the API server's own
// semantics rely on beside its request path: the garbage collector and
// the namespace controller, over the store the server serves, for every
// resource the server serves. embed and stubtest start them with the
// server.
package controlplane

import (
	"context"
	"log/slog"
	"sync"

	"github.com/kunos-io/listwatch/apiserver-stub/garbagecollector"
	"github.com/kunos-io/listwatch/apiserver-stub/namespace"
	"github.com/kunos-io/listwatch/apiserver-stub/server"
	"github.com/kunos-io/listwatch/apiserver-stub/storage"
)

// Controllers are the running controllers.
type Controllers struct {
	GC     *garbagecollector.Collector
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Start runs the controllers over store until Stop.
func Start(store storage.Interface, logger *slog.Logger) (*Controllers, error) {
	if logger == nil {
		logger = slog.Default()
	}
	codec := server.NewCodec()
	var gcRes []garbagecollector.Resource
	var nsRes []namespace.Resource
	nsCfg := namespace.Config{Store: store, Codec: codec, Logger: logger}
	for _, r := range server.Resources() {
		prefix := "/" + r.GVR.Resource + "/"
		gcRes = append(gcRes, garbagecollector.Resource{GVK: r.GVK(), Prefix: prefix, Namespaced: r.Namespaced, Hold: r.Hold})
		if r.Namespaced {
			nsRes = append(nsRes, namespace.Resource{Prefix: prefix, Hold: r.Hold})
		}
		if r.GVR == server.NamespacesResource {
			nsCfg.Prefix, nsCfg.Hold = prefix, r.Hold
		}
	}
	nsCfg.Resources = nsRes
	gc, err := garbagecollector.New(garbagecollector.Config{Store: store, Codec: codec, Resources: gcRes, Logger: logger})
	if err != nil {
		return nil, err
	}
	nc, err := namespace.New(nsCfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Controllers{GC: gc, cancel: cancel}
	c.wg.Go(func() { gc.Run(ctx) })
	c.wg.Go(func() { nc.Run(ctx) })
	return c, nil
}

// Stop ends the controllers and waits for them.
func (c *Controllers) Stop() {
	c.cancel()
	c.wg.Wait()
}
