package informer

// ring is a FIFO over a circular slice that grows by doubling and shrinks
// again once mostly empty, so a backlog that cleared gives its memory back
// (client-go's RingGrowing never shrinks).
type ring[E any] struct {
	buf  []E
	head int
	n    int
	min  int // capacity never shrinks below this
}

func newRing[E any](capacity int) ring[E] {
	c := 16
	for c < capacity {
		c <<= 1
	}
	return ring[E]{buf: make([]E, c), min: c}
}

func (r *ring[E]) len() int { return r.n }

func (r *ring[E]) push(e E) {
	if r.n == len(r.buf) {
		r.resize(2 * len(r.buf))
	}
	r.buf[(r.head+r.n)&(len(r.buf)-1)] = e
	r.n++
}

func (r *ring[E]) pop() (E, bool) {
	var zero E
	if r.n == 0 {
		return zero, false
	}
	e := r.buf[r.head]
	r.buf[r.head] = zero // let the GC have it
	r.head = (r.head + 1) & (len(r.buf) - 1)
	r.n--
	if len(r.buf) > r.min && r.n < len(r.buf)/8 {
		r.resize(len(r.buf) / 4)
	}
	return e, true
}

func (r *ring[E]) resize(c int) {
	if c < r.min {
		c = r.min
	}
	nb := make([]E, c)
	for i := 0; i < r.n; i++ {
		nb[i] = r.buf[(r.head+i)&(len(r.buf)-1)]
	}
	r.buf, r.head = nb, 0
}
