package cache

import (
	"testing"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

func mustSelector(t *testing.T, s string) labels.Selector {
	t.Helper()
	sel, err := labels.Parse(s)
	mustNil(t, err)
	return sel
}

func testListers(t *testing.T, x Indexer[*kunosv1.Task]) {
	for _, o := range []*kunosv1.Task{
		task("ns1", "a", "", map[string]string{"app": "web", "tier": "1"}),
		task("ns1", "b", "", map[string]string{"app": "db"}),
		task("ns2", "a", "", map[string]string{"app": "web"}),
		task("ns2", "c", "", nil),
	} {
		mustNil(t, x.Add(o))
	}
	l := NewLister(x, kunosv1.Tasks.GVR.GroupResource())

	cases := []struct {
		ns, sel string
		want    []string
	}{
		{"", "", []string{"a", "a", "b", "c"}},
		{"", "app=web", []string{"a", "a"}},
		{"", "app in (web,db),tier!=1", []string{"a", "b"}},
		{"", "!app", []string{"c"}},
		{"ns1", "", []string{"a", "b"}},
		{"ns1", "app=web", []string{"a"}},
		{"ns2", "app", []string{"a"}},
		{"ns3", "", nil},
	}
	for _, c := range cases {
		var got []*kunosv1.Task
		var err error
		if c.ns == "" {
			got, err = l.List(mustSelector(t, c.sel))
		} else {
			got, err = l.Namespace(c.ns).List(mustSelector(t, c.sel))
		}
		mustNil(t, err)
		wantStrings(t, c.ns+" "+c.sel, names(got), c.want)
	}
	for _, sel := range []labels.Selector{labels.Nothing()} {
		if got, _ := l.List(sel); len(got) != 0 {
			t.Fatalf("Nothing selected %v", names(got))
		}
		if got, _ := l.Namespace("ns1").List(sel); len(got) != 0 {
			t.Fatalf("Nothing selected %v in ns1", names(got))
		}
	}
	if got, _ := l.List(nil); len(got) != 4 {
		t.Fatalf("nil selector listed %d", len(got))
	}
	if got, _ := l.Namespace(metav1.NamespaceAll).List(labels.Everything()); len(got) != 4 {
		t.Fatalf("NamespaceAll listed %d", len(got))
	}

	got, err := l.Namespace("ns2").Get("a")
	if err != nil || got.Namespace != "ns2" {
		t.Fatalf("Get ns2/a = %v, %v", got, err)
	}
	_, err = l.Namespace("ns1").Get("c")
	if !apierrors.IsNotFound(err) {
		t.Fatalf("Get ns1/c: err = %v, want NotFound", err)
	}
	if se, ok := err.(apierrors.APIStatus); !ok || se.Status().Details.Kind != "tasks" || se.Status().Details.Group != "kunos.io" {
		t.Fatalf("NotFound does not name the resource: %v", err)
	}
}

func TestListerWithNamespaceIndex(t *testing.T) { testListers(t, newTaskIndexer()) }

func TestListerWithoutNamespaceIndex(t *testing.T) {
	testListers(t, NewIndexer[*kunosv1.Task](MetaNamespaceKeyFunc, nil))
}

func TestListerClusterScoped(t *testing.T) {
	x := NewIndexer(MetaNamespaceKeyFunc, Indexers[*kunosv1.Node]{NamespaceIndex: MetaNamespaceIndexFunc[*kunosv1.Node]})
	for _, n := range []string{"n1", "n2"} {
		mustNil(t, x.Add(&kunosv1.Node{ObjectMeta: metav1.ObjectMeta{Name: n, Labels: map[string]string{"zone": n}}}))
	}
	l := NewLister(x, kunosv1.Nodes.GVR.GroupResource())
	got, err := l.Get("n2")
	if err != nil || got.Name != "n2" {
		t.Fatalf("Get = %v, %v", got, err)
	}
	if _, err := l.Get("n3"); !apierrors.IsNotFound(err) {
		t.Fatalf("Get n3: %v", err)
	}
	objs, err := l.List(mustSelector(t, "zone=n1"))
	if err != nil || len(objs) != 1 || objs[0].Name != "n1" {
		t.Fatalf("List = %v, %v", objs, err)
	}
}
