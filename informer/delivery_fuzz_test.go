package informer

import (
	"strings"
	"testing"
)

// FuzzParsePolicy checks that ParsePolicy never panics, accepts exactly the
// three names (any case), and round-trips through String.
func FuzzParsePolicy(f *testing.F) {
	for _, s := range []string{"Coalesce", "block", "UNBOUNDED", "", "Policy(7)", "coalesce "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePolicy(s)
		if err != nil {
			if !strings.Contains(err.Error(), "unknown delivery policy") {
				t.Fatalf("ParsePolicy(%q): unexpected error %v", s, err)
			}
			return
		}
		if !strings.EqualFold(p.String(), s) {
			t.Fatalf("ParsePolicy(%q) = %v", s, p)
		}
		if q, err := ParsePolicy(p.String()); err != nil || q != p {
			t.Fatalf("round trip of %v: %v, %v", p, q, err)
		}
		if err := (Delivery{Policy: p}).validate(); err != nil {
			t.Fatalf("parsed policy %v invalid: %v", p, err)
		}
	})
}
