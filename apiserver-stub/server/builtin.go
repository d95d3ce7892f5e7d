package server

// This file describes the built-in kinds the server serves beside
// kunos.io/v1, with the Go types of k8s.io/api, so that controllers written
// against a real cluster work unchanged: coordination.k8s.io/v1 Leases
// (leader election) and core v1 Events (kubectl describe, kubectl get
// events), as package apis/kube describes them. Their table columns are
// kube-apiserver's (pkg/printers/internalversion/printers.go printLease and
// printEvent).

import (
	"fmt"
	"strings"
	"time"

	"github.com/kunos-io/listwatch/apis/kube"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
)

func builtinResources() []Resource {
	lease := ResourceOf(kube.Leases, Serving[*coordinationv1.Lease]{
		StrategicMerge: true,
		Columns: []metav1.TableColumnDefinition{colName,
			{Name: "Holder", Type: "string", Description: "holderIdentity contains the identity of the holder of a current lease."},
			colAge},
		Cells: func(l *coordinationv1.Lease, now time.Time) []any {
			holder := ""
			if l.Spec.HolderIdentity != nil {
				holder = *l.Spec.HolderIdentity
			}
			return []any{l.Name, holder, since(l.CreationTimestamp.Time, now)}
		},
	})
	event := ResourceOf(kube.Events, Serving[*corev1.Event]{
		StrategicMerge: true,
		Columns: []metav1.TableColumnDefinition{
			{Name: "Last Seen", Type: "string", Description: "The time at which the most recent occurrence of this event was recorded."},
			{Name: "Type", Type: "string", Description: "Type of this event (Normal, Warning), new types could be added in the future"},
			{Name: "Reason", Type: "string", Description: "This should be a short, machine understandable string that gives the reason for the transition into the object's current status."},
			{Name: "Object", Type: "string", Description: "The object that this event is about."},
			{Name: "Subobject", Type: "string", Priority: 1, Description: "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement."},
			{Name: "Source", Type: "string", Priority: 1, Description: "The component reporting this event. Should be a short machine understandable string."},
			{Name: "Message", Type: "string", Description: "A human-readable description of the status of this operation."},
			{Name: "First Seen", Type: "string", Priority: 1, Description: "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)"},
			{Name: "Count", Type: "string", Priority: 1, Description: "The number of times this event has occurred."},
			{Name: "Name", Type: "string", Priority: 1, Format: "name", Description: colName.Description},
		},
		Cells: eventCells,
	})
	return []Resource{namespaceResource(), lease, event}
}

// eventCells is kube-apiserver's printEvent with Wide set, as its server
// side tables are.
func eventCells(e *corev1.Event, now time.Time) []any {
	first := since(e.FirstTimestamp.Time, now)
	if e.FirstTimestamp.IsZero() {
		first = since(e.EventTime.Time, now)
	}
	last := since(e.LastTimestamp.Time, now)
	if e.LastTimestamp.IsZero() {
		last = first
	}
	count := e.Count
	if e.Series != nil {
		last = since(e.Series.LastObservedTime.Time, now)
		count = e.Series.Count
	} else if count == 0 {
		count = 1 // singleton events of the events.k8s.io API have none
	}
	target := strings.ToLower(e.InvolvedObject.Kind)
	if e.InvolvedObject.Name != "" {
		target = fmt.Sprintf("%s/%s", target, e.InvolvedObject.Name)
	}
	source := firstNonEmpty(e.Source.Component, e.ReportingController)
	if host := firstNonEmpty(e.Source.Host, e.ReportingInstance); host != "" {
		source += ", " + host
	}
	return []any{last, e.Type, e.Reason, target, e.InvolvedObject.FieldPath, source,
		strings.TrimSpace(e.Message), first, int64(count), e.Name}
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// since is kubectl's age of a timestamp: "<unknown>" when unset.
func since(t, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t))
}
