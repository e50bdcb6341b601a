package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hooksmith/webhook/store"
)

// healthCases check the endpoint health MessageComplete keeps and
// MessageClaim hands out.
var healthCases = []testCase{
	{"EndpointHealth/claims_carry_the_health_MessageComplete_recorded", func(t *testing.T, f *fixture) {
		f.createEndpoint(tenantA, "ep_0001")
		f.createEndpoint(tenantA, "ep_0002")
		f.publish(tenantA, "evt_0001", "evk_0001", t0, msg{id: "msg_0001", endpoint: "ep_0001"}, msg{id: "msg_0002", endpoint: "ep_0002"})
		res := f.claim(t0, t0.Add(30*time.Second), 10)
		requireHealth(t, store.EndpointHealth{}, claimOf(t, res, "msg_0001").Health, "no history yet")
		requireHealth(t, store.EndpointHealth{}, claimOf(t, res, "msg_0002").Health, "no history yet")
		// ep_0002's failure is its own.
		f.finish(claimOf(t, res, "msg_0002"), store.StatusFailing, "att_0101", t0.Add(2*time.Second), t0.Add(24*time.Hour))

		// claimAt claims msg_0001 at now and returns its claim.
		claimAt := func(now time.Time) store.Claim {
			t.Helper()
			return claimOf(t, f.claim(now, now.Add(30*time.Second), 10), "msg_0001")
		}
		t1 := t0.Add(time.Second)
		f.finish(claimOf(t, res, "msg_0001"), store.StatusFailing, "att_0001", t1, t0.Add(time.Minute))
		c := claimAt(t0.Add(time.Minute))
		requireHealth(t, store.EndpointHealth{LastFailureAt: t1, FailingSince: t1}, c.Health, "after a failure")

		t2 := t0.Add(time.Minute + time.Second)
		f.finish(c, store.StatusFailing, "att_0002", t2, t0.Add(2*time.Minute))
		c = claimAt(t0.Add(2 * time.Minute))
		requireHealth(t, store.EndpointHealth{LastFailureAt: t2, FailingSince: t1}, c.Health, "failing since the first failure")

		f.finish(c, store.StatusPending, "", t0.Add(2*time.Minute+time.Second), t0.Add(3*time.Minute))
		c = claimAt(t0.Add(3 * time.Minute))
		requireHealth(t, store.EndpointHealth{LastFailureAt: t2, FailingSince: t1}, c.Health, "a release changes nothing")

		t4 := t0.Add(3*time.Minute + time.Second)
		f.finish(c, store.StatusSucceeded, "att_0003", t4, time.Time{})
		f.publish(tenantA, "evt_0002", "evk_0002", t0.Add(4*time.Minute), msg{id: "msg_0003", endpoint: "ep_0001"})
		c = claimOf(t, f.claim(t0.Add(4*time.Minute), t0.Add(5*time.Minute), 10), "msg_0003")
		requireHealth(t, store.EndpointHealth{LastSuccessAt: t4, LastFailureAt: t2}, c.Health, "a success ends the failing window")

		t5 := t0.Add(4*time.Minute + time.Second)
		f.finish(c, store.StatusExhausted, "att_0004", t5, time.Time{})
		f.publish(tenantA, "evt_0003", "evk_0003", t0.Add(5*time.Minute), msg{id: "msg_0004", endpoint: "ep_0001"})
		c = claimOf(t, f.claim(t0.Add(5*time.Minute), t0.Add(6*time.Minute), 10), "msg_0004")
		requireHealth(t, store.EndpointHealth{LastSuccessAt: t4, LastFailureAt: t5, FailingSince: t5}, c.Health, "exhausted is a failure")

		now := t0.Add(24 * time.Hour)
		c = claimOf(t, f.claim(now, now.Add(time.Minute), 10), "msg_0002")
		requireHealth(t, store.EndpointHealth{LastFailureAt: t0.Add(2 * time.Second), FailingSince: t0.Add(2 * time.Second)}, c.Health,
			"each endpoint has its own health")
	}},
	{"EndpointHealth/re-enabling_an_endpoint_starts_a_new_failing_window", func(t *testing.T, f *fixture) {
		f.createEndpoint(tenantA, "ep_0001")
		f.publish(tenantA, "evt_0001", "evk_0001", t0, msg{id: "msg_0001", endpoint: "ep_0001"})
		c := claimOf(t, f.claim(t0, t0.Add(30*time.Second), 10), "msg_0001")
		t1 := t0.Add(time.Second)
		f.finish(c, store.StatusFailing, "att_0001", t1, t0.Add(time.Minute))

		f.updateEndpoint(tenantA, "ep_0001", t0.Add(2*time.Second), func(e *store.Endpoint) { e.Description = "still enabled" })
		c = claimOf(t, f.claim(t0.Add(time.Minute), t0.Add(90*time.Second), 10), "msg_0001")
		requireHealth(t, store.EndpointHealth{LastFailureAt: t1, FailingSince: t1}, c.Health, "an update that keeps it enabled changes nothing")

		t2 := t0.Add(time.Minute + time.Second)
		f.finish(c, store.StatusFailing, "att_0002", t2, t0.Add(2*time.Minute))
		f.updateEndpoint(tenantA, "ep_0001", t2, func(e *store.Endpoint) { e.Enabled, e.DisabledReason = false, "failing" })
		require.Empty(t, f.claim(t0.Add(2*time.Minute), t0.Add(3*time.Minute), 10).Claims, "disabled")

		enabledAt := t0.Add(3 * time.Minute)
		f.updateEndpoint(tenantA, "ep_0001", enabledAt, func(e *store.Endpoint) { e.Enabled, e.DisabledReason = true, "" })
		c = claimOf(t, f.claim(enabledAt, enabledAt.Add(time.Minute), 10), "msg_0001")
		requireHealth(t, store.EndpointHealth{LastFailureAt: t2}, c.Health, "re-enabled: not failing since before")
	}},
}
