package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hooksmith/webhook/store"
)

// leaseOne publishes msg_0001 for ep_0001 due at t0 and claims it with a lease
// until t0+1m.
func (f *fixture) leaseOne() store.Claim {
	f.t.Helper()
	f.createEndpoint(tenantA, "ep_0001")
	f.publish(tenantA, "evt_0001", "evk_0001", t0, msg{id: "msg_0001", endpoint: "ep_0001"})
	return claimOf(f.t, f.claim(t0, t0.Add(time.Minute), 10), "msg_0001")
}

// requireFinal asserts that message id is in final state status and is never
// claimed again.
func (f *fixture) requireFinal(id string, status store.MessageStatus, attempts int) {
	f.t.Helper()
	m := f.getMessage(tenantA, id)
	require.Equal(f.t, status, m.Status)
	require.Equal(f.t, attempts, m.Attempts)
	require.True(f.t, m.NextAttemptAt.IsZero(), "final states have no NextAttemptAt, got %s", m.NextAttemptAt)
	far := t0.Add(48 * time.Hour)
	require.Empty(f.t, f.claim(far, far.Add(time.Minute), 10).Claims, "a final message is never claimed")
}

var completeCases = []testCase{
	{"MessageComplete/succeeded_is_final_and_records_the_attempt", func(t *testing.T, f *fixture) {
		c := f.leaseOne()
		att := newAttempt("att_0001", c, 1, t0.Add(time.Second))
		att.StatusCode = 204
		att.ErrorClass = store.ErrorNone
		att.Error = ""
		f.complete(store.MessageCompleteParams{
			MessageID: "msg_0001", LeaseToken: c.Message.LeaseToken, Attempt: att,
			Status: store.StatusSucceeded, Now: t0.Add(2 * time.Second),
		})
		f.requireFinal("msg_0001", store.StatusSucceeded, 1)

		list := f.attemptList(tenantA, store.AttemptListParams{MessageID: "msg_0001", WithBodies: true})
		require.Len(t, list, 1)
		requireAttempt(t, att, list[0])
	}},
	{"MessageComplete/records_every_field_of_a_failed_attempt", func(t *testing.T, f *fixture) {
		c := f.leaseOne()
		att := newAttempt("att_0001", c, 1, t0.Add(time.Second))
		f.complete(store.MessageCompleteParams{
			MessageID: "msg_0001", LeaseToken: c.Message.LeaseToken, Attempt: att,
			Status: store.StatusFailing, NextAttemptAt: t0.Add(time.Hour), Now: t0.Add(2 * time.Second),
		})
		list := f.attemptList(tenantA, store.AttemptListParams{MessageID: "msg_0001", WithBodies: true})
		require.Len(t, list, 1)
		requireAttempt(t, att, list[0], "headers, body, duration and error class round-trip")
		got, err := f.s.AttemptGet(f.ctx, tenantA, "att_0001")
		require.NoError(t, err)
		requireAttempt(t, att, got, "AttemptGet returns every field")
	}},
	{"MessageComplete/failing_reschedules_the_message_at_NextAttemptAt", func(t *testing.T, f *fixture) {
		c := f.leaseOne()
		retryAt := t0.Add(10*time.Minute + 3*time.Microsecond)
		f.complete(store.MessageCompleteParams{
			MessageID: "msg_0001", LeaseToken: c.Message.LeaseToken, Attempt: newAttempt("att_0001", c, 1, t0),
			Status: store.StatusFailing, NextAttemptAt: retryAt, Now: t0.Add(time.Second),
		})
		m := f.getMessage(tenantA, "msg_0001")
		require.Equal(t, store.StatusFailing, m.Status)
		require.Equal(t, 1, m.Attempts)
		requireTime(t, retryAt, m.NextAttemptAt)

		before := retryAt.Add(-time.Microsecond)
		res := f.claim(before, before.Add(time.Minute), 10)
		require.Empty(t, res.Claims, "not claimable before NextAttemptAt (the old lease expired long ago)")
		requireTime(t, retryAt, res.NextDue)

		res = f.claim(retryAt, retryAt.Add(time.Minute), 10)
		require.Equal(t, []string{"msg_0001"}, claimIDs(res), "claimable at NextAttemptAt")
		c2 := res.Claims[0]
		require.Equal(t, 1, c2.Message.Attempts)
		require.NotEqual(t, c.Message.LeaseToken, c2.Message.LeaseToken)

		f.complete(store.MessageCompleteParams{
			MessageID: "msg_0001", LeaseToken: c2.Message.LeaseToken, Attempt: newAttempt("att_0002", c2, 2, retryAt),
			Status: store.StatusExhausted, Now: retryAt.Add(time.Second),
		})
		f.requireFinal("msg_0001", store.StatusExhausted, 2)
		require.Len(t, f.attemptList(tenantA, store.AttemptListParams{MessageID: "msg_0001"}), 2)
	}},
	{"MessageComplete/exhausted_is_final", func(t *testing.T, f *fixture) {
		c := f.leaseOne()
		f.complete(store.MessageCompleteParams{
			MessageID: "msg_0001", LeaseToken: c.Message.LeaseToken, Attempt: newAttempt("att_0001", c, 1, t0),
			Status: store.StatusExhausted, Now: t0.Add(time.Second),
		})
		f.requireFinal("msg_0001", store.StatusExhausted, 1)
	}},
	{"MessageComplete/cancelled_is_final", func(t *testing.T, f *fixture) {
		c := f.leaseOne()
		f.complete(store.MessageCompleteParams{
			MessageID: "msg_0001", LeaseToken: c.Message.LeaseToken,
			Status: store.StatusCancelled, Now: t0.Add(time.Second),
		})
		f.requireFinal("msg_0001", store.StatusCancelled, 0)
		require.Empty(t, f.attemptList(tenantA, store.AttemptListParams{}))
	}},
	{"MessageComplete/pending_without_an_attempt_releases_the_lease", func(t *testing.T, f *fixture) {
		c := f.leaseOne()
		at := t0.Add(5 * time.Minute)
		f.complete(store.MessageCompleteParams{
			MessageID: "msg_0001", LeaseToken: c.Message.LeaseToken,
			Status: store.StatusPending, NextAttemptAt: at, Now: t0.Add(time.Second),
		})
		m := f.getMessage(tenantA, "msg_0001")
		require.Equal(t, store.StatusPending, m.Status)
		require.Equal(t, 0, m.Attempts, "a release is not an attempt")
		requireTime(t, at, m.NextAttemptAt)
		require.Empty(t, f.attemptList(tenantA, store.AttemptListParams{}), "no attempt recorded")

		before := at.Add(-time.Second)
		require.Empty(t, f.claim(before, before.Add(time.Minute), 10).Claims)
		res := f.claim(at, at.Add(time.Minute), 10)
		require.Equal(t, []string{"msg_0001"}, claimIDs(res))
		require.Equal(t, 0, res.Claims[0].Message.Attempts)
	}},
	{"MessageComplete/returns_ErrLeaseLost_for_a_wrong_token_and_changes_nothing", func(t *testing.T, f *fixture) {
		c := f.leaseOne()
		before := f.getMessage(tenantA, "msg_0001")
		for _, token := range []uint64{c.Message.LeaseToken + 1, c.Message.LeaseToken - 1, 0} {
			if token == c.Message.LeaseToken {
				continue
			}
			err := f.s.MessageComplete(f.ctx, store.MessageCompleteParams{
				MessageID: "msg_0001", LeaseToken: token, Attempt: newAttempt("att_0001", c, 1, t0),
				Status: store.StatusSucceeded, Now: t0.Add(time.Second),
			})
			require.ErrorIs(t, err, store.ErrLeaseLost, "token %d", token)
		}
		requireMessage(t, before, f.getMessage(tenantA, "msg_0001"), "the message is unchanged")
		require.Empty(t, f.attemptList(tenantA, store.AttemptListParams{}), "no attempt recorded")

		f.complete(store.MessageCompleteParams{
			MessageID: "msg_0001", LeaseToken: c.Message.LeaseToken, Attempt: newAttempt("att_0001", c, 1, t0),
			Status: store.StatusSucceeded, Now: t0.Add(time.Second),
		})
		f.requireFinal("msg_0001", store.StatusSucceeded, 1)
	}},
	{"MessageComplete/returns_ErrLeaseLost_when_completing_twice", func(t *testing.T, f *fixture) {
		c := f.leaseOne()
		p := store.MessageCompleteParams{
			MessageID: "msg_0001", LeaseToken: c.Message.LeaseToken, Attempt: newAttempt("att_0001", c, 1, t0),
			Status: store.StatusFailing, NextAttemptAt: t0.Add(time.Hour), Now: t0.Add(time.Second),
		}
		f.complete(p)
		p.Attempt = newAttempt("att_0002", c, 1, t0)
		p.Status = store.StatusSucceeded
		p.NextAttemptAt = time.Time{}
		require.ErrorIs(t, f.s.MessageComplete(f.ctx, p), store.ErrLeaseLost)

		m := f.getMessage(tenantA, "msg_0001")
		require.Equal(t, store.StatusFailing, m.Status)
		require.Equal(t, 1, m.Attempts)
		requireTime(t, t0.Add(time.Hour), m.NextAttemptAt)
		list := f.attemptList(tenantA, store.AttemptListParams{})
		require.Len(t, list, 1)
		require.Equal(t, "att_0001", list[0].ID)
	}},
	{"MessageComplete/returns_ErrLeaseLost_after_another_claimer_took_the_expired_lease", func(t *testing.T, f *fixture) {
		first := f.leaseOne()
		later := t0.Add(2 * time.Minute)
		second := claimOf(t, f.claim(later, later.Add(time.Minute), 10), "msg_0001")
		require.NotEqual(t, first.Message.LeaseToken, second.Message.LeaseToken)

		err := f.s.MessageComplete(f.ctx, store.MessageCompleteParams{
			MessageID: "msg_0001", LeaseToken: first.Message.LeaseToken, Attempt: newAttempt("att_0001", first, 1, t0),
			Status: store.StatusSucceeded, Now: later.Add(time.Second),
		})
		require.ErrorIs(t, err, store.ErrLeaseLost)
		m := f.getMessage(tenantA, "msg_0001")
		require.Equal(t, store.StatusDelivering, m.Status)
		require.Equal(t, second.Message.LeaseToken, m.LeaseToken)
		require.Equal(t, 0, m.Attempts)
		require.Empty(t, f.attemptList(tenantA, store.AttemptListParams{}))

		f.complete(store.MessageCompleteParams{
			MessageID: "msg_0001", LeaseToken: second.Message.LeaseToken, Attempt: newAttempt("att_0002", second, 1, later),
			Status: store.StatusSucceeded, Now: later.Add(2 * time.Second),
		})
		f.requireFinal("msg_0001", store.StatusSucceeded, 1)
	}},
	{"MessageComplete/an_ended_lease_holds_until_the_next_claim", func(t *testing.T, f *fixture) {
		c := f.leaseOne() // leased until t0+1m
		f.finish(c, store.StatusSucceeded, "att_0001", t0.Add(5*time.Minute), time.Time{})
		f.requireFinal("msg_0001", store.StatusSucceeded, 1)
	}},
	{"MessageComplete/a_message_whose_endpoint_was_deleted_is_cancelled_instead_of_retried", func(t *testing.T, f *fixture) {
		f.createEndpoint(tenantA, "ep_0001")
		f.publish(tenantA, "evt_0001", "evk_0001", t0,
			msg{id: "msg_0001", endpoint: "ep_0001"},
			msg{id: "msg_0002", endpoint: "ep_0001"},
			msg{id: "msg_0003", endpoint: "ep_0001"})
		res := f.claim(t0, t0.Add(time.Minute), 10)
		require.Len(t, res.Claims, 3)
		require.NoError(t, f.s.EndpointDelete(f.ctx, tenantA, "ep_0001", t0.Add(time.Second)))

		now := t0.Add(2 * time.Second)
		f.finish(claimOf(t, res, "msg_0001"), store.StatusFailing, "att_0001", now, t0.Add(time.Hour))
		f.finish(claimOf(t, res, "msg_0002"), store.StatusPending, "", now, t0.Add(time.Hour))
		f.finish(claimOf(t, res, "msg_0003"), store.StatusSucceeded, "att_0002", now, time.Time{})

		for id, attempts := range map[string]int{"msg_0001": 1, "msg_0002": 0} {
			m := f.getMessage(tenantA, id)
			require.Equal(t, store.StatusCancelled, m.Status, "%s is cancelled instead of waiting", id)
			require.Equal(t, attempts, m.Attempts, "%s", id)
			require.True(t, m.NextAttemptAt.IsZero(), "%s: final states have no NextAttemptAt, got %s", id, m.NextAttemptAt)
			require.Zero(t, m.LeaseToken, "%s", id)
		}
		require.Equal(t, store.StatusSucceeded, f.getMessage(tenantA, "msg_0003").Status, "a final outcome is kept")
		require.Equal(t, []string{"att_0002", "att_0001"}, attemptIDs(f.attemptList(tenantA, store.AttemptListParams{})),
			"the attempts are recorded")

		res = f.claim(t0.Add(2*time.Hour), t0.Add(3*time.Hour), 10)
		require.Empty(t, res.Claims)
		require.True(t, res.NextDue.IsZero(), "nothing is scheduled: NextDue = %s", res.NextDue)
	}},
	{"MessageComplete/returns_an_error_for_a_missing_message", func(t *testing.T, f *fixture) {
		c := f.leaseOne()
		err := f.s.MessageComplete(f.ctx, store.MessageCompleteParams{
			MessageID: "msg_0002", LeaseToken: c.Message.LeaseToken,
			Status: store.StatusSucceeded, Now: t0.Add(time.Second),
		})
		require.Error(t, err)
		require.True(t, errorIsAny(err, store.ErrNotFound, store.ErrLeaseLost), "want ErrNotFound or ErrLeaseLost, got %v", err)
		f.requireMessageMissing(tenantA, "msg_0002")
	}},
}
