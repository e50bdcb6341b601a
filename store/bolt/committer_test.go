package bolt_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bbolt "go.etcd.io/bbolt"

	"github.com/hooksmith/webhook/store"
	"github.com/hooksmith/webhook/store/bolt"
)

// grouped calls each fn, which makes one write, from a goroutine of its
// own, queued in order while the writer is held, so that the writes join
// the held write's transaction and share its commit; it returns their
// errors.
func grouped(t *testing.T, s *bolt.Store, fns ...func() error) []error {
	t.Helper()
	release := s.HoldWriter()
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Go(func() { errs[i] = fn() })
		require.Eventually(t, func() bool { return s.QueuedWrites() == i+1 }, 5*time.Second, time.Millisecond)
	}
	w0 := s.Stats()
	release()
	wg.Wait()
	w := s.Stats()
	require.Equal(t, uint64(1), w.Commits-w0.Commits, "the held write and those queued while it ran")
	require.Equal(t, uint64(len(fns)+1), w.Writes-w0.Writes)
	return errs
}

// complete records a successful attempt att for a claimed message.
func complete(s *bolt.Store, m *store.Message, att string, now time.Time) error {
	return s.MessageComplete(ctx, store.MessageCompleteParams{MessageID: m.ID, LeaseToken: m.LeaseToken,
		Status: store.StatusSucceeded, Now: now, Attempt: &store.Attempt{ID: att, TenantID: m.TenantID,
			MessageID: m.ID, EndpointID: m.EndpointID, EventID: m.EventID, Number: 1, StartedAt: now,
			URL: "https://e.example/", StatusCode: 200}})
}

// Writes that share a commit log their index entries together, in records
// of about MaxIndexRecord bytes rather than one each, and every entry is
// applied.
func TestCommitter_writes_sharing_a_commit_log_their_index_entries_together(t *testing.T) {
	t.Parallel()
	s := openTestWith(t, noIndexer)
	require.NoError(t, s.EndpointCreate(ctx, &store.Endpoint{ID: "ep_1", TenantID: "acme", URL: "https://e.example/",
		Method: "POST", Enabled: true}))
	const n = 60
	fns := make([]func() error, n)
	for i := range fns {
		ev := &store.Event{Key: fmt.Sprintf("evk_%02d", i), TenantID: "acme", ID: fmt.Sprintf("evt_%02d", i),
			Type: "t.x", CreatedAt: t0, Payload: []byte("{}")}
		m := &store.Message{ID: fmt.Sprintf("msg_%02d", i), TenantID: "acme", EndpointID: "ep_1", EventID: ev.ID,
			EventKey: ev.Key, Status: store.StatusPending, NextAttemptAt: t0, CreatedAt: t0}
		fns[i] = func() error {
			_, err := s.EventInsert(ctx, store.EventInsertParams{Event: ev, Messages: []*store.Message{m},
				IdempotencyWindow: time.Hour, Now: t0})
			return err
		}
	}
	for i, err := range grouped(t, s, fns...) {
		require.NoError(t, err, "publish %d", i)
	}

	var sizes []int
	require.NoError(t, s.RawDB().View(func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte("index_log")).ForEach(func(_, v []byte) error {
			sizes = append(sizes, len(v))
			return nil
		})
	}))
	total := 0
	for _, n := range sizes {
		total += n
		require.Less(t, n, 2*bolt.MaxIndexRecord, "records %v", sizes)
	}
	require.Greater(t, total, 2*bolt.MaxIndexRecord, "enough entries for several records")
	require.Len(t, sizes, (total+bolt.MaxIndexRecord-1)/bolt.MaxIndexRecord, "records %v", sizes)

	for i := range n {
		ev, err := s.EventGet(ctx, "acme", fmt.Sprintf("evt_%02d", i))
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("evk_%02d", i), ev.Key)
	}
	require.Equal(t, map[string]int{"index_log": 0, "idempotency": n, "tenant_events": n, "endpoint_messages": 0},
		keyCounts(t, s, deferred...))
}

// Outcomes that share a commit share their endpoint's state: each frees
// its slot, so a claim then finds the whole cap free again.
func TestCommitter_outcomes_sharing_a_commit_free_every_slot(t *testing.T) {
	t.Parallel()
	s := openTestWith(t, noIndexer)
	seed(t, s, "acme", "ep_1", "evk_1", 10)
	claim := func(now time.Time) []store.Claim {
		res, err := s.MessageClaim(ctx, store.MessageClaimParams{Now: now, LeaseUntil: now.Add(time.Minute),
			Limit: 10, DefaultMaxInFlight: 4})
		require.NoError(t, err)
		return res.Claims
	}
	first := claim(t0)
	require.Len(t, first, 4, "the endpoint's cap")
	fns := make([]func() error, len(first))
	for i, c := range first {
		fns[i] = func() error { return complete(s, c.Message, fmt.Sprintf("att_%d", i), t0) }
	}
	for i, err := range grouped(t, s, fns...) {
		require.NoError(t, err, "outcome %d", i)
	}
	require.Len(t, claim(t0.Add(time.Second)), 4)
	require.Len(t, listed(t, s, store.AttemptListParams{EndpointID: "ep_1"}), 4)
}

