package controller

// This file holds the controller_runtime_* metrics. Invariants: names,
// types, labels and buckets are controller-runtime's
// (pkg/internal/controller/metrics), so its dashboards and alerts work
// unchanged; the only label values are controller names (chosen by the
// program, bounded) and the four results; one set of collectors serves
// every controller registered in one Registerer.

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Reconcile results, the values of controller_runtime_reconcile_total's
// result label.
const (
	resultSuccess      = "success"
	resultError        = "error"
	resultRequeueAfter = "requeue_after"
	// resultRequeue is controller-runtime's label for Result.Requeue, which
	// Result does not have (upstream deprecated it): the series exists at
	// 0 so that dashboards summing by result keep working.
	resultRequeue = "requeue"
)

// reconcileBuckets are controller-runtime's: 5 ms to 60 s, 40 buckets.
var reconcileBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4,
	0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5, 6, 7, 8, 9, 10,
	15, 20, 25, 30, 40, 50, 60}

// reconcileMetrics are the controller_runtime_* collectors of one
// Registerer.
type reconcileMetrics struct {
	total         *prometheus.CounterVec
	errors        *prometheus.CounterVec
	terminal      *prometheus.CounterVec
	panics        *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	activeWorkers *prometheus.GaugeVec
	maxWorkers    *prometheus.GaugeVec
}

// newReconcileMetrics builds the collectors and registers them with reg
// (when not nil). If reg already holds them (a second manager on one
// registry), it uses the registered ones, so both managers' controllers
// report into the same series families.
func newReconcileMetrics(reg prometheus.Registerer) (*reconcileMetrics, error) {
	c := []string{"controller"}
	m := &reconcileMetrics{
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "controller_runtime_reconcile_total",
			Help: "Total number of reconciliations per controller",
		}, []string{"controller", "result"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "controller_runtime_reconcile_errors_total",
			Help: "Total number of reconciliation errors per controller",
		}, c),
		terminal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "controller_runtime_terminal_reconcile_errors_total",
			Help: "Total number of terminal reconciliation errors per controller",
		}, c),
		panics: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "controller_runtime_reconcile_panics_total",
			Help: "Total number of reconciliation panics per controller",
		}, c),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "controller_runtime_reconcile_time_seconds",
			Help:    "Length of time per reconciliation per controller",
			Buckets: reconcileBuckets,
		}, c),
		activeWorkers: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "controller_runtime_active_workers",
			Help: "Number of currently used workers per controller",
		}, c),
		maxWorkers: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "controller_runtime_max_concurrent_reconciles",
			Help: "Maximum number of concurrent reconciles per controller",
		}, c),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	m.total = register(reg, m.total, &err)
	m.errors = register(reg, m.errors, &err)
	m.terminal = register(reg, m.terminal, &err)
	m.panics = register(reg, m.panics, &err)
	m.duration = register(reg, m.duration, &err)
	m.activeWorkers = register(reg, m.activeWorkers, &err)
	m.maxWorkers = register(reg, m.maxWorkers, &err)
	if err != nil {
		return nil, fmt.Errorf("controller: register metrics: %w", err)
	}
	return m, nil
}

// register registers c with reg and returns it, or the collector reg
// already holds under the same name if that is of the same type.
func register[C prometheus.Collector](reg prometheus.Registerer, c C, errp *error) C {
	err := reg.Register(c)
	if err == nil {
		return c
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	*errp = errors.Join(*errp, err)
	return c
}

// init makes every series of controller name exist, at zero, as
// controller-runtime does, so rates and alerts work before the first event.
func (m *reconcileMetrics) init(name string, workers int) {
	for _, r := range []string{resultSuccess, resultError, resultRequeueAfter, resultRequeue} {
		m.total.WithLabelValues(name, r).Add(0)
	}
	m.errors.WithLabelValues(name).Add(0)
	m.terminal.WithLabelValues(name).Add(0)
	m.panics.WithLabelValues(name).Add(0)
	m.activeWorkers.WithLabelValues(name).Set(0)
	m.maxWorkers.WithLabelValues(name).Set(float64(workers))
}
