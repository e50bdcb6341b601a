package ratelimit_test

import (
	"fmt"
	"math"
	"math/rand"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hooksmith/webhook/internal/ratelimit"
)

// base is the virtual epoch; tests never sleep, they move now forward.
var base = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return base.Add(d) }

func TestUnlimited(t *testing.T) {
	for _, limit := range []float64{0, -1, math.Inf(-1)} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			r := ratelimit.New()
			for i := range 1000 {
				now := at(time.Duration(i) * time.Microsecond)
				n, notBefore := r.Admit("ep", limit, 1, 1_000_000, now)
				require.Equal(t, 1_000_000, n)
				require.True(t, notBefore.IsZero())
				r.Take("ep", limit, 1, n, now)
			}
			require.Equal(t, 0, r.Len(), "an unlimited endpoint holds no limiter")
			r.Sweep(at(time.Hour))
			require.Equal(t, 0, r.Len())
		})
	}
}

func TestAdmitEdgeCases(t *testing.T) {
	tests := []struct {
		name         string
		limit        float64
		burst, want  int
		wantN        int
		wantDeferred bool // notBefore set
	}{
		{name: "want zero", limit: 1, burst: 1, want: 0, wantN: 0},
		{name: "want negative", limit: 1, burst: 1, want: -3, wantN: 0},
		{name: "unlimited want negative", limit: 0, burst: 1, want: -3, wantN: 0},
		{name: "fresh within burst", limit: 1, burst: 5, want: 3, wantN: 3},
		{name: "fresh exactly burst", limit: 1, burst: 5, want: 5, wantN: 5},
		{name: "fresh beyond burst", limit: 1, burst: 5, want: 9, wantN: 5, wantDeferred: true},
		{name: "burst zero counts as one", limit: 1, burst: 0, want: 4, wantN: 1, wantDeferred: true},
		{name: "burst negative counts as one", limit: 1, burst: -7, want: 4, wantN: 1, wantDeferred: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := ratelimit.New()
			n, notBefore := r.Admit("ep", tc.limit, tc.burst, tc.want, base)
			require.Equal(t, tc.wantN, n)
			require.Equal(t, tc.wantDeferred, !notBefore.IsZero(), "notBefore %v", notBefore)
			if tc.wantDeferred {
				// The bucket is empty after spending the burst: one token later.
				require.Equal(t, base.Add(time.Duration(float64(time.Second)/tc.limit)), notBefore)
			}
			require.Equal(t, 0, r.Len(), "Admit creates nothing")
			r.Take("ep", tc.limit, tc.burst, n, base)
			if n > 0 && tc.limit > 0 {
				require.Equal(t, 1, r.Len())
			} else {
				require.Equal(t, 0, r.Len(), "taking nothing creates nothing")
			}
		})
	}
}

// A limit so low that the wait overflows a time.Duration still gives a
// notBefore after now.
func TestTinyLimit(t *testing.T) {
	for _, limit := range []float64{1e-9, 1e-12, 1e-300, math.SmallestNonzeroFloat64} {
		r := ratelimit.New()
		r.Take("ep", limit, 1, 1, base)
		n, notBefore := r.Admit("ep", limit, 1, 1, at(time.Hour))
		require.Equal(t, 0, n)
		require.True(t, notBefore.After(at(time.Hour)), "limit %v: notBefore %v", limit, notBefore)
		n, notBefore = r.Admit("ep", limit, 2, 2, at(time.Hour))
		require.Equal(t, 0, n)
		require.True(t, notBefore.After(at(time.Hour)), "limit %v, burst raised: notBefore %v", limit, notBefore)
	}
}

