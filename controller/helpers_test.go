package controller_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/apiserver-stub/stubtest"
	"github.com/kunos-io/listwatch/cache"
	"github.com/kunos-io/listwatch/client"
	"github.com/kunos-io/listwatch/controller"
	"github.com/kunos-io/listwatch/informer"
	"github.com/kunos-io/listwatch/resource"
)

// env is a server, a manager on it with informers for Jobs, Tasks and
// Nodes, and typed clients for the test's own writes.
type env struct {
	srv   *stubtest.Server
	mgr   *controller.Manager
	reg   *prometheus.Registry
	jobs  informer.SharedIndexInformer[*kunosv1.Job]
	tasks informer.SharedIndexInformer[*kunosv1.Task]
	nodes informer.SharedIndexInformer[*kunosv1.Node]

	jobClient  *client.Resource[*kunosv1.Job]
	taskClient *client.Resource[*kunosv1.Task]
	nodeClient *client.Resource[*kunosv1.Node]
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func newEnv(t *testing.T, opts controller.ManagerOptions) *env {
	t.Helper()
	srv := stubtest.Start(t)
	reg := prometheus.NewRegistry()
	if opts.Registerer == nil {
		opts.Registerer = reg
	}
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	// No client-side rate limit: the tests write in bursts.
	mgr, err := controller.NewManager(&client.Config{Host: srv.URL, QPS: -1}, opts)
	if err != nil {
		t.Fatal(err)
	}
	f := mgr.Factory()
	c := mgr.Client()
	return &env{
		srv:        srv,
		mgr:        mgr,
		reg:        reg,
		jobs:       mustInformer(t, f, kunosv1.Jobs),
		tasks:      mustInformer(t, f, kunosv1.Tasks),
		nodes:      mustInformer(t, f, kunosv1.Nodes),
		jobClient:  client.For(c, kunosv1.Jobs).Namespace("default"),
		taskClient: client.For(c, kunosv1.Tasks).Namespace("default"),
		nodeClient: client.For(c, kunosv1.Nodes),
	}
}

// running is a Manager.Start in progress.
type running struct {
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

// stop cancels Start's context and returns Start's error once it returned.
func (r *running) stop() error {
	r.once.Do(func() { r.cancel(); r.err = <-r.done })
	return r.err
}

// start runs the manager until the test ends or stop is called.
func (e *env) start(t *testing.T) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- e.mgr.Start(ctx) }()
	t.Cleanup(func() { _ = r.stop() })
	return r
}

func (e *env) createJob(t *testing.T, name string, completions int32, labels map[string]string) *kunosv1.Job {
	t.Helper()
	j, err := e.jobClient.Create(context.Background(), &kunosv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: labels},
		Spec: kunosv1.JobSpec{
			Completions: &completions,
			Template:    kunosv1.TaskTemplateSpec{Spec: kunosv1.TaskSpec{Command: []string{"true"}}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// eventually polls cond until it holds or 10 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// counter counts calls per Request.
type counter struct {
	mu sync.Mutex
	n  map[controller.Request]int
}

func (c *counter) inc(r controller.Request) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[controller.Request]int{}
	}
	c.n[r]++
	return c.n[r]
}

func (c *counter) get(r controller.Request) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[r]
}

func req(name string) controller.Request { return controller.Request{Namespace: "default", Name: name} }

// metricValue returns the value of the series of name whose labels include
// labels (a counter's or gauge's value, a histogram's sample count), and
// whether there is one.
func metricValue(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue series
				}
			}
			return value(m), true
		}
	}
	return 0, false
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	panic(fmt.Sprintf("unexpected metric %v", m))
}

type recorded struct {
	code int
	body string
}

func httptestGet(h http.Handler, path string) recorded {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return recorded{rec.Code, rec.Body.String()}
}

// mustInformer returns the factory's informer for d, failing the test if
// For refuses it.
func mustInformer[T cache.Object](t testing.TB, f *informer.Factory, d resource.Descriptor[T], opts ...informer.ResourceOption) informer.SharedIndexInformer[T] {
	t.Helper()
	inf, err := informer.For(f, d, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return inf
}
