package storage_test

import (
	"testing"

	"github.com/kunos-io/listwatch/apiserver-stub/storage"
)

// TestConformanceEtcd runs the conformance suite against the etcd backend:
// each case gets its own prefix in the shared embedded etcd.
func TestConformanceEtcd(t *testing.T) {
	runConformance(t, conformanceBackend{
		name: "etcd",
		new: func(t *testing.T) storage.Interface {
			return newEtcdStore(t, storage.EtcdConfig{})
		},
	})
}
