package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hooksmith/webhook/store"
)

// retry calls MessageRetry and fails the test on error.
func (f *fixture) retry(tenant string, trigger store.Trigger, now time.Time, ids ...string) []store.RetryOutcome {
	f.t.Helper()
	out, err := f.s.MessageRetry(f.ctx, store.MessageRetryParams{TenantID: tenant, MessageIDs: ids, Trigger: trigger, Now: now})
	require.NoError(f.t, err, "MessageRetry(%s, %v)", tenant, ids)
	require.Len(f.t, out, len(ids), "MessageRetry(%s, %v): one outcome per ID", tenant, ids)
	return out
}

// maxSeq returns the largest Seq of the tenant's messages ids.
func (f *fixture) maxSeq(tenant string, ids ...string) uint64 {
	f.t.Helper()
	var seq uint64
	for _, id := range ids {
		seq = max(seq, f.getMessage(tenant, id).Seq)
	}
	return seq
}

// requireReopened asserts that message id was reopened at now by trigger
// after attempts attempts: waiting, due at now, a new RetryBase.
func (f *fixture) requireReopened(tenant, id string, attempts int, trigger store.Trigger, now time.Time) *store.Message {
	f.t.Helper()
	m := f.getMessage(tenant, id)
	want := store.StatusFailing
	if attempts == 0 {
		want = store.StatusPending
	}
	require.Equal(f.t, want, m.Status, "%s", id)
	require.Equal(f.t, attempts, m.Attempts, "%s keeps its attempts", id)
	require.Equal(f.t, attempts, m.RetryBase, "%s: a full retry schedule follows", id)
	require.Equal(f.t, trigger, m.Trigger, "%s", id)
	requireTime(f.t, now, m.NextAttemptAt, "%s is due at Now", id)
	require.Zero(f.t, m.LeaseToken, "%s", id)
	return m
}

