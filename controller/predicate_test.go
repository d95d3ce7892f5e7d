package controller_test

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/controller"
)

func TestPredicates(t *testing.T) {
	type ev = controller.Event[*kunosv1.Job]
	job := func(gen int64, labels, annotations map[string]string) *kunosv1.Job {
		return &kunosv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "a", Generation: gen, Labels: labels, Annotations: annotations}}
	}
	base := job(1, map[string]string{"a": "1"}, map[string]string{"n": "1"})
	update := func(to *kunosv1.Job) ev { return ev{Type: controller.Update, Old: base, Object: to} }
	var (
		create = ev{Type: controller.Create, Object: base}
		del    = ev{Type: controller.Delete, Object: base}
		resync = update(base)
		spec   = update(job(2, base.Labels, base.Annotations))
		label  = update(job(1, map[string]string{"a": "2"}, base.Annotations))
		annot  = update(job(1, base.Labels, map[string]string{"n": "2"}))
	)
	specOrLabels := controller.Or[*kunosv1.Job](controller.GenerationChanged, controller.LabelsChanged)
	for _, c := range []struct {
		name string
		p    controller.Predicate[*kunosv1.Job]
		// create, delete, resync, spec, label, annotation
		want [6]bool
	}{
		{"GenerationChanged", controller.GenerationChanged[*kunosv1.Job], [6]bool{true, true, false, true, false, false}},
		{"LabelsChanged", controller.LabelsChanged[*kunosv1.Job], [6]bool{true, true, false, false, true, false}},
		{"AnnotationsChanged", controller.AnnotationsChanged[*kunosv1.Job], [6]bool{true, true, false, false, false, true}},
		{"Or(Generation, Labels)", specOrLabels, [6]bool{true, true, false, true, true, false}},
		{"Not(Or(...))", controller.Not(specOrLabels), [6]bool{false, false, true, false, false, true}},
		{"custom: deletes only", func(e ev) bool { return e.Type == controller.Delete }, [6]bool{false, true, false, false, false, false}},
	} {
		for i, e := range []ev{create, del, resync, spec, label, annot} {
			if got := c.p(e); got != c.want[i] {
				t.Errorf("%s on %v #%d: %v, want %v", c.name, e.Type, i, got, c.want[i])
			}
		}
	}
	if controller.Or[*kunosv1.Job]()(create) {
		t.Error("empty Or passed an event")
	}
}
