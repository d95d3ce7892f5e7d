package metrics

import (
	"github.com/kunos-io/listwatch/client"
	"github.com/kunos-io/listwatch/informer"
	"github.com/kunos-io/listwatch/reflector"
)

// The adapters satisfy the hook interfaces of the packages they serve.
var (
	_ informer.MetricsProvider = (*Metrics)(nil)
	_ informer.MetricsHook     = (*InformerHook)(nil)
	_ reflector.MetricsHook    = (*ReflectorHook)(nil)
	_ reflector.MetricsStopper = (*ReflectorHook)(nil)
	_ client.MetricsHook       = (*ClientHook)(nil)
)

// InformerMetrics returns the hook of the informer called name. With
// ReflectorMetrics it makes *Metrics an informer.MetricsProvider: pass m as
// informer.FactoryOptions.Metrics and the factory asks for both hooks under
// each informer's name; the informer's Stopped then removes the series of
// both.
func (m *Metrics) InformerMetrics(name string) informer.MetricsHook { return m.Informer(name) }

// ReflectorMetrics returns the hook of the reflector called name; see
// InformerMetrics.
func (m *Metrics) ReflectorMetrics(name string) reflector.MetricsHook { return m.Reflector(name) }
