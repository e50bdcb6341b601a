package webhook_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hooksmith/webhook"
)

// The default-like schedule runs its 27 h 35 min in virtual time; every gap
// between attempts stays within the ±20% jitter of its delay.
func TestSchedule_27_hours_in_virtual_time_within_jitter_bounds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		schedule := []time.Duration{0, 5 * time.Second, 5 * time.Minute, 30 * time.Minute,
			2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour}
		r := newVRig(t, webhook.Config{RetrySchedule: schedule, CircuitBreakerThreshold: -1, PollInterval: time.Hour}, false)
		defer r.close()
		registerTypes(t, r.d, "t.e")
		r.respond("/down", func(*http.Request, int) int { return http.StatusInternalServerError })
		ep := r.endpoint("acme", "/down", webhook.EndpointParams{})
		id := r.publish("acme", `{}`)[0]
		r.waitFor(40*time.Hour, "the message was not exhausted", func() bool {
			return r.message("acme", id).Status == webhook.StatusExhausted
		})
		got := r.deliveries("/down")
		require.Len(t, got, len(schedule), "one request per scheduled attempt")
		for i := 1; i < len(got); i++ {
			gap, delay := got[i].At.Sub(got[i-1].At), schedule[i]
			lo, hi := time.Duration(float64(delay)*0.8), time.Duration(float64(delay)*1.2)+time.Second
			require.True(t, gap >= lo && gap <= hi, "gap before attempt %d: %s, want %s ±20%%", i+1, gap, delay)
		}
		total := got[len(got)-1].At.Sub(got[0].At)
		t.Logf("8 attempts over %s of virtual time", total.Round(time.Second))
		require.Greater(t, total, 20*time.Hour)

		m := r.message("acme", id)
		require.Equal(t, len(schedule), m.Attempts)
		dead, err := r.d.Tenant("acme").ListExhaustedMessages(context.Background(), webhook.ExhaustedQuery{EndpointID: ep.ID})
		require.NoError(t, err)
		require.Len(t, dead.Items, 1, "the exhausted message is listed as a dead letter")
		require.Equal(t, id, dead.Items[0].ID)
		atts, err := r.d.Tenant("acme").ListAttempts(context.Background(), webhook.AttemptQuery{MessageID: id})
		require.NoError(t, err)
		require.Len(t, atts.Items, len(schedule), "an exhausted message keeps its attempts")
	})
}

// perWindow counts deliveries in consecutive one-second windows from the
// first delivery.
func perWindow(got []vdelivery, windows int) []int {
	counts := make([]int, windows)
	for _, d := range got {
		if w := int(d.At.Sub(got[0].At) / time.Second); w < windows {
			counts[w]++
		}
	}
	return counts
}

// A 50 msg/s endpoint receives 50 ±10% in each second, while its backlog
// waits in the store: an unlimited endpoint sharing the only two workers
// still gets its messages at once.
func TestRateLimit_50_per_second_measured_and_holds_no_worker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newVRig(t, webhook.Config{Workers: 2}, true)
		defer r.close()
		registerTypes(t, r.d, "t.e")
		r.endpoint("limited", "/limited", webhook.EndpointParams{RateLimit: 50})
		r.endpoint("free", "/free", webhook.EndpointParams{})
		for i := range 300 {
			r.publish("limited", strconv.Itoa(i))
		}
		time.Sleep(time.Second)
		start := time.Now()
		for i := range 100 {
			r.publish("free", strconv.Itoa(i))
		}
		r.waitFor(time.Second, "the unlimited endpoint waited behind the limited one", func() bool {
			return len(r.deliveries("/free")) == 100
		})
		free := r.deliveries("/free")
		t.Logf("unlimited endpoint: 100 messages in %s of virtual time beside a rate-limited backlog", free[99].At.Sub(start))

		r.waitFor(10*time.Second, "the limited endpoint's backlog was not delivered", func() bool {
			return len(r.deliveries("/limited")) == 300
		})
		got := r.deliveries("/limited")
		counts := perWindow(got, 5)
		t.Logf("50 msg/s endpoint, deliveries per second: %v", counts)
		for i, n := range counts {
			require.InDelta(t, 50, n, 5, "second %d: %d deliveries", i+1, n)
		}
		span := got[len(got)-1].At.Sub(got[0].At)
		require.InDelta(t, 299.0/50, span.Seconds(), 0.3, "300 messages at 50/s take about 6 s, took %s", span)
	})
}