var retryCases = []testCase{
	{"MessageRetry/reopens_an_exhausted_message_due_at_Now_with_a_full_retry_schedule", func(t *testing.T, f *fixture) {
		f.createEndpoint(tenantA, "ep_0001")
		f.publish(tenantA, "evt_0001", "evk_0001", t0,
			msg{id: "msg_0001", endpoint: "ep_0001"},
			msg{id: "msg_0002", endpoint: "ep_0001"},
			msg{id: "msg_0003", endpoint: "ep_0001", due: t0.Add(10 * time.Hour)})
		res := f.claim(t0, t0.Add(time.Minute), 10)
		f.finish(claimOf(t, res, "msg_0001"), store.StatusFailing, "att_0001", t0.Add(time.Second), t0.Add(time.Minute))
		f.finish(claimOf(t, res, "msg_0002"), store.StatusSucceeded, "att_0002", t0.Add(time.Second), time.Time{})
		c := claimOf(t, f.claim(t0.Add(time.Minute), t0.Add(2*time.Minute), 10), "msg_0001")
		f.finish(c, store.StatusExhausted, "att_0003", t0.Add(time.Minute+time.Second), time.Time{})
		before := f.getMessage(tenantA, "msg_0001")
		seq := f.maxSeq(tenantA, "msg_0001", "msg_0002", "msg_0003")
		require.Equal(t, []string{"msg_0001"}, f.exhaustedIDs(tenantA, store.MessageListParams{}))

		now := t0.Add(time.Hour)
		require.Equal(t, []store.RetryOutcome{store.RetryDone}, f.retry(tenantA, store.TriggerManual, now, "msg_0001"))
		m := f.requireReopened(tenantA, "msg_0001", 2, store.TriggerManual, now)
		require.Greater(t, m.Seq, seq, "a new Seq behind every message of the endpoint")
		requireTime(t, before.CreatedAt, m.CreatedAt)
		require.Equal(t, before.EventKey, m.EventKey)
		require.Empty(t, f.exhaustedIDs(tenantA, store.MessageListParams{}), "off the exhausted list")

		require.Empty(t, f.claim(now.Add(-time.Microsecond), now, 10).Claims, "not due before Now")
		c = claimOf(t, f.claim(now, now.Add(time.Minute), 10), "msg_0001")
		require.Equal(t, store.TriggerManual, c.Message.Trigger, "the claim carries the Trigger")
		require.Equal(t, 2, c.Message.RetryBase)
		require.Equal(t, 2, c.Message.Attempts)

		f.finish(c, store.StatusPending, "", now.Add(time.Second), now.Add(time.Minute))
		require.Equal(t, store.TriggerManual, f.getMessage(tenantA, "msg_0001").Trigger, "a release records no attempt and keeps the Trigger")
		c = claimOf(t, f.claim(now.Add(time.Minute), now.Add(2*time.Minute), 10), "msg_0001")
		require.Equal(t, store.TriggerManual, c.Message.Trigger)
		f.finish(c, store.StatusFailing, "att_0004", now.Add(time.Minute+time.Second), now.Add(time.Hour))
		m = f.getMessage(tenantA, "msg_0001")
		require.Empty(t, m.Trigger, "MessageComplete clears the Trigger when it records an attempt")
		require.Equal(t, 3, m.Attempts)
		require.Equal(t, 2, m.RetryBase, "RetryBase stays until the next reopen")
	}},
	{"MessageRetry/reopens_succeeded_and_cancelled_messages", func(t *testing.T, f *fixture) {
		f.createEndpoint(tenantA, "ep_0001")
		f.publish(tenantA, "evt_0001", "evk_0001", t0,
			msg{id: "msg_0001", endpoint: "ep_0001"},
			msg{id: "msg_0002", endpoint: "ep_0001"})
		res := f.claim(t0, t0.Add(time.Minute), 10)
		f.finish(claimOf(t, res, "msg_0001"), store.StatusSucceeded, "att_0001", t0.Add(time.Second), time.Time{})
		f.finish(claimOf(t, res, "msg_0002"), store.StatusCancelled, "", t0.Add(time.Second), time.Time{})
		seq := f.maxSeq(tenantA, "msg_0001", "msg_0002")

		now := t0.Add(time.Hour)
		require.Equal(t, []store.RetryOutcome{store.RetryDone, store.RetryDone}, f.retry(tenantA, store.TriggerReplay, now, "msg_0001", "msg_0002"))
		one := f.requireReopened(tenantA, "msg_0001", 1, store.TriggerReplay, now)
		two := f.requireReopened(tenantA, "msg_0002", 0, store.TriggerReplay, now)
		require.Greater(t, one.Seq, seq)
		require.Greater(t, two.Seq, seq)
		require.NotEqual(t, one.Seq, two.Seq)
		res = f.claim(now, now.Add(time.Minute), 10)
		require.Equal(t, []string{"msg_0001", "msg_0002"}, claimIDs(res))
		require.Equal(t, store.TriggerReplay, claimOf(t, res, "msg_0002").Message.Trigger)
	}},
	{"MessageRetry/moves_a_waiting_message_up_and_gives_it_a_full_retry_schedule", func(t *testing.T, f *fixture) {
		f.createEndpoint(tenantA, "ep_0001")
		f.publish(tenantA, "evt_0001", "evk_0001", t0,
			msg{id: "msg_0001", endpoint: "ep_0001"},
			msg{id: "msg_0002", endpoint: "ep_0001", due: t0.Add(5 * time.Hour)})
		f.finish(claimOf(t, f.claim(t0, t0.Add(time.Minute), 10), "msg_0001"), store.StatusExhausted, "att_0001", t0.Add(time.Second), time.Time{})
		at := t0.Add(time.Minute)
		f.retry(tenantA, store.TriggerManual, at, "msg_0001")
		f.finish(claimOf(t, f.claim(at, at.Add(time.Minute), 10), "msg_0001"), store.StatusFailing, "att_0002", at.Add(time.Second), t0.Add(5*time.Hour))
		before := map[string]*store.Message{"msg_0001": f.getMessage(tenantA, "msg_0001"), "msg_0002": f.getMessage(tenantA, "msg_0002")}
		require.Equal(t, 1, before["msg_0001"].RetryBase)
		require.Empty(t, before["msg_0001"].Trigger)

		now := t0.Add(2 * time.Hour)
		require.Equal(t, []store.RetryOutcome{store.RetryDone, store.RetryDone}, f.retry(tenantA, store.TriggerManual, now, "msg_0002", "msg_0001"))
		for id, b := range before {
			m := f.getMessage(tenantA, id)
			require.Equal(t, b.Status, m.Status, "%s keeps waiting", id)
			require.Equal(t, b.Attempts, m.Attempts, "%s", id)
			require.Equal(t, b.Attempts, m.RetryBase, "%s: a full retry schedule follows", id)
			require.Equal(t, b.Seq, m.Seq, "%s keeps its place", id)
			require.Equal(t, store.TriggerManual, m.Trigger, "%s", id)
			requireTime(t, now, m.NextAttemptAt, "%s is moved up to Now", id)
		}
		require.Empty(t, f.claim(now.Add(-time.Microsecond), now, 10).Claims)
		require.Equal(t, []string{"msg_0001", "msg_0002"}, claimIDs(f.claim(now, now.Add(time.Minute), 10)))
	}},
	{"MessageRetry/leaves_alone_a_leased_message_or_one_whose_endpoint_is_disabled_or_deleted", func(t *testing.T, f *fixture) {
		for _, id := range []string{"ep_0001", "ep_0002", "ep_0003", "ep_0004"} {
			f.createEndpoint(tenantA, id)
		}
		f.createEndpoint(tenantB, "ep_0005")
		f.publish(tenantA, "evt_0001", "evk_0001", t0,
			msg{id: "msg_0001", endpoint: "ep_0001"},
			msg{id: "msg_0002", endpoint: "ep_0002"},
			msg{id: "msg_0003", endpoint: "ep_0003"},
			msg{id: "msg_0004", endpoint: "ep_0004"},
			msg{id: "msg_0005", endpoint: "ep_0003", due: t0.Add(time.Hour)})
		f.publish(tenantB, "evt_0001", "evk_0002", t0, msg{id: "msg_0006", endpoint: "ep_0005"})
		res := f.claim(t0, t0.Add(time.Hour), 10)
		for i, id := range []string{"msg_0002", "msg_0003", "msg_0004", "msg_0006"} {
			f.finish(claimOf(t, res, id), store.StatusExhausted, fmt.Sprintf("att_%04d", i+1), t0.Add(time.Second), time.Time{})
		}
		f.updateEndpoint(tenantA, "ep_0002", t0.Add(2*time.Second), func(e *store.Endpoint) { e.Enabled, e.DisabledReason = false, "paused" })
		require.NoError(t, f.s.EndpointDelete(f.ctx, tenantA, "ep_0003", t0.Add(3*time.Second)))

		alone := []string{"msg_0001", "msg_0002", "msg_0003", "msg_0005"}
		before := map[string]*store.Message{}
		for _, id := range alone {
			before[id] = f.getMessage(tenantA, id)
		}
		otherBefore := f.getMessage(tenantB, "msg_0006")

		now := t0.Add(10 * time.Minute)
		got := f.retry(tenantA, store.TriggerManual, now, "msg_0001", "msg_0002", "msg_0003", "msg_0009", "msg_0004", "msg_0006", "msg_0005")
		require.Equal(t, []store.RetryOutcome{
			store.RetryInFlight, store.RetryEndpointDisabled, store.RetryEndpointDeleted, store.RetryNotFound,
			store.RetryDone, store.RetryNotFound, store.RetryEndpointDeleted,
		}, got)
		for _, id := range alone {
			requireMessage(t, before[id], f.getMessage(tenantA, id), "%s is left alone", id)
		}
		requireMessage(t, otherBefore, f.getMessage(tenantB, "msg_0006"), "another tenant's message is left alone")
		f.requireReopened(tenantA, "msg_0004", 1, store.TriggerManual, now)
		require.Equal(t, []string{"msg_0003", "msg_0002"}, f.exhaustedIDs(tenantA, store.MessageListParams{}))
		require.Equal(t, []string{"msg_0006"}, f.exhaustedIDs(tenantB, store.MessageListParams{}))
		require.Empty(t, f.retry(tenantA, store.TriggerManual, now), "no IDs, no outcomes")
	}},
	{"MessageRetry/a_reopened_message_of_a_FIFO_endpoint_goes_to_the_back_of_its_queue", func(t *testing.T, f *fixture) {
		f.createEndpointWith(tenantA, "ep_0001", func(e *store.Endpoint) { e.FIFO = true })
		f.publish(tenantA, "evt_0001", "evk_0001", t0, msg{id: "msg_0001", endpoint: "ep_0001"})
		f.publish(tenantA, "evt_0002", "evk_0002", t0.Add(time.Second), msg{id: "msg_0002", endpoint: "ep_0001"})
		f.publish(tenantA, "evt_0003", "evk_0003", t0.Add(2*time.Second), msg{id: "msg_0003", endpoint: "ep_0001"})
		now := t0.Add(2 * time.Second)
		f.finish(claimOf(t, f.claim(now, now.Add(time.Minute), 10), "msg_0001"), store.StatusExhausted, "att_0001", now, time.Time{})

		now = t0.Add(time.Minute)
		require.Equal(t, []store.RetryOutcome{store.RetryDone}, f.retry(tenantA, store.TriggerManual, now, "msg_0001"))
		var order []string
		for i := range 4 {
			res := f.claim(now, now.Add(time.Minute), 10)
			if len(res.Claims) == 0 {
				break
			}
			require.Len(t, res.Claims, 1, "a FIFO endpoint has one message in flight")
			order = append(order, res.Claims[0].Message.ID)
			f.finish(res.Claims[0], store.StatusSucceeded, fmt.Sprintf("att_%04d", 100+i), now, time.Time{})
		}
		require.Equal(t, []string{"msg_0002", "msg_0003", "msg_0001"}, order)
	}},
}
