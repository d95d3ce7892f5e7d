// Command job-controller is the listwatch demo: it starts an API server of its
// own (or uses yours), runs a Job controller, a scheduler and node agents,
// reconcilers on the controller runtime (package controller), submits a
// demo Job, shows its progress and serves Prometheus metrics.
//
//	go run ./examples/job-controller                  # embedded server, demo Job, keeps running
//	go run ./examples/job-controller --exit-after-demo
//	go run ./examples/job-controller --server http://127.0.0.1:8080 --demo=false
//	go run ./examples/job-controller --server http://127.0.0.1:8080,http://127.0.0.1:8081  # replicas over one etcd
package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/apiserver-stub/embed"
	"github.com/kunos-io/listwatch/apiserver-stub/server"
	"github.com/kunos-io/listwatch/client"
	"github.com/kunos-io/listwatch/controller"
	"github.com/kunos-io/listwatch/examples/job-controller/controllers"
	"github.com/kunos-io/listwatch/informer"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

//go:embed manifests/demo-job.yaml
var demoJobYAML []byte

type options struct {
	server, kubeconfig, kubeContext string
	apiListen                       string
	dataDir                         string
	nodes                           int
	nodeCapacity                    int
	exec                            bool
	metricsAddr                     string
	demo, exitAfterDemo             bool
	demoTimeout                     time.Duration
	workers                         int
	logLevel                        string
	leaderElect                     bool
	leaderElectNamespace            string
	leaderElectID                   string
	leaderElectIdentity             string
	replicas                        int
}

func main() {
	var o options
	flag.StringVar(&o.server, "server", "", "URL of an external API server, or a comma-separated list of the URLs of replicas of one\n"+
		"(one etcd behind them); the client sticks to one and fails over to the next (default: start an embedded one)")
	flag.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file (or a list, merged as kubectl merges $KUBECONFIG) of an external API server,\n"+
		"e.g. --kubeconfig \"$KUBECONFIG\"; --server wins over it; exec credential plugins are run. Without it (or --server)\n"+
		"the demo runs on its embedded server, even when $KUBECONFIG is set: it writes Jobs and Tasks, so it never picks a cluster\n"+
		"by itself")
	flag.StringVar(&o.kubeContext, "context", "", "kubeconfig context (default: current-context)")
	flag.StringVar(&o.apiListen, "api-listen", "127.0.0.1:8080", "address of the embedded API server (a free port if taken)")
	flag.StringVar(&o.dataDir, "data-dir", "", "keep the embedded API server's objects in an etcd member with its data here (they survive restarts)")
	flag.IntVar(&o.nodes, "nodes", 3, "number of node agents to run")
	flag.IntVar(&o.nodeCapacity, "node-capacity", 2, "Tasks each node runs at once")
	flag.BoolVar(&o.exec, "exec", false, "run spec.command for real (with its timeout, in a temporary directory) instead of simulating")
	flag.StringVar(&o.metricsAddr, "metrics-addr", "127.0.0.1:9090", "address for /metrics, /healthz and /readyz (port 0, or a taken port, picks a free one)")
	flag.BoolVar(&o.demo, "demo", true, "submit the demo Job (manifests/demo-job.yaml)")
	flag.BoolVar(&o.exitAfterDemo, "exit-after-demo", false, "exit 0 when the demo Job completes, non-zero if it fails or times out")
	flag.DurationVar(&o.demoTimeout, "demo-timeout", 3*time.Minute, "with --exit-after-demo, how long to wait")
	flag.IntVar(&o.workers, "workers", 2, "Job controller workers")
	flag.StringVar(&o.logLevel, "log-level", "warn", "debug, info, warn or error")
	flag.BoolVar(&o.leaderElect, "leader-elect", false, "run the controllers and node agents only while this process holds a coordination.k8s.io/v1 Lease,\n"+
		"so that several replicas of it can run against one server (the others keep warm caches)")
	flag.StringVar(&o.leaderElectNamespace, "leader-elect-namespace", "default", "namespace of the leader election Lease")
	flag.StringVar(&o.leaderElectID, "leader-elect-id", "job-controller", "name of the leader election Lease")
	flag.StringVar(&o.leaderElectIdentity, "leader-elect-identity", "", "this replica's holderIdentity in the Lease (default: hostname_UUID;\n"+
		"with --replicas, suffixed -0, -1, ...)")
	flag.IntVar(&o.replicas, "replicas", 1, "controller replicas to run in this process (Managers with their own clients and caches, sharing the server);\n"+
		"more than 1 needs --leader-elect: one leads, the others stand by")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "job-controller:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	if o.exitAfterDemo && !o.demo {
		return errors.New("--exit-after-demo needs --demo")
	}
	if o.replicas < 1 || o.replicas > 1 && !o.leaderElect {
		return errors.New("--replicas must be 1, or more with --leader-elect")
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	cfg, stopServer, err := clientConfig(ctx, o, reg, log)
	if err != nil {
		return err
	}
	// The embedded server stops last, once the manager has drained and
	// released its Lease.
	defer stopServer()
	copts := controllers.Options{JobWorkers: o.workers, Nodes: o.nodes, NodeCapacity: int32(o.nodeCapacity), Exec: o.exec}
	mgrs := make([]*controller.Manager, o.replicas)
	for i := range mgrs {
		if mgrs[i], err = newReplica(o, cfg, i, reg, log, copts); err != nil {
			return err
		}
	}
	mgr := mgrs[0] // its caches run whether it leads or not: it shows the progress and serves /healthz, /readyz

	prog := newProgress(os.Stdout)
	demoDone := make(chan error, 1)
	jobs, err := informer.For(mgr.Factory(), kunosv1.Jobs)
	if err != nil {
		return err
	}
	if _, err := jobs.AddEventHandler(informer.HandlerFuncs[*kunosv1.Job]{
		AddFunc:    func(j *kunosv1.Job, _ bool) { prog.observe(j); checkDemo(j, demoDone) },
		UpdateFunc: func(_, j *kunosv1.Job) { prog.observe(j); checkDemo(j, demoDone) },
		DeleteFunc: func(j *kunosv1.Job, _ bool) { prog.forget(j) },
	}, informer.WithName("progress")); err != nil {
		return err
	}

	metricsURL, err := serveMetrics(ctx, o.metricsAddr, mgr.Handler(), log)
	if err != nil {
		return err
	}
	fmt.Printf("metrics:  %s/metrics  (health: /healthz, readiness: /readyz)\n", metricsURL)
	if err := controllers.RegisterNodes(ctx, mgr.Client(), copts); err != nil {
		return err
	}
	// stopped closes when the first manager stops (ctx ended, or a
	// controller could not start); then all are stopped and waited for.
	mgrErrs := make([]error, len(mgrs))
	stopped := make(chan struct{})
	var stopOnce sync.Once
	var wg sync.WaitGroup
	for i, m := range mgrs {
		wg.Go(func() {
			defer stopOnce.Do(func() { close(stopped) })
			mgrErrs[i] = m.Start(ctx)
		})
	}
	err = followDemo(ctx, o, mgr.Client(), demoDone, stopped)
	cancel()
	wg.Wait()
	return errors.Join(append([]error{err}, mgrErrs...)...)
}

