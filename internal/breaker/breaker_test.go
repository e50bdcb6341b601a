package breaker_test

import (
	"fmt"
	"math/rand"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hooksmith/webhook/internal/breaker"
)

// base is the virtual epoch; tests never sleep, they move now forward.
var base = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return base.Add(d) }

// requireAdmit checks what Admit says for want at now.
func requireAdmit(t *testing.T, b *breaker.Breaker, id string, want int, now time.Time, wantN int, wantNotBefore time.Time) {
	t.Helper()
	n, notBefore := b.Admit(id, want, now)
	require.Equal(t, wantN, n, "admitted at %v", now.Sub(base))
	require.Equal(t, wantNotBefore, notBefore, "notBefore at %v", now.Sub(base))
}

// open fails id threshold times at now and checks that the last opened it.
func open(t *testing.T, b *breaker.Breaker, id string, now time.Time) breaker.Change {
	t.Helper()
	for i := 1; i < b.Threshold; i++ {
		require.Equal(t, breaker.Change{}, b.Record(id, false, now))
	}
	c := b.Record(id, false, now)
	require.True(t, c.Opened)
	require.True(t, b.Open(id))
	return c
}

func TestNew(t *testing.T) {
	b := breaker.New(3, time.Second, time.Minute)
	require.Equal(t, 3, b.Threshold)
	require.Equal(t, time.Second, b.Cooldown)
	require.Equal(t, time.Minute, b.MaxCooldown)
	b = breaker.New(3, time.Minute, time.Second)
	require.Equal(t, time.Minute, b.MaxCooldown, "MaxCooldown is at least Cooldown")
}

func TestDisabled(t *testing.T) {
	for _, threshold := range []int{0, -1, -100} {
		t.Run(fmt.Sprint(threshold), func(t *testing.T) {
			b := breaker.New(threshold, time.Second, time.Minute)
			for i := range 1000 {
				now := at(time.Duration(i) * time.Millisecond)
				require.Equal(t, breaker.Change{}, b.Record("ep", false, now))
				require.False(t, b.Open("ep"))
				requireAdmit(t, b, "ep", 50, now, 50, time.Time{})
				b.Claimed("ep", now)
			}
			require.Equal(t, breaker.Change{}, b.Record("ep", true, at(time.Hour)))
			requireAdmit(t, b, "ep", 7, at(time.Hour), 7, time.Time{})
		})
	}
}

func TestClosedAdmitsAll(t *testing.T) {
	b := breaker.New(3, time.Second, time.Minute)
	for _, want := range []int{0, 1, 5, 1000} {
		requireAdmit(t, b, "never-seen", want, base, want, time.Time{})
	}
	b.Record("ep", false, base)
	b.Record("ep", false, base)
	requireAdmit(t, b, "ep", 9, base, 9, time.Time{})
	require.False(t, b.Open("ep"))
}

func TestOpensAtThreshold(t *testing.T) {
	for _, threshold := range []int{1, 2, 3, 5, 10} {
		t.Run(fmt.Sprint(threshold), func(t *testing.T) {
			const cooldown = 30 * time.Second
			b := breaker.New(threshold, cooldown, 10*time.Minute)
			for i := 1; i < threshold; i++ {
				now := at(time.Duration(i) * time.Second)
				require.Equal(t, breaker.Change{}, b.Record("ep", false, now), "failure %d", i)
				require.False(t, b.Open("ep"))
				requireAdmit(t, b, "ep", 4, now, 4, time.Time{})
			}
			now := at(time.Duration(threshold) * time.Second)
			c := b.Record("ep", false, now)
			require.Equal(t, breaker.Change{Opened: true, Failures: threshold, Until: now.Add(cooldown)}, c)
			require.True(t, b.Open("ep"))
			requireAdmit(t, b, "ep", 4, now, 0, now.Add(cooldown))
			require.False(t, b.Open("other"), "circuits are per endpoint")
			requireAdmit(t, b, "other", 4, now, 4, time.Time{})
		})
	}
}

