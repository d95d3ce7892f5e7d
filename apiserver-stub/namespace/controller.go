package namespace

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kunos-io/listwatch/apiserver-stub/deletion"
	"github.com/kunos-io/listwatch/apiserver-stub/storage"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
)

// Resource is a namespaced resource whose objects a Namespace's deletion
// removes.
type Resource struct {
	// Prefix is the storage key prefix of its collection, e.g. "/tasks/".
	Prefix string
	// Hold is the kind's own finalization, as the server applies it.
	Hold deletion.HoldFunc
}

// Config configures a Controller; every field but Logger and PollInterval
// is required.
type Config struct {
	Store storage.Interface
	Codec storage.Codec
	// Prefix is the storage key prefix of Namespaces, "/namespaces/".
	Prefix string
	// Hold is the Namespace kind's own finalization (spec.finalizers).
	Hold deletion.HoldFunc
	// Resources are the namespaced resources.
	Resources []Resource
	// PollInterval is how often a Namespace whose content is still going
	// is looked at again; default 200ms.
	PollInterval time.Duration
	Logger       *slog.Logger
}

// Controller finishes Namespace deletions. Run it once.
type Controller struct {
	cfg Config

	mu      sync.Mutex
	pending map[string]bool // terminating namespaces by name
	kick    chan struct{}
}

// New returns a Controller for cfg.
func New(cfg Config) (*Controller, error) {
	if cfg.Store == nil || cfg.Codec == nil || cfg.Prefix == "" {
		return nil, errors.New("namespace: Store, Codec and Prefix are required")
	}
	if !validPrefix(cfg.Prefix) {
		return nil, errors.New("namespace: Prefix must start and end with /")
	}
	for _, r := range cfg.Resources {
		if !validPrefix(r.Prefix) {
			return nil, errors.New("namespace: resource prefix " + r.Prefix + " must start and end with /")
		}
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 200 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Controller{cfg: cfg, pending: map[string]bool{}, kick: make(chan struct{}, 1)}, nil
}

// Run works until ctx ends and returns when its goroutines have.
func (c *Controller) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { c.watch(ctx) })
	t := time.NewTicker(c.cfg.PollInterval)
	defer func() { t.Stop(); wg.Wait() }()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.kick:
		case <-t.C:
		}
		c.mu.Lock()
		names := make([]string, 0, len(c.pending))
		for n := range c.pending {
			names = append(names, n)
		}
		c.mu.Unlock()
		for _, name := range names {
			if done, err := c.finalize(ctx, name); err != nil {
				c.cfg.Logger.Debug("namespace: finalize", "namespace", name, "err", err)
			} else if done {
				c.mu.Lock()
				delete(c.pending, name)
				c.mu.Unlock()
			}
		}
	}
}

type metaOnly struct {
	Metadata metav1.ObjectMeta `json:"metadata"`
}

// watch tracks the Namespaces marked for deletion.
func (c *Controller) watch(ctx context.Context) {
	for ctx.Err() == nil {
		w, err := c.cfg.Store.Watch(ctx, c.cfg.Prefix, storage.WatchOptions{SendInitialEvents: true})
		if err != nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(c.cfg.PollInterval):
			}
			continue
		}
		for ev := range w.ResultChan() {
			if ev.Type != watch.Added && ev.Type != watch.Modified {
				continue
			}
			var m metaOnly
			if json.Unmarshal(ev.Object.Data, &m) != nil || m.Metadata.DeletionTimestamp == nil {
				continue
			}
			c.mu.Lock()
			c.pending[m.Metadata.Name] = true
			c.mu.Unlock()
			select {
			case c.kick <- struct{}{}:
			default:
			}
		}
		w.Stop()
	}
}

// finalize deletes what is left in the namespace and, when nothing is,
// removes its "kubernetes" finalizer. done says there is nothing more to
// do for it.
func (c *Controller) finalize(ctx context.Context, name string) (done bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	key := c.cfg.Prefix + name
	rec, err := c.cfg.Store.Get(ctx, key, 0)
	if storage.IsNotFound(err) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	var m metaOnly
	if err := json.Unmarshal(rec.Data, &m); err != nil {
		return false, err
	}
	if m.Metadata.DeletionTimestamp == nil {
		return true, nil
	}
	left := 0
	for _, r := range c.cfg.Resources {
		res, err := c.cfg.Store.List(ctx, r.Prefix+name+"/", storage.ListOptions{})
		if err != nil {
			return false, err
		}
		for _, it := range res.Items {
			left++
			var im metaOnly
			if json.Unmarshal(it.Data, &im) == nil && im.Metadata.DeletionTimestamp != nil {
				continue // its finalizers decide
			}
			bg := metav1.DeletePropagationBackground
			uid := im.Metadata.UID
			_, err := deletion.Delete(ctx, c.cfg.Store, c.cfg.Codec, it.Key, deletion.Options{
				Policy: bg, Hold: r.Hold,
				Check: func(_ runtime.Object, acc metav1.Object) error {
					if acc.GetUID() != uid {
						return errGone
					}
					return nil
				},
			})
			if err != nil && !storage.IsNotFound(err) && !errors.Is(err, errGone) {
				return false, err
			}
		}
	}
	if left > 0 {
		return false, nil // look again: the next poll sees what finalizers left
	}
	_, _, err = deletion.Mutate(ctx, c.cfg.Store, c.cfg.Codec, key, c.cfg.Hold, func(obj runtime.Object, acc metav1.Object) (bool, error) {
		ns, ok := obj.(*corev1.Namespace)
		if !ok || acc.GetUID() != m.Metadata.UID {
			return false, nil
		}
		if !slices.Contains(ns.Spec.Finalizers, corev1.FinalizerKubernetes) {
			// Our part is done; a Namespace that other finalizers hold
			// stays until they are done.
			return false, nil
		}
		ns.Spec.Finalizers = slices.DeleteFunc(ns.Spec.Finalizers, func(f corev1.FinalizerName) bool { return f == corev1.FinalizerKubernetes })
		return true, nil
	})
	if err != nil && !storage.IsNotFound(err) {
		return false, err
	}
	return true, nil
}

var errGone = errors.New("namespace: object replaced")

// validPrefix reports a collection prefix.
func validPrefix(p string) bool { return strings.HasPrefix(p, "/") && strings.HasSuffix(p, "/") }