// simulate runs a scheduler loop in virtual time: Admit want, Take what was
// admitted, move to notBefore (or 1ms on if everything was admitted). It
// returns the admissions per window and how many came at the first instant.
func simulate(t *testing.T, limit float64, burst, want int, duration, window time.Duration) (windows []int, first int) {
	t.Helper()
	r := ratelimit.New()
	windows = make([]int, int(duration/window))
	now := base
	for steps := 0; now.Before(base.Add(duration)); steps++ {
		require.Less(t, steps, 10_000_000, "the loop does not advance")
		n, notBefore := r.Admit("ep", limit, burst, want, now)
		r.Take("ep", limit, burst, n, now)
		windows[int(now.Sub(base)/window)] += n
		if now.Equal(base) {
			first += n
		}
		if notBefore.IsZero() {
			require.Equal(t, want, n)
			now = now.Add(time.Millisecond)
			continue
		}
		require.Less(t, n, want)
		require.True(t, notBefore.After(now), "notBefore %v not after now %v", notBefore, now)
		now = notBefore
	}
	return windows, first
}

func TestAccuracy(t *testing.T) {
	tests := []struct {
		name     string
		limit    float64
		burst    int
		duration time.Duration
		window   time.Duration
		// perWindow is the steady admissions per window; the first window
		// also gets the burst's extra burst-1.
		perWindow float64
		// wantWindows, if set, are the exact counts.
		wantWindows []int
	}{
		{name: "50/s burst 1", limit: 50, burst: 1, duration: 5 * time.Second, window: time.Second, perWindow: 50},
		{name: "50/s burst 10", limit: 50, burst: 10, duration: 5 * time.Second, window: time.Second, perWindow: 50},
		{name: "1000/s burst 1", limit: 1000, burst: 1, duration: 5 * time.Second, window: time.Second, perWindow: 1000},
		{name: "3/s burst 1", limit: 3, burst: 1, duration: 5 * time.Second, window: time.Second, perWindow: 3},
		// Half a message a second: one every other second.
		{name: "0.5/s burst 1", limit: 0.5, burst: 1, duration: 5 * time.Second, window: time.Second,
			perWindow: 0.5, wantWindows: []int{1, 0, 1, 0, 1}},
		{name: "0.5/s burst 1 long", limit: 0.5, burst: 1, duration: 100 * time.Second, window: 10 * time.Second, perWindow: 5},
		{name: "0.5/s burst 10 long", limit: 0.5, burst: 10, duration: 100 * time.Second, window: 10 * time.Second, perWindow: 5},
		{name: "1/3 per s burst 1 long", limit: 1.0 / 3, burst: 1, duration: 300 * time.Second, window: 30 * time.Second, perWindow: 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			const want = 10
			windows, first := simulate(t, tc.limit, tc.burst, want, tc.duration, tc.window)
			total := 0
			for _, n := range windows {
				total += n
			}
			t.Logf("limit %v/s burst %d: per-%v windows %v, first instant %d, total %d",
				tc.limit, tc.burst, tc.window, windows, first, total)

			require.Equal(t, min(want, tc.burst), first, "the first instant admits the burst")
			if tc.wantWindows != nil {
				require.Equal(t, tc.wantWindows, windows)
			}
			for i, n := range windows {
				steady := float64(n)
				if i == 0 {
					steady -= float64(tc.burst - 1)
				}
				if tc.perWindow >= 1 {
					require.InDelta(t, tc.perWindow, steady, tc.perWindow*0.1, "window %d: %v", i, windows)
				}
			}
			ideal := tc.limit*tc.duration.Seconds() + float64(tc.burst)
			require.InDelta(t, ideal, float64(total), 1, "total")
		})
	}
}

