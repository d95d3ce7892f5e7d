package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	kunosv1 "github.com/kunos-io/listwatch/apis/kunos/v1"
	"github.com/kunos-io/listwatch/apiserver-stub/storage"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apimachinery/pkg/watch"
)

// Table output is what kubectl get asks for (Accept:
// application/json;as=Table;v=v1;g=meta.k8s.io): columns per kind, one row
// per object, and by default (includeObject=Metadata) the row's object as
// PartialObjectMetadata, as kube-apiserver answers.

func parseIncludeObject(v string) (metav1.IncludeObjectPolicy, error) {
	switch p := metav1.IncludeObjectPolicy(v); p {
	case "":
		return metav1.IncludeMetadata, nil
	case metav1.IncludeNone, metav1.IncludeMetadata, metav1.IncludeObject:
		return p, nil
	}
	return "", apierrors.NewBadRequest(fmt.Sprintf("includeObject: unsupported value %q: supported values: \"None\", \"Metadata\", \"Object\"", v))
}

var (
	colName = metav1.TableColumnDefinition{Name: "Name", Type: "string", Format: "name",
		Description: "Name must be unique within a namespace. More info: http://kubernetes.io/docs/user-guide/identifiers#names"}
	colAge = metav1.TableColumnDefinition{Name: "Age", Type: "string",
		Description: "CreationTimestamp is a timestamp representing the server time when this object was created."}
)

// The tables of the kunos.io/v1 kinds.
var (
	taskColumns = []metav1.TableColumnDefinition{colName,
		{Name: "Phase", Type: "string", Description: "The lifecycle phase of the Task."},
		{Name: "Node", Type: "string", Description: "The Node the Task is bound to."},
		colAge}
	jobColumns = []metav1.TableColumnDefinition{colName,
		{Name: "Completions", Type: "string", Description: "Succeeded Tasks out of the desired completions."},
		{Name: "Active", Type: "integer", Description: "The number of active Tasks."},
		colAge}
	nodeColumns = []metav1.TableColumnDefinition{colName,
		{Name: "Ready", Type: "string", Description: "The status of the Ready condition."},
		{Name: "Capacity", Type: "integer", Description: "How many Tasks the Node runs at once."},
		{Name: "Running", Type: "integer", Description: "The number of Tasks running on the Node."},
		colAge}
)

// age is the Age column: how long ago created, or <unknown>.
func age(created metav1.Time, now time.Time) string {
	if created.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(created.Time))
}

func taskCells(o *kunosv1.Task, now time.Time) []any {
	return []any{o.Name, string(o.Status.Phase), o.Spec.NodeName, age(o.CreationTimestamp, now)}
}

func jobCells(o *kunosv1.Job, now time.Time) []any {
	return []any{o.Name, fmt.Sprintf("%d/%d", o.Status.Succeeded, o.Spec.CompletionsOrDefault()), int64(o.Status.Active), age(o.CreationTimestamp, now)}
}

func nodeCells(o *kunosv1.Node, now time.Time) []any {
	ready := "Unknown"
	for _, c := range o.Status.Conditions {
		if c.Type == kunosv1.NodeReady {
			ready = string(c.Status)
		}
	}
	return []any{o.Name, ready, int64(o.Spec.Capacity), int64(o.Status.RunningTasks), age(o.CreationTimestamp, now)}
}

// tableRow renders one record of res as a row with the requested object.
func (s *Server) tableRow(res *Resource, rec *storage.Record, include metav1.IncludeObjectPolicy, now time.Time) (metav1.TableRow, error) {
	obj, err := s.codec.Decode(rec.Key, rec.Data)
	if err != nil {
		return metav1.TableRow{}, err
	}
	row := metav1.TableRow{Cells: res.Cells(obj, now)}
	switch include {
	case metav1.IncludeObject:
		row.Object.Raw = rec.Data
	case metav1.IncludeMetadata, "":
		b, err := partialObjectMetadata(rec.Data)
		if err != nil {
			return metav1.TableRow{}, err
		}
		row.Object.Raw = b
	}
	return row, nil
}

// writeTable answers a get or list with a Table.
func (s *Server) writeTable(w http.ResponseWriter, r *http.Request, ri *requestInfo, version string, items []*storage.Record, lm metav1.ListMeta) int {
	include, err := parseIncludeObject(r.URL.Query().Get("includeObject"))
	if err != nil {
		return writeError(w, err)
	}
	t := metav1.Table{
		TypeMeta:          metav1.TypeMeta{Kind: "Table", APIVersion: "meta.k8s.io/" + version},
		ListMeta:          lm,
		ColumnDefinitions: ri.res.Columns,
		Rows:              make([]metav1.TableRow, 0, len(items)),
	}
	if r.URL.Query().Get("noHeaders") == "true" {
		t.ColumnDefinitions = nil
	}
	now := time.Now()
	for _, rec := range items {
		row, err := s.tableRow(ri.res, rec, include, now)
		if err != nil {
			return writeError(w, apierrors.NewInternalError(err))
		}
		t.Rows = append(t.Rows, row)
	}
	writeJSON(w, http.StatusOK, &t)
	return http.StatusOK
}

// tableEventFrame renders a watch event whose object is a one-row Table.
func (s *Server) tableEventFrame(p *watchParams, t watch.EventType, rec *storage.Record) ([]byte, error) {
	row, err := s.tableRow(p.ri.res, rec, p.includeObject, time.Now())
	if err != nil {
		return nil, err
	}
	tbl := metav1.Table{
		TypeMeta:          metav1.TypeMeta{Kind: "Table", APIVersion: "meta.k8s.io/" + p.tableVersion},
		ListMeta:          metav1.ListMeta{ResourceVersion: strconv.FormatInt(rec.Revision, 10)},
		ColumnDefinitions: p.ri.res.Columns,
		Rows:              []metav1.TableRow{row},
	}
	obj, err := json.Marshal(&tbl)
	if err != nil {
		return nil, err
	}
	return eventFrame(t, obj), nil
}
