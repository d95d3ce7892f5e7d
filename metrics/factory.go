package metrics

import (
	"github.com/kunos-io/listwatch/reflector"
)

// InformerMetrics returns the hook of the informer called name. With
// ReflectorMetrics it makes *Metrics the metrics provider of an informer
// Factory: the factory asks for both hooks under each informer's name, and
// the informer's Stopped removes the series of both.
func (m *Metrics) InformerMetrics(name string) *InformerHook { return m.Informer(name) }

// ReflectorMetrics returns the hook of the reflector called name; see
// InformerMetrics.
func (m *Metrics) ReflectorMetrics(name string) reflector.MetricsHook { return m.Reflector(name) }