// TestNotBefore checks, with random rates, bursts, spends and gaps, that
// notBefore is never before now, is set exactly when fewer than wanted were
// admitted, and that an Admit at notBefore admits at least one.
func TestNotBefore(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	limits := []float64{0.001, 0.1, 1.0 / 3, 0.5, 1, 3, 7, 10, 50, 333, 1000, 1e6, 1e9}
	bursts := []int{1, 2, 3, 10, 100}
	for _, limit := range limits {
		for _, burst := range bursts {
			t.Run(fmt.Sprintf("%v/s burst %d", limit, burst), func(t *testing.T) {
				r := ratelimit.New()
				now := base
				period := time.Duration(float64(time.Second) / limit)
				for range 1000 {
					want := 1 + rng.Intn(2*burst)
					n, notBefore := r.Admit("ep", limit, burst, want, now)
					require.GreaterOrEqual(t, n, 0)
					require.LessOrEqual(t, n, want)
					if n == want {
						require.True(t, notBefore.IsZero())
					} else {
						require.False(t, notBefore.IsZero())
						require.True(t, notBefore.After(now), "notBefore %v, now %v", notBefore, now)
						n2, _ := r.Admit("ep", limit, burst, want, notBefore)
						require.GreaterOrEqual(t, n2, min(n+1, burst), "at notBefore one more token is there")
						if n == 0 && notBefore.Sub(now) > 2*time.Nanosecond {
							// And not much later than needed: just before
							// it (rounding aside) there is still none.
							n3, _ := r.Admit("ep", limit, burst, want, notBefore.Add(-2*time.Nanosecond))
							require.Equal(t, 0, n3)
						}
					}
					// Spend some or all of it, then move on a random bit:
					// sometimes to notBefore, sometimes a fraction of a
					// token period, sometimes far.
					took := n
					if rng.Intn(3) == 0 {
						took = rng.Intn(n + 1)
					}
					r.Take("ep", limit, burst, took, now)
					if took == n && !notBefore.IsZero() {
						n2, _ := r.Admit("ep", limit, burst, want, notBefore)
						require.GreaterOrEqual(t, n2, 1, "after taking all admitted, at notBefore one is admitted")
					}
					switch rng.Intn(4) {
					case 0:
						if !notBefore.IsZero() {
							now = notBefore
							continue
						}
						fallthrough
					case 1:
						now = now.Add(time.Duration(rng.Int63n(int64(period)+1)) + 1)
					case 2:
						now = now.Add(time.Duration(rng.Int63n(int64(period)*int64(burst)+1)) + 1)
					case 3:
						now = now.Add(time.Duration(rng.Int63n(1000) + 1))
					}
				}
			})
		}
	}
}

// Admit changes nothing: any number of Admits before a Take leave the same
// state as one.
func TestAdmitIsPure(t *testing.T) {
	run := func(admits int) (results [][2]int64) {
		r := ratelimit.New()
		now := base
		for step := range 50 {
			var n int
			var notBefore time.Time
			for range admits {
				n, notBefore = r.Admit("ep", 10, 3, 5, now)
			}
			require.Equal(t, 0, r.Len()-min(step, 1), "Admit creates no limiter")
			// Also look at other times, past and future, and other rates:
			// none of that may leave a trace either.
			for i := 0; i < admits-1; i++ {
				r.Admit("ep", 10, 3, 5, now.Add(time.Duration(i)*time.Second))
				r.Admit("ep", 10, 3, 5, now.Add(-time.Duration(i)*time.Second))
				r.Admit("other", 10, 3, 5, now)
			}
			r.Take("ep", 10, 3, n, now)
			results = append(results, [2]int64{int64(n), notBefore.Sub(base).Nanoseconds()})
			now = now.Add(time.Duration(step%7) * 37 * time.Millisecond)
		}
		return results
	}
	once := run(1)
	require.Equal(t, once, run(100))
	require.Equal(t, once, run(2))
}

func TestAdmitAndTakeSeparateEndpoints(t *testing.T) {
	r := ratelimit.New()
	r.Take("a", 1, 2, 2, base)
	n, notBefore := r.Admit("a", 1, 2, 2, base)
	require.Equal(t, 0, n)
	require.Equal(t, at(time.Second), notBefore)
	n, notBefore = r.Admit("b", 1, 2, 2, base)
	require.Equal(t, 2, n, "another endpoint has its own bucket")
	require.True(t, notBefore.IsZero())
	require.Equal(t, 1, r.Len())
}

