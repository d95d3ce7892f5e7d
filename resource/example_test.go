package resource_test

import (
	"errors"
	"fmt"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A descriptor knows its resource's scope, so a namespace that cannot work
// is refused before any request is sent.
func Example() {
	fmt.Println(kunosv1.Tasks, kunosv1.Tasks.GVK().Kind)
	err := kunosv1.Nodes.CheckNamespace("default")
	fmt.Println(errors.Is(err, resource.ErrScope))
	task := &kunosv1.Task{ObjectMeta: metav1.ObjectMeta{Name: "t1", Namespace: "default"}, Spec: kunosv1.TaskSpec{NodeName: "n1"}}
	fmt.Println(kunosv1.Tasks.FieldSet(task).Get("spec.nodeName"))
	// Output:
	// tasks.kunos.io Task
	// true
	// n1
}
