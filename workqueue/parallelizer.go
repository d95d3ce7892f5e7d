package workqueue

import (
	"context"
	"sync"
)

// DoWorkPieceFunc processes piece number piece.
type DoWorkPieceFunc func(piece int)

type options struct {
	chunkSize int
}

// Options configures ParallelizeUntil.
type Options func(*options)

// WithChunkSize hands pieces to workers c at a time, which helps when there
// are many more pieces than workers and each piece is cheap.
func WithChunkSize(c int) func(*options) {
	return func(o *options) { o.chunkSize = c }
}

// ParallelizeUntil runs doWorkPiece for pieces 0..pieces-1 on up to workers
// goroutines, and returns when all are done or ctx is cancelled (pieces not
// started by then are skipped). A nil ctx never cancels.
func ParallelizeUntil(ctx context.Context, workers, pieces int, doWorkPiece DoWorkPieceFunc, opts ...Options) {
	if pieces <= 0 {
		return
	}
	o := options{}
	for _, opt := range opts {
		opt(&o)
	}
	chunkSize := max(o.chunkSize, 1)
	chunks := (pieces + chunkSize - 1) / chunkSize
	workers = max(min(workers, chunks), 1)

	var stop <-chan struct{}
	if ctx != nil {
		stop = ctx.Done()
	}
	// Workers claim chunks from a shared counter: no channel of chunk
	// numbers to fill first.
	var (
		mu   sync.Mutex
		next int
		wg   sync.WaitGroup
	)
	claim := func() (int, bool) {
		mu.Lock()
		defer mu.Unlock()
		if next >= chunks {
			return 0, false
		}
		c := next
		next++
		return c, true
	}
	for range workers {
		wg.Go(func() {
			for {
				chunk, ok := claim()
				if !ok {
					return
				}
				end := min((chunk+1)*chunkSize, pieces)
				for p := chunk * chunkSize; p < end; p++ {
					select {
					case <-stop:
						return
					default:
						doWorkPiece(p)
					}
				}
			}
		})
	}
	wg.Wait()
}
