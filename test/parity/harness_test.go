package parity

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

// target is one server the suite talks to: kube-apiserver or apiserver-stub.
type target struct {
	name    string
	base    string
	token   string
	client  *http.Client
	kubectl []string // kubectl and the flags that point it at this server
	// compact makes the server forget history older than now, where the
	// suite can ask for that (apiserver-stub); nil otherwise.
	compact func()
	// vars holds values rows pass to later rows on the same server
	// (resourceVersions, generated names).
	vars map[string]string
}

// obs is what a row observed on one server, reduced to what clients depend
// on: codes, reasons, kinds, metadata facts, event types and order. Two
// servers behave alike on a row when their observations are equal.
type obs map[string]any

// row is one request (or a short sequence of them, or a kubectl command),
// run against each server in turn.
type row struct {
	name string
	run  func(t *testing.T, tg *target, ns string) obs
}

// response is a finished HTTP exchange.
type response struct {
	code int
	ct   string
	body []byte
	obj  map[string]any
}

func (tg *target) do(t *testing.T, method, path, contentType, body string) response {
	t.Helper()
	req, err := http.NewRequest(method, tg.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	if tg.token != "" {
		req.Header.Set("Authorization", "Bearer "+tg.token)
	}
	res, err := tg.client.Do(req)
	if err != nil {
		t.Fatalf("%s: %s %s: %v", tg.name, method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	r := response{code: res.StatusCode, ct: res.Header.Get("Content-Type"), body: b}
	_ = json.Unmarshal(b, &r.obj)
	return r
}

// str returns the string at a dotted path of a JSON object ("" if none).
func str(m map[string]any, path string) string {
	v := lookup(m, path)
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	case float64:
		return fmt.Sprint(int64(x))
	}
	return fmt.Sprint(v)
}

func lookup(m map[string]any, path string) any {
	var cur any = m
	for _, k := range strings.Split(path, ".") {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[k]
	}
	return cur
}

// status reduces any answer to code, reason (Status answers), kind and
// the sorted causes ("type field").
func status(r response) obs {
	o := obs{"code": r.code, "kind": str(r.obj, "kind")}
	if o["kind"] == "Status" {
		o["reason"] = str(r.obj, "reason")
		o["status"] = str(r.obj, "status")
		var causes []string
		if cs, ok := lookup(r.obj, "details.causes").([]any); ok {
			for _, c := range cs {
				cm, _ := c.(map[string]any)
				causes = append(causes, str(cm, "reason")+" "+str(cm, "field"))
			}
		}
		sort.Strings(causes)
		if len(causes) > 0 {
			o["causes"] = causes
		}
	}
	return o
}

// object reduces an object answer to code, kind and the metadata facts
// clients rely on (set or not, generation, name, namespace, finalizers).
func object(r response) obs {
	o := status(r)
	if o["kind"] == "Status" || r.obj == nil {
		return o
	}
	o["apiVersion"] = str(r.obj, "apiVersion")
	o["name"] = str(r.obj, "metadata.name")
	o["namespace"] = str(r.obj, "metadata.namespace")
	o["generation"] = str(r.obj, "metadata.generation")
	o["uid set"] = str(r.obj, "metadata.uid") != ""
	o["resourceVersion set"] = str(r.obj, "metadata.resourceVersion") != ""
	o["creationTimestamp set"] = str(r.obj, "metadata.creationTimestamp") != ""
	o["deletionTimestamp set"] = str(r.obj, "metadata.deletionTimestamp") != ""
	if f, ok := lookup(r.obj, "metadata.finalizers").([]any); ok && len(f) > 0 {
		o["finalizers"] = f
	}
	return o
}

// list reduces a list answer to code, kind, item names in order, and
// whether resourceVersion, continue and remainingItemCount are set.
func list(r response) obs {
	o := status(r)
	if o["kind"] == "Status" || r.obj == nil {
		return o
	}
	var names []string
	if items, ok := r.obj["items"].([]any); ok {
		for _, it := range items {
			im, _ := it.(map[string]any)
			names = append(names, str(im, "metadata.name"))
		}
	}
	o["items"] = names
	o["resourceVersion set"] = str(r.obj, "metadata.resourceVersion") != ""
	o["continue set"] = str(r.obj, "metadata.continue") != ""
	o["remainingItemCount"] = str(r.obj, "metadata.remainingItemCount")
	return o
}

// watch opens a watch (query without watch=true) and returns, in order,
// one "TYPE name" per event (BOOKMARK with "initial-events-end" when so
// annotated, ERROR with the Status's code and reason) until n events came,
// the stream ended, or d passed.
func (tg *target) watch(t *testing.T, path, query string, n int, d time.Duration) (int, []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, tg.base+path+"?watch=true&"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	if tg.token != "" {
		req.Header.Set("Authorization", "Bearer "+tg.token)
	}
	res, err := tg.client.Do(req)
	if err != nil {
		t.Fatalf("%s: watch %s: %v", tg.name, path, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		return res.StatusCode, []string{"HTTP " + str(m, "reason")}
	}
	var events []string
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for len(events) < n && sc.Scan() {
		var ev struct {
			Type   string         `json:"type"`
			Object map[string]any `json:"object"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			events = append(events, "UNDECODABLE")
			continue
		}
		switch ev.Type {
		case "BOOKMARK":
			if ann, _ := lookup(ev.Object, "metadata.annotations").(map[string]any); ann["k8s.io/initial-events-end"] == "true" {
				events = append(events, "BOOKMARK initial-events-end")
			} else {
				events = append(events, "BOOKMARK")
			}
		case "ERROR":
			events = append(events, fmt.Sprintf("ERROR %s %s", str(ev.Object, "code"), str(ev.Object, "reason")))
		default:
			events = append(events, ev.Type+" "+str(ev.Object, "metadata.name"))
		}
	}
	return res.StatusCode, events
}

// kubectl runs kubectl against the server; the observation is the exit
// code and the output with the namespace and server-specific values
// replaced by placeholders.
func (tg *target) run(t *testing.T, ns, stdin string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, tg.kubectl[0], append(append([]string{}, tg.kubectl[1:]...), args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: kubectl %v: %v", tg.name, args, err)
	}
	return code, strings.ReplaceAll(out.String(), ns, "NS")
}

func (tg *target) kubectlObs(t *testing.T, ns, stdin string, args ...string) obs {
	code, out := tg.run(t, ns, stdin, args...)
	return obs{"exit": code, "output": out}
}

// newKubeTarget reads the kube-apiserver the e2e section started
// (hack/lib/kube-apiserver.sh exports these).
func newKubeTarget(t *testing.T) *target {
	url, token, caFile, kubeconfig := os.Getenv("KUBE_APISERVER_URL"), os.Getenv("KUBE_APISERVER_TOKEN"),
		os.Getenv("KUBE_APISERVER_CA"), os.Getenv("KUBE_KUBECONFIG")
	ca, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatalf("KUBE_APISERVER_CA: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	return &target{
		name: "kube-apiserver", base: url, token: token,
		client:  &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}},
		kubectl: []string{kubectlBin(), "--kubeconfig", kubeconfig, "--request-timeout=20s"},
		vars:    map[string]string{},
	}
}

func kubectlBin() string {
	if k := os.Getenv("KUBECTL"); k != "" {
		return k
	}
	return "kubectl"
}

// same reports whether two observations are equal, as JSON.
func same(a, b obs) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	var va, vb any
	_ = json.Unmarshal(ja, &va)
	_ = json.Unmarshal(jb, &vb)
	return reflect.DeepEqual(va, vb)
}

func show(o obs) string {
	b, _ := json.Marshal(o)
	return string(b)
}
