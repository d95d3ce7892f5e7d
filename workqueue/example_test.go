package workqueue_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/kunos-io/listwatch/workqueue"
)

// A controller's worker loop: take a key, reconcile it, retry failures with
// per-item backoff, Forget on success, always call Done.
func Example() {
	queue := workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](time.Millisecond, time.Second),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "example"},
	)

	attempts := map[string]int{}
	reconcile := func(key string) error {
		attempts[key]++
		if key == "default/flaky" && attempts[key] < 3 {
			return errors.New("transient")
		}
		return nil
	}

	queue.Add("default/flaky")
	queue.Add("default/stable")
	queue.Add("default/stable") // deduplicated: processed once

	for synced := 0; synced < 2; {
		key, shutdown := queue.Get()
		if shutdown {
			break
		}
		if err := reconcile(key); err != nil {
			fmt.Printf("%s: %v, retry %d\n", key, err, queue.NumRequeues(key)+1)
			queue.AddRateLimited(key) // back off: 1 ms, then 2 ms
		} else {
			fmt.Printf("%s: synced after %d attempt(s)\n", key, attempts[key])
			queue.Forget(key)
			synced++
		}
		queue.Done(key)
	}
	queue.ShutDown()
	// Output:
	// default/flaky: transient, retry 1
	// default/stable: synced after 1 attempt(s)
	// default/flaky: transient, retry 2
	// default/flaky: synced after 3 attempt(s)
}

// A priority queue serves urgent work first; waiting items age, so the
// bulk of an initial list is never starved.
func ExamplePriorityQueue() {
	queue := workqueue.NewTypedPriorityQueue(workqueue.TypedPriorityQueueConfig[string]{
		AgingInterval: time.Minute, // one priority level per minute waited
	})
	defer queue.ShutDown()

	queue.AddWithOpts(workqueue.AddOpts{Priority: -100}, "initial-list/a", "initial-list/b")
	queue.AddWithOpts(workqueue.AddOpts{Priority: 10}, "user-edit/c")
	queue.Add("event/d")

	for queue.Len() > 0 {
		key, priority, _ := queue.GetWithPriority()
		fmt.Println(priority, key)
		queue.Done(key)
	}
	// Output:
	// 10 user-edit/c
	// 0 event/d
	// -100 initial-list/a
	// -100 initial-list/b
}