func TestSuccessResetsRun(t *testing.T) {
	tests := []struct {
		name     string
		outcomes string // f: failure, s: success
		open     bool
	}{
		{"threshold failures", "fff", true},
		{"one short", "ff", false},
		{"success at the end", "fffs", false}, // opened, then closed
		{"success in between", "ffsff", false},
		{"success in between then enough", "ffsfff", true},
		{"alternating", "fsfsfsfsfs", false},
		{"success first", "sfff", true},
		{"successes only", "sss", false},
		{"late run", "ffsffsfff", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := breaker.New(3, time.Second, time.Minute)
			run, opened := 0, false
			for i, o := range tc.outcomes {
				now := at(time.Duration(i) * time.Millisecond)
				c := b.Record("ep", o == 's', now)
				if o == 's' {
					require.Equal(t, breaker.Change{Closed: opened}, c)
					run, opened = 0, false
					continue
				}
				run++
				if run == 3 {
					require.Equal(t, breaker.Change{Opened: true, Failures: 3, Until: now.Add(time.Second)}, c)
					opened = true
				} else {
					require.Equal(t, breaker.Change{}, c, "failure %d of the run", run)
				}
			}
			require.Equal(t, tc.open, b.Open("ep"))
		})
	}
}

func TestProbe(t *testing.T) {
	b := breaker.New(2, 10*time.Second, time.Minute)
	openedAt := at(time.Second)
	c := open(t, b, "ep", openedAt)
	until := openedAt.Add(10 * time.Second)
	require.Equal(t, until, c.Until)

	// Cooling down: nothing, come back at until.
	for _, d := range []time.Duration{0, time.Nanosecond, 5 * time.Second, 10*time.Second - time.Nanosecond} {
		requireAdmit(t, b, "ep", 5, openedAt.Add(d), 0, until)
		// Claimed before the end changes nothing.
		b.Claimed("ep", openedAt.Add(d))
	}
	// Cooled down: exactly one probe, however many are waiting.
	for _, now := range []time.Time{until, until.Add(time.Millisecond), until.Add(time.Hour)} {
		requireAdmit(t, b, "ep", 5, now, 1, time.Time{})
		requireAdmit(t, b, "ep", 1, now, 1, time.Time{})
		requireAdmit(t, b, "ep", 0, now, 0, time.Time{})
	}
	// The probe goes out: nothing more, and no time to come back at, until
	// its outcome.
	probeAt := until.Add(time.Millisecond)
	b.Claimed("ep", probeAt)
	for _, now := range []time.Time{probeAt, probeAt.Add(time.Second), probeAt.Add(24 * time.Hour)} {
		requireAdmit(t, b, "ep", 5, now, 0, time.Time{})
	}
	require.True(t, b.Open("ep"))

	// It succeeds: closed, everything goes.
	c = b.Record("ep", true, probeAt.Add(time.Second))
	require.Equal(t, breaker.Change{Closed: true}, c)
	require.False(t, b.Open("ep"))
	requireAdmit(t, b, "ep", 5, probeAt.Add(time.Second), 5, time.Time{})

	// And the run starts over, with the base cool-down.
	reopenedAt := probeAt.Add(time.Minute)
	require.Equal(t, breaker.Change{}, b.Record("ep", false, reopenedAt))
	c = b.Record("ep", false, reopenedAt)
	require.Equal(t, breaker.Change{Opened: true, Failures: 2, Until: reopenedAt.Add(10 * time.Second)}, c)
}

