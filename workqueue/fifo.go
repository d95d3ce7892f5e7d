package workqueue

// Queue is the ordering store behind a Typed queue: it decides which queued
// item Get hands out next. Typed calls it only while holding its own lock, so
// an implementation needs no locking, and must not call back into the queue.
// Every pushed item is distinct: Typed pushes an item again only after Pop
// returned it.
type Queue[T comparable] interface {
	// Touch is called when an item that is already queued is added again.
	// A priority store can use it to move the item; a FIFO ignores it.
	Touch(item T)
	// Push stores a new item.
	Push(item T)
	// Len returns the number of stored items.
	Len() int
	// Pop removes and returns the next item. It is called only when Len > 0.
	Pop() (item T)
}

// DefaultQueue returns the FIFO store used when TypedQueueConfig.Queue is
// nil. It is a ring buffer, so a steady queue allocates nothing per item.
func DefaultQueue[T comparable]() Queue[T] {
	return &fifo[T]{}
}

// fifo is a growable ring buffer; len(buf) is zero or a power of two.
type fifo[T comparable] struct {
	buf  []T
	head int
	n    int
}

const minFIFOSize = 8

// Touch, Len, Push and Pop implement Queue; Touch keeps FIFO order.
func (f *fifo[T]) Touch(T) {}

func (f *fifo[T]) Len() int { return f.n }

func (f *fifo[T]) Push(item T) {
	if f.n == len(f.buf) {
		f.resize(max(minFIFOSize, 2*len(f.buf)))
	}
	f.buf[(f.head+f.n)&(len(f.buf)-1)] = item
	f.n++
}

func (f *fifo[T]) Pop() T {
	item := f.buf[f.head]
	var zero T
	f.buf[f.head] = zero // let the item be collected
	f.head = (f.head + 1) & (len(f.buf) - 1)
	f.n--
	// Give memory back after a burst, with hysteresis so a queue that
	// oscillates around a size does not resize on every call, and in big
	// steps so draining a burst copies little.
	if len(f.buf) > 64 && f.n < len(f.buf)/8 {
		f.resize(len(f.buf) / 4)
	}
	return item
}

func (f *fifo[T]) resize(size int) {
	buf := make([]T, size)
	if f.n > 0 {
		end := f.head + f.n
		if end <= len(f.buf) {
			copy(buf, f.buf[f.head:end])
		} else {
			k := copy(buf, f.buf[f.head:])
			copy(buf[k:], f.buf[:end-len(f.buf)])
		}
	}
	f.buf = buf
	f.head = 0
}
