package reflector

import "reflect"

// isNil reports whether v is a nil interface or a typed nil pointer, map,
// slice, chan or func: T is usually a pointer type such as *kunosv1.Task, and
// a nil one would panic on first use.
func isNil[T any](v T) bool {
	rv := reflect.ValueOf(any(v))
	if !rv.IsValid() {
		return true
	}
	switch rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Chan, reflect.Func, reflect.Interface:
		return rv.IsNil()
	}
	return false
}
