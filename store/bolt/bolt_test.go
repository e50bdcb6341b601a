package bolt_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bbolt "go.etcd.io/bbolt"

	"github.com/hooksmith/webhook/store"
	"github.com/hooksmith/webhook/store/bolt"
	"github.com/hooksmith/webhook/store/storetest"
)

// openTest opens a store in t.TempDir and checks the file's consistency
// when the test ends.
func openTest(tb testing.TB) *bolt.Store {
	tb.Helper()
	return openTestWith(tb, nil)
}

func openTestWith(tb testing.TB, opts *bolt.Options) *bolt.Store {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "webhook.db")
	s, err := bolt.Open(path, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		// Checked once closed: bbolt's Check reads the freelist, which a
		// write the store's indexer or admitter begins would race with.
		if err := s.Close(); err != nil {
			tb.Errorf("close: %v", err)
		}
		db, err := bbolt.Open(path, 0o600, &bbolt.Options{NoFreelistSync: true, FreelistType: bbolt.FreelistMapType})
		if err != nil {
			tb.Fatal(err)
		}
		defer db.Close()
		err = db.View(func(tx *bbolt.Tx) error {
			var first error
			for err := range tx.Check() {
				if first == nil {
					first = err
				}
			}
			return first
		})
		if err != nil {
			tb.Errorf("bolt consistency: %v", err)
		}
	})
	return s
}

func TestStore(t *testing.T) {
	storetest.Exercise(t, func(t *testing.T) store.Store { return openTest(t) })
}

// With the indexer off, every index entry a case reads is still in the
// index log when it reads it.
func TestStore_with_index_entries_left_in_the_log(t *testing.T) {
	storetest.Exercise(t, func(t *testing.T) store.Store { return openTestWith(t, &bolt.Options{IndexInterval: -1}) })
}

func BenchmarkStore(b *testing.B) {
	storetest.Benchmark(b, func(b *testing.B) store.Store { return openTest(b) })
}

var (
	ctx = context.Background()
	t0  = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
)

// seed creates an endpoint and one event fanned out into n messages to it.
func seed(t *testing.T, s *bolt.Store, tenant, endpointID, eventKey string, n int) []*store.Message {
	t.Helper()
	ep := &store.Endpoint{ID: endpointID, TenantID: tenant, URL: "https://e.example/", Method: "POST", Enabled: true}
	if err := s.EndpointCreate(ctx, ep); err != nil && !errors.Is(err, store.ErrConflict) {
		t.Fatal(err)
	}
	ev := &store.Event{Key: eventKey, TenantID: tenant, ID: "id-" + eventKey, Type: "t.x", CreatedAt: t0, Payload: []byte("{}")}
	msgs := make([]*store.Message, n)
	for i := range msgs {
		msgs[i] = &store.Message{ID: fmt.Sprintf("msg_%s_%05d", eventKey, i), TenantID: tenant, EndpointID: endpointID,
			EventID: ev.ID, EventKey: ev.Key, Status: store.StatusPending, NextAttemptAt: t0, CreatedAt: t0}
	}
	_, err := s.EventInsert(ctx, store.EventInsertParams{Event: ev, Messages: msgs, IdempotencyWindow: time.Hour, Now: t0})
	require.NoError(t, err)
	return msgs
}

