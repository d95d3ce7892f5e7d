package v1_test

import (
	"fmt"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A Job stamps Tasks from its template; nil counts take their defaults.
func Example() {
	job := &kunosv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "demo", Namespace: "default"},
		Spec: kunosv1.JobSpec{
			Template: kunosv1.TaskTemplateSpec{Spec: kunosv1.TaskSpec{Command: []string{"echo", "hi"}}},
		},
	}
	fmt.Println(kunosv1.Tasks, kunosv1.Tasks.Namespaced, job.Spec.CompletionsOrDefault(), job.Spec.BackoffLimitOrDefault())
	// Output: tasks.kunos.io true 1 6
}