func TestTakeCapsAtBurst(t *testing.T) {
	// Taking more than the burst (which Admit never allows) spends the
	// burst, not more: the next token is one period away, not five.
	r := ratelimit.New()
	r.Take("ep", 10, 2, 7, base)
	n, notBefore := r.Admit("ep", 10, 2, 1, base)
	require.Equal(t, 0, n)
	require.Equal(t, at(100*time.Millisecond), notBefore)
	n, _ = r.Admit("ep", 10, 2, 5, at(200*time.Millisecond))
	require.Equal(t, 2, n)
}

func TestRefill(t *testing.T) {
	tests := []struct {
		name  string
		limit float64
		burst int
		after time.Duration
		want  int
	}{
		{"none yet", 10, 5, 99 * time.Millisecond, 0},
		{"one", 10, 5, 100 * time.Millisecond, 1},
		{"two and a half", 10, 5, 250 * time.Millisecond, 2},
		{"full", 10, 5, 500 * time.Millisecond, 5},
		{"capped at burst", 10, 5, time.Hour, 5},
		{"slow", 0.01, 3, 100 * time.Second, 1},
		{"slow almost", 0.01, 3, 100*time.Second - time.Nanosecond, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := ratelimit.New()
			r.Take("ep", tc.limit, tc.burst, tc.burst, base)
			n, _ := r.Admit("ep", tc.limit, tc.burst, 100, at(tc.after))
			require.Equal(t, tc.want, n)
		})
	}
}

