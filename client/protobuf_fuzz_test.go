package client

import (
	"context"
	"io"
	"log/slog"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/kunos-io/listwatch/apis/kube"
)

// protoSeeds are envelopes ("k8s\x00" + Unknown) of what a server sends,
// and a few broken ones.
func protoSeeds(t testing.TB) [][]byte {
	st := statusObject(410, metav1.StatusReasonExpired, "too old")
	st.Details = &metav1.StatusDetails{Causes: []metav1.StatusCause{{Type: metav1.CauseTypeResourceVersionTooLarge}}}
	return [][]byte{
		protoObject(t, configMap("a", "1", map[string]string{"k": "v"})),
		protoObject(t, &corev1.ConfigMapList{ListMeta: metav1.ListMeta{ResourceVersion: "3", Continue: "c"},
			Items: []corev1.ConfigMap{*configMap("a", "1", nil), *configMap("b", "2", nil)}}),
		protoObject(t, st),
		protoObject(t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}}),
		append(append([]byte{}, protoMagic...), 0x0a, 0x02, 0x0a, 0x00, 0x1a, 0x04, 'g', 'z', 'i', 'p'),
		append(append([]byte{}, protoMagic...), 0x0b),
		[]byte("k8s"),
		[]byte(`{"kind":"ConfigMap","apiVersion":"v1"}`),
	}
}

// FuzzProtoEnvelope feeds one protobuf body to every decoder of one:
// object, list and Status. Each returns an error or a well-formed result of
// the expected kind, and never panics.
func FuzzProtoEnvelope(f *testing.F) {
	for _, s := range protoSeeds(f) {
		f.Add(s)
	}
	cd := newCodec[*corev1.ConfigMap](kube.ConfigMaps.GVK())
	f.Fuzz(func(t *testing.T, data []byte) {
		if cm, err := cd.decodeProto(data, true); err == nil {
			if cm == nil || cm.Kind != "ConfigMap" || cm.APIVersion != "v1" {
				t.Fatalf("decoded %+v", cm)
			}
		}
		if items, _, err := cd.decodeProtoList(data); err == nil {
			for _, it := range items {
				if it == nil || it.Kind != "ConfigMap" || it.APIVersion != "v1" {
					t.Fatalf("item %+v", it)
				}
			}
		}
		if st, err := decodeProtoStatus(data); err == nil {
			if st.Kind != "Status" || st.Status == "" {
				t.Fatalf("status %+v", st)
			}
		}
		if st, ok := decodeStatus(ContentTypeProtobuf, data); ok && st.Kind != "Status" {
			t.Fatalf("status %+v", st)
		}
	})
}

// FuzzProtoWatchStream feeds a whole protobuf watch body, read in varying
// pieces, through the length framer, the WatchEvent parser and the event
// decoder: events are well-formed, a synthesised error (code 500) can only
// be the last one, and the result channel closes.
func FuzzProtoWatchStream(f *testing.F) {
	added := protoFrame(f, watch.Added, configMap("a", "1", map[string]string{"k": "v"}))
	bookmark := protoFrame(f, watch.Bookmark, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{ResourceVersion: "2",
		Annotations: map[string]string{metav1.InitialEventsAnnotationKey: "true"}}})
	expired := protoFrame(f, watch.Error, statusObject(410, metav1.StatusReasonExpired, "too old"))
	join := func(frames ...[]byte) []byte {
		var out []byte
		for _, fr := range frames {
			out = append(out, fr...)
		}
		return out
	}
	f.Add(join(added, bookmark, expired))
	f.Add(join(added, added[:len(added)-3]))
	f.Add(join(added, lengthPrefixed(nil), added))
	for _, s := range protoSeeds(f) {
		f.Add(join(added, lengthPrefixed(append([]byte("\x0a\x05ADDED\x12"), protowireBytes(append([]byte{0x0a}, protowireBytes(s)...))...)), bookmark))
	}
	cd := newCodec[*corev1.ConfigMap](kube.ConfigMaps.GVK())
	log := slog.New(slog.DiscardHandler)
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		frames := newProtoHTTPFrames(io.NopCloser(&chunkReader{data: data, size: 1 + len(data)%13}), cancel)
		w := newStreamWatcher[*corev1.ConfigMap](ctx, frames, cd.decodeEvent, log, "watch configmaps")
		var evs []watch.Event
		for ev := range w.ResultChan() {
			evs = append(evs, ev)
		}
		for i, ev := range evs {
			checkEvent[*corev1.ConfigMap](t, ev)
			if st, ok := ev.Object.(*metav1.Status); ok && st.Code == 500 && i != len(evs)-1 {
				t.Fatalf("synthesised error at %d of %d", i, len(evs))
			}
			if cm, ok := ev.Object.(*corev1.ConfigMap); ok && (cm.Kind != "ConfigMap" || cm.APIVersion != "v1") {
				t.Fatalf("event object %s %s", cm.APIVersion, cm.Kind)
			}
		}
	})
}

// protowireBytes is b as a length-delimited value: its varint length, then b.
func protowireBytes(b []byte) []byte {
	var out []byte
	n := uint64(len(b))
	for n >= 0x80 {
		out = append(out, byte(n)|0x80)
		n >>= 7
	}
	return append(append(out, byte(n)), b...)
}