// A purge in the same commit as an outcome before it finds the attempt the
// outcome logged, and deletes it with its index entries.
func TestCommitter_a_purge_sharing_a_commit_purges_what_the_writes_before_it_logged(t *testing.T) {
	t.Parallel()
	s := openTestWith(t, noIndexer)
	m := seed(t, s, "acme", "ep_1", "evk_1", 1)[0]
	res, err := s.MessageClaim(ctx, store.MessageClaimParams{Now: t0, LeaseUntil: t0.Add(time.Minute), Limit: 10})
	require.NoError(t, err)
	require.Len(t, res.Claims, 1)
	s.DB() // the event is indexed, so the purge has something to look at

	var purged store.PurgeResult
	errs := grouped(t, s,
		func() error { return complete(s, res.Claims[0].Message, "att_1", t0) },
		func() (err error) {
			purged, err = s.Purge(ctx, store.PurgeParams{TenantID: "acme", Before: t0.Add(time.Hour)})
			return err
		})
	require.Equal(t, []error{nil, nil}, errs)
	require.Equal(t, 1, purged.Events)
	require.Equal(t, 1, purged.Attempts)

	msgs, err := s.MessageGetMany(ctx, "acme", []string{m.ID})
	require.NoError(t, err)
	require.Empty(t, msgs)
	require.Empty(t, listed(t, s, store.AttemptListParams{}))
	require.Equal(t, map[string]int{"index_log": 0, "attempts": 0, "attempts_by_tenant": 0, "attempts_by_class": 0,
		"attempts_by_endpoint": 0, "attempts_by_event": 0, "attempts_by_message": 0, "messages": 0, "events": 0},
		keyCounts(t, s, "index_log", "attempts", "attempts_by_tenant", "attempts_by_class", "attempts_by_endpoint",
			"attempts_by_event", "attempts_by_message", "messages", "events"))
}

// A write encodes its record into a recycled buffer, which bbolt holds
// until the commit: writes sharing a commit each keep their own, so every
// record reads back as written.
func TestCommitter_writes_sharing_a_commit_keep_their_own_records(t *testing.T) {
	t.Parallel()
	s := openTestWith(t, noIndexer)
	seed(t, s, "acme", "ep_1", "evk_seed", 12)
	const n = 12
	payload := func(i int) []byte { return []byte(fmt.Sprintf(`{"n":%d,"pad":%q}`, i, strings.Repeat("x", 50*i))) }
	fns := make([]func() error, n)
	for i := range fns {
		ev := &store.Event{Key: fmt.Sprintf("evk_%02d", i), TenantID: "acme", ID: fmt.Sprintf("evt_%02d", i),
			Type: "t.x", CreatedAt: t0, Payload: payload(i)}
		fns[i] = func() error {
			_, err := s.EventInsert(ctx, store.EventInsertParams{Event: ev, IdempotencyWindow: time.Hour, Now: t0})
			return err
		}
	}
	for i, err := range grouped(t, s, fns...) {
		require.NoError(t, err, "publish %d", i)
	}
	for i := range n {
		ev, err := s.EventGet(ctx, "acme", fmt.Sprintf("evt_%02d", i))
		require.NoError(t, err)
		require.Equal(t, string(payload(i)), string(ev.Payload), "event %d", i)
	}

	res, err := s.MessageClaim(ctx, store.MessageClaimParams{Now: t0, LeaseUntil: t0.Add(time.Minute), Limit: n})
	require.NoError(t, err)
	require.Len(t, res.Claims, n)
	fns = make([]func() error, n)
	for i, c := range res.Claims {
		m := c.Message
		fns[i] = func() error {
			return s.MessageComplete(ctx, store.MessageCompleteParams{MessageID: m.ID, LeaseToken: m.LeaseToken,
				Status: store.StatusSucceeded, Now: t0, Attempt: &store.Attempt{ID: fmt.Sprintf("att_%02d", i),
					TenantID: m.TenantID, MessageID: m.ID, EndpointID: m.EndpointID, EventID: m.EventID, Number: 1,
					StartedAt: t0, URL: "https://e.example/" + strings.Repeat("p", 40*i), StatusCode: 200 + i}})
		}
	}
	for i, err := range grouped(t, s, fns...) {
		require.NoError(t, err, "outcome %d", i)
	}
	for i, c := range res.Claims {
		a, err := s.AttemptGet(ctx, "acme", fmt.Sprintf("att_%02d", i))
		require.NoError(t, err)
		require.Equal(t, c.Message.ID, a.MessageID)
		require.Equal(t, "https://e.example/"+strings.Repeat("p", 40*i), a.URL)
		require.Equal(t, 200+i, a.StatusCode)
	}
}
