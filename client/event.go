package client

import (
	"encoding/json"
	"errors"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/watch"
)

// rawEvent is one watch event as framed on the wire:
// {"type":"ADDED","object":{...}}. Reused across events of a stream.
type rawEvent struct {
	Type   watch.EventType `json:"type"`
	Object json.RawMessage `json:"object"`
	// proto says Object is a protobuf envelope ("k8s\x00" + Unknown), from
	// a protobuf watch stream, rather than JSON.
	proto bool
	// unchecked says the frame was cut without a scan (the line path in
	// frame.go): Object is only known to be right once it decodes.
	unchecked bool
}

func (e *rawEvent) reset() {
	e.Type = ""
	e.Object = e.Object[:0]
	e.proto = false
	e.unchecked = false
}

// malformedError marks a stream that carried something that is not a valid
// watch event: the stream ends with one ERROR event describing it.
type malformedError struct{ err error }

func (e *malformedError) Error() string { return e.err.Error() }
func (e *malformedError) Unwrap() error { return e.err }

// decodeEvent turns a framed event into a watch.Event whose Object is a T
// (ADDED, MODIFIED, DELETED, BOOKMARK) or a *metav1.Status (ERROR). Every
// object must carry kind and apiVersion, and T's kind when it is known.
func (c *codec[T]) decodeEvent(raw *rawEvent) (watch.Event, error) {
	if len(raw.Object) == 0 || string(raw.Object) == "null" {
		if raw.Type == "" {
			return watch.Event{}, errors.New("watch event has neither type nor object")
		}
		return watch.Event{}, fmt.Errorf("%s watch event has no object", raw.Type)
	}
	switch raw.Type {
	case watch.Added, watch.Modified, watch.Deleted, watch.Bookmark:
		var (
			obj T
			err error
		)
		if raw.proto {
			obj, err = c.decodeProto(raw.Object, true)
		} else {
			obj, err = c.decode(raw.Object, true)
		}
		if err != nil {
			return watch.Event{}, fmt.Errorf("decode %s watch event object: %w", raw.Type, err)
		}
		return watch.Event{Type: raw.Type, Object: obj}, nil
	case watch.Error:
		var (
			st  *metav1.Status
			err error
		)
		if raw.proto {
			st, err = decodeProtoStatus(raw.Object)
		} else {
			st, err = decodeErrorObject(raw.Object)
		}
		if err != nil {
			return watch.Event{}, fmt.Errorf("decode ERROR watch event object: %w", err)
		}
		return watch.Event{Type: watch.Error, Object: st}, nil
	case "":
		return watch.Event{}, errors.New("watch event has no type")
	default:
		return watch.Event{}, fmt.Errorf("unknown watch event type %.64q", string(raw.Type))
	}
}

// decodeErrorObject decodes the object of an ERROR event, which must be a
// metav1.Status.
func decodeErrorObject(data []byte) (*metav1.Status, error) {
	var st metav1.Status
	if err := utiljson.Unmarshal(data, &st); err != nil {
		return nil, err
	}
	if st.Kind != "Status" {
		if st.Kind == "" {
			return nil, errors.New("object has no kind, want Status")
		}
		return nil, fmt.Errorf("got kind %.64q, want Status", st.Kind)
	}
	if st.APIVersion == "" {
		st.APIVersion = "v1"
	}
	if st.Status == "" {
		st.Status = metav1.StatusFailure
	}
	return &st, nil
}

// errorEvent is the ERROR event that ends a stream that went wrong: a
// Status with code 500 and reason InternalError, like client-go's
// StreamWatcher reports a decoding failure.
func errorEvent(msg string) watch.Event {
	return watch.Event{Type: watch.Error, Object: &metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure,
		Code:     500,
		Reason:   metav1.StatusReasonInternalError,
		Message:  msg,
	}}
}
