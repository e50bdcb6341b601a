package bolt

import "sync"

// bbolt's Put keeps the value it is given, uncopied, until the transaction
// ends, so a record encoded for a write cannot be reused while the write
// may still run; once committer.write has returned it can. Encoding into
// recycled buffers rather than new ones spares the garbage collector, which
// in an end-to-end run collects a small heap every few milliseconds.
var recycled = sync.Pool{New: func() any { return new([]byte) }}

// maxRecycled bounds the buffers kept: a rare large record is left to the
// collector rather than held for records of the usual size.
const maxRecycled = 16 << 10

// takeBuffer returns an empty buffer for a record a write will Put.
func takeBuffer() *[]byte {
	b := recycled.Get().(*[]byte)
	*b = (*b)[:0]
	return b
}

// recycle keeps b for another write. Call it only after the write that
// used b has returned.
func recycle(b *[]byte) {
	if cap(*b) <= maxRecycled {
		recycled.Put(b)
	}
}
