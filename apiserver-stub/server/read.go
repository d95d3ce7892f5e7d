package server

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/kunos-io/listwatch/apiserver-stub/storage"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// handleGet serves GET of one object. resourceVersion "" and "0" read the
// latest state; N means "not older than N": the latest state if the store
// has reached N, else 504 with cause ResourceVersionTooLarge.
func (s *Server) handleGet(w http.ResponseWriter, r *http.Request, ri *requestInfo) int {
	out, tableVersion, err := negotiateOutput(r, false)
	if err != nil {
		return writeError(w, err)
	}
	rv, err := parseRV(r.URL.Query().Get("resourceVersion"))
	if err != nil {
		return writeError(w, err)
	}
	if rv > 0 {
		// A consistent read is never older than rv, once the store has it.
		if err := s.store.WaitForRevision(r.Context(), ri.prefix(), rv); err != nil {
			return writeError(w, storageError(err, ri.gr(), ri.name, msgListTooOld))
		}
	}
	rec, err := s.store.Get(r.Context(), ri.key(ri.name), 0)
	if err != nil {
		return writeError(w, storageError(err, ri.gr(), ri.name, msgListTooOld))
	}
	if out == outputTable {
		return s.writeTable(w, r, ri, tableVersion, []*storage.Record{rec}, metav1.ListMeta{ResourceVersion: strconv.FormatInt(rec.Revision, 10)})
	}
	if out == outputMetadata {
		b, err := partialObjectMetadata(rec.Data)
		if err != nil {
			return writeError(w, apierrors.NewInternalError(err))
		}
		writeRaw(w, http.StatusOK, b)
		return http.StatusOK
	}
	writeRaw(w, http.StatusOK, rec.Data)
	return http.StatusOK
}

// handleList serves a list with the resourceVersion semantics of spec §2.2.
func (s *Server) handleList(w http.ResponseWriter, r *http.Request, ri *requestInfo) int {
	out, tableVersion, err := negotiateOutput(r, true)
	if err != nil {
		return writeError(w, err)
	}
	opts, err := parseListOptions(r.URL.Query(), ri.res, false)
	if err != nil {
		return writeError(w, err)
	}
	prefix := ri.prefix()
	lo, err := s.storageListOptions(r.Context(), opts, prefix)
	if err != nil {
		return writeError(w, err)
	}
	res, err := s.store.List(r.Context(), prefix, lo)
	if err != nil {
		if storage.IsCompacted(err) {
			s.metrics.expired.WithLabelValues("LIST").Inc()
			if opts.Continue != "" {
				// Like kube-apiserver: a fresh token that continues at the
				// latest revision, for clients that accept an inconsistent list.
				e := apierrors.NewResourceExpired(msgContinueTooOld)
				if lo.After != "" {
					e.ErrStatus.ListMeta.Continue = encodeContinue(-1, prefix, lo.After)
				}
				return writeError(w, e)
			}
		}
		return writeError(w, storageError(err, ri.gr(), "", msgListTooOld))
	}
	lm := metav1.ListMeta{ResourceVersion: strconv.FormatInt(res.Revision, 10)}
	if res.More && len(res.Items) > 0 {
		// Pages of one list all read at its revision, even when the first
		// page was read at "latest".
		lm.Continue = encodeContinue(res.Revision, prefix, res.Items[len(res.Items)-1].Key)
		if lo.Predicate.Label == nil && lo.Predicate.Field == nil {
			n := res.Remaining
			lm.RemainingItemCount = &n
		}
	}
	if out == outputTable {
		return s.writeTable(w, r, ri, tableVersion, res.Items, lm)
	}
	if out == outputMetadata {
		b, err := metadataListBody(lm, res.Items)
		if err != nil {
			return writeError(w, apierrors.NewInternalError(err))
		}
		writeRaw(w, http.StatusOK, b)
		return http.StatusOK
	}
	writeRaw(w, http.StatusOK, listBody(ri, lm, res.Items))
	return http.StatusOK
}