func TestFailedProbesBackOff(t *testing.T) {
	tests := []struct {
		name                  string
		cooldown, maxCooldown time.Duration
		// wantCooldowns are the cool-downs after the first opening and
		// after each failed probe.
		wantCooldowns []time.Duration
	}{
		{
			name: "doubles up to max", cooldown: time.Second, maxCooldown: 10 * time.Second,
			wantCooldowns: []time.Duration{1, 2, 4, 8, 10, 10, 10},
		},
		{
			name: "max a power of two away", cooldown: 5 * time.Second, maxCooldown: 40 * time.Second,
			wantCooldowns: []time.Duration{5, 10, 20, 40, 40},
		},
		{
			name: "max equals cooldown", cooldown: 3 * time.Second, maxCooldown: 3 * time.Second,
			wantCooldowns: []time.Duration{3, 3, 3, 3},
		},
		{
			name: "max below cooldown", cooldown: 3 * time.Second, maxCooldown: time.Second,
			wantCooldowns: []time.Duration{3, 3, 3},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			const threshold = 3
			b := breaker.New(threshold, tc.cooldown, tc.maxCooldown)
			now := base
			c := open(t, b, "ep", now)
			require.Equal(t, now.Add(tc.wantCooldowns[0]*time.Second), c.Until)
			for i, cd := range tc.wantCooldowns[1:] {
				// Wait out the cool-down, probe, and fail a bit later.
				requireAdmit(t, b, "ep", 3, c.Until.Add(-time.Nanosecond), 0, c.Until)
				now = c.Until.Add(time.Duration(i) * time.Millisecond)
				requireAdmit(t, b, "ep", 3, now, 1, time.Time{})
				b.Claimed("ep", now)
				requireAdmit(t, b, "ep", 3, now, 0, time.Time{})
				now = now.Add(250 * time.Millisecond)
				c = b.Record("ep", false, now)
				require.Equal(t, breaker.Change{
					Opened: true, Failures: threshold + i + 1, Until: now.Add(cd * time.Second),
				}, c, "probe %d", i+1)
				require.True(t, b.Open("ep"))
				requireAdmit(t, b, "ep", 3, now, 0, c.Until)
			}
		})
	}
}

func TestReleasedFreesProbe(t *testing.T) {
	b := breaker.New(1, time.Second, time.Minute)
	open(t, b, "ep", base)
	now := at(time.Second)
	b.Claimed("ep", now)
	requireAdmit(t, b, "ep", 2, now, 0, time.Time{})
	// The probe went back unattempted: another may go.
	b.Released("ep")
	requireAdmit(t, b, "ep", 2, now, 1, time.Time{})
	require.True(t, b.Open("ep"))
	b.Claimed("ep", now)
	requireAdmit(t, b, "ep", 2, now, 0, time.Time{})
	// This one fails: the failure counts as the probe's.
	c := b.Record("ep", false, at(2*time.Second))
	require.Equal(t, breaker.Change{Opened: true, Failures: 2, Until: at(4 * time.Second)}, c)

	// Released on an unknown endpoint or with no probe out does nothing.
	b.Released("unknown")
	requireAdmit(t, b, "unknown", 3, now, 3, time.Time{})
	b.Released("ep")
	requireAdmit(t, b, "ep", 3, at(3*time.Second), 0, at(4*time.Second))
}

func TestClaimedWithoutCircuit(t *testing.T) {
	b := breaker.New(2, time.Second, time.Minute)
	b.Claimed("ep", base) // unknown: nothing
	requireAdmit(t, b, "ep", 3, base, 3, time.Time{})
	b.Record("ep", false, base)
	b.Claimed("ep", base) // closed: nothing
	requireAdmit(t, b, "ep", 3, base, 3, time.Time{})
	// Still one failure short: a probe was not recorded.
	require.Equal(t, breaker.Change{Opened: true, Failures: 2, Until: at(time.Second)}, b.Record("ep", false, base))
}

