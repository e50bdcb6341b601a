package bolt_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bbolt "go.etcd.io/bbolt"

	"github.com/hooksmith/webhook/store"
	"github.com/hooksmith/webhook/store/bolt"
)

// A publish leaves its messages in the intake; claims queue them, a bounded
// number per claim. A backlog larger than one claim queues is still
// claimed whole, each message once and in publish order, and the first
// claim says to come back at once.
func TestIntake_a_backlog_larger_than_one_claim_queues_is_claimed_in_order(t *testing.T) {
	t.Parallel()
	s, err := bolt.Open(filepath.Join(t.TempDir(), "webhook.db"), &bolt.Options{NoSync: true})
	require.NoError(t, err)
	defer s.Close()
	msgs := seed(t, s, "acme", "ep_1", "evk_1", 5000)

	var got []string
	for calls := 0; len(got) < len(msgs); calls++ {
		require.Less(t, calls, 100, "claims made no progress")
		res, err := s.MessageClaim(ctx, store.MessageClaimParams{Now: t0, LeaseUntil: t0.Add(time.Minute), Limit: 10000})
		require.NoError(t, err)
		if calls == 0 {
			require.Less(t, len(res.Claims), len(msgs), "one claim queues a bounded number")
			require.False(t, res.NextDue.After(t0), "more wait in the intake: claim again now")
		}
		for _, c := range res.Claims {
			got = append(got, c.Message.ID)
		}
	}
	require.Len(t, got, len(msgs))
	for i, m := range msgs {
		require.Equal(t, m.ID, got[i], "claim %d", i)
	}
	res, err := s.MessageClaim(ctx, store.MessageClaimParams{Now: t0, LeaseUntil: t0.Add(time.Minute), Limit: 10})
	require.NoError(t, err)
	require.Empty(t, res.Claims)
}

func TestIntake_survives_a_reopen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "webhook.db")
	s, err := bolt.Open(path, nil)
	require.NoError(t, err)
	msgs := seed(t, s, "acme", "ep_1", "evk_1", 10)
	require.NoError(t, s.Close())

	s, err = bolt.Open(path, nil)
	require.NoError(t, err)
	defer s.Close()
	res, err := s.MessageClaim(ctx, store.MessageClaimParams{Now: t0, LeaseUntil: t0.Add(time.Minute), Limit: 100})
	require.NoError(t, err)
	require.Len(t, res.Claims, len(msgs))
}

// currentFormat is the file format this binary writes.
const currentFormat = "11"

// requireFormat checks the format the file of s is marked with.
func requireFormat(t *testing.T, s *bolt.Store, want string) {
	t.Helper()
	require.NoError(t, s.RawDB().View(func(tx *bbolt.Tx) error {
		require.Equal(t, want, string(tx.Bucket([]byte("meta")).Get([]byte("format"))))
		return nil
	}))
}

// reopenAs rewrites the file of s, at path, with old, as a binary of that
// version wrote it, marks it that version, closes it and opens it again
// with opts: the reopened store has upgraded it to currentFormat, and is
// closed when the test ends.
func reopenAs(t *testing.T, s *bolt.Store, path, version string, opts *bolt.Options, old func(tx *bbolt.Tx) error) *bolt.Store {
	t.Helper()
	require.NoError(t, s.RawDB().Update(func(tx *bbolt.Tx) error {
		if err := old(tx); err != nil {
			return err
		}
		return tx.Bucket([]byte("meta")).Put([]byte("format"), []byte(version))
	}))
	require.NoError(t, s.Close())
	s, err := bolt.Open(path, opts)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	requireFormat(t, s, currentFormat)
	return s
}

// Version 3 files had no intake; Open adds it and marks the file with the
// current format.
func TestOpen_upgrades_a_version_3_file(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "v3.db")
	db, err := bbolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucket([]byte("meta"))
		if err != nil {
			return err
		}
		return b.Put([]byte("format"), []byte("3"))
	}))
	require.NoError(t, db.Close())
	s, err := bolt.Open(path, nil)
	require.NoError(t, err)
	defer s.Close()
	requireFormat(t, s, currentFormat)
	require.NoError(t, s.DB().View(func(tx *bbolt.Tx) error {
		require.NotNil(t, tx.Bucket([]byte("intake")))
		return nil
	}))
}

