// Command kubebench measures the client side of built-in kinds on a real
// kube-apiserver: our informer (protobuf, the default, and JSON) beside
// client-go v0.37's shared informer from its typed clientset (protobuf, its
// default for k8s.io/api kinds, and JSON), each in a process of its own so
// that its CPU is its own and nothing warms up for the next party.
//
//	KUBE_APISERVER_URL=... KUBE_KUBECONFIG=... go run ./cmd/kubebench [-rounds 3]
//
// hack/bench-kube.sh starts etcd and kube-apiserver and runs it. The driver
// creates -objects ConfigMaps in a fresh namespace, then for each round and
// party starts a child that
//
//  1. runs an informer over the namespace until it has synced (watch-list,
//     sendInitialEvents, where the party does it: both do by default) and
//     reports the CPU (getrusage, user+system) that took: "sync";
//  2. reports "watching", while the driver updates -events ConfigMaps, and
//     reports the CPU from then until its handler saw the -events updates:
//     "events", scaled to 1,000 events.
//
// Lines are printed in `go test -bench` format, which cmd/benchtable reads:
//
//	BenchmarkKubeConfigMaps/sync/impl=listwatch-protobuf  1  41.0 ms
//	BenchmarkKubeConfigMaps/events/impl=client-go-protobuf  1  88.0 ms/1000events
//
// The driver's own work (creating and updating objects) is not counted,
// nor the server's. Benchmarks measure; they never assert.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kunos-io/listwatch/apis/kube"
	lwclient "github.com/kunos-io/listwatch/client"
	"github.com/kunos-io/listwatch/hack/bench/internal/proc"
	"github.com/kunos-io/listwatch/informer"
)

var parties = []string{"listwatch-protobuf", "listwatch-json", "client-go-protobuf", "client-go-json"}

func main() {
	role := flag.String("child", "", "internal: run as the child of this party")
	ns := flag.String("namespace", "", "internal: the child's namespace")
	objects := flag.Int("objects", 2000, "ConfigMaps to create and sync")
	events := flag.Int("events", 1000, "updates each party watches per round")
	rounds := flag.Int("rounds", 3, "rounds (each runs every party once)")
	only := flag.String("parties", strings.Join(parties, ","), "comma-separated parties to run")
	flag.Parse()
	kubeconfig := os.Getenv("KUBE_KUBECONFIG")
	if kubeconfig == "" {
		fmt.Fprintln(os.Stderr, "kubebench: KUBE_KUBECONFIG is not set (hack/bench-kube.sh sets it)")
		os.Exit(2)
	}
	var err error
	if *role != "" {
		err = runChild(*role, kubeconfig, *ns, *objects, *events)
	} else {
		err = drive(kubeconfig, *objects, *events, *rounds, strings.Split(*only, ","))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "kubebench:", err)
		os.Exit(1)
	}
}

// --- driver ---------------------------------------------------------------

func drive(kubeconfig string, objects, events, rounds int, which []string) error {
	cfg, err := lwclient.LoadKubeconfig(kubeconfig, "")
	if err != nil {
		return err
	}
	if u := os.Getenv("KUBE_APISERVER_URL"); u != "" {
		cfg.Host = u
	}
	cfg.QPS = -1
	c, err := lwclient.New(cfg)
	if err != nil {
		return err
	}
	ctx := context.Background()
	ns := fmt.Sprintf("kubebench-%d", time.Now().UnixNano()%1e9)
	if _, err := lwclient.For(c, kube.Namespaces).Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create namespace: %w", err)
	}
	cms := lwclient.For(c, kube.ConfigMaps).Namespace(ns)
	start := time.Now()
	if err := proc.Parallel(objects, 16, func(i int) error {
		_, err := cms.Create(ctx, benchConfigMap(i, "0"), metav1.CreateOptions{})
		return err
	}); err != nil {
		return fmt.Errorf("create ConfigMaps: %w", err)
	}
	fmt.Fprintf(os.Stderr, "kubebench: %d ConfigMaps in namespace %s created in %v\n", objects, ns, time.Since(start).Round(time.Millisecond))
	gen := 0
	for round := 0; round < rounds; round++ {
		for i := range which {
			party := which[(i+round)%len(which)] // rotate who goes first
			gen++
			sync, perK, err := runParty(party, kubeconfig, ns, objects, events, func() error {
				g := strconv.Itoa(gen)
				return proc.Parallel(events, 8, func(i int) error {
					_, err := cms.Update(ctx, benchConfigMap(i, g), metav1.UpdateOptions{})
					return err
				})
			})
			if err != nil {
				return fmt.Errorf("%s: %w", party, err)
			}
			fmt.Printf("BenchmarkKubeConfigMaps/sync/impl=%s \t       1\t%10.1f ms\n", party, sync)
			fmt.Printf("BenchmarkKubeConfigMaps/events/impl=%s \t       1\t%10.1f ms/1000events\n", party, perK)
		}
	}
	return nil
}

// benchConfigMap is ConfigMap i of generation gen: an application config
// of about 600 bytes, a few labels; gen changes one key, so every update
// is a MODIFIED event.
func benchConfigMap(i int, gen string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name:        fmt.Sprintf("app-config-%05d", i),
			Labels:      map[string]string{"app": "frontend", "tier": "web", "shard": strconv.Itoa(i % 16)},
			Annotations: map[string]string{"kunos.io/owner": "team-a"},
		},
		Data: map[string]string{
			"generation": gen,
			"config.yaml": "server:\n  port: 8080\n  timeouts: {read: 30s, write: 30s, idle: 120s}\n" +
				"logging:\n  level: info\n  format: json\n" +
				"features:\n  newCheckout: true\n  recommendations: false\n  searchV2: true\n" +
				"upstreams:\n  - name: catalog\n    url: http://catalog.team-a.svc:8080\n" +
				"  - name: payments\n    url: http://payments.team-a.svc:8080\n" +
				"  - name: users\n    url: http://users.team-a.svc:8080\n",
			"LOG_LEVEL": "info",
			"REGION":    "eu-west-" + strconv.Itoa(1+i%3),
		},
	}
}