// Messages sent before the circuit opened fail too, later. Their failures
// neither extend the cool-down nor count as a probe's.
func TestStaleFailures(t *testing.T) {
	b := breaker.New(3, 10*time.Second, time.Minute)
	c := open(t, b, "ep", base)
	until := c.Until
	for i, d := range []time.Duration{0, time.Second, 9 * time.Second, 10 * time.Second, time.Minute} {
		// After until too, as long as no probe was claimed.
		require.Equal(t, breaker.Change{}, b.Record("ep", false, at(d)), "stale failure %d", i)
		require.True(t, b.Open("ep"))
		if at(d).Before(until) {
			requireAdmit(t, b, "ep", 4, at(d), 0, until)
		} else {
			requireAdmit(t, b, "ep", 4, at(d), 1, time.Time{})
		}
	}
	requireAdmit(t, b, "ep", 4, until, 1, time.Time{})

	// The same after a failed probe.
	b.Claimed("ep", at(time.Minute))
	c = b.Record("ep", false, at(time.Minute))
	require.True(t, c.Opened)
	require.Equal(t, at(time.Minute+20*time.Second), c.Until)
	require.Equal(t, 9, c.Failures, "3 to open, 5 stale, the probe")
	for _, d := range []time.Duration{0, 5 * time.Second, 30 * time.Second} {
		require.Equal(t, breaker.Change{}, b.Record("ep", false, at(time.Minute+d)))
	}
	requireAdmit(t, b, "ep", 4, at(time.Minute+20*time.Second-1), 0, c.Until)
	requireAdmit(t, b, "ep", 4, c.Until, 1, time.Time{})
}

// A success proves the endpoint works, whether it was the probe's or that
// of a message sent before the circuit opened.
func TestAnySuccessCloses(t *testing.T) {
	b := breaker.New(2, time.Minute, time.Hour)
	open(t, b, "ep", base)
	require.Equal(t, breaker.Change{Closed: true}, b.Record("ep", true, at(time.Second)))
	require.False(t, b.Open("ep"))
	requireAdmit(t, b, "ep", 8, at(time.Second), 8, time.Time{})
	// A second success has nothing to close.
	require.Equal(t, breaker.Change{}, b.Record("ep", true, at(2*time.Second)))
}

func TestSweep(t *testing.T) {
	const idle = time.Minute
	t.Run("forgets closed circuits idle longer", func(t *testing.T) {
		tests := []struct {
			name    string
			sweepAt time.Duration // after the last failure
			kept    bool
		}{
			{"just failed", 0, true},
			{"idle less", idle - time.Nanosecond, true},
			{"idle exactly", idle, true},
			{"idle longer", idle + time.Nanosecond, false},
			{"long ago", 24 * time.Hour, false},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				b := breaker.New(3, time.Second, time.Minute)
				b.Record("ep", false, base)
				b.Record("ep", false, at(time.Second)) // the last failure
				now := at(time.Second + tc.sweepAt)
				b.Sweep(now, idle)
				// A forgotten run starts over: one more failure opens
				// only a kept circuit.
				c := b.Record("ep", false, now)
				require.Equal(t, tc.kept, c.Opened)
				require.Equal(t, tc.kept, b.Open("ep"))
			})
		}
	})
	t.Run("keeps open circuits", func(t *testing.T) {
		b := breaker.New(1, time.Second, time.Minute)
		open(t, b, "unclaimed", base)
		open(t, b, "probing", base)
		b.Claimed("probing", at(time.Second))
		long := breaker.New(1, 48*time.Hour, 48*time.Hour)
		open(t, long, "cooling", base)
		for _, d := range []time.Duration{idle + 1, time.Hour, 24 * time.Hour} {
			b.Sweep(at(d), idle)
			long.Sweep(at(d), idle)
			require.True(t, b.Open("unclaimed"))
			require.True(t, b.Open("probing"))
			require.True(t, long.Open("cooling"))
			requireAdmit(t, b, "unclaimed", 5, at(d), 1, time.Time{})
			requireAdmit(t, b, "probing", 5, at(d), 0, time.Time{})
			requireAdmit(t, long, "cooling", 5, at(d), 0, at(48*time.Hour))
		}
	})
	t.Run("only the idle ones", func(t *testing.T) {
		b := breaker.New(2, time.Second, time.Minute)
		b.Record("old", false, base)
		b.Record("recent", false, at(time.Minute))
		b.Sweep(at(time.Minute+30*time.Second), idle)
		require.False(t, b.Record("old", false, at(2*time.Minute)).Opened, "forgotten")
		require.True(t, b.Record("recent", false, at(2*time.Minute)).Opened, "kept")
	})
	t.Run("a closed circuit's run", func(t *testing.T) {
		// Opened, closed by a success: nothing is left to sweep, and the
		// next run starts from zero either way.
		b := breaker.New(2, time.Second, time.Minute)
		open(t, b, "ep", base)
		b.Record("ep", true, at(time.Second))
		b.Sweep(at(time.Hour), idle)
		require.False(t, b.Record("ep", false, at(time.Hour)).Opened)
		require.True(t, b.Record("ep", false, at(time.Hour)).Opened)
	})
}

