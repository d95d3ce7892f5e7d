package controllers_test

import (
	"fmt"

	"github.com/kunos-io/listwatch/examples/job-controller/controllers"
)

// Expectations keep a controller from acting on a cache that has not yet
// seen its own writes: after creating two Tasks for a Job it waits until the
// informer has delivered both.
func ExampleExpectations() {
	exp := controllers.NewExpectations()
	exp.ExpectCreations("default/demo", 2)
	fmt.Println(exp.Satisfied("default/demo"))
	exp.CreationObserved("default/demo") // the informer saw the first Task
	exp.CreationObserved("default/demo") // and the second
	fmt.Println(exp.Satisfied("default/demo"))
	// Output:
	// false
	// true
}