// A changed rate or burst applies from the endpoint's last Take: Admit
// already counts with it (without storing anything) and Take stores it.
func TestRateChange(t *testing.T) {
	t.Run("limit raised", func(t *testing.T) {
		r := ratelimit.New()
		r.Take("ep", 1, 10, 10, base) // empty
		n, _ := r.Admit("ep", 1, 10, 10, at(2*time.Second))
		require.Equal(t, 2, n)
		r.Take("ep", 1, 10, n, at(2*time.Second)) // empty again
		for range 3 {
			n, notBefore := r.Admit("ep", 10, 10, 10, at(2500*time.Millisecond))
			require.Equal(t, 5, n, "half a second at the new 10/s")
			require.Equal(t, at(2600*time.Millisecond), notBefore)
			n, notBefore = r.Admit("ep", 1, 10, 10, at(2500*time.Millisecond))
			require.Equal(t, 0, n, "nothing was stored: at the old 1/s, half a token")
			require.Equal(t, at(3*time.Second), notBefore)
		}
		r.Take("ep", 10, 10, 5, at(2500*time.Millisecond))
		n, _ = r.Admit("ep", 10, 10, 10, at(3*time.Second))
		require.Equal(t, 5, n, "Take applied 10/s")
	})
	t.Run("limit lowered", func(t *testing.T) {
		r := ratelimit.New()
		r.Take("ep", 10, 10, 10, base)
		n, _ := r.Admit("ep", 10, 10, 10, at(500*time.Millisecond))
		require.Equal(t, 5, n)
		r.Take("ep", 10, 10, n, at(500*time.Millisecond)) // empty
		n, notBefore := r.Admit("ep", 1, 10, 10, at(time.Second))
		require.Equal(t, 0, n, "half a second at the new 1/s")
		require.Equal(t, at(1500*time.Millisecond), notBefore)
		n, _ = r.Admit("ep", 1, 10, 10, notBefore)
		require.Equal(t, 1, n)
		r.Take("ep", 1, 10, n, notBefore)
		n, notBefore = r.Admit("ep", 1, 10, 10, at(2*time.Second))
		require.Equal(t, 0, n, "Take applied 1/s")
		require.Equal(t, at(2500*time.Millisecond), notBefore)
	})
	t.Run("burst lowered", func(t *testing.T) {
		r := ratelimit.New()
		r.Take("ep", 10, 10, 10, base)
		n, _ := r.Admit("ep", 10, 3, 10, at(time.Second))
		require.Equal(t, 3, n, "Admit already caps at the new burst")
		r.Take("ep", 10, 3, n, at(time.Second))
		n, notBefore := r.Admit("ep", 10, 3, 10, at(time.Second))
		require.Equal(t, 0, n, "the old burst's tokens are gone")
		require.Equal(t, at(1100*time.Millisecond), notBefore)
		n, _ = r.Admit("ep", 10, 3, 10, at(time.Hour))
		require.Equal(t, 3, n)
	})
	t.Run("burst raised", func(t *testing.T) {
		r := ratelimit.New()
		r.Take("ep", 10, 2, 2, base) // empty
		n, _ := r.Admit("ep", 10, 8, 10, at(500*time.Millisecond))
		require.Equal(t, 5, n, "refilling to the new burst since the last Take")
		n, _ = r.Admit("ep", 10, 2, 10, at(500*time.Millisecond))
		require.Equal(t, 2, n, "nothing was stored: the old burst still holds")
		n, _ = r.Admit("ep", 10, 8, 10, at(time.Hour))
		require.Equal(t, 8, n, "as a fresh limiter would")
		r.Take("ep", 10, 8, 8, at(time.Hour))
		n, _ = r.Admit("ep", 10, 8, 10, at(time.Hour+time.Second))
		require.Equal(t, 8, n, "Take applied burst 8")
	})
	// An endpoint whose rate is raised while its bucket is empty: nothing
	// is admitted, so nothing is taken. notBefore must still be honest (an
	// Admit then admits one), else the scheduler polls at the new rate for
	// nothing until the old, slow rate has produced a token.
	t.Run("limit raised while empty", func(t *testing.T) {
		r := ratelimit.New()
		r.Take("ep", 0.01, 1, 1, base) // one per 100s; empty
		now := at(time.Second)
		for polls := 0; ; polls++ {
			require.Less(t, polls, 10, "the new rate never applies")
			n, notBefore := r.Admit("ep", 100, 1, 1, now)
			if n == 1 {
				require.Less(t, now.Sub(base), 2*time.Second)
				break
			}
			require.True(t, notBefore.After(now))
			now = notBefore
		}
	})
	t.Run("limit lowered while empty", func(t *testing.T) {
		r := ratelimit.New()
		r.Take("ep", 100, 1, 1, base) // one per 10ms; empty
		n, notBefore := r.Admit("ep", 1, 1, 1, at(5*time.Millisecond))
		require.Equal(t, 0, n)
		n, _ = r.Admit("ep", 1, 1, 1, notBefore)
		require.Equal(t, 1, n)
		require.LessOrEqual(t, notBefore, at(time.Second+5*time.Millisecond))
	})
	t.Run("to unlimited and back", func(t *testing.T) {
		r := ratelimit.New()
		r.Take("ep", 1, 1, 1, base)
		n, _ := r.Admit("ep", 0, 1, 50, at(time.Millisecond))
		require.Equal(t, 50, n)
		r.Take("ep", 0, 1, n, at(time.Millisecond))
		n, notBefore := r.Admit("ep", 1, 1, 1, at(2*time.Millisecond))
		require.Equal(t, 0, n, "the limited bucket is as it was")
		require.Equal(t, at(time.Second), notBefore)
	})
}