// Claims keep the endpoints they decode, but hand out what the file holds
// now: a record rewritten by the store, or around it, is decoded again.
func TestClaim_hands_out_the_endpoint_as_stored_now(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	claimURL := func(eventKey string) string {
		t.Helper()
		seed(t, s, "acme", "ep_1", eventKey, 1)
		res, err := s.MessageClaim(ctx, store.MessageClaimParams{Now: t0, LeaseUntil: t0.Add(time.Minute), Limit: 10})
		require.NoError(t, err)
		require.Len(t, res.Claims, 1)
		return res.Claims[0].Endpoint.URL
	}
	require.Equal(t, "https://e.example/", claimURL("evk_1"))
	require.Equal(t, "https://e.example/", claimURL("evk_2"))

	ep, err := s.EndpointGet(ctx, "acme", "ep_1")
	require.NoError(t, err)
	ep.URL = "https://updated.example/"
	require.NoError(t, s.EndpointUpdate(ctx, ep, t0))
	require.Equal(t, "https://updated.example/", claimURL("evk_3"))

	require.NoError(t, s.DB().Update(func(tx *bbolt.Tx) error {
		ep.URL = "https://raw.example/"
		v, err := json.Marshal(ep)
		if err != nil {
			return err
		}
		return tx.Bucket([]byte("endpoints")).Put([]byte("acme\x00ep_1"), v)
	}))
	require.Equal(t, "https://raw.example/", claimURL("evk_4"))
}

func TestClaim_quarantines_a_corrupt_record_instead_of_blocking_the_queue(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	bad := seed(t, s, "acme", "ep_1", "evk_1", 1)[0]
	good := seed(t, s, "acme", "ep_1", "evk_2", 1)[0]
	require.NoError(t, s.DB().Update(func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte("events")).Put([]byte("evk_1"), []byte("\x00\x00\x00\x09not json!"))
	}))
	res, err := s.MessageClaim(ctx, store.MessageClaimParams{Now: t0, LeaseUntil: t0.Add(time.Minute), Limit: 10})
	require.NoError(t, err)
	require.Len(t, res.Claims, 1)
	require.Equal(t, good.ID, res.Claims[0].Message.ID)
	require.Equal(t, []string{bad.ID}, res.Corrupt)
	res, err = s.MessageClaim(ctx, store.MessageClaimParams{Now: t0, LeaseUntil: t0.Add(time.Minute), Limit: 10})
	require.NoError(t, err)
	require.Empty(t, res.Claims)
	require.Empty(t, res.Corrupt, "a quarantined message is reported once")
}

func TestStore_writes_after_Close_fail_with_ErrClosed(t *testing.T) {
	t.Parallel()
	s, err := bolt.Open(filepath.Join(t.TempDir(), "webhook.db"), nil)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "Close is idempotent")
	for range 50 {
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := s.EventTypePut(c, &store.EventType{Name: "a.b"})
		cancel()
		require.ErrorIs(t, err, store.ErrClosed)
	}
	_, err = s.EventTypeGet(ctx, "a.b")
	require.ErrorIs(t, err, store.ErrClosed)
}

func TestEndpointDelete_cancels_a_backlog_larger_than_one_batch(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	msgs := seed(t, s, "acme", "ep_1", "evk_1", 1234)
	require.NoError(t, s.EndpointDelete(ctx, "acme", "ep_1", t0))
	for _, m := range msgs {
		got, err := s.MessageGet(ctx, "acme", m.ID)
		require.NoError(t, err)
		require.Equal(t, store.StatusCancelled, got.Status, m.ID)
	}
	res, err := s.MessageClaim(ctx, store.MessageClaimParams{Now: t0, LeaseUntil: t0.Add(time.Minute), Limit: 100})
	require.NoError(t, err)
	require.Empty(t, res.Claims)
	require.True(t, res.NextDue.IsZero(), "cancelled messages left due keys")
}