// runParty runs one child and returns its sync CPU and its CPU per 1,000
// events, in milliseconds. update makes the events once the child watches.
func runParty(party, kubeconfig, ns string, objects, events int, update func() error) (float64, float64, error) {
	self, err := os.Executable()
	if err != nil {
		return 0, 0, err
	}
	cmd := exec.Command(self, "-child", party, "-namespace", ns, "-objects", strconv.Itoa(objects), "-events", strconv.Itoa(events))
	cmd.Env = os.Environ()
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, 0, err
	}
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	expect := func(word string) (float64, error) {
		select {
		case l, ok := <-lines:
			if !ok {
				return 0, errors.New("child ended early")
			}
			f := strings.Fields(l)
			if len(f) != 2 || f[0] != word {
				return 0, fmt.Errorf("child said %q, want %s", l, word)
			}
			return strconv.ParseFloat(f[1], 64)
		case <-time.After(5 * time.Minute):
			return 0, fmt.Errorf("no %q from the child in 5m", word)
		}
	}
	sync, err := expect("sync")
	if err != nil {
		return 0, 0, err
	}
	if _, err := expect("watching"); err != nil {
		return 0, 0, err
	}
	if err := update(); err != nil {
		return 0, 0, err
	}
	ms, err := expect("events")
	if err != nil {
		return 0, 0, err
	}
	return sync, ms * 1000 / float64(events), nil
}

// --- child ----------------------------------------------------------------

// runChild syncs one informer of the party, then counts the updates it
// sees; it prints "sync MS", "watching 0" and "events MS".
func runChild(party, kubeconfig, ns string, objects, events int) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The handlers close allAdded and allUpdated when the counts are
	// reached, so that no polling adds CPU to what is measured.
	var adds, updates atomic.Int64
	allAdded, allUpdated := make(chan struct{}), make(chan struct{})
	onAdd := func() {
		if adds.Add(1) == int64(objects) {
			close(allAdded)
		}
	}
	onUpdate := func() {
		if updates.Add(1) == int64(events) {
			close(allUpdated)
		}
	}
	var synced func() bool

	t0 := proc.SelfCPUMillis()
	switch party {
	case "listwatch-protobuf", "listwatch-json":
		cfg, err := lwclient.LoadKubeconfig(kubeconfig, "")
		if err != nil {
			return err
		}
		if u := os.Getenv("KUBE_APISERVER_URL"); u != "" {
			cfg.Host = u
		}
		cfg.QPS = -1
		if party == "listwatch-json" {
			cfg.ContentType = lwclient.ContentTypeJSON
		}
		c, err := lwclient.New(cfg)
		if err != nil {
			return err
		}
		inf := informer.New(lwclient.For(c, kube.ConfigMaps).Namespace(ns).ListerWatcher(nil), informer.Options[*corev1.ConfigMap]{})
		if _, err := inf.AddEventHandler(informer.HandlerFuncs[*corev1.ConfigMap]{
			AddFunc:    func(*corev1.ConfigMap, bool) { onAdd() },
			UpdateFunc: func(_, _ *corev1.ConfigMap) { onUpdate() },
		}); err != nil {
			return err
		}
		go inf.Run(ctx)
		synced = inf.HasSynced
	case "client-go-protobuf", "client-go-json":
		rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			return err
		}
		if u := os.Getenv("KUBE_APISERVER_URL"); u != "" {
			rc.Host = u
		}
		rc.QPS, rc.Burst = -1, 0
		if party == "client-go-json" {
			rc.ContentType = "application/json" // the typed client's protobuf preference yields to an explicit choice
		}
		cs, err := kubernetes.NewForConfig(rc)
		if err != nil {
			return err
		}
		f := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace(ns))
		inf := f.Core().V1().ConfigMaps().Informer()
		if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
			AddFunc:    func(any) { onAdd() },
			UpdateFunc: func(_, _ any) { onUpdate() },
		}); err != nil {
			return err
		}
		f.Start(ctx.Done())
		synced = inf.HasSynced
	default:
		return fmt.Errorf("unknown party %q", party)
	}
	select {
	case <-allAdded:
	case <-time.After(2 * time.Minute):
		return fmt.Errorf("sync: %d of %d objects added in 2m", adds.Load(), objects)
	}
	// Every object was handed to the handler; synced follows at once (both
	// informers mark it as the initial events are delivered).
	for deadline := time.Now().Add(time.Minute); !synced(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			return errors.New("sync: not synced 1m after every object arrived")
		}
	}
	fmt.Printf("sync %.1f\n", proc.SelfCPUMillis()-t0)

	t1 := proc.SelfCPUMillis()
	fmt.Println("watching 0")
	select {
	case <-allUpdated:
	case <-time.After(5 * time.Minute):
		return fmt.Errorf("events: %d of %d updates seen in 5m", updates.Load(), events)
	}
	fmt.Printf("events %.1f\n", proc.SelfCPUMillis()-t1)
	return nil
}