// Version 4 files hold message records as JSON: after the upgrade they are
// read, claimed and completed like those written since.
func TestOpen_upgrades_a_version_4_file_with_JSON_messages(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "v4.db")
	s, err := bolt.Open(path, nil)
	require.NoError(t, err)
	m := seed(t, s, "acme", "ep_1", "evk_1", 1)[0]
	got, err := s.MessageGet(ctx, "acme", m.ID)
	require.NoError(t, err)
	old, err := json.Marshal(got)
	require.NoError(t, err)
	s = reopenAs(t, s, path, "4", nil, func(tx *bbolt.Tx) error {
		msgs := tx.Bucket([]byte("messages"))
		var stored map[string]any
		require.Error(t, json.Unmarshal(msgs.Get([]byte(m.ID)), &stored), "written in the binary form")
		return msgs.Put([]byte(m.ID), old)
	})
	got, err = s.MessageGet(ctx, "acme", m.ID)
	require.NoError(t, err)
	require.Equal(t, store.StatusPending, got.Status)
	c := claimFirst(t, s, t0)
	require.Equal(t, m.ID, c.Message.ID)
	require.NoError(t, s.MessageComplete(ctx, store.MessageCompleteParams{MessageID: m.ID, LeaseToken: c.Message.LeaseToken,
		Status: store.StatusSucceeded, Now: t0}))
	got, err = s.MessageGet(ctx, "acme", m.ID)
	require.NoError(t, err)
	require.Equal(t, store.StatusSucceeded, got.Status)
}

// Version 6 files hold endpoint states as JSON: after the upgrade the
// leased count still caps the endpoint and its health still reads.
func TestOpen_upgrades_a_version_6_file_with_JSON_endpoint_states(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "v6.db")
	s, err := bolt.Open(path, nil)
	require.NoError(t, err)
	msgs := seed(t, s, "acme", "ep_1", "evk_1", 2)
	claim := func(s *bolt.Store) []store.Claim {
		res, err := s.MessageClaim(ctx, store.MessageClaimParams{Now: t0, LeaseUntil: t0.Add(time.Minute), Limit: 10, DefaultMaxInFlight: 1})
		require.NoError(t, err)
		return res.Claims
	}
	first := claim(s)
	require.Len(t, first, 1)
	failed := t0.Add(-time.Hour)
	s = reopenAs(t, s, path, "6", nil, func(tx *bbolt.Tx) error {
		state := tx.Bucket([]byte("endpoint_state"))
		require.NotEqual(t, byte('{'), state.Get([]byte("ep_1"))[0], "written in the binary form")
		old := fmt.Sprintf(`{"tenant_id":"acme","leased":1,"blocked":true,"health":{"last_failure_at":%q,"failing_since":%q}}`,
			failed.Format(time.RFC3339Nano), failed.Format(time.RFC3339Nano))
		return state.Put([]byte("ep_1"), []byte(old))
	})
	stats, err := s.EndpointStats(ctx, store.EndpointStatsParams{TenantID: "acme", EndpointID: "ep_1"})
	require.NoError(t, err)
	require.True(t, stats.Health.FailingSince.Equal(failed), "health read from the JSON state: %+v", stats.Health)
	require.Empty(t, claim(s), "the leased count read from the JSON state holds the endpoint at its cap")
	require.NoError(t, s.MessageComplete(ctx, store.MessageCompleteParams{MessageID: first[0].Message.ID,
		LeaseToken: first[0].Message.LeaseToken, Status: store.StatusSucceeded, Now: t0}))
	next := claim(s)
	require.Len(t, next, 1)
	require.Equal(t, msgs[1].ID, next[0].Message.ID)
	require.NoError(t, s.DB().View(func(tx *bbolt.Tx) error {
		require.NotEqual(t, byte('{'), tx.Bucket([]byte("endpoint_state")).Get([]byte("ep_1"))[0], "rewritten in the binary form")
		return nil
	}))
}

