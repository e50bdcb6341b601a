package webhook_test

import (
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hooksmith/webhook"
)

// requireWithin asserts got is within 5% of want: EndpointStats promises
// about 3%.
func requireWithin(t *testing.T, want, got time.Duration, what string) {
	t.Helper()
	require.InDelta(t, float64(want), float64(got), 0.05*float64(want), "%s: %v, want about %v", what, got, want)
}

// In virtual time, so that each response takes exactly as long as the
// receiver sleeps: EndpointStats counts the attempts, their success rate
// and latency percentiles, the last outcomes, and the endpoint's health as
// it goes from healthy to failing, to paused by its circuit breaker, to
// disabled.
func TestEndpointStats_counts_latency_and_health(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newVRig(t, webhook.Config{CircuitBreakerThreshold: 3, CircuitBreakerCooldown: time.Minute,
			RetrySchedule: phRepeat(5, 10*time.Second)}, true)
		defer r.close()
		registerTypes(t, r.d, "t.e")
		tn := r.d.Tenant("acme")
		var failing atomic.Bool
		// The n-th request takes n ms; while failing, 500 at once.
		r.respond("/s", func(_ *http.Request, n int) int {
			if failing.Load() {
				return http.StatusInternalServerError
			}
			time.Sleep(time.Duration(n) * time.Millisecond)
			return http.StatusOK
		})
		ep := r.endpoint("acme", "/s", webhook.EndpointParams{MaxInFlight: 1})
		stats := func() *webhook.EndpointStats {
			t.Helper()
			synctest.Wait()
			s, err := tn.EndpointStats(ctx, ep.ID, time.Time{}, time.Time{})
			require.NoError(t, err)
			return s
		}

		s := stats()
		require.Equal(t, webhook.HealthHealthy, s.Health, "no attempt yet")
		require.Zero(t, s.Attempts)
		require.Zero(t, s.SuccessRate)
		require.Zero(t, s.P50)
		require.True(t, s.LastSuccessAt.IsZero())
		require.Equal(t, ep.ID, s.EndpointID)

		// 100 successes taking 1 ms to 100 ms.
		var ids []string
		for i := range 100 {
			ids = append(ids, r.publish("acme", strconv.Itoa(i))...)
		}
		r.waitFor(time.Minute, "the successes were not delivered", func() bool {
			return r.message("acme", ids[len(ids)-1]).Status == webhook.StatusSucceeded
		})
		for _, id := range ids {
			require.Equal(t, webhook.StatusSucceeded, r.message("acme", id).Status)
		}
		lastOK := r.deliveries("/s")[99].At
		s = stats()
		require.EqualValues(t, 100, s.Attempts)
		require.EqualValues(t, 100, s.Successes)
		require.Zero(t, s.Failures)
		require.Equal(t, 1.0, s.SuccessRate)
		require.True(t, 0 < s.P50 && s.P50 <= s.P95 && s.P95 <= s.P99, "p50 %v, p95 %v, p99 %v", s.P50, s.P95, s.P99)
		requireWithin(t, 50*time.Millisecond, s.P50, "p50")
		requireWithin(t, 95*time.Millisecond, s.P95, "p95")
		requireWithin(t, 99*time.Millisecond, s.P99, "p99")
		require.WithinDuration(t, lastOK, s.LastSuccessAt, 200*time.Millisecond)
		require.True(t, s.LastFailureAt.IsZero())
		require.True(t, s.FailingSince.IsZero())
		require.Equal(t, webhook.HealthHealthy, s.Health)
		require.Equal(t, s.Since.Truncate(time.Hour), s.Since, "the range is whole hours")
		require.Equal(t, s.Until.Truncate(time.Hour), s.Until)
		require.False(t, s.Until.Before(time.Now()))

		// One failure: failing.
		failing.Store(true)
		bad := r.publish("acme", `"bad"`)[0]
		r.waitFor(time.Second, "the failure was not recorded", func() bool { return r.message("acme", bad).Attempts == 1 })
		s = stats()
		require.Equal(t, webhook.HealthFailing, s.Health)
		require.EqualValues(t, 101, s.Attempts)
		require.EqualValues(t, 1, s.Failures)
		require.InDelta(t, 100.0/101.0, s.SuccessRate, 1e-9)
		require.False(t, s.LastFailureAt.IsZero())
		require.Equal(t, s.LastFailureAt, s.FailingSince, "the first failure since the last success")
		require.True(t, s.LastFailureAt.After(s.LastSuccessAt))
		firstFailure := s.FailingSince

		// Three in a row open the circuit: paused.
		r.waitFor(time.Minute, "the retries did not come", func() bool { return r.message("acme", bad).Attempts == 3 })
		s = stats()
		require.Equal(t, webhook.HealthPaused, s.Health)
		require.EqualValues(t, 3, s.Failures)
		require.Equal(t, firstFailure, s.FailingSince, "still failing since the first")
		require.True(t, s.LastFailureAt.After(firstFailure))

		// Disabled by the host.
		require.NoError(t, tn.DisableEndpoint(ctx, ep.ID))
		s = stats()
		require.Equal(t, webhook.HealthDisabled, s.Health)
		require.EqualValues(t, 103, s.Attempts, "disabling keeps the counts")
		require.WithinDuration(t, lastOK, s.LastSuccessAt, 200*time.Millisecond)

		// A range with no attempt counts nothing, but the last outcomes
		// and the health are the endpoint's whatever the range.
		old, err := tn.EndpointStats(ctx, ep.ID, r.start.Add(-48*time.Hour), r.start.Add(-24*time.Hour))
		require.NoError(t, err)
		require.Zero(t, old.Attempts)
		require.Zero(t, old.P99)
		require.Equal(t, s.LastSuccessAt, old.LastSuccessAt)
		require.Equal(t, webhook.HealthDisabled, old.Health)

		_, err = tn.EndpointStats(ctx, "ep_unknown", time.Time{}, time.Time{})
		require.ErrorIs(t, err, webhook.ErrNotFound)
	})
}