// newReplica returns replica i of the controllers: a Manager with the
// controllers and node agents wired, and with --leader-elect its own
// LeaseElector. With --replicas above 1 its metrics carry replica="i".
func newReplica(o options, cfg *client.Config, i int, reg *prometheus.Registry, log *slog.Logger, copts controllers.Options) (*controller.Manager, error) {
	var mreg prometheus.Registerer = reg
	if o.replicas > 1 {
		mreg = prometheus.WrapRegistererWith(prometheus.Labels{"replica": strconv.Itoa(i)}, reg)
		log = log.With("replica", i)
		if o.leaderElectIdentity != "" {
			o.leaderElectIdentity += "-" + strconv.Itoa(i)
		}
	}
	el, err := leaderElection(o, cfg)
	if err != nil {
		return nil, err
	}
	mgr, err := controller.NewManager(cfg, controller.ManagerOptions{
		Registerer: mreg, Gatherer: reg, Logger: log,
		LeaderElection: el,
		// Running Tasks get this long to finish when the process stops;
		// the rest stay Running and the next agent of their node reruns them.
		GracefulShutdownTimeout: 2 * time.Second,
	})
	if err != nil {
		return nil, err
	}
	if err := controllers.Add(mgr, copts); err != nil {
		return nil, err
	}
	return mgr, nil
}

// leaderElection returns what decides when this process runs the
// controllers and the node agents: nil (always) without --leader-elect,
// else a LeaseElector on the Lease --leader-elect-namespace/--leader-elect-id,
// with client-go's timings (15s lease, 10s renew deadline, 2s retry). The
// Manager keeps the caches warm and starts everything else only while this
// replica leads; on exit it releases the Lease, so a standby takes over at once.
func leaderElection(o options, cfg *client.Config) (controller.Elector, error) {
	if !o.leaderElect {
		return nil, nil
	}
	el, err := controller.NewLeaseElector(cfg, controller.LeaseElectorOptions{
		Name: o.leaderElectID, Namespace: o.leaderElectNamespace, Identity: o.leaderElectIdentity,
	})
	if err != nil {
		return nil, fmt.Errorf("--leader-elect: %w", err)
	}
	fmt.Printf("leader election: Lease %s/%s, identity %s\n", o.leaderElectNamespace, o.leaderElectID, el.Identity())
	return el, nil
}