// A burst lets that many go at once, then the rate applies.
func TestRateLimit_burst_then_rate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newVRig(t, webhook.Config{}, true)
		defer r.close()
		registerTypes(t, r.d, "t.e")
		r.endpoint("acme", "/b", webhook.EndpointParams{RateLimit: 2, RateBurst: 5})
		for i := range 11 {
			r.publish("acme", strconv.Itoa(i))
		}
		r.waitFor(10*time.Second, "not all delivered", func() bool { return len(r.deliveries("/b")) == 11 })
		got := r.deliveries("/b")
		for i := 1; i < 5; i++ {
			require.Equal(t, got[0].At, got[i].At, "the first 5 go at once")
		}
		for i := 5; i < 11; i++ {
			require.InDelta(t, 0.5, got[i].At.Sub(got[i-1].At).Seconds(), 0.05, "then one per 0.5 s")
		}
	})
}

// An endpoint never has more requests open than its cap; the default cap is
// Config.MaxInFlightPerEndpoint.
func TestMaxInFlight_caps_concurrent_requests(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  webhook.Config
		own  int
		want int
	}{
		{"endpoint's own cap", webhook.Config{}, 3, 3},
		{"dispatcher default of 8", webhook.Config{}, 0, 8},
		{"configured default", webhook.Config{MaxInFlightPerEndpoint: 5}, 0, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := newVRig(t, tc.cfg, true)
				defer r.close()
				registerTypes(t, r.d, "t.e")
				var open, peak atomic.Int32
				r.respond("/slow", func(*http.Request, int) int {
					n := open.Add(1)
					for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
					}
					time.Sleep(time.Second)
					open.Add(-1)
					return http.StatusOK
				})
				r.endpoint("acme", "/slow", webhook.EndpointParams{MaxInFlight: tc.own})
				for i := range 4 * tc.want {
					r.publish("acme", strconv.Itoa(i))
				}
				start := time.Now()
				r.waitFor(time.Minute, "not all delivered", func() bool { return len(r.deliveries("/slow")) == 4*tc.want })
				require.Equal(t, int32(tc.want), peak.Load(), "most requests open at once")
				synctest.Wait()
				t.Logf("%d one-second requests with a cap of %d took %s", 4*tc.want, tc.want, time.Since(start))
			})
		})
	}
}

// A FIFO endpoint gets its messages one at a time in publish order; a
// failing message holds back the later ones until it succeeds, or until it
// is exhausted.
func TestFIFO_publish_order_under_retries(t *testing.T) {
	for _, tc := range []struct {
		name      string
		failures  int // of message 3
		schedule  []time.Duration
		wantOrder string
		exhausted bool
	}{
		{"a retried message holds back the rest", 2, []time.Duration{0, time.Second, time.Second, time.Second},
			"1 2 3 3 3 4 5 6 7 8", false},
		{"an exhausted message releases the rest", 100, []time.Duration{0, time.Second},
			"1 2 3 3 4 5 6 7 8", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := newVRig(t, webhook.Config{RetrySchedule: tc.schedule, CircuitBreakerThreshold: -1}, false)
				defer r.close()
				registerTypes(t, r.d, "t.e")
				var mu sync.Mutex
				tries := map[string]int{}
				r.respond("/fifo", func(req *http.Request, _ int) int {
					body := r.deliveries("/fifo")
					last := body[len(body)-1].Body
					mu.Lock()
					defer mu.Unlock()
					tries[last]++
					if last == "3" && tries[last] <= tc.failures {
						return http.StatusInternalServerError
					}
					return http.StatusOK
				})
				r.endpoint("acme", "/fifo", webhook.EndpointParams{FIFO: true})
				var ids []string
				for i := 1; i <= 8; i++ {
					ids = append(ids, r.publish("acme", strconv.Itoa(i))...)
				}
				r.waitFor(time.Minute, "the FIFO endpoint did not drain", func() bool {
					return r.message("acme", ids[7]).Status == webhook.StatusSucceeded
				})
				var order []string
				for _, d := range r.deliveries("/fifo") {
					order = append(order, d.Body)
				}
				require.Equal(t, tc.wantOrder, fmt.Sprint(order)[1:len(fmt.Sprint(order))-1])
				want := webhook.StatusSucceeded
				if tc.exhausted {
					want = webhook.StatusExhausted
				}
				require.Equal(t, want, r.message("acme", ids[2]).Status)
			})
		})
	}
}

