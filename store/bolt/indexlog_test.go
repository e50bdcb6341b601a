package bolt_test

import (
	"bytes"
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

// Reads that need the log written at the same time take turns: the first
// writes it, in one pass of a write per index and one that drops the
// records, and the others find nothing left, rather than each applying
// the same records again.
func TestIndexLog_concurrent_reads_write_it_once(t *testing.T) {
	t.Parallel()
	s := openTestWith(t, noIndexer)
	seed(t, s, "acme", "ep_1", "evk_1", 2)
	seed(t, s, "acme", "ep_1", "evk_2", 1)
	before := s.Stats().Writes
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			_, err := s.EventGet(ctx, "acme", "id-evk_1")
			require.NoError(t, err)
		})
	}
	wg.Wait()
	const indexes = 8 // idempotency, the tenant's events, the endpoint's messages, five attempt indexes
	require.Equal(t, uint64(indexes+1), s.Stats().Writes-before)
	require.Equal(t, map[string]int{"index_log": 0, "idempotency": 2, "tenant_events": 2, "endpoint_messages": 0},
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

var attemptIndexes = []string{"index_log", "attempts_by_tenant", "attempts_by_class", "attempts_by_endpoint",
	"attempts_by_event", "attempts_by_message"}

// deliverOnce claims the tenant's one message and completes it with the
// attempt att_1, leaving the index log holding only what the outcome wrote.
func deliverOnce(t *testing.T, s *bolt.Store) *store.Message {
	t.Helper()
	m := seed(t, s, "acme", "ep_1", "evk_1", 1)[0]
	res, err := s.MessageClaim(ctx, store.MessageClaimParams{Now: t0, LeaseUntil: t0.Add(time.Minute), Limit: 10})
	require.NoError(t, err)
	require.Len(t, res.Claims, 1)
	_, err = s.EventGet(ctx, "acme", "id-evk_1") // applies what the publish and the claim logged
	require.NoError(t, err)
	a := &store.Attempt{ID: "att_1", TenantID: "acme", MessageID: m.ID, EndpointID: "ep_1", EventID: "id-evk_1",
		Number: 1, StartedAt: t0, URL: "https://e.example/", StatusCode: 200}
	require.NoError(t, s.MessageComplete(ctx, store.MessageCompleteParams{MessageID: m.ID,
		LeaseToken: res.Claims[0].Message.LeaseToken, Status: store.StatusSucceeded, Attempt: a, Now: t0}))
	return m
}

// listed returns the IDs of the attempts AttemptList finds with p.
func listed(t *testing.T, s *bolt.Store, p store.AttemptListParams) []string {
	t.Helper()
	page, err := s.AttemptList(ctx, "acme", p)
	require.NoError(t, err)
	var ids []string
	for _, a := range page.Attempts {
		ids = append(ids, a.ID)
	}
	return ids
}

// An outcome logs its attempt's five index entries as one entry, which
// holds the attempt's position once; the read that needs them writes all
// five, and a purge deletes them.
func TestIndexLog_holds_an_attempts_index_entries_as_one(t *testing.T) {
	t.Parallel()
	s := openTestWith(t, noIndexer)
	m := deliverOnce(t, s)
	require.Equal(t, map[string]int{"index_log": 1, "attempts_by_tenant": 0, "attempts_by_class": 0, "attempts_by_endpoint": 0,
		"attempts_by_event": 0, "attempts_by_message": 0}, keyCounts(t, s, attemptIndexes...))
	require.NoError(t, s.RawDB().View(func(tx *bbolt.Tx) error {
		_, rec := tx.Bucket([]byte("index_log")).Cursor().First()
		require.Equal(t, 1, bytes.Count(rec, []byte("att_1")), "the attempt's position, once")
		return nil
	}))

	require.Equal(t, []string{"att_1"}, listed(t, s, store.AttemptListParams{MessageID: m.ID}))
	require.Equal(t, map[string]int{"index_log": 0, "attempts_by_tenant": 1, "attempts_by_class": 1, "attempts_by_endpoint": 1,
		"attempts_by_event": 1, "attempts_by_message": 1}, keyCounts(t, s, attemptIndexes...))
	for _, p := range []store.AttemptListParams{{}, {StatusClass: store.Class2xx}, {EndpointID: "ep_1"}, {EventID: "id-evk_1"}} {
		require.Equal(t, []string{"att_1"}, listed(t, s, p), "%+v", p)
	}
	require.Empty(t, listed(t, s, store.AttemptListParams{StatusClass: store.Class5xx}))

	res, err := s.Purge(ctx, store.PurgeParams{TenantID: "acme", Before: t0.Add(time.Hour)})
	require.NoError(t, err)
	require.Equal(t, 1, res.Attempts)
	require.Equal(t, map[string]int{"index_log": 0, "attempts_by_tenant": 0, "attempts_by_class": 0, "attempts_by_endpoint": 0,
		"attempts_by_event": 0, "attempts_by_message": 0}, keyCounts(t, s, attemptIndexes...))
}

// A version 7 file wrote an attempt's attempts_by_message entry with the
// attempt and logged its other entries one by one: after the upgrade both
// are read, and a purge deletes them.
func TestOpen_upgrades_a_version_7_file(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "v7.db")
	s, err := bolt.Open(path, noIndexer)
	require.NoError(t, err)
	m := deliverOnce(t, s)
	s = reopenAs(t, s, path, "7", noIndexer, bolt.AsFormat7)
	require.Equal(t, map[string]int{"index_log": 1, "attempts_by_tenant": 0, "attempts_by_class": 0, "attempts_by_endpoint": 0,
		"attempts_by_event": 0, "attempts_by_message": 1}, keyCounts(t, s, attemptIndexes...))
	require.Equal(t, []string{"att_1"}, listed(t, s, store.AttemptListParams{EndpointID: "ep_1"}))
	require.Equal(t, []string{"att_1"}, listed(t, s, store.AttemptListParams{MessageID: m.ID}))
	res, err := s.Purge(ctx, store.PurgeParams{TenantID: "acme", Before: t0.Add(time.Hour)})
	require.NoError(t, err)
	require.Equal(t, 1, res.Attempts)
	require.Equal(t, map[string]int{"index_log": 0, "attempts_by_tenant": 0, "attempts_by_class": 0, "attempts_by_endpoint": 0,
		"attempts_by_event": 0, "attempts_by_message": 0}, keyCounts(t, s, attemptIndexes...))
}