func TestEndpointDelete_interrupted_is_finished_by_Open(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "webhook.db")
	s, err := bolt.Open(path, nil)
	require.NoError(t, err)
	msgs := seed(t, s, "acme", "ep_1", "evk_1", 700)
	// Disable the endpoint, so no claim would ever touch its messages:
	// only the tombstone can.
	ep, err := s.EndpointGet(ctx, "acme", "ep_1")
	require.NoError(t, err)
	ep.Enabled = false
	require.NoError(t, s.EndpointUpdate(ctx, ep, t0))
	_, err = s.MessageClaim(ctx, store.MessageClaimParams{Now: t0, LeaseUntil: t0.Add(time.Minute), Limit: 1000})
	require.NoError(t, err)
	// What a crash after the first delete transaction leaves behind.
	require.NoError(t, s.DB().Update(func(tx *bbolt.Tx) error {
		if err := tx.Bucket([]byte("endpoints")).Delete([]byte("acme\x00ep_1")); err != nil {
			return err
		}
		return tx.Bucket([]byte("deleting")).Put([]byte("ep_1"), nil)
	}))
	require.NoError(t, s.Close())

	s, err = bolt.Open(path, nil)
	require.NoError(t, err)
	defer s.Close()
	for _, m := range msgs {
		got, err := s.MessageGet(ctx, "acme", m.ID)
		require.NoError(t, err)
		require.Equal(t, store.StatusCancelled, got.Status, m.ID)
	}
	require.NoError(t, s.DB().View(func(tx *bbolt.Tx) error {
		require.Zero(t, tx.Bucket([]byte("deleting")).Stats().KeyN, "tombstone left behind")
		for _, b := range []string{"queue", "due_by_endpoint", "ready", "endpoint_state"} {
			require.Zero(t, tx.Bucket([]byte(b)).Stats().KeyN, "%s entries left behind", b)
		}
		return nil
	}))
}

func TestEndpointDelete_skips_a_corrupt_message_record(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	msgs := seed(t, s, "acme", "ep_1", "evk_1", 3)
	require.NoError(t, s.DB().Update(func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte("messages")).Put([]byte(msgs[1].ID), []byte("{not json"))
	}))
	require.NoError(t, s.EndpointDelete(ctx, "acme", "ep_1", t0))
	for _, i := range []int{0, 2} {
		got, err := s.MessageGet(ctx, "acme", msgs[i].ID)
		require.NoError(t, err)
		require.Equal(t, store.StatusCancelled, got.Status)
	}
}

func TestOpen_refuses_a_file_of_the_first_layout(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := bbolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *bbolt.Tx) error {
		_, err := tx.CreateBucket([]byte("pending")) // the version 1 index
		return err
	}))
	require.NoError(t, db.Close())
	_, err = bolt.Open(path, nil)
	require.ErrorIs(t, err, bolt.ErrFormat)

	// A current file opens again and again.
	path = filepath.Join(t.TempDir(), "new.db")
	for range 2 {
		s, err := bolt.Open(path, nil)
		require.NoError(t, err)
		require.NoError(t, s.Close())
	}
}

func TestClaim_rebuilds_an_unreadable_endpoint_state_without_spinning(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	msgs := seed(t, s, "acme", "ep_1", "evk_1", 3)
	require.NoError(t, s.DB().Update(func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte("endpoint_state")).Put([]byte("ep_1"), []byte("{not json"))
	}))
	res, err := s.MessageClaim(ctx, store.MessageClaimParams{Now: t0, LeaseUntil: t0.Add(time.Minute), Limit: 10})
	require.NoError(t, err)
	require.Len(t, res.Claims, len(msgs), "the endpoint's messages are still claimed")
	res, err = s.MessageClaim(ctx, store.MessageClaimParams{Now: t0, LeaseUntil: t0.Add(time.Minute), Limit: 10})
	require.NoError(t, err)
	require.Empty(t, res.Claims)
	require.True(t, res.NextDue.After(t0), "NextDue %s would make the scheduler spin", res.NextDue)
}

