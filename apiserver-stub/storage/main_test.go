package storage_test

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/kunos-io/listwatch/internal/etcdtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	stopSharedEtcd()
	if code == 0 {
		if err := goleak.Find(etcdtest.LeakOptions()...); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}
