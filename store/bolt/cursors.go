package bolt

import (
	"bytes"

	bbolt "go.etcd.io/bbolt"
)

// maxCursors bounds the buckets a qtx keeps a cursor on; a lookup in any
// other bucket makes a cursor of its own, as bbolt's Get does.
const maxCursors = 8

// bucketCursor is a cursor a qtx keeps on one bucket of its transaction.
type bucketCursor struct {
	b *bbolt.Bucket
	c *bbolt.Cursor
}

// cursor returns the transaction's cursor on b, to be positioned anew by
// the caller. bbolt's Get and Delete make a cursor per call, whose stack
// grows from nothing: in an end-to-end profile, growing those stacks took
// 6% of the writer's CPU, Puts' cursors included. A write transaction
// hands out one *bbolt.Bucket per bucket, so b identifies it.
func (q *qtx) cursor(b *bbolt.Bucket) *bbolt.Cursor {
	for i := range q.cursors {
		bc := &q.cursors[i]
		if bc.b == b {
			return bc.c
		}
		if bc.b == nil {
			bc.b, bc.c = b, b.Cursor()
			return bc.c
		}
	}
	return b.Cursor()
}

// get is b.Get(key) through the transaction's cursor on b.
func (q *qtx) get(b *bbolt.Bucket, key []byte) []byte {
	k, v := q.cursor(b).Seek(key)
	if !bytes.Equal(k, key) {
		return nil
	}
	return v
}

// del is b.Delete(key) through the transaction's cursor on b.
func (q *qtx) del(b *bbolt.Bucket, key []byte) error {
	c := q.cursor(b)
	if k, _ := c.Seek(key); !bytes.Equal(k, key) {
		return nil
	}
	return c.Delete()
}

// readRecord is getRecord through the transaction's cursor on b.
func readRecord[T any](q *qtx, b *bbolt.Bucket, key []byte, dst **T) error {
	return decodeRecord(q.get(b, key), key, dst)
}
