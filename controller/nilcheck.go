package controller

// This file holds the nil check behind the rule that a caller's nil is an
// error, never a panic, even when it hides in a typed pointer.

import "reflect"

// isNil reports whether v is nil, or an interface or pointer holding nil.
func isNil[T any](v T) bool {
	r := reflect.ValueOf(&v).Elem()
	switch r.Kind() {
	case reflect.Pointer, reflect.Interface, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan:
		return r.IsNil()
	}
	return false
}
