package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hooksmith/webhook/store"
)

// timed is one attempt written by recordAttempts: started at at, it got
// code (0: no response, a timeout) after dur.
type timed struct {
	at   time.Duration // after t0
	code int
	dur  time.Duration
}

// recordAttempts writes one attempt per spec for endpoint, in order: each on
// its own message and event published at its start, claimed then and
// completed one second later, succeeded for a 2xx and exhausted otherwise.
func (f *fixture) recordAttempts(tenant, endpoint string, specs ...timed) {
	f.t.Helper()
	for _, s := range specs {
		at := t0.Add(s.at)
		id := fmt.Sprintf("%s_%d", endpoint, at.UnixMicro())
		f.publish(tenant, "evt_"+id, "evk_"+id, at, msg{id: "msg_" + id, endpoint: endpoint})
		c := claimOf(f.t, f.claim(at, at.Add(time.Minute), 100), "msg_"+id)
		a := newAttempt("att_"+id, c, 1, at)
		a.StatusCode, a.Duration = s.code, s.dur
		status := store.StatusExhausted
		switch store.ClassOf(s.code) {
		case store.Class2xx:
			a.ErrorClass, a.Error = store.ErrorNone, ""
			status = store.StatusSucceeded
		case store.ClassNoResponse:
			a.ErrorClass, a.Error = store.ErrorTimeout, "timeout"
		}
		f.complete(store.MessageCompleteParams{
			MessageID: c.Message.ID, LeaseToken: c.Message.LeaseToken, Attempt: a,
			Status: status, Now: at.Add(time.Second),
		})
	}
}

// stats calls EndpointStats over [since, until) and fails the test on error.
func (f *fixture) stats(tenant, endpoint string, since, until time.Time) store.EndpointStats {
	f.t.Helper()
	st, err := f.s.EndpointStats(f.ctx, store.EndpointStatsParams{TenantID: tenant, EndpointID: endpoint, Since: since, Until: until})
	require.NoError(f.t, err, "EndpointStats(%s, %s, %s, %s)", tenant, endpoint, since, until)
	require.Equal(f.t, uint64(st.Attempts), st.Latency.Count(), "one latency per attempt")
	require.Equal(f.t, st.Attempts, st.Successes+st.Failures, "every attempt succeeded or failed")
	return st
}

// counts is what EndpointStats summed.
type counts struct{ attempts, successes, failures int64 }

func countsOf(st store.EndpointStats) counts {
	return counts{attempts: st.Attempts, successes: st.Successes, failures: st.Failures}
}

