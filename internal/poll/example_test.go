package poll_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kunos-io/listwatch/internal/poll"
)

func ExampleUntil() {
	var done atomic.Bool
	go func() {
		time.Sleep(5 * time.Millisecond)
		done.Store(true)
	}()
	t := &testing.T{} // in a test: the test's t
	poll.Until(t, 10*time.Second, "the worker", done.Load)
	fmt.Println("done:", done.Load())
	// Output: done: true
}
