package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hooksmith/webhook/store"
)

// publishDue publishes event (key "evk_"+event) with n messages for endpoint,
// IDs format%first.., due one second apart from earliest on; it returns their
// IDs, earliest due first.
func (f *fixture) publishDue(tenant, event, endpoint, format string, first, n int, earliest time.Time) []string {
	f.t.Helper()
	var specs []msg
	var out []string
	for i := range n {
		id := fmt.Sprintf(format, first+i)
		specs = append(specs, msg{id: id, endpoint: endpoint, due: earliest.Add(time.Duration(i) * time.Second)})
		out = append(out, id)
	}
	f.publish(tenant, event, "evk_"+event, t0.Add(-2*time.Hour), specs...)
	return out
}

// requireAdmitted asserts that res claimed ids (in any order) and nothing else.
func requireAdmitted(t *testing.T, ids []string, res store.MessageClaimResult, msgAndArgs ...any) {
	t.Helper()
	if len(ids) == 0 {
		require.Empty(t, claimIDs(res), msgAndArgs...)
		return
	}
	require.ElementsMatch(t, ids, claimIDs(res), msgAndArgs...)
}

// policyCases check the delivery policy of MessageClaim: caps, turns, FIFO
// endpoints, Admit and the release of expired leases.
var policyCases = []testCase{
	{"MessageClaim/an_endpoint_never_has_more_than_MaxInFlight_messages_leased", func(t *testing.T, f *fixture) {
		f.createEndpointWith(tenantA, "ep_0001", func(e *store.Endpoint) { e.MaxInFlight = 2 })
		due := f.publishDue(tenantA, "evt_0001", "ep_0001", "msg_%04d", 1, 5, t0.Add(-time.Minute))
		lease := t0.Add(time.Minute)

		res := f.claim(t0, lease, 10)
		require.Equal(t, due[:2], claimIDs(res), "two, earliest due first")
		first, second := claimOf(t, res, due[0]), claimOf(t, res, due[1])
		res = f.claim(t0, lease, 10)
		require.Empty(t, res.Claims, "at its cap")
		requireNoSpin(t, res, t0, "at its cap")
		now := t0.Add(30 * time.Second)
		res = f.claim(now, lease, 10)
		require.Empty(t, res.Claims, "still at its cap")
		requireNoSpin(t, res, now, "still at its cap")

		f.finish(first, store.StatusSucceeded, "att_0001", now, time.Time{})
		require.Equal(t, due[2:3], claimIDs(f.claim(now, lease, 10)), "one slot is free: exactly one more")
		res = f.claim(now, lease, 10)
		require.Empty(t, res.Claims, "at its cap again")
		requireNoSpin(t, res, now)

		// A message published while the endpoint is at its cap waits for a
		// free slot, and then comes after the ones due before it.
		f.publish(tenantA, "evt_0002", "evk_0002", now, msg{id: "msg_0006", endpoint: "ep_0001"})
		res = f.claim(now, lease, 10)
		require.Empty(t, res.Claims, "published at the cap")
		requireNoSpin(t, res, now, "published at the cap")
		f.finish(second, store.StatusFailing, "att_0002", now, t0.Add(time.Hour))
		require.Equal(t, due[3:4], claimIDs(f.claim(now, lease, 10)))
	}},
	{"MessageClaim/DefaultMaxInFlight_caps_the_endpoints_without_MaxInFlight", func(t *testing.T, f *fixture) {
		f.createEndpoint(tenantA, "ep_0001")
		f.createEndpointWith(tenantA, "ep_0002", func(e *store.Endpoint) { e.MaxInFlight = 3 })
		f.createEndpointWith(tenantA, "ep_0003", func(e *store.Endpoint) { e.MaxInFlight = 3; e.FIFO = true })
		one := f.publishDue(tenantA, "evt_0001", "ep_0001", "msg_%04d", 1, 5, t0.Add(-3*time.Minute))
		two := f.publishDue(tenantA, "evt_0002", "ep_0002", "msg_%04d", 11, 5, t0.Add(-2*time.Minute))
		three := f.publishDue(tenantA, "evt_0003", "ep_0003", "msg_%04d", 21, 5, t0.Add(-time.Minute))
		lease := t0.Add(time.Minute)

		res := f.claimWith(store.MessageClaimParams{Now: t0, LeaseUntil: lease, Limit: 100, DefaultMaxInFlight: 2})
		require.Equal(t, one[:2], claimsFor(res, "ep_0001"), "MaxInFlight 0: DefaultMaxInFlight")
		require.Equal(t, two[:3], claimsFor(res, "ep_0002"), "MaxInFlight wins over DefaultMaxInFlight")
		require.Equal(t, three[:1], claimsFor(res, "ep_0003"), "a FIFO endpoint has one message in flight")
		require.Len(t, res.Claims, 6)
		requireNoSpin(t, res, t0, "every endpoint is at its cap")

		// DefaultMaxInFlight 0 means no cap.
		f.createEndpoint(tenantA, "ep_0004")
		four := f.publishDue(tenantA, "evt_0004", "ep_0004", "msg_%04d", 31, 5, t0.Add(-time.Minute))
		res = f.claimWith(store.MessageClaimParams{Now: t0, LeaseUntil: lease, Limit: 100})
		require.Equal(t, four, claimsFor(res, "ep_0004"))
		require.Empty(t, claimsFor(res, "ep_0002"), "MaxInFlight still applies")
		require.Empty(t, claimsFor(res, "ep_0003"), "FIFO still applies")
	}},
	{"MessageClaim/a_capped_backlog_leaves_room_for_another_endpoint", func(t *testing.T, f *fixture) {
		f.createEndpoint(tenantA, "ep_0001")
		f.createEndpoint(tenantB, "ep_0002")
		backlog := f.publishDue(tenantA, "evt_0001", "ep_0001", "msg_%04d", 1, 30, t0.Add(-time.Hour))
		f.publish(tenantB, "evt_0002", "evk_0002", t0.Add(-time.Hour), msg{id: "msg_0100", endpoint: "ep_0002", due: t0.Add(-time.Minute)})

		res := f.claimWith(store.MessageClaimParams{Now: t0, LeaseUntil: t0.Add(time.Minute), Limit: 100, DefaultMaxInFlight: 5})
		require.Equal(t, backlog[:5], claimsFor(res, "ep_0001"), "the backlog's five earliest")
		require.Equal(t, []string{"msg_0100"}, claimsFor(res, "ep_0002"), "the other endpoint's newer message")
		require.Len(t, res.Claims, 6)
		requireNoSpin(t, res, t0, "the backlog is at its cap")
	}},
	{"MessageClaim/an_endpoint_served_up_to_Limit_goes_behind_the_others", func(t *testing.T, f *fixture) {
		f.createEndpoint(tenantA, "ep_0001")
		f.createEndpoint(tenantB, "ep_0002")
		backlog := f.publishDue(tenantA, "evt_0001", "ep_0001", "msg_%04d", 1, 30, t0.Add(-time.Hour))
		f.publish(tenantB, "evt_0002", "evk_0002", t0.Add(-time.Hour), msg{id: "msg_0100", endpoint: "ep_0002", due: t0.Add(-time.Minute)})
		lease := t0.Add(time.Minute)

		require.Equal(t, backlog[:10], claimIDs(f.claim(t0, lease, 10)), "the backlog is first in line")
		require.Equal(t, []string{"msg_0100"}, claimIDs(f.claim(t0, lease, 1)), "then the other endpoint")
		require.Equal(t, backlog[10:20], claimIDs(f.claim(t0, lease, 10)), "then the backlog again")
	}},
	{"MessageClaim/visits_an_endpoint_at_most_once_per_claim", func(t *testing.T, f *fixture) {
		f.createEndpoint(tenantA, "ep_0001")
		f.createEndpoint(tenantA, "ep_0002")
		one := f.publishDue(tenantA, "evt_0001", "ep_0001", "msg_%04d", 1, 3, t0.Add(-2*time.Minute))
		two := f.publishDue(tenantA, "evt_0002", "ep_0002", "msg_%04d", 11, 3, t0.Add(-time.Minute))
		// Admit takes one message per visit, without a notBefore: the
		// endpoint goes to the back of the line, for the next claim.
		var log admitLog
		res := f.claimWith(store.MessageClaimParams{Now: t0, LeaseUntil: t0.Add(time.Minute), Limit: 4, Admit: log.admit(1, time.Time{})})
		require.Equal(t, one[:1], claimsFor(res, "ep_0001"))
		require.Equal(t, two[:1], claimsFor(res, "ep_0002"))
		require.Len(t, res.Claims, 2)
		require.False(t, res.NextDue.IsZero() || res.NextDue.After(t0), "NextDue %s: both endpoints have due messages", res.NextDue)
		for _, c := range log.take() {
			require.Equal(t, 3, c.want, "%s: every due message is offered", c.ep.ID)
		}

		res = f.claimWith(store.MessageClaimParams{Now: t0, LeaseUntil: t0.Add(time.Minute), Limit: 4, Admit: log.admit(1, time.Time{})})
		require.Equal(t, one[1:2], claimsFor(res, "ep_0001"))
		require.Equal(t, two[1:2], claimsFor(res, "ep_0002"))
		require.Len(t, res.Claims, 2)
	}},
	{"MessageClaim/a_FIFO_endpoint_gets_one_message_at_a_time_in_publish_order", func(t *testing.T, f *fixture) {
		f.createEndpointWith(tenantA, "ep_0001", func(e *store.Endpoint) { e.FIFO = true; e.MaxInFlight = 5 })
		// Published m1, m2, m3 in that order; their IDs and due times are
		// in other orders.
		const m1, m2, m3 = "msg_0003", "msg_0001", "msg_0002"
		f.publish(tenantA, "evt_0001", "evk_0001", t0.Add(-3*time.Hour), msg{id: m1, endpoint: "ep_0001", due: t0})
		f.publish(tenantA, "evt_0002", "evk_0002", t0.Add(-2*time.Hour), msg{id: m2, endpoint: "ep_0001", due: t0.Add(-2 * time.Minute)})
		f.publish(tenantA, "evt_0003", "evk_0003", t0.Add(-time.Hour), msg{id: m3, endpoint: "ep_0001", due: t0.Add(-time.Minute)})

		early := t0.Add(-30 * time.Second)
		res := f.claim(early, early.Add(time.Minute), 10)
		require.Empty(t, res.Claims, "m2 and m3 are due but wait behind m1")
		requireTime(t, t0, res.NextDue, "m1's due time")

		lease := t0.Add(time.Minute)
		res = f.claimWith(store.MessageClaimParams{Now: t0, LeaseUntil: lease, Limit: 10, DefaultMaxInFlight: 10})
		require.Equal(t, []string{m1}, claimIDs(res), "m1 first, and only m1")
		c := res.Claims[0]
		res = f.claim(t0, lease, 10)
		require.Empty(t, res.Claims, "nothing while m1 is leased")
		requireTime(t, lease, res.NextDue, "m1's lease end")

		retry := t0.Add(10 * time.Minute)
		f.finish(c, store.StatusFailing, "att_0001", t0.Add(time.Second), retry)
		for _, now := range []time.Time{t0.Add(time.Second), retry.Add(-time.Microsecond)} {
			res = f.claim(now, now.Add(time.Minute), 10)
			require.Empty(t, res.Claims, "m1 failing holds back m2 and m3 (at %s)", now)
			requireTime(t, retry, res.NextDue, "m1's retry")
		}
		res = f.claim(retry, retry.Add(time.Minute), 10)
		require.Equal(t, []string{m1}, claimIDs(res), "m1 again at its retry")
		require.Equal(t, 1, res.Claims[0].Message.Attempts)

		now := retry.Add(time.Second)
		f.finish(res.Claims[0], store.StatusSucceeded, "att_0002", now, time.Time{})
		res = f.claim(now, now.Add(time.Minute), 10)
		require.Equal(t, []string{m2}, claimIDs(res), "m1 succeeded: m2")
		f.finish(res.Claims[0], store.StatusExhausted, "att_0003", now, time.Time{})
		res = f.claim(now, now.Add(time.Minute), 10)
		require.Equal(t, []string{m3}, claimIDs(res), "m2 exhausted: m3")
		f.finish(res.Claims[0], store.StatusSucceeded, "att_0004", now, time.Time{})
		res = f.claim(now, now.Add(time.Minute), 10)
		require.Empty(t, res.Claims)
		require.True(t, res.NextDue.IsZero(), "nothing is scheduled: NextDue = %s", res.NextDue)
	}},
	{"MessageClaim/Admit_decides_how_many_of_the_offered_messages_are_leased", func(t *testing.T, f *fixture) {
		ep := f.createEndpointWith(tenantA, "ep_0001", func(e *store.Endpoint) { e.RateLimit, e.RateBurst = 2, 1 })
		f.publish(tenantA, "evt_0001", "evk_0001", t0.Add(-time.Hour),
			msg{id: "msg_0001", endpoint: "ep_0001", due: t0.Add(-time.Second)},
			msg{id: "msg_0002", endpoint: "ep_0001", due: t0.Add(-3 * time.Second)},
			msg{id: "msg_0003", endpoint: "ep_0001", due: t0.Add(-2 * time.Second)})
		var log admitLog
		hold := t0.Add(5 * time.Second)

		res := f.claimWith(store.MessageClaimParams{Now: t0, LeaseUntil: t0.Add(time.Minute), Limit: 10, Admit: log.admit(1, hold)})
		require.Equal(t, []string{"msg_0002"}, claimIDs(res), "one accepted: the earliest due")
		calls := log.take()
		require.NotEmpty(t, calls, "Admit was not called")
		for _, c := range calls {
			require.Equal(t, 3, c.want, "Admit is offered every due message")
			requireEndpoint(t, ep, c.ep, "Admit sees the endpoint")
		}
		require.True(t, res.NextDue.After(t0) && !res.NextDue.After(hold),
			"NextDue %s: the endpoint is held until %s", res.NextDue, hold)

		// Neither a completion nor a publish lets it in before notBefore
		// (an update does: see an_update_lifts_a_hold_and_a_block).
		now := t0.Add(time.Second)
		f.finish(res.Claims[0], store.StatusSucceeded, "att_0001", now, time.Time{})
		f.publish(tenantA, "evt_0002", "evk_0002", now, msg{id: "msg_0004", endpoint: "ep_0001", due: now})
		res = f.claimWith(store.MessageClaimParams{Now: now, LeaseUntil: now.Add(time.Minute), Limit: 10, Admit: log.admit(-1, time.Time{})})
		require.Empty(t, res.Claims, "held until %s", hold)
		require.Empty(t, log.take(), "not offered before notBefore")
		require.True(t, res.NextDue.After(now) && !res.NextDue.After(hold), "NextDue %s: held until %s", res.NextDue, hold)

		// Admit may answer more than it was offered: only the offered are leased.
		res = f.claimWith(store.MessageClaimParams{Now: hold, LeaseUntil: hold.Add(time.Minute), Limit: 10, Admit: log.admit(100, time.Time{})})
		require.Equal(t, []string{"msg_0001", "msg_0003", "msg_0004"}, claimIDs(res), "offered the rest at notBefore")
		for _, c := range log.take() {
			require.Equal(t, 3, c.want)
		}
	}},
	{"MessageClaim/Admit_is_offered_at_most_the_free_slots_and_the_rest_of_Limit", func(t *testing.T, f *fixture) {
		f.createEndpointWith(tenantA, "ep_0001", func(e *store.Endpoint) { e.MaxInFlight = 2 })
		f.createEndpoint(tenantA, "ep_0002")
		one := f.publishDue(tenantA, "evt_0001", "ep_0001", "msg_%04d", 1, 5, t0.Add(-2*time.Minute))
		two := f.publishDue(tenantA, "evt_0002", "ep_0002", "msg_%04d", 11, 5, t0.Add(-time.Minute))
		var log admitLog
		res := f.claimWith(store.MessageClaimParams{Now: t0, LeaseUntil: t0.Add(time.Minute), Limit: 3, Admit: log.admit(-1, time.Time{})})
		require.Equal(t, one[:2], claimsFor(res, "ep_0001"))
		require.Equal(t, two[:1], claimsFor(res, "ep_0002"))
		calls := log.take()
		var wants [2][]int
		for _, c := range calls {
			switch c.ep.ID {
			case "ep_0001":
				wants[0] = append(wants[0], c.want)
			case "ep_0002":
				wants[1] = append(wants[1], c.want)
			default:
				require.Failf(t, "Admit called for an unknown endpoint", "%s", c.ep.ID)
			}
		}
		require.NotEmpty(t, wants[0])
		require.NotEmpty(t, wants[1])
		for _, w := range wants[0] {
			require.Equal(t, 2, w, "ep_0001: its two free slots")
		}
		for _, w := range wants[1] {
			require.Equal(t, 1, w, "ep_0002: what is left of Limit")
		}
	}},
	{"MessageClaim/an_update_lifts_a_hold_and_a_block", func(t *testing.T, f *fixture) {
		f.createEndpoint(tenantA, "ep_0001")
		due := f.publishDue(tenantA, "evt_0001", "ep_0001", "msg_%04d", 1, 3, t0.Add(-time.Minute))
		var log admitLog
		// Held for a year (a tiny rate limit, say): the host changes the
		// endpoint, and the next claim looks again.
		res := f.claimWith(store.MessageClaimParams{Now: t0, LeaseUntil: t0.Add(time.Minute), Limit: 10,
			Admit: log.admit(0, t0.Add(365*24*time.Hour))})
		require.Empty(t, res.Claims)
		now := t0.Add(time.Second)
		f.updateEndpoint(tenantA, "ep_0001", now, func(e *store.Endpoint) { e.RateLimit = 0 })
		res = f.claimWith(store.MessageClaimParams{Now: now, LeaseUntil: now.Add(time.Minute), Limit: 10, DefaultMaxInFlight: 1})
		require.Equal(t, []string{due[0]}, claimIDs(res), "the hold was lifted")
		// Blocked at a cap of 1; raising the cap lets the rest go at once.
		require.Empty(t, f.claimWith(store.MessageClaimParams{Now: now, LeaseUntil: now.Add(time.Minute), Limit: 10, DefaultMaxInFlight: 1}).Claims)
		f.updateEndpoint(tenantA, "ep_0001", now, func(e *store.Endpoint) { e.MaxInFlight = 5 })
		res = f.claimWith(store.MessageClaimParams{Now: now, LeaseUntil: now.Add(time.Minute), Limit: 10, DefaultMaxInFlight: 1})
		require.ElementsMatch(t, due[1:], claimIDs(res), "the raised cap applies before any lease ends")
	}},
	{"MessageClaim/an_endpoint_Admit_refuses_without_a_time_waits_for_a_completion", func(t *testing.T, f *fixture) {
		f.createEndpoint(tenantA, "ep_0001")
		due := f.publishDue(tenantA, "evt_0001", "ep_0001", "msg_%04d", 1, 3, t0.Add(-time.Minute))
		lease := t0.Add(time.Minute)
		c := claimOf(t, f.claim(t0, lease, 1), due[0])
		var log admitLog

		res := f.claimWith(store.MessageClaimParams{Now: t0, LeaseUntil: lease, Limit: 10, Admit: log.admit(0, time.Time{})})
		require.Empty(t, res.Claims, "refused")
		require.NotEmpty(t, log.take(), "Admit was not called")
		requireTime(t, lease, res.NextDue, "only the lease end can bring work")
		// A publish does not offer it again.
		f.publish(tenantA, "evt_0002", "evk_0002", t0.Add(time.Second), msg{id: "msg_0004", endpoint: "ep_0001"})
		for _, now := range []time.Time{t0.Add(time.Second), t0.Add(30 * time.Second)} {
			res = f.claimWith(store.MessageClaimParams{Now: now, LeaseUntil: lease, Limit: 10, Admit: log.admit(-1, time.Time{})})
			require.Empty(t, res.Claims, "waiting for a completion (at %s)", now)
			require.Empty(t, log.take(), "not offered while waiting for a completion (at %s)", now)
			requireNoSpin(t, res, now)
		}

		now := t0.Add(30 * time.Second)
		f.finish(c, store.StatusSucceeded, "att_0001", now, time.Time{})
		res = f.claimWith(store.MessageClaimParams{Now: now, LeaseUntil: lease, Limit: 10, Admit: log.admit(-1, time.Time{})})
		require.Equal(t, append(due[1:], "msg_0004"), claimIDs(res), "offered again after the completion")
	}},
	{"MessageClaim/an_endpoint_Admit_refuses_without_a_time_and_nothing_leased_waits_a_second", func(t *testing.T, f *fixture) {
		f.createEndpoint(tenantA, "ep_0001")
		due := f.publishDue(tenantA, "evt_0001", "ep_0001", "msg_%04d", 1, 2, t0.Add(-time.Minute))
		var log admitLog
		res := f.claimWith(store.MessageClaimParams{Now: t0, LeaseUntil: t0.Add(time.Minute), Limit: 10, Admit: log.admit(0, time.Time{})})
		require.Empty(t, res.Claims, "refused")
		require.NotEmpty(t, log.take(), "Admit was not called")
		second := t0.Add(time.Second)
		require.True(t, res.NextDue.After(t0) && !res.NextDue.After(second), "NextDue %s: offered again at %s", res.NextDue, second)

		before := second.Add(-time.Microsecond)
		res = f.claimWith(store.MessageClaimParams{Now: before, LeaseUntil: t0.Add(time.Minute), Limit: 10, Admit: log.admit(-1, time.Time{})})
		require.Empty(t, res.Claims, "not before a second")
		require.Empty(t, log.take(), "not offered before a second")
		res = f.claimWith(store.MessageClaimParams{Now: second, LeaseUntil: t0.Add(time.Minute), Limit: 10, Admit: log.admit(-1, time.Time{})})
		require.Equal(t, due, claimIDs(res), "offered again a second later")
	}},
	{"MessageClaim/releases_an_expired_lease_at_the_next_claim_with_its_attempts_unchanged", func(t *testing.T, f *fixture) {
		f.createEndpoint(tenantA, "ep_0001")
		f.createEndpoint(tenantA, "ep_0002")
		f.publish(tenantA, "evt_0001", "evk_0001", t0, msg{id: "msg_0001", endpoint: "ep_0001"}, msg{id: "msg_0002", endpoint: "ep_0002"})
		end := t0.Add(time.Minute)
		res := f.claim(t0, end, 10)
		c1 := claimOf(t, res, "msg_0001")
		// msg_0002 fails once and is claimed again under a lease that ends
		// at the same time.
		f.finish(claimOf(t, res, "msg_0002"), store.StatusFailing, "att_0001", t0.Add(time.Second), t0.Add(2*time.Second))
		c2 := claimOf(t, f.claim(t0.Add(2*time.Second), end, 10), "msg_0002")

		// The next claim releases them; Admit keeps them waiting so that the
		// released state can be seen.
		now := end.Add(time.Second)
		hold := end.Add(time.Hour)
		res = f.claimWith(store.MessageClaimParams{Now: now, LeaseUntil: now.Add(time.Minute), Limit: 10, Admit: (&admitLog{}).admit(0, hold)})
		require.Empty(t, res.Claims)
		requireTime(t, hold, res.NextDue)
		for _, want := range []struct {
			id       string
			status   store.MessageStatus
			attempts int
		}{{"msg_0001", store.StatusPending, 0}, {"msg_0002", store.StatusFailing, 1}} {
			m := f.getMessage(tenantA, want.id)
			require.Equal(t, want.status, m.Status, "%s waits again", want.id)
			require.Equal(t, want.attempts, m.Attempts, "%s: the expired lease is not an attempt", want.id)
			require.Zero(t, m.LeaseToken, "%s", want.id)
			requireTime(t, now, m.NextAttemptAt, "%s is due at the release", want.id)
		}

		for _, c := range []store.Claim{c1, c2} {
			before := f.getMessage(tenantA, c.Message.ID)
			err := f.s.MessageComplete(f.ctx, store.MessageCompleteParams{
				MessageID: c.Message.ID, LeaseToken: c.Message.LeaseToken, Attempt: newAttempt("att_lost_"+c.Message.ID, c, 1, end),
				Status: store.StatusSucceeded, Now: now.Add(time.Second),
			})
			require.ErrorIs(t, err, store.ErrLeaseLost, "%s: the released lease no longer holds", c.Message.ID)
			requireMessage(t, before, f.getMessage(tenantA, c.Message.ID), "%s is unchanged", c.Message.ID)
		}
		require.Equal(t, []string{"att_0001"}, attemptIDs(f.attemptList(tenantA, store.AttemptListParams{})))

		res = f.claim(hold, hold.Add(time.Minute), 10)
		require.Equal(t, []string{"msg_0001", "msg_0002"}, claimIDs(res))
		require.Equal(t, 0, claimOf(t, res, "msg_0001").Message.Attempts)
		require.Equal(t, 1, claimOf(t, res, "msg_0002").Message.Attempts)
	}},
	{"MessageClaim/an_expired_lease_frees_its_endpoints_slot", func(t *testing.T, f *fixture) {
		f.createEndpointWith(tenantA, "ep_0001", func(e *store.Endpoint) { e.MaxInFlight = 1 })
		f.publish(tenantA, "evt_0001", "evk_0001", t0.Add(-time.Hour),
			msg{id: "msg_0001", endpoint: "ep_0001", due: t0.Add(-2 * time.Second)},
			msg{id: "msg_0002", endpoint: "ep_0001", due: t0.Add(-time.Second)})
		end := t0.Add(time.Minute)
		require.Equal(t, []string{"msg_0001"}, claimIDs(f.claim(t0, end, 10)))
		now := t0.Add(30 * time.Second)
		res := f.claim(now, end.Add(time.Minute), 10)
		require.Empty(t, res.Claims, "at its cap")
		requireTime(t, end, res.NextDue, "the lease end")

		res = f.claim(end, end.Add(time.Minute), 10)
		require.Equal(t, []string{"msg_0002"}, claimIDs(res), "the released slot; msg_0002 was due before the released msg_0001")
		m := f.getMessage(tenantA, "msg_0001")
		require.Equal(t, store.StatusPending, m.Status)
		requireTime(t, end, m.NextAttemptAt)
		res = f.claim(end, end.Add(time.Minute), 10)
		require.Empty(t, res.Claims, "at its cap again")
		requireNoSpin(t, res, end)
	}},
	{"MessageClaim/a_capped_endpoint_is_offered_again_after_each_completion_or_release", func(t *testing.T, f *fixture) {
		f.createEndpointWith(tenantA, "ep_0001", func(e *store.Endpoint) { e.MaxInFlight = 3 })
		f.createEndpointWith(tenantA, "ep_0002", func(e *store.Endpoint) { e.MaxInFlight = 3 })
		one := f.publishDue(tenantA, "evt_0001", "ep_0001", "msg_%04d", 1, 8, t0.Add(-2*time.Minute))
		two := f.publishDue(tenantA, "evt_0002", "ep_0002", "msg_%04d", 11, 8, t0.Add(-time.Minute))
		end := t0.Add(time.Minute)
		res := f.claim(t0, end, 100)
		require.Equal(t, one[:3], claimsFor(res, "ep_0001"))
		require.Equal(t, two[:3], claimsFor(res, "ep_0002"))

		// ep_0001: two completions free two slots, taken by two claims.
		now := t0.Add(time.Second)
		f.finish(claimOf(t, res, one[0]), store.StatusSucceeded, "att_0001", now, time.Time{})
		f.finish(claimOf(t, res, one[1]), store.StatusFailing, "att_0002", now, t0.Add(time.Hour))
		require.Equal(t, one[3:4], claimIDs(f.claim(now, end, 1)))
		require.Equal(t, one[4:5], claimIDs(f.claim(now, end, 1)), "the second free slot")
		res = f.claim(now, end, 1)
		require.Empty(t, res.Claims, "at its cap again")
		requireNoSpin(t, res, now)

		// ep_0002: its three leases end; the slots are taken one claim at a
		// time (ep_0001's leases end then too).
		later := end.Add(time.Second)
		var got []string
		for range 6 {
			got = append(got, claimsFor(f.claim(later, later.Add(time.Minute), 1), "ep_0002")...)
		}
		require.Len(t, got, 3, "three slots were released: %v", got)
		res = f.claim(later, later.Add(time.Minute), 100)
		require.Empty(t, claimsFor(res, "ep_0002"), "at its cap again")
	}},
}
