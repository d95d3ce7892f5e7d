package embed_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/kunos-io/listwatch/internal/etcdtest"
)

// TestMain fails the package if any test leaves a goroutine running.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m, etcdtest.LeakOptions()...) }
