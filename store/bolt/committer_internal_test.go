package bolt

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bbolt "go.etcd.io/bbolt"

	"github.com/hooksmith/webhook/store"
)

// Writes queued while a transaction runs join it. One of them failing
// spoils none of the others: each is run again alone and gets its own
// result, and the failed one leaves nothing behind.
func TestCommitter_a_failed_write_that_joined_a_transaction_spoils_no_other(t *testing.T) {
	t.Parallel()
	s, err := Open(filepath.Join(t.TempDir(), "webhook.db"), &Options{NoSync: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	bucket := []byte("committer_test")
	require.NoError(t, s.c.write(context.Background(), func(tx *bbolt.Tx) error {
		_, err := tx.CreateBucket(bucket)
		return err
	}))
	put := func(key string, err error) func(*bbolt.Tx) error {
		return func(tx *bbolt.Tx) error {
			if perr := tx.Bucket(bucket).Put([]byte(key), []byte("v")); perr != nil {
				return perr
			}
			return err
		}
	}
	boom := errors.New("boom")
	held, running := make(chan struct{}), make(chan struct{})
	var once sync.Once
	heldRuns := 0
	fns := []func(*bbolt.Tx) error{
		func(tx *bbolt.Tx) error {
			heldRuns++
			once.Do(func() { close(running) })
			<-held
			return put("held", nil)(tx)
		},
		put("a", nil),
		put("failed", boom),
		func(*bbolt.Tx) error { return reject(store.ErrConflict) },
		put("b", nil),
	}
	w0 := s.Stats()
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Go(func() { errs[i] = s.c.write(context.Background(), fn) })
		if i == 0 {
			<-running
			continue
		}
		require.Eventually(t, func() bool { return len(s.c.ops) == i }, 5*time.Second, time.Millisecond)
	}
	close(held)
	wg.Wait()

	require.NoError(t, errs[0])
	require.NoError(t, errs[1])
	require.ErrorIs(t, errs[2], boom)
	require.ErrorIs(t, errs[3], store.ErrConflict)
	require.NoError(t, errs[4])
	require.NoError(t, s.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucket)
		for _, k := range []string{"held", "a", "b"} {
			require.NotNil(t, b.Get([]byte(k)), k)
		}
		require.Nil(t, b.Get([]byte("failed")))
		return nil
	}))
	// The held write ran in the shared transaction, which rolled back,
	// then alone; each other write ran alone too, and all but the failed
	// and the rejected one committed.
	require.Equal(t, 2, heldRuns)
	w := s.Stats()
	require.Equal(t, uint64(3), w.Commits-w0.Commits)
	require.Equal(t, uint64(3), w.Writes-w0.Writes)
}
