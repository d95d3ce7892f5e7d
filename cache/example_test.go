package cache_test

import (
	"fmt"
	"sort"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/cache"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// An indexer with a custom index on the node a Task is scheduled to.
func Example() {
	const byNode = "spec.nodeName"
	tasks := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers[*kunosv1.Task]{
		cache.NamespaceIndex: cache.MetaNamespaceIndexFunc[*kunosv1.Task],
		byNode: func(t *kunosv1.Task) ([]string, error) {
			if t.Spec.NodeName == "" {
				return nil, nil // unscheduled tasks are not indexed
			}
			return []string{t.Spec.NodeName}, nil
		},
	})
	for _, t := range []struct{ ns, name, node string }{
		{"team-a", "build", "node-1"},
		{"team-a", "test", "node-2"},
		{"team-b", "lint", "node-1"},
		{"team-b", "deploy", ""},
	} {
		task := &kunosv1.Task{
			ObjectMeta: metav1.ObjectMeta{Namespace: t.ns, Name: t.name, Labels: map[string]string{"team": t.ns}},
			Spec:       kunosv1.TaskSpec{NodeName: t.node},
		}
		if err := tasks.Add(task); err != nil {
			panic(err)
		}
	}

	onNode1, _ := tasks.ByIndex(byNode, "node-1")
	var names []string
	for _, t := range onNode1 {
		names = append(names, t.Namespace+"/"+t.Name)
	}
	sort.Strings(names)
	fmt.Println("on node-1:", names)

	nodes := tasks.ListIndexFuncValues(byNode)
	sort.Strings(nodes)
	fmt.Println("nodes in use:", nodes)

	lister := cache.NewLister(tasks, kunosv1.Tasks.GVR.GroupResource())
	teamB, _ := lister.Namespace("team-b").List(labels.Everything())
	fmt.Println("team-b tasks:", len(teamB))
	_, err := lister.Namespace("team-b").Get("build")
	fmt.Println(err)
	// Output:
	// on node-1: [team-a/build team-b/lint]
	// nodes in use: [node-1 node-2]
	// team-b tasks: 2
	// tasks.kunos.io "build" not found
}