// Version 8 files hold events as a length, JSON metadata and the payload:
// after the upgrade they still read, and are still claimed, while new
// events are written in the binary form.
func TestOpen_upgrades_a_version_8_file_with_JSON_events(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "v8.db")
	s, err := bolt.Open(path, nil)
	require.NoError(t, err)
	seed(t, s, "acme", "ep_1", "evk_1", 1)
	occurred := time.Date(2026, 1, 1, 1, 0, 0, 0, time.FixedZone("", 5400))
	meta := fmt.Sprintf(`{"key":"evk_1","tenant_id":"acme","id":"id-evk_1","type":"t.x","content_type":"application/json",`+
		`"labels":{"region":"eu"},"occurred_at":%q,"created_at":%q}`, occurred.Format(time.RFC3339Nano), t0.Format(time.RFC3339Nano))
	s = reopenAs(t, s, path, "8", nil, func(tx *bbolt.Tx) error {
		events := tx.Bucket([]byte("events"))
		require.NotEqual(t, byte(0), events.Get([]byte("evk_1"))[0], "written in the binary form")
		old := append(binary.BigEndian.AppendUint32(nil, uint32(len(meta))), meta...)
		return events.Put([]byte("evk_1"), append(old, `{"old":true}`...))
	})
	ev, err := s.EventGet(ctx, "acme", "id-evk_1")
	require.NoError(t, err)
	require.Equal(t, map[string]string{"region": "eu"}, ev.Labels)
	require.True(t, ev.OccurredAt.Equal(occurred))
	require.Equal(t, `{"old":true}`, string(ev.Payload))
	res, err := s.MessageClaim(ctx, store.MessageClaimParams{Now: t0, LeaseUntil: t0.Add(time.Minute), Limit: 10})
	require.NoError(t, err)
	require.Len(t, res.Claims, 1)
	require.Equal(t, `{"old":true}`, string(res.Claims[0].Event.Payload))
	seed(t, s, "acme", "ep_1", "evk_2", 1)
	require.NoError(t, s.DB().View(func(tx *bbolt.Tx) error {
		require.Equal(t, byte(0), tx.Bucket([]byte("events")).Get([]byte("evk_1"))[0], "an old record is left as it is")
		require.NotEqual(t, byte(0), tx.Bucket([]byte("events")).Get([]byte("evk_2"))[0], "a new one is binary")
		return nil
	}))
}

// Format 9's event records left their messages to event_messages. Such an
// event is still read, gains a message there, and is purged with them;
// new events list their messages in their record alone.
func TestOpen_upgrades_a_version_9_file_with_messages_outside_the_event(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "v9.db")
	s, err := bolt.Open(path, nil)
	require.NoError(t, err)
	old := seed(t, s, "acme", "ep_1", "evk_1", 2)
	require.NoError(t, s.EndpointCreate(ctx, &store.Endpoint{ID: "ep_2", TenantID: "acme", URL: "https://e.example/", Method: "POST", Enabled: true}))
	require.Equal(t, map[string]int{"event_messages": 0}, keyCounts(t, s, "event_messages"), "a new event lists its messages in its record")
	s = reopenAs(t, s, path, "9", nil, func(tx *bbolt.Tx) error { return bolt.AsFormat9Event(tx, "evk_1") })
	eventRecord := func(key string) []byte {
		var v []byte
		require.NoError(t, s.RawDB().View(func(tx *bbolt.Tx) error {
			v = bytes.Clone(tx.Bucket([]byte("events")).Get([]byte(key)))
			return nil
		}))
		return v
	}
	require.Equal(t, byte(0x81), eventRecord("evk_1")[0])
	refs := func() []store.MessageRef {
		ev, err := s.EventGet(ctx, "acme", "id-evk_1")
		require.NoError(t, err)
		return ev.Messages
	}
	require.Equal(t, []store.MessageRef{{MessageID: old[0].ID, EndpointID: "ep_1"}, {MessageID: old[1].ID, EndpointID: "ep_1"}}, refs())

	added := &store.Message{ID: "msg_zz_added", TenantID: "acme", EndpointID: "ep_2", EventID: "id-evk_1", EventKey: "evk_1",
		Status: store.StatusPending, NextAttemptAt: t0, CreatedAt: t0}
	written, err := s.MessageInsert(ctx, store.MessageInsertParams{TenantID: "acme", EventKey: "evk_1", Messages: []*store.Message{added}, Now: t0})
	require.NoError(t, err)
	require.Equal(t, []string{added.ID}, written)
	require.Len(t, refs(), 3)
	require.Equal(t, byte(0x81), eventRecord("evk_1")[0], "the old record is left as it is")
	require.Equal(t, map[string]int{"event_messages": 3}, keyCounts(t, s, "event_messages"))

	seed(t, s, "acme", "ep_1", "evk_2", 1)
	require.Equal(t, byte(0x82), eventRecord("evk_2")[0])
	require.Equal(t, map[string]int{"event_messages": 3}, keyCounts(t, s, "event_messages"), "nothing of the new event's")

	res, err := s.MessageClaim(ctx, store.MessageClaimParams{Now: t0, LeaseUntil: t0.Add(time.Minute), Limit: 10})
	require.NoError(t, err)
	require.Len(t, res.Claims, 4)
	for _, c := range res.Claims {
		require.Equal(t, "{}", string(c.Event.Payload))
		require.NoError(t, s.MessageComplete(ctx, store.MessageCompleteParams{MessageID: c.Message.ID,
			LeaseToken: c.Message.LeaseToken, Status: store.StatusSucceeded, Now: t0}))
	}
	purged, err := s.Purge(ctx, store.PurgeParams{TenantID: "acme", Before: t0.Add(time.Hour)})
	require.NoError(t, err)
	require.Equal(t, 2, purged.Events)
	require.Equal(t, 4, purged.Messages)
	require.Equal(t, map[string]int{"event_messages": 0, "events": 0, "messages": 0},
		keyCounts(t, s, "event_messages", "events", "messages"))
}

