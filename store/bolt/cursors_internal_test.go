package bolt

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	bbolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// cursorFixture opens a file with one bucket holding keys that share
// prefixes, an empty value and a nested bucket, the cases where a cursor's
// Seek and bbolt's Get could disagree.
func cursorFixture(t *testing.T) *bbolt.DB {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "c.db"), 0o600, nil)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	require.NoError(t, db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		for _, k := range []string{"a", "ab", "b", "d"} {
			if err := b.Put([]byte(k), []byte("v"+k)); err != nil {
				return err
			}
		}
		if err := b.Put([]byte("empty"), nil); err != nil {
			return err
		}
		_, err = b.CreateBucket([]byte("nested"))
		return err
	}))
	return db
}

var cursorProbes = []string{"", "a", "aa", "ab", "abc", "b", "c", "d", "empty", "nested", "z"}

func TestQtx_get_finds_what_bbolt_Get_finds(t *testing.T) {
	db := cursorFixture(t)
	require.NoError(t, db.Update(func(tx *bbolt.Tx) error {
		b, q := tx.Bucket([]byte("b")), &qtx{tx: tx}
		check := func(when string) {
			for _, k := range cursorProbes {
				want, got := b.Get([]byte(k)), q.get(b, []byte(k))
				require.Equal(t, want, got, "%s: key %q", when, k)
				require.Equal(t, want == nil, got == nil, "%s: key %q", when, k)
			}
		}
		check("as stored")
		require.NoError(t, b.Put([]byte("c"), []byte("new")))
		require.NoError(t, b.Put([]byte("a"), []byte("changed")))
		check("after puts in the same transaction")
		require.Equal(t, []byte("changed"), q.get(b, []byte("a")))
		return nil
	}))
}

func TestQtx_del_deletes_what_bbolt_Delete_deletes(t *testing.T) {
	for _, k := range cursorProbes {
		want, got := map[string][]byte{}, map[string][]byte{}
		var wantErr, gotErr error
		for _, mine := range []bool{false, true} {
			db := cursorFixture(t)
			require.NoError(t, db.Update(func(tx *bbolt.Tx) error {
				b := tx.Bucket([]byte("b"))
				q := &qtx{tx: tx}
				// Positioned elsewhere first, as a reused cursor is.
				q.get(b, []byte("d"))
				out, errp := want, &wantErr
				if mine {
					out, errp = got, &gotErr
					*errp = q.del(b, []byte(k))
				} else {
					*errp = b.Delete([]byte(k))
				}
				return b.ForEach(func(k, v []byte) error {
					out[string(k)] = bytes.Clone(v) // v lives only as long as tx
					return nil
				})
			}))
		}
		require.Equal(t, wantErr, gotErr, "key %q", k)
		require.Equal(t, want, got, "key %q", k)
	}
	// The nested bucket is refused, as bbolt refuses it.
	db := cursorFixture(t)
	require.NoError(t, db.Update(func(tx *bbolt.Tx) error {
		q := &qtx{tx: tx}
		require.ErrorIs(t, q.del(tx.Bucket([]byte("b")), []byte("nested")), bolterrors.ErrIncompatibleValue)
		return nil
	}))
}

// Past maxCursors buckets a lookup makes its own cursor, and still finds
// the right key in each.
func TestQtx_cursors_serve_more_buckets_than_they_keep(t *testing.T) {
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "c.db"), 0o600, nil)
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, db.Update(func(tx *bbolt.Tx) error {
		q := &qtx{tx: tx}
		var buckets []*bbolt.Bucket
		for i := range 2 * maxCursors {
			b, err := tx.CreateBucket([]byte{byte('A' + i)})
			require.NoError(t, err)
			require.NoError(t, b.Put([]byte("k"), []byte{byte(i)}))
			buckets = append(buckets, b)
		}
		for round := range 2 {
			for i, b := range buckets {
				require.Equal(t, []byte{byte(i)}, q.get(b, []byte("k")), "round %d bucket %d", round, i)
			}
		}
		return nil
	}))
}

// The writer looks records up several times per message: a kept cursor
// does it without allocating.
func TestQtx_get_and_del_allocate_nothing(t *testing.T) {
	// Not parallel: AllocsPerRun counts the whole process's allocations.
	db := cursorFixture(t)
	require.NoError(t, db.Update(func(tx *bbolt.Tx) error {
		b, q := tx.Bucket([]byte("b")), &qtx{tx: tx}
		key, absent := []byte("ab"), []byte("aa")
		q.get(b, key) // makes the cursor
		require.Zero(t, testing.AllocsPerRun(100, func() { q.get(b, key) }))
		require.Zero(t, testing.AllocsPerRun(100, func() { _ = q.del(b, absent) }))
		return nil
	}))
}
