package parity

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/kunos-io/listwatch/apiserver-stub/stubtest"
)

// TestParity runs every row against kube-apiserver and apiserver-stub and
// compares what they answered. It needs a running kube-apiserver with the
// kunos.io/v1 CRDs installed (hack/e2e.sh section 8 provides one) and
// skips without it, so go test ./... starts no external process.
func TestParity(t *testing.T) {
	if os.Getenv("KUBE_APISERVER_URL") == "" {
		t.Skip("no kube-apiserver: run E2E_SECTIONS=8 bash hack/e2e.sh (it sets KUBE_APISERVER_URL and friends)")
	}
	kube := newKubeTarget(t)
	// hack/e2e.sh section 8 runs kube-controller-manager (its
	// garbagecollector and namespace controllers) beside kube-apiserver:
	// the stub runs its own beside it, and the garbage-collection rows
	// compare the two. Without it, the stub runs none either and those
	// rows are left out.
	gc := os.Getenv("KUBE_CONTROLLER_MANAGER_PID") != ""
	var opts []stubtest.Option
	if gc {
		opts = append(opts, stubtest.WithControllers())
	}
	srv := stubtest.Start(t, opts...)
	stub := &target{
		name: "apiserver-stub", base: srv.URL, client: http.DefaultClient,
		kubectl: []string{kubectlBin(), "--server", srv.URL, "--request-timeout=20s"},
		compact: srv.Compact, vars: map[string]string{},
	}
	// kube-apiserver's kubectl context defaults to namespace "default":
	// every row names its namespace, which exists on both.
	ns := fmt.Sprintf("parity-%06d", rand.IntN(1000000))
	r := kube.do(t, "POST", "/api/v1/namespaces", jsonCT, `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"`+ns+`"}}`)
	if r.code != http.StatusCreated {
		t.Fatalf("create namespace %s on kube-apiserver: %d %s", ns, r.code, r.body)
	}
	t.Cleanup(func() { kube.do(t, "DELETE", "/api/v1/namespaces/"+ns, "", "") })
	if r := stub.do(t, "POST", "/api/v1/namespaces", jsonCT, `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"`+ns+`"}}`); r.code != http.StatusCreated {
		t.Fatalf("create namespace %s on apiserver-stub: %d %s", ns, r.code, r.body)
	}

	var same_, known, unexpected, flipped []string
	var all []row
	for _, rw := range rows() {
		if gcRows[rw.name] && !gc {
			t.Logf("skip  %s: no kube-controller-manager (KUBE_CONTROLLER_MANAGER_PID)", rw.name)
			continue
		}
		all = append(all, rw)
	}
	for _, rw := range all {
		k := rw.run(t, kube, ns)
		s := rw.run(t, stub, ns)
		reason, listed := KnownDifferences[rw.name]
		switch {
		case same(k, s) && !listed:
			same_ = append(same_, rw.name)
			t.Logf("ok    %s: %s", rw.name, show(k))
		case same(k, s):
			flipped = append(flipped, rw.name)
			t.Logf("FLIP  %s: behaves like kube-apiserver now; delete it from KnownDifferences", rw.name)
		case listed:
			known = append(known, rw.name)
			t.Logf("known %s\n        kube-apiserver: %s\n        apiserver-stub: %s\n        why: %s", rw.name, show(k), show(s), reason)
		default:
			unexpected = append(unexpected, rw.name)
			t.Errorf("DIFF  %s\n        kube-apiserver: %s\n        apiserver-stub: %s", rw.name, show(k), show(s))
		}
	}
	for name := range KnownDifferences {
		found := false
		for _, rw := range all {
			found = found || rw.name == name
		}
		if !found {
			t.Errorf("KnownDifferences lists %q, which is no row", name)
		}
	}
	sort.Strings(known)
	msg := fmt.Sprintf("%d/%d requests behave like kube-apiserver", len(same_)+len(flipped), len(all))
	if len(known) > 0 {
		msg += "; known differences: " + strings.Join(known, "; ")
	}
	fmt.Println("parity: " + msg)
	t.Log(msg)
	if len(flipped) > 0 {
		t.Errorf("rows listed in KnownDifferences that behave like kube-apiserver now: %q", flipped)
	}
	if len(unexpected) > 0 {
		t.Errorf("%d rows differ from kube-apiserver and are not in KnownDifferences: %q", len(unexpected), unexpected)
	}
}
