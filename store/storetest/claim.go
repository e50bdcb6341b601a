package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hooksmith/webhook/store"
)

// concurrentClaim publishes 200 due messages and has n goroutines claim them
// in small batches until none is left.
func concurrentClaim(t *testing.T, f *fixture, n int) {
	const total = 200
	for i := range 4 {
		f.createEndpoint(tenantA, fmt.Sprintf("ep_%04d", i))
	}
	var specs []msg
	for i := range total {
		specs = append(specs, msg{
			id:       fmt.Sprintf("msg_%04d", i),
			endpoint: fmt.Sprintf("ep_%04d", i%4),
			due:      t0.Add(-time.Duration(i%17) * time.Second),
		})
	}
	f.publish(tenantA, "evt_0001", "evk_0001", t0.Add(-time.Minute), specs[:total/2]...)
	f.publish(tenantA, "evt_0002", "evk_0002", t0.Add(-time.Minute), specs[total/2:]...)

	got := make([][]string, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for g := range n {
		wg.Go(func() {
			<-start
			for range total + 1 {
				res, err := f.s.MessageClaim(f.ctx, store.MessageClaimParams{
					Now: t0, LeaseUntil: t0.Add(time.Hour), Limit: 7,
				})
				if err != nil {
					errs[g] = err
					return
				}
				if len(res.Claims) == 0 {
					return
				}
				for _, c := range res.Claims {
					got[g] = append(got[g], c.Message.ID)
				}
			}
		})
	}
	close(start)
	wg.Wait()

	owner := map[string]int{}
	for g := range n {
		require.NoError(t, errs[g], "claimer %d", g)
		for _, id := range got[g] {
			if prev, dup := owner[id]; dup {
				require.Failf(t, "message claimed twice", "%s went to claimers %d and %d", id, prev, g)
			}
			owner[id] = g
		}
	}
	require.Len(t, owner, total, "together the claimers receive every message")
	require.Empty(t, f.claim(t0, t0.Add(time.Hour), 100).Claims)
}

var claimCases = []testCase{
	{"MessageClaim/returns_only_due_messages_earliest_due_first", func(t *testing.T, f *fixture) {
		f.createEndpoint(tenantA, "ep_0001")
		// IDs and due times are in different orders; msg_0005 and msg_0007
		// are due at the same time (ties go by message ID).
		f.publish(tenantA, "evt_0001", "evk_0001", t0.Add(-time.Hour),
			msg{id: "msg_0001", endpoint: "ep_0001", due: t0.Add(time.Microsecond)}, // not due
			msg{id: "msg_0002", endpoint: "ep_0001", due: t0.Add(-time.Minute)},
			msg{id: "msg_0003", endpoint: "ep_0001", due: t0.Add(-3 * time.Minute)},
			msg{id: "msg_0004", endpoint: "ep_0001", due: t0}, // due exactly now
			msg{id: "msg_0007", endpoint: "ep_0001", due: t0.Add(-2 * time.Minute)},
			msg{id: "msg_0005", endpoint: "ep_0001", due: t0.Add(-2 * time.Minute)},
			msg{id: "msg_0006", endpoint: "ep_0001", due: t0.Add(time.Hour)}) // not due

		lease := t0.Add(time.Minute)
		require.Equal(t, []string{"msg_0003", "msg_0005"}, claimIDs(f.claim(t0, lease, 2)), "the two earliest due")
		require.Equal(t, []string{"msg_0002", "msg_0007"}, claimIDs(f.claim(t0, lease, 2)))
		require.Equal(t, []string{"msg_0004"}, claimIDs(f.claim(t0, lease, 2)))
		require.Empty(t, claimIDs(f.claim(t0, lease, 2)), "the rest is not due")
	}},
	{"MessageClaim/endpoints_take_turns_in_order_of_their_earliest_due_message", func(t *testing.T, f *fixture) {
		f.createEndpoint(tenantA, "ep_0001")
		f.createEndpoint(tenantB, "ep_0002")
		f.publish(tenantA, "evt_0001", "evk_0001", t0.Add(-time.Hour),
			msg{id: "msg_0001", endpoint: "ep_0001", due: t0.Add(time.Hour)}, // not due
			msg{id: "msg_0002", endpoint: "ep_0001", due: t0.Add(-time.Minute)},
			msg{id: "msg_0003", endpoint: "ep_0001", due: t0.Add(-3 * time.Minute)})
		f.publish(tenantB, "evt_0001", "evk_0002", t0.Add(-time.Hour),
			msg{id: "msg_0004", endpoint: "ep_0002", due: t0}, // due exactly at the first claim
			msg{id: "msg_0005", endpoint: "ep_0002", due: t0.Add(-2 * time.Minute)},
			msg{id: "msg_0006", endpoint: "ep_0002", due: t0.Add(time.Hour)}) // not due

		// One message per claim, a microsecond apart: the endpoint just
		// served goes behind the other one, across tenants.
		var got []string
		for i := range 5 {
			now := t0.Add(time.Duration(i) * time.Microsecond)
			got = append(got, claimIDs(f.claim(now, now.Add(time.Minute), 1))...)
		}
		require.Equal(t, []string{"msg_0003", "msg_0005", "msg_0002", "msg_0004"}, got)
	}},
	{"MessageClaim/returns_at_most_Limit_messages", func(t *testing.T, f *fixture) {
		f.createEndpoint(tenantA, "ep_0001")
		var specs []msg
		for i := range 10 {
			specs = append(specs, msg{id: fmt.Sprintf("msg_%04d", i), endpoint: "ep_0001", due: t0.Add(-time.Duration(i) * time.Second)})
		}
		f.publish(tenantA, "evt_0001", "evk_0001", t0.Add(-time.Minute), specs...)
		lease := t0.Add(time.Minute)
		var all []string
		for _, limit := range []int{1, 3, 4} {
			res := f.claim(t0, lease, limit)
			require.Len(t, res.Claims, limit)
			all = append(all, claimIDs(res)...)
		}
		all = append(all, claimIDs(f.claim(t0, lease, 5))...)
		slices.Sort(all)
		require.Equal(t, ids("msg_%04d", 0, 10), all)
	}},
	{"MessageClaim/leases_the_claimed_messages_with_their_event_and_endpoint", func(t *testing.T, f *fixture) {
		ep := f.createEndpoint(tenantA, "ep_0001")
		ev, msgs := f.publish(tenantA, "evt_0001", "evk_0001", t0.Add(-time.Minute),
			msg{id: "msg_0001", endpoint: "ep_0001", due: t0.Add(-time.Second)},
			msg{id: "msg_0002", endpoint: "ep_0001", due: t0.Add(-2 * time.Second)})
		lease := t0.Add(30*time.Second + 5*time.Microsecond)
		res := f.claim(t0, lease, 10)
		require.Equal(t, []string{"msg_0001", "msg_0002"}, claimIDs(res))

		for _, want := range msgs {
			c := claimOf(t, res, want.ID)
			m := c.Message
			require.Equal(t, store.StatusDelivering, m.Status, "%s", want.ID)
			requireTime(t, lease, m.NextAttemptAt, "%s: NextAttemptAt is the lease expiry", want.ID)
			require.NotZero(t, m.LeaseToken, "%s", want.ID)
			require.Equal(t, 0, m.Attempts, "%s: claiming is not an attempt", want.ID)
			require.Equal(t, want.TenantID, m.TenantID)
			require.Equal(t, want.EndpointID, m.EndpointID)
			require.Equal(t, want.EventID, m.EventID)
			require.Equal(t, want.EventKey, m.EventKey)
			requireTime(t, want.CreatedAt, m.CreatedAt)

			stored := f.getMessage(tenantA, want.ID)
			require.Equal(t, store.StatusDelivering, stored.Status, "%s: MessageGet sees the lease", want.ID)
			require.Equal(t, m.LeaseToken, stored.LeaseToken)
			requireTime(t, lease, stored.NextAttemptAt)

			require.NotNil(t, c.Event, "%s: claim carries the event", want.ID)
			require.Equal(t, ev.Key, c.Event.Key)
			require.Equal(t, ev.ID, c.Event.ID)
			require.Equal(t, ev.TenantID, c.Event.TenantID)
			require.Equal(t, ev.Type, c.Event.Type)
			require.Equal(t, ev.ContentType, c.Event.ContentType)
			require.Equal(t, ev.Payload, c.Event.Payload, "%s: claim carries the payload", want.ID)
			require.NotNil(t, c.Endpoint, "%s: claim carries the endpoint", want.ID)
			requireEndpoint(t, ep, c.Endpoint)
			requireHealth(t, store.EndpointHealth{}, c.Health, "%s: a new endpoint has no history", want.ID)
		}
	}},
	{"MessageClaim/does_not_return_a_leased_message_while_the_lease_holds", func(t *testing.T, f *fixture) {
		f.createEndpoint(tenantA, "ep_0001")
		f.publish(tenantA, "evt_0001", "evk_0001", t0, msg{id: "msg_0001", endpoint: "ep_0001"}, msg{id: "msg_0002", endpoint: "ep_0001"})
		lease := t0.Add(time.Minute)
		require.Len(t, f.claim(t0, lease, 10).Claims, 2)
		require.Empty(t, f.claim(t0, lease, 10).Claims, "same instant")
		require.Empty(t, f.claim(t0.Add(59*time.Second), t0.Add(2*time.Minute), 10).Claims, "before the lease expires")
	}},
	{"MessageClaim/reclaims_a_message_whose_lease_expired_with_a_new_token", func(t *testing.T, f *fixture) {
		f.createEndpoint(tenantA, "ep_0001")
		f.publish(tenantA, "evt_0001", "evk_0001", t0, msg{id: "msg_0001", endpoint: "ep_0001"})
		first := claimOf(t, f.claim(t0, t0.Add(time.Minute), 10), "msg_0001")

		later := t0.Add(time.Minute + time.Second)
		lease := later.Add(time.Minute)
		res := f.claim(later, lease, 10)
		require.Equal(t, []string{"msg_0001"}, claimIDs(res))
		second := res.Claims[0].Message
		require.Equal(t, store.StatusDelivering, second.Status)
		require.NotZero(t, second.LeaseToken)
		require.NotEqual(t, first.Message.LeaseToken, second.LeaseToken, "a fresh token")
		requireTime(t, lease, second.NextAttemptAt)
		require.Equal(t, 0, second.Attempts)
		require.Equal(t, second.LeaseToken, f.getMessage(tenantA, "msg_0001").LeaseToken)
	}},
	{"MessageClaim/NextDue_is_the_earliest_future_due_time", func(t *testing.T, f *fixture) {
		f.createEndpoint(tenantA, "ep_0001")
		f.publish(tenantA, "evt_0001", "evk_0001", t0.Add(-time.Hour),
			msg{id: "msg_0001", endpoint: "ep_0001", due: t0.Add(20 * time.Minute)},
			msg{id: "msg_0002", endpoint: "ep_0001", due: t0},
			msg{id: "msg_0003", endpoint: "ep_0001", due: t0.Add(10*time.Minute + 7*time.Microsecond)})
		res := f.claim(t0, t0.Add(time.Hour), 10)
		require.Equal(t, []string{"msg_0002"}, claimIDs(res))
		requireTime(t, t0.Add(10*time.Minute+7*time.Microsecond), res.NextDue)
	}},
	{"MessageClaim/NextDue_is_not_after_now_when_Limit_left_due_messages", func(t *testing.T, f *fixture) {
		f.createEndpoint(tenantA, "ep_0001")
		f.publish(tenantA, "evt_0001", "evk_0001", t0.Add(-time.Hour),
			msg{id: "msg_0001", endpoint: "ep_0001", due: t0.Add(-2 * time.Minute)},
			msg{id: "msg_0002", endpoint: "ep_0001", due: t0.Add(-time.Minute)},
			msg{id: "msg_0003", endpoint: "ep_0001", due: t0.Add(10 * time.Minute)})
		res := f.claim(t0, t0.Add(time.Hour), 1)
		require.Equal(t, []string{"msg_0001"}, claimIDs(res))
		require.False(t, res.NextDue.IsZero(), "msg_0002 is due and unclaimed")
		require.False(t, res.NextDue.After(t0), "msg_0002 is due and unclaimed: NextDue %s is after now", res.NextDue)
		require.Equal(t, []string{"msg_0002"}, claimIDs(f.claim(t0, t0.Add(time.Hour), 1)), "and the next claim at now gets it")
	}},
	{"MessageClaim/NextDue_is_zero_when_nothing_is_scheduled", func(t *testing.T, f *fixture) {
		res := f.claim(t0, t0.Add(time.Minute), 10)
		require.Empty(t, res.Claims)
		require.True(t, res.NextDue.IsZero(), "empty store: NextDue = %s", res.NextDue)

		f.createEndpoint(tenantA, "ep_0001")
		f.publish(tenantA, "evt_0001", "evk_0001", t0, msg{id: "msg_0001", endpoint: "ep_0001"})
		c := claimOf(t, f.claim(t0, t0.Add(time.Minute), 10), "msg_0001")
		f.complete(store.MessageCompleteParams{
			MessageID: "msg_0001", LeaseToken: c.Message.LeaseToken,
			Attempt: newAttempt("att_0001", c, 1, t0), Status: store.StatusSucceeded, Now: t0.Add(time.Second),
		})
		res = f.claim(t0.Add(2*time.Second), t0.Add(time.Minute), 10)
		require.Empty(t, res.Claims)
		require.True(t, res.NextDue.IsZero(), "only final messages: NextDue = %s", res.NextDue)
	}},
	{"MessageClaim/cancels_the_messages_of_a_deleted_endpoint", func(t *testing.T, f *fixture) {
		f.createEndpoint(tenantA, "ep_0001")
		f.createEndpoint(tenantA, "ep_0002")
		f.publish(tenantA, "evt_0001", "evk_0001", t0.Add(-time.Hour),
			msg{id: "msg_0001", endpoint: "ep_0001", due: t0.Add(-time.Minute)},     // pending, due
			msg{id: "msg_0002", endpoint: "ep_0002", due: t0.Add(-time.Minute)},     // other endpoint
			msg{id: "msg_0003", endpoint: "ep_0001", due: t0.Add(10 * time.Minute)}, // pending, not yet due
			msg{id: "msg_0004", endpoint: "ep_0001", due: t0.Add(-2 * time.Minute)}) // will be failing
		c := claimOf(t, f.claim(t0.Add(-2*time.Minute), t0.Add(-time.Minute-time.Second), 1), "msg_0004")
		f.complete(store.MessageCompleteParams{
			MessageID: "msg_0004", LeaseToken: c.Message.LeaseToken, Attempt: newAttempt("att_0001", c, 1, t0.Add(-2*time.Minute)),
			Status: store.StatusFailing, NextAttemptAt: t0.Add(5 * time.Minute), Now: t0.Add(-2 * time.Minute),
		})

		require.NoError(t, f.s.EndpointDelete(f.ctx, tenantA, "ep_0001", t0))
		require.Equal(t, []string{"msg_0002"}, claimIDs(f.claim(t0, t0.Add(time.Minute), 10)))
		final := func(id string) {
			t.Helper()
			m := f.getMessage(tenantA, id)
			require.Equal(t, store.StatusCancelled, m.Status, "%s", id)
			require.True(t, m.NextAttemptAt.IsZero(), "%s: final states have no NextAttemptAt, got %s", id, m.NextAttemptAt)
		}
		final("msg_0001")

		later := t0.Add(time.Hour)
		res := f.claim(later, later.Add(time.Minute), 10)
		require.Equal(t, []string{"msg_0002"}, claimIDs(res), "messages of a deleted endpoint are never claimed")
		final("msg_0001")
		final("msg_0003")
		final("msg_0004")
		require.Equal(t, 1, f.getMessage(tenantA, "msg_0004").Attempts, "cancelling keeps the attempt count")
		require.Equal(t, []string{"msg_0002"}, claimIDs(f.claim(later.Add(time.Hour), later.Add(2*time.Hour), 10)))
	}},
	{"MessageClaim/cancels_a_message_leased_when_its_endpoint_was_deleted", func(t *testing.T, f *fixture) {
		f.createEndpoint(tenantA, "ep_0001")
		f.publish(tenantA, "evt_0001", "evk_0001", t0, msg{id: "msg_0001", endpoint: "ep_0001"})
		c := claimOf(t, f.claim(t0, t0.Add(time.Minute), 10), "msg_0001")
		require.NoError(t, f.s.EndpointDelete(f.ctx, tenantA, "ep_0001", t0.Add(time.Second)))
		require.Equal(t, store.StatusDelivering, f.getMessage(tenantA, "msg_0001").Status, "a leased message keeps its lease")
		require.Empty(t, f.claim(t0.Add(2*time.Second), t0.Add(time.Minute), 10).Claims)

		later := t0.Add(time.Minute) // the lease ends at the claim's now
		require.Empty(t, f.claim(later, later.Add(time.Minute), 10).Claims, "the expired lease is not handed out again")
		m := f.getMessage(tenantA, "msg_0001")
		require.Equal(t, store.StatusCancelled, m.Status)
		require.True(t, m.NextAttemptAt.IsZero(), "got %s", m.NextAttemptAt)
		require.Zero(t, m.LeaseToken)
		require.Equal(t, 0, m.Attempts)
		err := f.s.MessageComplete(f.ctx, store.MessageCompleteParams{
			MessageID: "msg_0001", LeaseToken: c.Message.LeaseToken, Status: store.StatusFailing,
			Attempt: newAttempt("att_0001", c, 1, t0), NextAttemptAt: later.Add(time.Hour), Now: later,
		})
		require.ErrorIs(t, err, store.ErrLeaseLost, "the released lease no longer holds")
		require.Equal(t, store.StatusCancelled, f.getMessage(tenantA, "msg_0001").Status)
		res := f.claim(later.Add(time.Hour), later.Add(2*time.Hour), 10)
		require.Empty(t, res.Claims)
		require.True(t, res.NextDue.IsZero(), "NextDue = %s", res.NextDue)
	}},
	{"MessageClaim/never_claims_the_messages_of_a_disabled_endpoint_until_it_is_enabled", func(t *testing.T, f *fixture) {
		ep := f.createEndpoint(tenantA, "ep_0001")
		f.createEndpoint(tenantA, "ep_0002")
		f.publish(tenantA, "evt_0001", "evk_0001", t0.Add(-time.Hour),
			msg{id: "msg_0001", endpoint: "ep_0001", due: t0.Add(-time.Minute)},
			msg{id: "msg_0002", endpoint: "ep_0002", due: t0.Add(-time.Minute)})

		disabled := *ep
		disabled.Enabled = false
		disabled.DisabledReason = "paused"
		require.NoError(t, f.s.EndpointUpdate(f.ctx, &disabled, t0))

		res := f.claim(t0, t0.Add(time.Minute), 10)
		require.Equal(t, []string{"msg_0002"}, claimIDs(res))
		requireNoSpin(t, res, t0, "msg_0001 waits for its endpoint")
		// Published while disabled: it waits too.
		f.publish(tenantA, "evt_0002", "evk_0002", t0.Add(time.Minute), msg{id: "msg_0003", endpoint: "ep_0001"})
		now := t0.Add(10 * time.Minute)
		res = f.claim(now, now.Add(time.Hour), 10)
		require.Equal(t, []string{"msg_0002"}, claimIDs(res), "still disabled (msg_0002's lease expired)")
		requireNoSpin(t, res, now)
		for _, id := range []string{"msg_0001", "msg_0003"} {
			m := f.getMessage(tenantA, id)
			require.Equal(t, store.StatusPending, m.Status, "%s waits, neither final nor leased", id)
			require.Equal(t, 0, m.Attempts)
		}

		enabledAt := t0.Add(20 * time.Minute)
		enabled := *ep
		enabled.UpdatedAt = disabled.UpdatedAt
		require.NoError(t, f.s.EndpointUpdate(f.ctx, &enabled, enabledAt))
		res = f.claim(enabledAt, enabledAt.Add(time.Minute), 10)
		require.Equal(t, []string{"msg_0001", "msg_0003"}, claimIDs(res), "due at once when enabled")
		requireEndpoint(t, &enabled, res.Claims[0].Endpoint)
	}},
	{"MessageClaim/NextDue_is_not_in_the_past_when_only_a_disabled_endpoints_messages_are_due", func(t *testing.T, f *fixture) {
		ep := newEndpoint(tenantA, "ep_0001")
		ep.Enabled = false
		require.NoError(t, f.s.EndpointCreate(f.ctx, ep))
		f.publish(tenantA, "evt_0001", "evk_0001", t0.Add(-time.Hour), msg{id: "msg_0001", endpoint: "ep_0001", due: t0.Add(-time.Minute)})
		for _, now := range []time.Time{t0, t0.Add(time.Minute)} {
			res := f.claim(now, now.Add(time.Minute), 10)
			require.Empty(t, res.Claims)
			requireNoSpin(t, res, now, "a disabled endpoint's message")
		}

		enabledAt := t0.Add(2 * time.Minute)
		f.updateEndpoint(tenantA, "ep_0001", enabledAt, func(e *store.Endpoint) { e.Enabled = true })
		require.Equal(t, []string{"msg_0001"}, claimIDs(f.claim(enabledAt, enabledAt.Add(time.Minute), 10)), "due at once when enabled")
	}},
	{"MessageClaim/2_concurrent_claimers_never_share_a_message", func(t *testing.T, f *fixture) {
		concurrentClaim(t, f, 2)
	}},
	{"MessageClaim/8_concurrent_claimers_never_share_a_message", func(t *testing.T, f *fixture) {
		concurrentClaim(t, f, 8)
	}},
}
