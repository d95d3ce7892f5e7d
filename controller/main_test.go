package controller_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine running: every
// goroutine a Manager starts must end with Start.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