// fairnessRun publishes backlog messages to an endpoint that never answers
// (RequestTimeout 5 s, no breaker: the worst case; perEndpoint is
// Config.MaxInFlightPerEndpoint, 0 for the default), then a steady stream
// to 100 healthy endpoints for 5 virtual seconds, and returns the healthy
// endpoints' delivery rate and publish-to-receipt latencies, and how many
// of their messages were not delivered within a virtual minute (each
// counted with a latency of an hour).
func fairnessRun(t *testing.T, backlog, perEndpoint int) (rate float64, p50, p99 time.Duration, missing int) {
	synctest.Test(t, func(t *testing.T) {
		r := newVRig(t, webhook.Config{RequestTimeout: 5 * time.Second, CircuitBreakerThreshold: -1,
			RetrySchedule: []time.Duration{0, time.Second}, MaxInFlightPerEndpoint: perEndpoint}, true)
		defer r.close()
		registerTypes(t, r.d, "t.e")
		r.respond("/hang", func(*http.Request, int) int { return 0 })
		r.endpoint("slow", "/hang", webhook.EndpointParams{})
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Go(func() {
				for i := g; i < backlog; i += 4 {
					r.publish("slow", "x")
				}
			})
		}
		wg.Wait()
		for i := range 100 {
			r.endpoint(fmt.Sprintf("h%02d", i), fmt.Sprintf("/h%02d", i), webhook.EndpointParams{})
		}
		sent := map[string]time.Time{} // body → publish time
		const seconds, perSecond = 5, 5
		start := time.Now()
		for s := range seconds * perSecond {
			for i := range 100 {
				body := fmt.Sprintf("%d-%d", s, i)
				r.publish(fmt.Sprintf("h%02d", i), body)
				sent[body] = time.Now()
			}
			time.Sleep(time.Second / perSecond)
		}
		total := seconds * perSecond * 100
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
			n := 0
			for i := range 100 {
				n += len(r.deliveries(fmt.Sprintf("/h%02d", i)))
			}
			if n == total {
				break
			}
			time.Sleep(100 * time.Millisecond)
			synctest.Wait()
		}
		var lat []time.Duration
		var last time.Time
		for i := range 100 {
			for _, d := range r.deliveries(fmt.Sprintf("/h%02d", i)) {
				lat = append(lat, d.At.Sub(sent[d.Body]))
				if d.At.After(last) {
					last = d.At
				}
			}
		}
		missing = total - len(lat)
		for range missing {
			lat = append(lat, time.Hour)
		}
		slices.Sort(lat)
		rate = float64(total-missing) / max(last.Sub(start), seconds*time.Second).Seconds()
		p50, p99 = lat[len(lat)/2], lat[len(lat)*99/100]
		if backlog > 0 {
			require.NotEmpty(t, r.deliveries("/hang"), "the failing endpoint was tried")
		}
	})
	return rate, p50, p99, missing
}

// Fairness: 10,000 messages for an endpoint that times out do not slow
// 100 healthy endpoints receiving a steady stream. Rates and latencies are
// in virtual time: they show the scheduling, not the CPU (the benchmark in
// internal/bench measures that).
func TestFairness_a_timing_out_backlog_does_not_slow_healthy_endpoints(t *testing.T) {
	if testing.Short() {
		t.Skip("publishes 11,000 messages")
	}
	baseRate, base50, base99, baseMissing := fairnessRun(t, 0, 0)
	rate, p50, p99, missing := fairnessRun(t, 10000, 0)
	// The same with the per-endpoint cap lifted: the failing endpoint takes
	// every worker, which shows what the cap (and this test) guards.
	uncappedRate, uncapped50, uncapped99, uncappedMissing := fairnessRun(t, 10000, 1000)
	t.Logf("healthy endpoints, no failing endpoint:      %.0f msg/s, p50 %s, p99 %s", baseRate, base50, base99)
	t.Logf("healthy endpoints, 10,000 timing out beside: %.0f msg/s, p50 %s, p99 %s (%.0f%% of the rate)", rate, p50, p99, 100*rate/baseRate)
	t.Logf("the same with the per-endpoint cap lifted:   %.0f msg/s, p50 %s, p99 %s, %d of 2,500 not delivered in a minute",
		uncappedRate, uncapped50, uncapped99, uncappedMissing)
	require.Zero(t, baseMissing, "healthy messages not delivered in a minute")
	require.Zero(t, missing, "healthy messages not delivered in a minute beside the failing backlog")
	require.GreaterOrEqual(t, rate, 0.8*baseRate, "healthy delivery rate with the failing backlog")
	require.LessOrEqual(t, p99, base99+100*time.Millisecond, "healthy p99 grew with the failing backlog")
	require.Greater(t, uncapped99, time.Second, "without the cap the failing endpoint should have held the healthy ones back")
}