var statsCases = []testCase{
	{"EndpointStats/sums_the_attempts_of_the_whole_hours_covering_the_range", func(t *testing.T, f *fixture) {
		f.createEndpoint(tenantA, "ep_0001")
		f.createEndpoint(tenantA, "ep_0002")
		f.createEndpoint(tenantB, "ep_0003")
		ms := time.Millisecond
		f.recordAttempts(tenantA, "ep_0001",
			timed{10 * time.Minute, 200, 100 * ms},
			timed{20 * time.Minute, 503, 300 * ms},
			timed{time.Hour - time.Microsecond, 0, 2 * time.Second},
			timed{2 * time.Hour, 204, 100 * ms},
			timed{2*time.Hour + 30*time.Minute, 404, 100 * ms},
			timed{3 * time.Hour, 200, 100 * ms})
		f.recordAttempts(tenantA, "ep_0002", timed{15 * time.Minute, 200, ms})
		f.recordAttempts(tenantB, "ep_0003", timed{16 * time.Minute, 503, ms})

		h := func(n float64) time.Time { return t0.Add(time.Duration(n * float64(time.Hour))) }
		for _, c := range []struct {
			since, until       time.Time
			coverFrom, coverTo time.Time
			want               counts
		}{
			{h(0), h(3), h(0), h(3), counts{5, 2, 3}},
			{h(0.5), h(2).Add(time.Microsecond), h(0), h(3), counts{5, 2, 3}},
			{h(1), h(2), h(1), h(2), counts{}},
			{h(1.5), h(2.5), h(1), h(3), counts{2, 1, 1}},
			{h(59.0 / 60), h(1), h(0), h(1), counts{3, 1, 2}},
			{h(3), h(3).Add(time.Nanosecond), h(3), h(4), counts{1, 1, 0}},
			{h(-5), h(10), h(-5), h(10), counts{6, 3, 3}},
		} {
			st := f.stats(tenantA, "ep_0001", c.since, c.until)
			require.Equal(t, c.want, countsOf(st), "[%s, %s)", c.since, c.until)
			requireTime(t, c.coverFrom, st.Since, "[%s, %s): Since", c.since, c.until)
			requireTime(t, c.coverTo, st.Until, "[%s, %s): Until", c.since, c.until)
		}
		require.Equal(t, counts{6, 3, 3}, countsOf(f.stats(tenantA, "ep_0001", time.Time{}, time.Time{})), "zero bounds cover every hour")
		require.Equal(t, counts{1, 1, 0}, countsOf(f.stats(tenantA, "ep_0002", h(0), h(1))), "each endpoint has its own rollups")
		require.Equal(t, counts{1, 0, 1}, countsOf(f.stats(tenantB, "ep_0003", h(0), h(1))))
	}},
	{"EndpointStats/latency_quantiles_follow_the_attempt_durations", func(t *testing.T, f *fixture) {
		f.createEndpoint(tenantA, "ep_0001")
		var specs []timed
		for i := range 20 {
			d := 100 * time.Millisecond
			if i%10 == 9 {
				d = 2 * time.Second
			}
			// Ten attempts in each of two hours.
			specs = append(specs, timed{time.Duration(i/10)*time.Hour + time.Duration(i)*time.Minute, 200, d})
		}
		f.recordAttempts(tenantA, "ep_0001", specs...)

		st := f.stats(tenantA, "ep_0001", t0, t0.Add(2*time.Hour))
		require.EqualValues(t, 20, st.Latency.Count())
		require.InEpsilon(t, float64(100*time.Millisecond), float64(st.Latency.Quantile(0.5)), 0.05, "p50")
		require.InEpsilon(t, float64(100*time.Millisecond), float64(st.Latency.Quantile(0.9)), 0.05, "p90")
		require.InEpsilon(t, float64(2*time.Second), float64(st.Latency.Quantile(0.95)), 0.05, "p95")
		require.InEpsilon(t, float64(2*time.Second), float64(st.Latency.Quantile(1)), 0.05, "max")

		one := f.stats(tenantA, "ep_0001", t0.Add(time.Hour), t0.Add(2*time.Hour))
		require.EqualValues(t, 10, one.Latency.Count(), "the second hour only")
		require.InEpsilon(t, float64(100*time.Millisecond), float64(one.Latency.Quantile(0.5)), 0.05)
		require.InEpsilon(t, float64(2*time.Second), float64(one.Latency.Quantile(0.99)), 0.05)
		none := f.stats(tenantA, "ep_0001", t0.Add(5*time.Hour), t0.Add(6*time.Hour))
		require.Zero(t, none.Latency.Quantile(0.5), "no attempts")
	}},
	{"EndpointStats/reports_the_endpoints_current_health_and_state_whatever_the_range", func(t *testing.T, f *fixture) {
		f.createEndpoint(tenantA, "ep_0001")
		f.createEndpoint(tenantA, "ep_0002")
		st := f.stats(tenantA, "ep_0001", t0, t0.Add(time.Hour))
		requireHealth(t, store.EndpointHealth{}, st.Health, "no history")
		require.True(t, st.Enabled)
		require.Empty(t, st.Disabled)
		require.Equal(t, counts{}, countsOf(st))

		f.recordAttempts(tenantA, "ep_0001",
			timed{10 * time.Minute, 500, time.Millisecond},
			timed{20 * time.Minute, 200, time.Millisecond},
			timed{30 * time.Minute, 0, time.Millisecond})
		want := store.EndpointHealth{
			LastSuccessAt: t0.Add(20*time.Minute + time.Second),
			LastFailureAt: t0.Add(30*time.Minute + time.Second),
			FailingSince:  t0.Add(30*time.Minute + time.Second),
		}
		requireHealth(t, want, f.stats(tenantA, "ep_0001", t0.Add(5*time.Hour), t0.Add(6*time.Hour)).Health, "an empty range")
		requireHealth(t, store.EndpointHealth{}, f.stats(tenantA, "ep_0002", t0, t0.Add(time.Hour)).Health, "another endpoint")

		f.updateEndpoint(tenantA, "ep_0001", t0.Add(time.Hour), func(e *store.Endpoint) { e.Enabled, e.DisabledReason = false, "too many failures" })
		st = f.stats(tenantA, "ep_0001", t0, t0.Add(time.Hour))
		require.False(t, st.Enabled)
		require.Equal(t, "too many failures", st.Disabled)
		requireHealth(t, want, st.Health)
		require.Equal(t, counts{3, 1, 2}, countsOf(st))
	}},
	{"EndpointStats/returns_ErrNotFound_for_an_unknown_endpoint_or_another_tenants", func(t *testing.T, f *fixture) {
		f.createEndpoint(tenantA, "ep_0001")
		f.createEndpoint(tenantA, "ep_0002")
		f.recordAttempts(tenantA, "ep_0001", timed{0, 200, time.Millisecond})
		f.recordAttempts(tenantA, "ep_0002", timed{time.Minute, 200, time.Millisecond})
		require.NoError(t, f.s.EndpointDelete(f.ctx, tenantA, "ep_0002", t0.Add(time.Hour)))
		for _, c := range []struct{ tenant, endpoint string }{
			{tenantB, "ep_0001"}, {tenantA, "ep_0009"}, {tenantA, "ep_0002"},
		} {
			_, err := f.s.EndpointStats(f.ctx, store.EndpointStatsParams{TenantID: c.tenant, EndpointID: c.endpoint, Since: t0, Until: t0.Add(time.Hour)})
			require.ErrorIs(t, err, store.ErrNotFound, "EndpointStats(%s, %s)", c.tenant, c.endpoint)
		}
	}},
	{"Purge/deletes_the_stats_rollups_of_the_hours_that_end_by_Before", func(t *testing.T, f *fixture) {
		f.createEndpoint(tenantA, "ep_0001")
		f.createEndpoint(tenantB, "ep_0003")
		f.recordAttempts(tenantA, "ep_0001",
			timed{10 * time.Minute, 200, time.Millisecond},
			timed{70 * time.Minute, 200, time.Millisecond},
			timed{130 * time.Minute, 503, time.Millisecond})
		f.recordAttempts(tenantB, "ep_0003", timed{10 * time.Minute, 200, time.Millisecond})
		all := func(tenant, endpoint string) counts {
			t.Helper()
			return countsOf(f.stats(tenant, endpoint, t0, t0.Add(3*time.Hour)))
		}
		require.Equal(t, counts{3, 2, 1}, all(tenantA, "ep_0001"))

		f.purgeAll(tenantA, t0.Add(90*time.Minute))
		require.Equal(t, counts{2, 1, 1}, all(tenantA, "ep_0001"), "the first hour ends by Before; the second does not")
		require.Equal(t, counts{1, 1, 0}, all(tenantB, "ep_0003"), "another tenant's rollups are kept")
		f.purgeAll(tenantA, t0.Add(2*time.Hour))
		require.Equal(t, counts{1, 0, 1}, all(tenantA, "ep_0001"), "the second hour ends at Before")
	}},
}