func TestClaim_frees_the_slot_of_a_leased_message_whose_record_was_lost(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	msgs := seed(t, s, "acme", "ep_1", "evk_1", 2)
	claim := func(now time.Time) store.MessageClaimResult {
		res, err := s.MessageClaim(ctx, store.MessageClaimParams{Now: now, LeaseUntil: now.Add(time.Minute), Limit: 10, DefaultMaxInFlight: 1})
		require.NoError(t, err)
		return res
	}
	res := claim(t0)
	require.Len(t, res.Claims, 1)
	lost := res.Claims[0].Message.ID
	require.NoError(t, s.DB().Update(func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte("messages")).Delete([]byte(lost))
	}))
	later := t0.Add(2 * time.Minute) // the lost message's lease has ended
	res = claim(later)
	require.Len(t, res.Claims, 1, "the cap of 1 is free again")
	require.NotEqual(t, lost, res.Claims[0].Message.ID)
	require.Contains(t, []string{msgs[0].ID, msgs[1].ID}, res.Claims[0].Message.ID)
}

// An unreadable message record neither stops a recovery job nor a purge:
// the job counts it as skipped, the purge keeps its event.
func TestRecoveryStep_and_Purge_pass_a_corrupt_message_record(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	msgs := seed(t, s, "acme", "ep_1", "evk_1", 3)
	other := seed(t, s, "acme", "ep_1", "evk_2", 1)
	res, err := s.MessageClaim(ctx, store.MessageClaimParams{Now: t0, LeaseUntil: t0.Add(time.Minute), Limit: 10})
	require.NoError(t, err)
	require.Len(t, res.Claims, 4)
	for _, c := range res.Claims {
		require.NoError(t, s.MessageComplete(ctx, store.MessageCompleteParams{MessageID: c.Message.ID,
			LeaseToken: c.Message.LeaseToken, Status: store.StatusExhausted, Now: t0.Add(time.Second)}))
	}
	require.NoError(t, s.DB().Update(func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte("messages")).Put([]byte(msgs[1].ID), []byte("{not json"))
	}))

	require.NoError(t, s.RecoveryCreate(ctx, &store.Recovery{ID: "rcv_1", TenantID: "acme",
		Source: store.RecoverEndpoint, EndpointID: "ep_1", CreatedAt: t0}))
	job, err := s.RecoveryStep(ctx, "acme", "rcv_1", 10, t0.Add(time.Minute))
	require.NoError(t, err)
	require.True(t, job.Done)
	require.Equal(t, 3, job.Retried, "the three readable exhausted messages")
	require.Equal(t, 1, job.Skipped, "the unreadable one")

	// Once final again, the unreadable message's event is kept, the other
	// event goes.
	res, err = s.MessageClaim(ctx, store.MessageClaimParams{Now: t0.Add(time.Minute), LeaseUntil: t0.Add(2 * time.Minute), Limit: 10})
	require.NoError(t, err)
	for _, c := range res.Claims {
		require.NoError(t, s.MessageComplete(ctx, store.MessageCompleteParams{MessageID: c.Message.ID,
			LeaseToken: c.Message.LeaseToken, Status: store.StatusSucceeded, Now: t0.Add(time.Minute)}))
	}
	purged, err := s.Purge(ctx, store.PurgeParams{TenantID: "acme", Before: t0.Add(time.Hour), Limit: 10})
	require.NoError(t, err)
	require.Equal(t, 1, purged.Events)
	require.Equal(t, 1, purged.Kept)
	_, err = s.MessageGet(ctx, "acme", other[0].ID)
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.EventGet(ctx, "acme", "id-evk_1")
	require.NoError(t, err)
}

func TestStats_busy_is_the_writers_time_within_the_writes(t *testing.T) {
	s := openTestWith(t, &bolt.Options{IndexInterval: -1})
	require.Equal(t, bolt.Stats{}, s.Stats(), "nothing written yet")
	start := time.Now()
	for i := range 3 {
		require.NoError(t, s.EventTypePut(ctx, &store.EventType{Name: fmt.Sprintf("t.%d", i)}))
	}
	wall := time.Since(start)
	st := s.Stats()
	require.EqualValues(t, 3, st.Writes)
	require.EqualValues(t, 3, st.Commits)
	require.Positive(t, st.Busy, "three fsynced commits took no writer time")
	require.LessOrEqual(t, st.Busy, wall, "the writer was busy longer than the writes took")
}