// Format 10 and earlier stored attempts as JSON: after the upgrade such an
// attempt is still read, listed and purged, while new attempts are written
// in the binary form.
func TestOpen_upgrades_a_version_10_file_with_JSON_attempts(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "v10.db")
	s, err := bolt.Open(path, nil)
	require.NoError(t, err)
	seed(t, s, "acme", "ep_1", "evk_1", 1)
	complete := func(s *bolt.Store, attemptID string, status int) {
		t.Helper()
		c := claimFirst(t, s, t0)
		require.NoError(t, s.MessageComplete(ctx, store.MessageCompleteParams{MessageID: c.Message.ID, LeaseToken: c.Message.LeaseToken,
			Status: store.StatusSucceeded, Now: t0, Attempt: &store.Attempt{ID: attemptID, TenantID: "acme", MessageID: c.Message.ID,
				EndpointID: "ep_1", EventID: c.Message.EventID, Number: 1, StartedAt: t0, URL: "https://e.example/", StatusCode: status,
				RequestHeaders: map[string][]string{"Webhook-Id": {c.Message.ID}}, ResponseBody: []byte("ok")}}))
	}
	complete(s, "att_1", 200)
	stored := func(id string) []byte {
		var v []byte
		require.NoError(t, s.RawDB().View(func(tx *bbolt.Tx) error {
			v = bytes.Clone(tx.Bucket([]byte("attempts")).Get([]byte(id)))
			return nil
		}))
		return v
	}
	require.Equal(t, byte(0x83), stored("att_1")[0])
	old, err := s.AttemptGet(ctx, "acme", "att_1")
	require.NoError(t, err)
	old.ResponseBody = nil // stored apart, in either form
	meta, err := json.Marshal(old)
	require.NoError(t, err)
	s = reopenAs(t, s, path, "10", nil, func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte("attempts")).Put([]byte("att_1"), meta)
	})
	require.Equal(t, meta, stored("att_1"))
	got, err := s.AttemptGet(ctx, "acme", "att_1")
	require.NoError(t, err)
	require.Equal(t, map[string][]string{"Webhook-Id": {"msg_evk_1_00000"}}, got.RequestHeaders)
	require.True(t, got.StartedAt.Equal(t0))

	seed(t, s, "acme", "ep_1", "evk_2", 1)
	complete(s, "att_2", 201)
	require.Equal(t, byte(0x83), stored("att_2")[0], "a new attempt is binary")
	page, err := s.AttemptList(ctx, "acme", store.AttemptListParams{WithBodies: true})
	require.NoError(t, err)
	require.Len(t, page.Attempts, 2)
	for _, a := range page.Attempts {
		require.Equal(t, "ok", string(a.ResponseBody))
		require.Contains(t, []int{200, 201}, a.StatusCode)
	}
	purged, err := s.Purge(ctx, store.PurgeParams{TenantID: "acme", Before: t0.Add(time.Hour)})
	require.NoError(t, err)
	require.Equal(t, 2, purged.Attempts)
	require.Equal(t, map[string]int{"attempts": 0, "attempt_bodies": 0}, keyCounts(t, s, "attempts", "attempt_bodies"))
}

// bulkDisabled queues n messages ahead of whatever is published next, to
// a disabled endpoint, so that they fill more than one claim's admit.
func bulkDisabled(t *testing.T, s *bolt.Store, n int) {
	t.Helper()
	require.NoError(t, s.EndpointCreate(ctx, &store.Endpoint{ID: "ep_bulk", TenantID: "acme", URL: "https://e.example/", Method: "POST"}))
	seed(t, s, "acme", "ep_bulk", "evk_bulk", n)
}