// publishCancelled publishes event key at t0 with one message to an
// endpoint that does not exist, so it is stored cancelled: final, with no
// attempt and no rollup, and found by a purge through tenant_events alone.
func publishCancelled(t *testing.T, s *bolt.Store, key string) {
	t.Helper()
	ev := &store.Event{Key: key, TenantID: "acme", ID: "id-" + key, Type: "t.x", CreatedAt: t0, Payload: []byte("{}")}
	m := &store.Message{ID: "msg_" + key, TenantID: "acme", EndpointID: "ep_gone", EventID: ev.ID, EventKey: key,
		Status: store.StatusPending, NextAttemptAt: t0, CreatedAt: t0}
	_, err := s.EventInsert(ctx, store.EventInsertParams{Event: ev, Messages: []*store.Message{m}, IdempotencyWindow: time.Hour, Now: t0})
	require.NoError(t, err)
}

// A purge that finds nothing old enough leaves the log to the indexer: it
// runs for every tenant in turn, and applying the log each time wrote every
// index once per tenant. One whose events may wait in the log applies it
// first, and finds them.
func TestIndexLog_a_purge_applies_it_only_when_it_may_hold_what_to_purge(t *testing.T) {
	t.Parallel()
	s := openTestWith(t, noIndexer)
	publishCancelled(t, s, "evk_1")
	for _, tenant := range []string{"acme", "other"} {
		res, err := s.Purge(ctx, store.PurgeParams{TenantID: tenant, Before: t0, Limit: 10})
		require.NoError(t, err)
		require.Equal(t, store.PurgeResult{}, res, "nothing created before t0")
		require.Equal(t, map[string]int{"index_log": 1, "idempotency": 0, "tenant_events": 0, "endpoint_messages": 0},
			keyCounts(t, s, deferred...), "the log is left as it was")
	}
	res, err := s.Purge(ctx, store.PurgeParams{TenantID: "acme", Before: t0.Add(time.Nanosecond), Limit: 10})
	require.NoError(t, err)
	require.Equal(t, store.PurgeResult{Events: 1, Messages: 1}, res)
	require.Equal(t, map[string]int{"index_log": 0, "idempotency": 0, "tenant_events": 0, "endpoint_messages": 0},
		keyCounts(t, s, deferred...), "applied, then the event and its entries purged")
	require.Equal(t, 0, keyCounts(t, s, "events")["events"])
}

// The times of the events in the log are known only for what this Open
// wrote: a log left by the last one is applied before any purge.
func TestIndexLog_a_purge_after_a_reopen_finds_the_events_it_holds(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "webhook.db")
	s, err := bolt.Open(path, noIndexer)
	require.NoError(t, err)
	publishCancelled(t, s, "evk_1")
	require.NoError(t, s.Close())

	s, err = bolt.Open(path, noIndexer)
	require.NoError(t, err)
	defer s.Close()
	require.Equal(t, 1, keyCounts(t, s, "index_log")["index_log"])
	res, err := s.Purge(ctx, store.PurgeParams{TenantID: "acme", Before: t0.Add(time.Hour), Limit: 10})
	require.NoError(t, err)
	require.Equal(t, store.PurgeResult{Events: 1, Messages: 1}, res)
	require.Equal(t, 0, keyCounts(t, s, "events")["events"])
}
