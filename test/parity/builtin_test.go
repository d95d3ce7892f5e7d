package parity

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kunos-io/listwatch/apis/kube"
	"github.com/kunos-io/listwatch/client"
	"github.com/kunos-io/listwatch/controller"
	"github.com/kunos-io/listwatch/informer"
	"github.com/kunos-io/listwatch/resource"
)

// TestBuiltinKindsOnKube runs our Pod informer and a ConfigMap controller
// against the real kube-apiserver of hack/e2e.sh section 8, through the
// kubeconfig it wrote (KUBE_KUBECONFIG): the informer sees a Pod created
// directly (no kubelet: it stays Pending), and the controller, built with
// controller.New on kube.ConfigMaps, copies a key of every ConfigMap
// labelled copy-to into the ConfigMap that label names, and again when
// the source changes. It skips without a kube-apiserver, as TestParity does.
func TestBuiltinKindsOnKube(t *testing.T) {
	path := os.Getenv("KUBE_KUBECONFIG")
	if os.Getenv("KUBE_APISERVER_URL") == "" || path == "" {
		t.Skip("no kube-apiserver: run E2E_SECTIONS=8 bash hack/e2e.sh (it sets KUBE_APISERVER_URL and friends)")
	}
	cfg, err := client.LoadKubeconfig(path, "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	c, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ns := fmt.Sprintf("builtin-%06d", rand.IntN(1000000))
	nsClient := client.For(c, kube.Namespaces)
	if _, err := nsClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace %s: %v", ns, err)
	}
	t.Cleanup(func() { _ = nsClient.Delete(context.Background(), ns, metav1.DeleteOptions{}) })

	// Pod admission looks up the Pod's service account, and no
	// serviceaccount controller runs in section 8 to create "default".
	if _, err := client.For(c, serviceAccounts).Namespace(ns).Create(ctx,
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create service account: %v", err)
	}

	mgr, err := controller.NewManager(cfg, controller.ManagerOptions{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}

	// A Pod informer, on the manager's factory, in the test's namespace.
	pods, err := informer.For(mgr.Factory(), kube.Pods, informer.InNamespace(ns))
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan *corev1.Pod, 10)
	if _, err := pods.AddEventHandler(informer.HandlerFuncs[*corev1.Pod]{
		AddFunc: func(p *corev1.Pod, _ bool) { seen <- p },
	}); err != nil {
		t.Fatal(err)
	}

	// A ConfigMap controller: a ConfigMap labelled copy-to=<name> has its
	// key "value" copied into ConfigMap <name> (created if missing).
	cms, err := informer.For(mgr.Factory(), kube.ConfigMaps, informer.InNamespace(ns))
	if err != nil {
		t.Fatal(err)
	}
	cmClient := client.For(c, kube.ConfigMaps)
	err = controller.New(mgr, "configmap-copier", kube.ConfigMaps, controller.Options{}).
		For(cms).
		Complete(controller.ReconcilerFunc(func(ctx context.Context, req controller.Request) (controller.Result, error) {
			src, err := cms.Lister().Namespace(req.Namespace).Get(req.Name)
			if apierrors.IsNotFound(err) {
				return controller.Result{}, nil
			}
			if err != nil {
				return controller.Result{}, err
			}
			to := src.Labels["copy-to"]
			if to == "" {
				return controller.Result{}, nil
			}
			dst := cmClient.Namespace(req.Namespace)
			cur, err := dst.Get(ctx, to, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				_, err = dst.Create(ctx, &corev1.ConfigMap{
					ObjectMeta: metav1.ObjectMeta{Name: to},
					Data:       map[string]string{"value": src.Data["value"]},
				}, metav1.CreateOptions{})
				return controller.Result{}, err
			}
			if err != nil || cur.Data["value"] == src.Data["value"] {
				return controller.Result{}, err
			}
			next := cur.DeepCopy()
			if next.Data == nil {
				next.Data = map[string]string{}
			}
			next.Data["value"] = src.Data["value"]
			_, err = dst.Update(ctx, next, metav1.UpdateOptions{})
			return controller.Result{}, err // a conflict is retried
		}))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	mctx, stop := context.WithCancel(ctx)
	go func() { done <- mgr.Start(mctx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	}()
	if !informer.WaitForCacheSync(ctx, pods.HasSynced, cms.HasSynced) {
		t.Fatal("informers did not sync against kube-apiserver")
	}

	// The Pod: created directly, no kubelet, so it stays Pending.
	podClient := client.For(c, kube.Pods).Namespace(ns)
	if _, err := podClient.Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "pending"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create pod: %v", err)
	}
	select {
	case p := <-seen:
		if p.Name != "pending" || p.Namespace != ns || p.Status.Phase != corev1.PodPending || p.Spec.Containers[0].Image != "busybox" {
			t.Fatalf("informer saw %s/%s phase %q", p.Namespace, p.Name, p.Status.Phase)
		}
	case <-ctx.Done():
		t.Fatal("the Pod informer never saw the Pod")
	}
	if got, err := pods.Lister().Namespace(ns).Get("pending"); err != nil || got.Name != "pending" {
		t.Fatalf("pod lister: %v", err)
	}

	// The ConfigMap controller: copy, then follow a change.
	src := cmClient.Namespace(ns)
	created, err := src.Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "source", Labels: map[string]string{"copy-to": "copy"}},
		Data:       map[string]string{"value": "one"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create configmap: %v", err)
	}
	waitValue(ctx, t, src, "copy", "one")
	next := created.DeepCopy()
	next.Data["value"] = "two"
	if _, err := src.Update(ctx, next, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update configmap: %v", err)
	}
	waitValue(ctx, t, src, "copy", "two")
	t.Logf("Pod informer and ConfigMap controller ran against kube-apiserver in namespace %s", ns)
}

// serviceAccounts are core v1 ServiceAccounts: a descriptor is all a typed
// client needs.
var serviceAccounts = resource.Descriptor[*corev1.ServiceAccount]{Info: resource.Info{
	GVR: corev1.SchemeGroupVersion.WithResource("serviceaccounts"), Kind: "ServiceAccount", ListKind: "ServiceAccountList",
	Singular: "serviceaccount", Namespaced: true,
}}

// waitValue waits until ConfigMap name has data.value == want.
func waitValue(ctx context.Context, t *testing.T, cms *client.Resource[*corev1.ConfigMap], name, want string) {
	t.Helper()
	var last string
	for ctx.Err() == nil {
		cm, err := cms.Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			if last = cm.Data["value"]; last == want {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("ConfigMap %s: value %q, want %q", name, last, want)
}