// claimFirst claims at now until a claim returns something (at most 100
// claims, the admitter working meanwhile) and returns it.
func claimFirst(t *testing.T, s *bolt.Store, now time.Time) store.Claim {
	t.Helper()
	for range 100 {
		res, err := s.MessageClaim(ctx, store.MessageClaimParams{Now: now, LeaseUntil: now.Add(time.Minute), Limit: 1})
		require.NoError(t, err)
		if len(res.Claims) > 0 {
			return res.Claims[0]
		}
	}
	t.Fatal("nothing claimed in 100 claims")
	return store.Claim{}
}

// Retrying a message still in the intake changes its due time and keeps
// its place: it is queued, recoverable and cancelled like any other.
func TestIntake_a_retried_message_not_yet_queued_is_queued_like_the_rest(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	bulkDisabled(t, s, 4100)
	target := seed(t, s, "acme", "ep_t", "evk_t", 1)[0]
	t1 := t0.Add(time.Minute)
	out, err := s.MessageRetry(ctx, store.MessageRetryParams{TenantID: "acme", MessageIDs: []string{target.ID}, Trigger: store.TriggerManual, Now: t1})
	require.NoError(t, err)
	require.Equal(t, []store.RetryOutcome{store.RetryDone}, out)

	c := claimFirst(t, s, t1)
	require.Equal(t, target.ID, c.Message.ID)
	require.Equal(t, store.TriggerManual, c.Message.Trigger)
	require.NoError(t, s.MessageComplete(ctx, store.MessageCompleteParams{MessageID: c.Message.ID, LeaseToken: c.Message.LeaseToken,
		Attempt: &store.Attempt{ID: "att_1", TenantID: "acme", MessageID: target.ID, EndpointID: "ep_t", EventID: c.Message.EventID,
			Number: 1, StartedAt: t1, StatusCode: 500, ErrorClass: store.ErrorHTTPStatus},
		Status: store.StatusFailing, NextAttemptAt: t1.Add(time.Hour), Now: t1}))

	require.NoError(t, s.RecoveryCreate(ctx, &store.Recovery{ID: "rcv_1", TenantID: "acme", Source: store.RecoverEndpoint,
		EndpointID: "ep_t", CreatedAt: t1, UpdatedAt: t1}))
	r, err := s.RecoveryStep(ctx, "acme", "rcv_1", 100, t1.Add(time.Minute))
	require.NoError(t, err)
	require.Equal(t, 1, r.Retried, "RecoverEndpoint finds it")

	require.NoError(t, s.EndpointDelete(ctx, "acme", "ep_t", t1.Add(2*time.Minute)))
	m, err := s.MessageGet(ctx, "acme", target.ID)
	require.NoError(t, err)
	require.Equal(t, store.StatusCancelled, m.Status, "EndpointDelete cancels it")
}

// A reopened message goes behind messages published before it that wait in
// the intake: a FIFO endpoint delivers those first.
func TestIntake_a_reopened_message_waits_behind_earlier_publishes(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	require.NoError(t, s.EndpointCreate(ctx, &store.Endpoint{ID: "ep_f", TenantID: "acme", URL: "https://e.example/", Method: "POST", Enabled: true, FIFO: true}))
	b := seed(t, s, "acme", "ep_f", "evk_b", 1)[0]
	c := claimFirst(t, s, t0)
	require.NoError(t, s.MessageComplete(ctx, store.MessageCompleteParams{MessageID: b.ID, LeaseToken: c.Message.LeaseToken, Status: store.StatusSucceeded, Now: t0}))
	bulkDisabled(t, s, 4100)
	a := seed(t, s, "acme", "ep_f", "evk_a", 1)[0]
	t1 := t0.Add(time.Minute)
	_, err := s.MessageRetry(ctx, store.MessageRetryParams{TenantID: "acme", MessageIDs: []string{b.ID}, Trigger: store.TriggerManual, Now: t1})
	require.NoError(t, err)

	c = claimFirst(t, s, t1)
	require.Equal(t, a.ID, c.Message.ID, "published before the reopen, so first")
	require.NoError(t, s.MessageComplete(ctx, store.MessageCompleteParams{MessageID: a.ID, LeaseToken: c.Message.LeaseToken, Status: store.StatusSucceeded, Now: t1}))
	require.Equal(t, b.ID, claimFirst(t, s, t1).Message.ID)
}

