package controller

// This file carries a Reconcile's logger in its context. Invariant: the
// logger a Reconciler gets says which controller and which object it is
// about, and nothing else is stored in the context.

import (
	"context"
	"log/slog"
)

type loggerKey struct{}

func withLogger(ctx context.Context, l *slog.Logger) context.Context {
	return context.WithValue(ctx, loggerKey{}, l)
}

// LoggerFrom returns the logger of a Reconcile's context: the manager's
// logger with the controller's name and the Request's namespace and name
// attached, so a Reconciler's logs say what they are about without
// repeating it. Outside a Reconcile it returns slog.Default().
func LoggerFrom(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}