// storageListOptions turns validated list options into a storage read:
// which revision, which page, which predicate.
func (s *Server) storageListOptions(ctx context.Context, opts *internalversion.ListOptions, prefix string) (storage.ListOptions, error) {
	lo := storage.ListOptions{Limit: opts.Limit}
	if lo.Limit < 0 {
		lo.Limit = 0
	}
	if s.maxListLimit > 0 && lo.Limit > s.maxListLimit {
		lo.Limit = s.maxListLimit
	}
	if opts.LabelSelector != nil && !opts.LabelSelector.Empty() {
		lo.Predicate.Label = opts.LabelSelector
	}
	if opts.FieldSelector != nil && !opts.FieldSelector.Empty() {
		lo.Predicate.Field = opts.FieldSelector
	}
	if opts.Continue != "" {
		rv, after, err := decodeContinue(opts.Continue, prefix)
		if err != nil {
			return lo, err
		}
		lo.After = after
		if rv > 0 {
			lo.Revision = rv
		}
		return lo, nil
	}
	rv, err := parseRV(opts.ResourceVersion)
	if err != nil {
		return lo, err
	}
	if rv == 0 {
		// "": a consistent read; "0": any state, so a cache may serve it.
		lo.Stale = opts.ResourceVersion == "0"
		return lo, nil
	}
	exact := opts.ResourceVersionMatch == metav1.ResourceVersionMatchExact ||
		(opts.ResourceVersionMatch == "" && opts.Limit > 0)
	if exact {
		lo.Revision = rv // the store answers 410 if compacted, 504 if future
		return lo, nil
	}
	// Not older than rv: any state the store has once it reached rv.
	if err := s.store.WaitForRevision(ctx, prefix, rv); err != nil {
		return lo, storageError(err, schema.GroupResource{}, "", msgListTooOld)
	}
	lo.Stale = true
	return lo, nil
}

// partialObjectMetadata returns the PartialObjectMetadata of a stored
// object: its metadata as stored, under meta.k8s.io/v1's kind.
func partialObjectMetadata(data []byte) ([]byte, error) {
	var o struct {
		Metadata json.RawMessage `json:"metadata"`
	}
	if err := json.Unmarshal(data, &o); err != nil {
		return nil, err
	}
	if len(o.Metadata) == 0 {
		o.Metadata = json.RawMessage("{}")
	}
	b := make([]byte, 0, len(o.Metadata)+80)
	b = append(b, `{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":`...)
	b = append(b, o.Metadata...)
	return append(b, '}'), nil
}

// metadataListBody is a PartialObjectMetadataList of items.
func metadataListBody(lm metav1.ListMeta, items []*storage.Record) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`{"kind":"PartialObjectMetadataList","apiVersion":"meta.k8s.io/v1","metadata":`)
	meta, _ := json.Marshal(lm)
	b.Write(meta)
	b.WriteString(`,"items":[`)
	for i, it := range items {
		if i > 0 {
			b.WriteByte(',')
		}
		pom, err := partialObjectMetadata(it.Data)
		if err != nil {
			return nil, err
		}
		b.Write(pom)
	}
	b.WriteString("]}")
	return b.Bytes(), nil
}

// listBody writes a <Kind>List around the stored encodings of items, which
// are copied as they are, never re-encoded.
func listBody(ri *requestInfo, lm metav1.ListMeta, items []*storage.Record) []byte {
	n := 128
	for _, it := range items {
		n += len(it.Data) + 1
	}
	var b bytes.Buffer
	b.Grow(n)
	b.WriteString(`{"kind":"`)
	b.WriteString(ri.res.ListKind)
	b.WriteString(`","apiVersion":"`)
	b.WriteString(ri.res.GVR.GroupVersion().String())
	b.WriteString(`","metadata":`)
	meta, _ := json.Marshal(lm)
	b.Write(meta)
	b.WriteString(`,"items":[`)
	for i, it := range items {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(it.Data)
	}
	b.WriteString("]}")
	return b.Bytes()
}
