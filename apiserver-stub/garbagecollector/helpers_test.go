package garbagecollector_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/kunos-io/listwatch/apiserver-stub/stubtest"
	"github.com/kunos-io/listwatch/internal/poll"
	"go.uber.org/goleak"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	jobs  = "/apis/kunos.io/v1/namespaces/default/jobs"
	tasks = "/apis/kunos.io/v1/namespaces/default/tasks"
)

type obj struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
}

func do(t *testing.T, srv *stubtest.Server, method, path string, body any) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, srv.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if method == http.MethodPatch {
		req.Header.Set("Content-Type", "application/merge-patch+json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// create posts an object of kind to path and returns its uid.
func create(t *testing.T, srv *stubtest.Server, path, kind, name string, owners []metav1.OwnerReference, finalizers ...string) types.UID {
	t.Helper()
	o := obj{APIVersion: "kunos.io/v1", Kind: kind, Metadata: metav1.ObjectMeta{Name: name, OwnerReferences: owners, Finalizers: finalizers}}
	code, b := do(t, srv, http.MethodPost, path, o)
	if code != http.StatusCreated {
		t.Fatalf("create %s %s: %d %s", kind, name, code, b)
	}
	var got obj
	_ = json.Unmarshal(b, &got)
	return got.Metadata.UID
}

// get returns the object at path, nil if 404.
func get(t *testing.T, srv *stubtest.Server, path string) *obj {
	t.Helper()
	code, b := do(t, srv, http.MethodGet, path, nil)
	if code == http.StatusNotFound {
		return nil
	}
	if code != http.StatusOK {
		t.Fatalf("get %s: %d %s", path, code, b)
	}
	var o obj
	if err := json.Unmarshal(b, &o); err != nil {
		t.Fatal(err)
	}
	return &o
}

func ref(kind, name string, uid types.UID, block bool) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: "kunos.io/v1", Kind: kind, Name: name, UID: uid, BlockOwnerDeletion: &block}
}

func del(t *testing.T, srv *stubtest.Server, path string, policy metav1.DeletionPropagation) {
	t.Helper()
	code, b := do(t, srv, http.MethodDelete, path, &metav1.DeleteOptions{PropagationPolicy: &policy})
	if code != http.StatusOK {
		t.Fatalf("delete %s: %d %s", path, code, b)
	}
}

// eventually waits up to 10s for cond.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	poll.Until(t, 10*time.Second, what, cond)
}

func names(n int, prefix string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return out
}
