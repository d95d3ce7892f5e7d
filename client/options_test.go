package client

import (
	"math/rand/v2"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/randfill"
)

// TestListQueryMatchesParameterCodec: the hand-written encoder produces
// exactly what client-go's parameter codec produces, for random options.
func TestListQueryMatchesParameterCodec(t *testing.T) {
	f := randfill.NewWithSeed(rand.Int64()).NilChance(0.3).Funcs(
		func(s *string, c randfill.Continue) {
			// Mostly empty, sometimes values needing escaping.
			switch c.Intn(4) {
			case 0, 1:
				*s = ""
			case 2:
				*s = "a=b,c!=d"
			default:
				c.Fill(s)
			}
		},
	)
	for i := range 2000 {
		var o metav1.ListOptions
		f.Fill(&o)
		o.TypeMeta = metav1.TypeMeta{}
		want, err := metav1.ParameterCodec.EncodeParameters(&o, metav1.SchemeGroupVersion)
		if err != nil {
			t.Fatal(err)
		}
		if got := listQuery(&o).Encode(); got != want.Encode() {
			t.Fatalf("case %d %+v:\n got %s\nwant %s", i, o, got, want.Encode())
		}
	}
}

func TestListQueryZero(t *testing.T) {
	if q := listQuery(&metav1.ListOptions{}); len(q) != 0 {
		t.Fatalf("zero options encode as %v", q)
	}
	f, zero := false, int64(0)
	q := listQuery(&metav1.ListOptions{SendInitialEvents: &f, TimeoutSeconds: &zero})
	if q.Encode() != "sendInitialEvents=false&timeoutSeconds=0" {
		t.Fatal(q.Encode())
	}
}