// Claimed endpoints whose messages come back in any order from several
// workers, with sweeps: nothing races (run with -race), and each endpoint
// ends closed after a success.
func TestConcurrent(t *testing.T) {
	b := breaker.New(3, time.Millisecond, 10*time.Millisecond)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewSource(int64(g)))
			now := base
			for i := range 5000 {
				id := fmt.Sprintf("ep-%d", rng.Intn(10))
				now = now.Add(time.Duration(rng.Intn(int(time.Millisecond))))
				if n, _ := b.Admit(id, 1+rng.Intn(5), now); n > 0 {
					b.Claimed(id, now)
				}
				switch rng.Intn(10) {
				case 0:
					b.Released(id)
				case 1:
					b.Record(id, true, now)
				default:
					b.Record(id, false, now)
				}
				_ = b.Open(id)
				if i%100 == 0 {
					b.Sweep(now, time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	for i := range 10 {
		id := fmt.Sprintf("ep-%d", i)
		b.Record(id, true, at(time.Hour))
		require.False(t, b.Open(id))
		requireAdmit(t, b, id, 3, at(time.Hour), 3, time.Time{})
	}
}

func TestTrackedFromFirstFailureToSuccess(t *testing.T) {
	b := breaker.New(3, time.Minute, time.Hour)
	require.False(t, b.Tracked("ep"))
	b.Record("ep", true, at(0))
	require.False(t, b.Tracked("ep"), "a success leaves nothing to track")
	b.Record("ep", false, at(time.Second))
	require.True(t, b.Tracked("ep"), "failing, circuit still closed")
	b.Record("ep", false, at(2*time.Second))
	require.True(t, b.Record("ep", false, at(3*time.Second)).Opened)
	require.True(t, b.Tracked("ep"), "open")
	b.Record("ep", true, at(time.Hour))
	require.False(t, b.Tracked("ep"), "closed by a success")
	require.False(t, b.Tracked("other"))
}

// Claimed says which claim is the probe: only one admitted after the
// cool-down, once. Messages admitted while the circuit was closed are no
// probe, though it has opened by the time their claim is recorded.
func TestClaimedReportsTheProbe(t *testing.T) {
	b := breaker.New(1, time.Second, time.Minute)
	require.False(t, b.Claimed("ep", base), "unknown endpoint")
	admittedAt := base
	requireAdmit(t, b, "ep", 2, admittedAt, 2, time.Time{})
	open(t, b, "ep", at(time.Millisecond)) // a failure while the claim commits
	require.False(t, b.Claimed("ep", admittedAt), "admitted while closed")
	requireAdmit(t, b, "ep", 2, at(time.Millisecond), 0, at(time.Second+time.Millisecond))

	probeAt := at(2 * time.Second)
	requireAdmit(t, b, "ep", 2, probeAt, 1, time.Time{})
	require.True(t, b.Claimed("ep", probeAt), "admitted after the cool-down")
	require.False(t, b.Claimed("ep", probeAt), "the probe is already out")
	b.Released("ep")
	require.True(t, b.Claimed("ep", probeAt), "released: the next is the probe")
}