// followDemo submits the demo Job if asked and, with --exit-after-demo,
// waits for it to finish; else it waits for ctx or the manager to stop.
func followDemo(ctx context.Context, o options, c *client.Client, demoDone <-chan error, stopped <-chan struct{}) error {
	if o.demo {
		if err := submitDemo(ctx, c); err != nil {
			return err
		}
	}
	var timeout <-chan time.Time
	if o.exitAfterDemo {
		timeout = time.After(o.demoTimeout)
	} else {
		demoDone = nil
	}
	select {
	case err := <-demoDone:
		if err == nil {
			fmt.Println("demo Job complete")
		}
		return err
	case <-timeout:
		return fmt.Errorf("demo Job did not finish within %s", o.demoTimeout)
	case <-stopped: // ctx ended, or a controller could not start: mgr.Start says which
	case <-ctx.Done():
	}
	if o.exitAfterDemo {
		return ctx.Err()
	}
	return nil
}

// clientConfig returns the config of an external server, or starts the
// embedded one and returns its config; stop stops the embedded server (it
// outlives ctx so that the manager can drain against it).
func clientConfig(ctx context.Context, o options, reg *prometheus.Registry, log *slog.Logger) (cfg *client.Config, stop func(), err error) {
	noop := func() {}
	switch {
	case o.server != "":
		hosts := serverList(o.server)
		if len(hosts) == 0 {
			return nil, noop, fmt.Errorf("--server %q: no URL", o.server)
		}
		return &client.Config{Hosts: hosts}, noop, nil
	case o.kubeconfig != "":
		cfg, err := client.LoadKubeconfig(o.kubeconfig, o.kubeContext)
		return cfg, noop, err
	}
	if os.Getenv("KUBECONFIG") != "" {
		log.Info("running on the embedded API server although $KUBECONFIG is set; --kubeconfig \"$KUBECONFIG\" runs against that cluster")
	}
	opts := embed.Options{
		Config: server.Config{Registry: reg, Logger: log, BookmarkInterval: 10 * time.Second},
		Listen: o.apiListen,
		Etcd:   embed.EtcdOptions{DataDir: o.dataDir},
	}
	srvCtx := context.WithoutCancel(ctx)
	srv, err := embed.Start(srvCtx, opts)
	if err != nil && isAddrInUse(err) {
		opts.Listen = "127.0.0.1:0"
		srv, err = embed.Start(srvCtx, opts)
	}
	if err != nil {
		return nil, noop, err
	}
	stop = func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Stop(stopCtx)
	}
	fmt.Printf("API server: %s (embedded)\n", srv.URL)
	fmt.Printf("  try:    kubectl --server %s get jobs,tasks,nodes -A\n", srv.URL)
	fmt.Printf("          kubectl --server %s create -f examples/job-controller/manifests/batch-job.yaml\n", srv.URL)
	return &client.Config{Host: srv.URL}, stop, nil
}

// serverList splits a --server value "URL1,URL2,..." into client.Config.Hosts.
func serverList(s string) []string {
	var hosts []string
	for _, h := range strings.Split(s, ",") {
		if h = strings.TrimSpace(h); h != "" {
			hosts = append(hosts, h)
		}
	}
	return hosts
}

func isAddrInUse(err error) bool {
	return err != nil && strings.Contains(err.Error(), "address already in use")
}

// serveMetrics serves the manager's /metrics, /healthz and /readyz and
// returns the URL.
func serveMetrics(ctx context.Context, addr string, h http.Handler, log *slog.Logger) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if isAddrInUse(err) {
		// 9090 is also Prometheus' default port: take a free one and say so.
		log.Warn("metrics address in use, picking a free port", "addr", addr)
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		return "", fmt.Errorf("metrics listener: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server", "err", err)
		}
	}()
	go func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
	}()
	return "http://" + ln.Addr().String(), nil
}

func submitDemo(ctx context.Context, c *client.Client) error {
	job := &kunosv1.Job{}
	if err := yaml.UnmarshalStrict(demoJobYAML, job); err != nil {
		return fmt.Errorf("demo manifest: %w", err)
	}
	_, err := client.For(c, kunosv1.Jobs).Namespace(job.Namespace).Create(ctx, job, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		fmt.Printf("demo Job %s/%s already exists: following it\n", job.Namespace, job.Name)
		return nil
	}
	if err != nil {
		return fmt.Errorf("submit demo Job: %w", err)
	}
	fmt.Printf("submitted Job %s/%s: %d completions, parallelism %d\n",
		job.Namespace, job.Name, job.Spec.CompletionsOrDefault(), job.Spec.ParallelismOrDefault())
	return nil
}

func checkDemo(j *kunosv1.Job, done chan<- error) {
	if j.Name != "demo" || j.Namespace != "default" {
		return
	}
	var err error
	switch {
	case meta.IsStatusConditionTrue(j.Status.Conditions, kunosv1.JobComplete):
	case meta.IsStatusConditionTrue(j.Status.Conditions, kunosv1.JobFailed):
		err = fmt.Errorf("demo Job failed: %s", meta.FindStatusCondition(j.Status.Conditions, kunosv1.JobFailed).Message)
	default:
		return
	}
	select {
	case done <- err:
	default:
	}
}
