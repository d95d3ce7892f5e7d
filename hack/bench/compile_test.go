package bench

import (
	"testing"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"k8s.io/client-go/util/workqueue"
)

func TestModuleBuilds(t *testing.T) {
	q := workqueue.NewTyped[string]()
	defer q.ShutDown()
	_ = kunosv1.Tasks.GVR
}
