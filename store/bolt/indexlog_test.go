package bolt_test

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bbolt "go.etcd.io/bbolt"

	"github.com/hooksmith/webhook/store"
	"github.com/hooksmith/webhook/store/bolt"
)

// noIndexer leaves the index log to reads, so a test sees what waits in it.
var noIndexer = &bolt.Options{IndexInterval: -1}

// keyCounts counts the keys of buckets as the file holds them, without
// applying the index log.
func keyCounts(t *testing.T, s *bolt.Store, names ...string) map[string]int {
	t.Helper()
	out := map[string]int{}
	require.NoError(t, s.RawDB().View(func(tx *bbolt.Tx) error {
		for _, name := range names {
			out[name] = tx.Bucket([]byte(name)).Stats().KeyN
		}
		return nil
	}))
	return out
}

var deferred = []string{"index_log", "idempotency", "tenant_events", "endpoint_messages"}

// A publish writes its tenant's and endpoint's index entries to the log,
// not to the indexes; the read that needs them writes them first.
func TestIndexLog_holds_a_publishs_index_entries_until_a_read_needs_them(t *testing.T) {
	t.Parallel()
	s := openTestWith(t, noIndexer)
	seed(t, s, "acme", "ep_1", "evk_1", 2)
	// The claim queues the messages, which logs their endpoint entries.
	_, err := s.MessageClaim(ctx, store.MessageClaimParams{Now: t0, LeaseUntil: t0.Add(time.Minute), Limit: 10})
	require.NoError(t, err)
	require.Equal(t, map[string]int{"index_log": 2, "idempotency": 0, "tenant_events": 0, "endpoint_messages": 0},
		keyCounts(t, s, deferred...))

	ev, err := s.EventGet(ctx, "acme", "id-evk_1")
	require.NoError(t, err)
	require.Equal(t, "evk_1", ev.Key)
	require.Equal(t, map[string]int{"index_log": 0, "idempotency": 1, "tenant_events": 1, "endpoint_messages": 2},
		keyCounts(t, s, deferred...))
}

// The indexer writes the log on its own, without a read.
func TestIndexLog_the_indexer_empties_it(t *testing.T) {
	t.Parallel()
	s := openTestWith(t, &bolt.Options{IndexInterval: 5 * time.Millisecond})
	seed(t, s, "acme", "ep_1", "evk_1", 1)
	require.Eventually(t, func() bool {
		return keyCounts(t, s, "index_log")["index_log"] == 0
	}, 10*time.Second, 5*time.Millisecond)
	require.Equal(t, map[string]int{"index_log": 0, "idempotency": 1, "tenant_events": 1, "endpoint_messages": 0},
		keyCounts(t, s, deferred...))
}

// A log record that cannot be decoded is skipped whole: the reads behind
// it go on, and the records around it are applied.
func TestIndexLog_skips_a_corrupt_record(t *testing.T) {
	t.Parallel()
	s := openTestWith(t, noIndexer)
	seed(t, s, "acme", "ep_1", "evk_1", 1)
	require.NoError(t, s.RawDB().Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte("index_log"))
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		// A valid entry then one with a length past the end: none applies.
		rec := []byte{1, 3, 'b', 'a', 'd', 0, 1, 5, 'x'}
		return b.Put([]byte{0, 0, 0, 0, 0, 0, 0, byte(seq)}, rec)
	}))
	seed(t, s, "acme", "ep_1", "evk_2", 1)

	for _, id := range []string{"id-evk_1", "id-evk_2"} {
		_, err := s.EventGet(ctx, "acme", id)
		require.NoError(t, err)
	}
	require.Equal(t, map[string]int{"index_log": 0, "idempotency": 2, "tenant_events": 2, "endpoint_messages": 0},
		keyCounts(t, s, deferred...))
}

// A publish that shared a transaction with a failed write runs again alone;
// the idempotency key it staged in the failed one must not make it its own
// duplicate.
func TestIndexLog_a_publish_rerun_after_a_failed_group_is_not_its_own_duplicate(t *testing.T) {
	t.Parallel()
	s := openTestWith(t, noIndexer)
	require.NoError(t, s.EndpointCreate(ctx, &store.Endpoint{ID: "ep_1", TenantID: "acme", URL: "https://e.example/", Method: "POST", Enabled: true}))
	publish := func(key string, created time.Time) error {
		ev := &store.Event{Key: key, TenantID: "acme", ID: "id-" + key, Type: "t.x", CreatedAt: t0, Payload: []byte("{}")}
		m := &store.Message{ID: "msg_" + key, TenantID: "acme", EndpointID: "ep_1", EventID: ev.ID, EventKey: key,
			Status: store.StatusPending, NextAttemptAt: t0, CreatedAt: created}
		res, err := s.EventInsert(ctx, store.EventInsertParams{Event: ev, Messages: []*store.Message{m}, IdempotencyWindow: time.Hour, Now: t0})
		if err == nil && res.Duplicate {
			return fmt.Errorf("%s: reported as a duplicate of %s", key, res.Event.Key)
		}
		return err
	}
	// Eight writers at a time share commits; each round some groups fail.
	for round := range 50 {
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Go(func() {
				created := t0
				if i%2 == 1 {
					created = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC) // a message record cannot hold it: the write fails
				}
				errs[i] = publish(fmt.Sprintf("evk_%02d_%d", round, i), created)
			})
		}
		wg.Wait()
		for i, err := range errs {
			if i%2 == 1 {
				require.Error(t, err)
			} else {
				require.NoError(t, err)
			}
		}
	}
}

// What waits in the log when the file is closed is applied after it is
// opened again, and until then its idempotency keys refuse duplicates. The
// indexer writes each index in a transaction of its own and deletes the
// records last, so a crash can also leave records whose entries are partly
// written: they are written again, to the same effect.
func TestIndexLog_survives_a_reopen(t *testing.T) {
	t.Parallel()
	for name, partly := range map[string]bool{"unapplied": false, "partly applied": true} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "webhook.db")
			s, err := bolt.Open(path, noIndexer)
			require.NoError(t, err)
			seed(t, s, "acme", "ep_1", "evk_1", 1)
			want := map[string]int{"index_log": 1, "idempotency": 0, "tenant_events": 0, "endpoint_messages": 0}
			if partly {
				require.NoError(t, s.ApplyIndexOnly(bolt.IxIdem))
				want["idempotency"] = 1
			}
			require.Equal(t, want, keyCounts(t, s, deferred...))
			require.NoError(t, s.Close())

			s, err = bolt.Open(path, noIndexer)
			require.NoError(t, err)
			defer s.Close()
			ev := &store.Event{Key: "evk_2", TenantID: "acme", ID: "id-evk_1", Type: "t.x", CreatedAt: t0, Payload: []byte("{}")}
			res, err := s.EventInsert(ctx, store.EventInsertParams{Event: ev, IdempotencyWindow: time.Hour, Now: t0.Add(time.Second)})
			require.NoError(t, err)
			require.True(t, res.Duplicate)
			require.Equal(t, "evk_1", res.Event.Key)
			require.Equal(t, 1, keyCounts(t, s, "events")["events"], "the duplicate wrote no event")

			tenants, err := s.TenantList(ctx, store.ListParams{})
			require.NoError(t, err)
			require.Equal(t, []string{"acme"}, tenants)
			require.Equal(t, map[string]int{"index_log": 0, "idempotency": 1, "tenant_events": 1, "endpoint_messages": 0},
				keyCounts(t, s, deferred...))
		})
	}
}
