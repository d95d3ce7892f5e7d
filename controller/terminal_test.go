package controller_test

import (
	"errors"
	"testing"

	"github.com/kunos-io/listwatch/controller"
)

func TestTerminalError(t *testing.T) {
	if controller.TerminalError(nil) != nil {
		t.Error("TerminalError(nil) is not nil")
	}
	cause := errors.New("invalid spec")
	err := controller.TerminalError(cause)
	wrapped := errors.Join(errors.New("reconcile"), err)
	if !controller.IsTerminal(wrapped) || !errors.Is(wrapped, cause) {
		t.Errorf("IsTerminal=%v, Is(cause)=%v; want both", controller.IsTerminal(wrapped), errors.Is(wrapped, cause))
	}
	if controller.IsTerminal(cause) {
		t.Error("a plain error is terminal")
	}
}