func TestSweep(t *testing.T) {
	r := ratelimit.New()
	r.Take("a", 1, 1, 1, base)                       // full at 1s
	r.Take("b", 1, 1, 1, at(600*time.Millisecond))   // full at 1.6s
	r.Take("c", 1, 5, 1, base)                       // 4 of 5 left, full at 1s
	r.Take("d", 10, 100, 100, base)                  // full at 10s
	r.Take("e", 0.001, 1, 1, at(-999*time.Second))   // full at 1s
	r.Take("f", 1e6, 1, 1, at(-time.Nanosecond*999)) // full at 1ns
	require.Equal(t, 6, r.Len())

	steps := []struct {
		at   time.Duration
		want int
	}{
		{0, 6},
		{time.Nanosecond, 5},
		{999 * time.Millisecond, 5},
		{time.Second, 2},
		{1599 * time.Millisecond, 2},
		{1600 * time.Millisecond, 1},
		{9999 * time.Millisecond, 1},
		{10 * time.Second, 0},
	}
	cfgs := map[string]struct {
		limit float64
		burst int
	}{"a": {1, 1}, "b": {1, 1}, "c": {1, 5}, "d": {10, 100}, "e": {0.001, 1}, "f": {1e6, 1}}
	type admit struct {
		n int
		t time.Time
	}
	for _, s := range steps {
		// Sweeping changes nothing Admit says.
		before := map[string]admit{}
		for id, c := range cfgs {
			n, nb := r.Admit(id, c.limit, c.burst, 1000, at(s.at))
			before[id] = admit{n, nb}
		}
		r.Sweep(at(s.at))
		require.Equal(t, s.want, r.Len(), "after a sweep at %v", s.at)
		for id, c := range cfgs {
			n, nb := r.Admit(id, c.limit, c.burst, 1000, at(s.at))
			require.Equal(t, before[id], admit{n, nb}, "%s at %v", id, s.at)
		}
	}
}

// TestSweepManyEndpoints takes once from many endpoints and sweeps them as
// they refill. 100k keeps it fast; 1M passes the same way but takes ~6s
// (~18s under -race).
func TestSweepManyEndpoints(t *testing.T) {
	const n = 100_000
	r := ratelimit.New()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("ep-%d", i)
	}
	for i, id := range ids {
		// Taken over one virtual second, 1/s burst 1: each is full one
		// second after its Take.
		r.Take(id, 1, 1, 1, at(time.Duration(i)*time.Second/time.Duration(n)))
	}
	require.Equal(t, n, r.Len())
	r.Sweep(at(time.Second))
	require.Equal(t, n-1, r.Len(), "only the first has refilled")
	r.Sweep(at(1500 * time.Millisecond))
	require.Equal(t, n/2-1, r.Len())
	r.Sweep(at(2 * time.Second))
	require.Equal(t, 0, r.Len())
}

func TestConcurrent(t *testing.T) {
	r := ratelimit.New()
	var wg sync.WaitGroup
	stop := make(chan struct{})

	// Background noise: many goroutines on overlapping endpoints, each with
	// its own virtual clock, plus sweeps.
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewSource(int64(g)))
			now := base
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("ep-%d", rng.Intn(20))
				limit := []float64{0, 0.5, 10, 1000}[rng.Intn(4)]
				burst := 1 + rng.Intn(5)
				n, notBefore := r.Admit(id, limit, burst, 1+rng.Intn(10), now)
				r.Take(id, limit, burst, n, now)
				if !notBefore.IsZero() {
					now = notBefore
				} else {
					now = now.Add(time.Duration(rng.Intn(int(time.Second))))
				}
				if i%50 == 0 {
					r.Sweep(now)
					_ = r.Len()
				}
			}
		}()
	}

	// Meanwhile, callers that serialise their own Admit+Take (as a store
	// transaction does) on one endpoint at one instant get exactly the burst.
	var (
		txn      sync.Mutex
		admitted int
		inner    sync.WaitGroup
	)
	// So slow that no sweep, whatever its now, finds it refilled.
	const limit, burst = 1e-9, 300
	for range 8 {
		inner.Add(1)
		go func() {
			defer inner.Done()
			for range 100 {
				txn.Lock()
				n, _ := r.Admit("shared", limit, burst, 1, base)
				r.Take("shared", limit, burst, n, base)
				admitted += n
				txn.Unlock()
			}
		}()
	}
	inner.Wait()
	close(stop)
	wg.Wait()
	require.Equal(t, burst, admitted)
}