func TestIntake_TenantList_lists_a_tenant_whose_events_wait_in_it(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	seed(t, s, "acme", "ep_1", "evk_1", 1)
	l, err := s.TenantList(ctx, store.ListParams{})
	require.NoError(t, err)
	require.Equal(t, []string{"acme"}, l)
}

// A message record that cannot be decoded is reported once by a claim; its
// event keeps its tenant_events entry, so once the record is repaired the
// event can be purged.
func TestIntake_a_corrupt_record_keeps_its_event_purgeable(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	m := seed(t, s, "acme", "ep_1", "evk_1", 1)[0]
	require.NoError(t, s.DB().Update(func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte("messages")).Put([]byte(m.ID), []byte("not json"))
	}))
	res, err := s.MessageClaim(ctx, store.MessageClaimParams{Now: t0, LeaseUntil: t0.Add(time.Minute), Limit: 10})
	require.NoError(t, err)
	require.Equal(t, []string{m.ID}, res.Corrupt)
	res, err = s.MessageClaim(ctx, store.MessageClaimParams{Now: t0, LeaseUntil: t0.Add(time.Minute), Limit: 10})
	require.NoError(t, err)
	require.Empty(t, res.Corrupt, "reported once")

	require.NoError(t, s.DB().Update(func(tx *bbolt.Tx) error { // repaired as cancelled
		return tx.Bucket([]byte("messages")).Put([]byte(m.ID), []byte(`{"id":"`+m.ID+
			`","tenant_id":"acme","endpoint_id":"ep_1","event_key":"evk_1","status":"cancelled","created_at":"2026-01-01T00:00:00Z"}`))
	}))
	pr, err := s.Purge(ctx, store.PurgeParams{TenantID: "acme", Before: t0.Add(time.Hour)})
	require.NoError(t, err)
	require.Equal(t, 1, pr.Events)
}

// An event record written since format 10 alone lists its messages: the
// purge keeps one it cannot read whole, messages included, rather than
// leave them behind.
func TestPurge_keeps_an_event_whose_record_cannot_be_read(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	m := seed(t, s, "acme", "ep_1", "evk_1", 1)[0]
	res, err := s.MessageClaim(ctx, store.MessageClaimParams{Now: t0, LeaseUntil: t0.Add(time.Minute), Limit: 10})
	require.NoError(t, err)
	require.Len(t, res.Claims, 1)
	require.NoError(t, s.MessageComplete(ctx, store.MessageCompleteParams{MessageID: m.ID,
		LeaseToken: res.Claims[0].Message.LeaseToken, Status: store.StatusSucceeded, Now: t0}))
	require.NoError(t, s.DB().Update(func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte("events")).Put([]byte("evk_1"), []byte{0x82, 9, 'k'})
	}))
	pr, err := s.Purge(ctx, store.PurgeParams{TenantID: "acme", Before: t0.Add(time.Hour)})
	require.NoError(t, err)
	require.Equal(t, store.PurgeResult{Kept: 1}, pr)
	require.Equal(t, map[string]int{"events": 1, "messages": 1}, keyCounts(t, s, "events", "messages"))
	_, err = s.MessageGet(ctx, "acme", m.ID)
	require.NoError(t, err)
}

// EndpointDelete and Purge queue the intake first, but leave a corrupt
// record's entry for a claim to report.
func TestIntake_admitting_for_a_delete_leaves_corrupt_records_to_the_claim(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	bad := seed(t, s, "acme", "ep_1", "evk_1", 1)[0]
	good := seed(t, s, "acme", "ep_2", "evk_2", 1)[0]
	require.NoError(t, s.DB().Update(func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte("messages")).Put([]byte(bad.ID), []byte("not json"))
	}))
	require.NoError(t, s.EndpointDelete(ctx, "acme", "ep_2", t0))
	m, err := s.MessageGet(ctx, "acme", good.ID)
	require.NoError(t, err)
	require.Equal(t, store.StatusCancelled, m.Status)
	res, err := s.MessageClaim(ctx, store.MessageClaimParams{Now: t0, LeaseUntil: t0.Add(time.Minute), Limit: 10})
	require.NoError(t, err)
	require.Equal(t, []string{bad.ID}, res.Corrupt)
}
