package workqueue

import (
	"context"
	"sync/atomic"
	"testing"
)

func TestParallelizeUntil(t *testing.T) {
	for _, tc := range []struct{ workers, pieces, chunk int }{
		{1, 1, 0}, {4, 100, 0}, {4, 1000, 7}, {16, 3, 1}, {3, 1001, 1000}, {0, 10, 0},
	} {
		counts := make([]atomic.Int32, tc.pieces)
		ParallelizeUntil(context.Background(), tc.workers, tc.pieces, func(p int) { counts[p].Add(1) }, WithChunkSize(tc.chunk))
		for p := range counts {
			if n := counts[p].Load(); n != 1 {
				t.Fatalf("%+v: piece %d ran %d times", tc, p, n)
			}
		}
	}
	ParallelizeUntil(nil, 2, 0, func(int) { t.Fatal("no pieces, no calls") }) //nolint:staticcheck // nil ctx is allowed
}

func TestParallelizeUntilCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var ran atomic.Int32
	ParallelizeUntil(ctx, 2, 10000, func(int) {
		if ran.Add(1) == 10 {
			cancel()
		}
	})
	if n := ran.Load(); n >= 10000 || n < 10 {
		t.Fatalf("ran %d pieces after cancel at 10", n)
	}
}
