package webhook_test

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hooksmith/webhook"
)

// Endpoint health in virtual time: the circuit breaker, auto-disabling,
// 410 Gone, and the Hooks that report them. Every test runs in a synctest
// bubble on the vrig of vclock_test.go.

// phRec records every hook call, in the order the hook goroutine made them.
type phRec struct {
	mu        sync.Mutex
	attempts  []webhook.AttemptInfo
	exhausted []webhook.MessageInfo
	disabled  []webhook.EndpointInfo
	opened    []webhook.CircuitInfo
	closed    []webhook.CircuitInfo
	order     []string // "attempt <msg> <n>", "exhausted <msg>", "disabled <ep>", "opened <n>", "closed <n>"
}

func (h *phRec) note(kind string) { h.order = append(h.order, kind) }

func (h *phRec) hooks() *webhook.Hooks {
	return &webhook.Hooks{
		AttemptFinished: func(a webhook.AttemptInfo) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.attempts = append(h.attempts, a)
			h.note("attempt " + a.MessageID + " " + strconv.Itoa(a.Attempt))
		},
		MessageExhausted: func(m webhook.MessageInfo) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.exhausted = append(h.exhausted, m)
			h.note("exhausted " + m.MessageID)
		},
		EndpointDisabled: func(e webhook.EndpointInfo) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.disabled = append(h.disabled, e)
			h.note("disabled " + e.EndpointID)
		},
		CircuitOpened: func(c webhook.CircuitInfo) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.opened = append(h.opened, c)
			h.note("opened " + strconv.Itoa(len(h.opened)))
		},
		CircuitClosed: func(c webhook.CircuitInfo) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.closed = append(h.closed, c)
			h.note("closed " + strconv.Itoa(len(h.closed)))
		},
	}
}

// phSnap is a copy of what phRec holds.
type phSnap struct {
	attempts  []webhook.AttemptInfo
	exhausted []webhook.MessageInfo
	disabled  []webhook.EndpointInfo
	opened    []webhook.CircuitInfo
	closed    []webhook.CircuitInfo
	order     []string
}

// snap waits for the bubble to settle (so queued hook calls have run) and
// copies the record.
func (h *phRec) snap() phSnap {
	synctest.Wait()
	h.mu.Lock()
	defer h.mu.Unlock()
	return phSnap{
		attempts: slices.Clone(h.attempts), exhausted: slices.Clone(h.exhausted),
		disabled: slices.Clone(h.disabled), opened: slices.Clone(h.opened),
		closed: slices.Clone(h.closed), order: slices.Clone(h.order),
	}
}

// attemptsOf returns the AttemptFinished calls of one message, in order.
func (s phSnap) attemptsOf(msgID string) []webhook.AttemptInfo {
	var out []webhook.AttemptInfo
	for _, a := range s.attempts {
		if a.MessageID == msgID {
			out = append(out, a)
		}
	}
	return out
}

// phWait advances virtual time by step until cond holds, and fails once
// limit has passed. waitFor's 10 ms step is too fine for hours.
func phWait(t *testing.T, limit, step time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		synctest.Wait()
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s of virtual time: %s", limit, what)
		}
		time.Sleep(step)
	}
}

// phSleepUntil advances virtual time to at (if it is still ahead) and lets
// the bubble settle.
func phSleepUntil(at time.Time) {
	time.Sleep(time.Until(at))
	synctest.Wait()
}

// phRepeat is a retry schedule: 0, then n delays of d.
func phRepeat(n int, d time.Duration) []time.Duration {
	return append([]time.Duration{0}, slices.Repeat([]time.Duration{d}, n)...)
}

func phEndpoint(t *testing.T, r *vrig, tenant, id string) *webhook.Endpoint {
	t.Helper()
	ep, err := r.d.Tenant(tenant).GetEndpoint(context.Background(), id)
	require.NoError(t, err)
	return ep
}

func phExhausted(t *testing.T, r *vrig, tenant, endpointID string) []string {
	t.Helper()
	page, err := r.d.Tenant(tenant).ListExhaustedMessages(context.Background(), webhook.ExhaustedQuery{EndpointID: endpointID})
	require.NoError(t, err)
	var ids []string
	for _, m := range page.Items {
		ids = append(ids, m.ID)
	}
	return ids
}

// phCountByID counts the receiver's requests per webhook-id.
func phCountByID(got []vdelivery) map[string]int {
	n := map[string]int{}
	for _, d := range got {
		n[d.ID]++
	}
	return n
}

// phLogs keeps the messages of the records logged at or above a level.
type phLogs struct {
	mu   *sync.Mutex
	msgs *[]string
}

func newPhLogs() phLogs { return phLogs{mu: &sync.Mutex{}, msgs: new([]string)} }

func (l phLogs) Enabled(_ context.Context, lv slog.Level) bool { return lv >= slog.LevelWarn }
func (l phLogs) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	*l.msgs = append(*l.msgs, r.Message)
	return nil
}
func (l phLogs) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l phLogs) WithGroup(string) slog.Handler      { return l }

func (l phLogs) count(substr string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range *l.msgs {
		if strings.Contains(m, substr) {
			n++
		}
	}
	return n
}

// phBreakerRig is a rig whose breaker opens after 3 failures for 10 s,
// with 20 retries a second apart and hooks recorded. Close it.
func phBreakerRig(t *testing.T) (*vrig, *phRec) {
	rec := &phRec{}
	r := newVRig(t, webhook.Config{
		CircuitBreakerThreshold: 3, CircuitBreakerCooldown: 10 * time.Second,
		RetrySchedule: phRepeat(20, time.Second), Hooks: rec.hooks(),
	}, true)
	registerTypes(t, r.d, "t.e")
	return r, rec
}

// Three consecutive failures open the circuit: nothing goes out for the
// 10 s cool-down, then one probe; it fails, so the circuit opens for 20 s;
// the next probe succeeds and closes it, and the backlog drains. The
// pauses spend no attempts.
func TestBreaker_opens_probes_doubles_its_pause_and_closes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, rec := phBreakerRig(t)
		defer r.close()
		r.respond("/cb", func(_ *http.Request, n int) int {
			if n <= 4 {
				return http.StatusInternalServerError
			}
			return http.StatusOK
		})
		// One at a time, so the third failure opens the circuit before a
		// fourth request can leave.
		ep := r.endpoint("acme", "/cb", webhook.EndpointParams{MaxInFlight: 1})
		var ids []string
		for i := range 10 {
			ids = append(ids, r.publish("acme", strconv.Itoa(i))...)
		}
		require.Len(t, ids, 10)
		eventOf := map[string]string{}
		for _, id := range ids {
			eventOf[id] = r.message("acme", id).EventID
		}
		attemptsNow := func() (total, untried int) {
			for _, id := range ids {
				m := r.message("acme", id)
				require.False(t, m.Status.Final(), "message %s is %s during a pause", id, m.Status)
				total += m.Attempts
				if m.Attempts == 0 {
					untried++
					require.Equal(t, webhook.StatusPending, m.Status)
				}
			}
			return total, untried
		}

		// Three failures, then the circuit opens.
		r.waitFor(5*time.Second, "three requests did not arrive", func() bool { return len(r.deliveries("/cb")) >= 3 })
		got := r.deliveries("/cb")
		require.Len(t, got, 3)
		require.Less(t, got[2].At.Sub(got[0].At), 800*time.Millisecond,
			"the three failures are three different messages, before any retry is due")
		require.Len(t, phCountByID(got), 3, "three different messages")
		s := rec.snap()
		require.Len(t, s.opened, 1, "CircuitOpened after the third failure")
		require.Equal(t, ep.ID, s.opened[0].EndpointID)
		require.Equal(t, "acme", s.opened[0].TenantID)
		require.Equal(t, 3, s.opened[0].Failures)
		require.WithinDuration(t, got[2].At.Add(10*time.Second), s.opened[0].Until, 100*time.Millisecond,
			"the circuit opens for the 10 s cool-down from the third failure")
		require.Empty(t, s.closed)

		// Mid-pause: nothing more went out, and waiting cost no attempts.
		phSleepUntil(got[2].At.Add(9 * time.Second))
		require.Len(t, r.deliveries("/cb"), 3, "no request while the circuit is open")
		total, untried := attemptsNow()
		require.Equal(t, 3, total, "the pause spends no attempts")
		require.Equal(t, 7, untried, "seven messages never tried")

		// One probe at the end of the cool-down; it fails.
		r.waitFor(5*time.Second, "no probe after the cool-down", func() bool { return len(r.deliveries("/cb")) >= 4 })
		got = r.deliveries("/cb")
		require.Len(t, got, 4, "a single probe")
		pause1 := got[3].At.Sub(got[2].At)
		require.GreaterOrEqual(t, pause1, 10*time.Second, "the probe waited for the cool-down")
		require.Less(t, pause1, 11*time.Second, "the probe went out when the cool-down ended")
		require.False(t, got[3].At.Before(s.opened[0].Until), "not before CircuitInfo.Until")
		s = rec.snap()
		require.Len(t, s.opened, 2, "the failed probe opened the circuit again")
		require.Equal(t, 4, s.opened[1].Failures)
		require.WithinDuration(t, got[3].At.Add(20*time.Second), s.opened[1].Until, 100*time.Millisecond,
			"the second pause is twice the cool-down")
		require.Empty(t, s.closed)

		phSleepUntil(got[3].At.Add(19 * time.Second))
		require.Len(t, r.deliveries("/cb"), 4, "no request during the doubled pause")
		total, untried = attemptsNow()
		require.Equal(t, 4, total, "the second pause spends no attempts either")
		require.Equal(t, 6, untried)

		// The next probe succeeds, the circuit closes, the backlog drains.
		r.waitFor(5*time.Second, "no second probe", func() bool { return len(r.deliveries("/cb")) >= 5 })
		got = r.deliveries("/cb")
		pause2 := got[4].At.Sub(got[3].At)
		require.GreaterOrEqual(t, pause2, 20*time.Second)
		require.Less(t, pause2, 21*time.Second)
		r.waitFor(10*time.Second, "the backlog was not delivered after the circuit closed", func() bool {
			for _, id := range ids {
				if r.message("acme", id).Status != webhook.StatusSucceeded {
					return false
				}
			}
			return true
		})
		got = r.deliveries("/cb")
		require.Len(t, got, 14, "4 failures + 10 successes")
		require.Less(t, got[13].At.Sub(got[4].At), 2*time.Second, "the backlog drained at once after the probe")
		byID := phCountByID(got)
		for _, id := range ids {
			m := r.message("acme", id)
			require.Equal(t, webhook.StatusSucceeded, m.Status)
			require.Equal(t, byID[eventOf[id]], m.Attempts, "message %s: attempts = requests received", id)
		}

		s = rec.snap()
		require.Len(t, s.opened, 2)
		require.Len(t, s.closed, 1, "CircuitClosed once, after the successful probe")
		require.Equal(t, webhook.CircuitInfo{TenantID: "acme", EndpointID: ep.ID}, s.closed[0])
		require.Less(t, slices.Index(s.order, "opened 2"), slices.Index(s.order, "closed 1"))
		// Attempt numbers run 1, 2, ... per message: no number was burned
		// while the message waited behind the open circuit.
		require.Len(t, s.attempts, 14)
		for _, id := range ids {
			as := s.attemptsOf(id)
			require.Len(t, as, byID[eventOf[id]])
			for i, a := range as {
				require.Equal(t, i+1, a.Attempt, "message %s", id)
			}
		}
		t.Logf("virtual time: 3 failures at +%s, probe 1 after %s, probe 2 after %s, last delivery at +%s",
			got[2].At.Sub(got[0].At), pause1, pause2, got[13].At.Sub(got[0].At))
	})
}

// However many messages wait and however high the endpoint's cap, a
// circuit whose cool-down ended lets exactly one probe through; while it is
// out, and during the doubled pause after it fails, nothing else goes.
func TestBreaker_lets_a_single_probe_through_a_full_backlog(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, rec := phBreakerRig(t)
		defer r.close()
		var failing sync.Map
		failing.Store("on", true)
		r.respond("/cb", func(*http.Request, int) int {
			if on, _ := failing.Load("on"); on.(bool) {
				return http.StatusInternalServerError
			}
			return http.StatusOK
		})
		r.endpoint("acme", "/cb", webhook.EndpointParams{MaxInFlight: 8})
		var ids []string
		for i := range 8 {
			ids = append(ids, r.publish("acme", strconv.Itoa(i))...)
		}
		r.waitFor(5*time.Second, "the circuit did not open", func() bool { return len(rec.snap().opened) == 1 })
		// Requests already leased when the circuit opened still went out.
		before := len(r.deliveries("/cb"))
		require.GreaterOrEqual(t, before, 3)
		until := rec.snap().opened[0].Until

		phSleepUntil(until.Add(-time.Millisecond))
		require.Len(t, r.deliveries("/cb"), before, "nothing during the cool-down")
		phSleepUntil(until.Add(5 * time.Second))
		got := r.deliveries("/cb")
		require.Len(t, got, before+1, "one probe, though 8 messages are due and the cap is 8")
		require.WithinDuration(t, until, got[before].At, 100*time.Millisecond)
		s := rec.snap()
		require.Len(t, s.opened, 2, "the failed probe opened the circuit again")
		require.WithinDuration(t, got[before].At.Add(20*time.Second), s.opened[1].Until, 100*time.Millisecond)

		failing.Store("on", false)
		phSleepUntil(s.opened[1].Until.Add(-time.Millisecond))
		require.Len(t, r.deliveries("/cb"), before+1, "nothing during the doubled pause")
		r.waitFor(5*time.Second, "the backlog did not drain", func() bool {
			for _, id := range ids {
				if r.message("acme", id).Status != webhook.StatusSucceeded {
					return false
				}
			}
			return true
		})
		got = r.deliveries("/cb")
		require.Len(t, got, before+1+8, "then the probe and the 7 others succeed")
		require.Len(t, rec.snap().closed, 1)
		t.Logf("virtual time: %d requests before the circuit opened; probe at +%s; backlog drained at +%s",
			before, got[before].At.Sub(got[0].At), got[len(got)-1].At.Sub(got[0].At))
	})
}

// A negative threshold disables the breaker: a failing endpoint keeps
// getting its retries on schedule, well past the default threshold of 10.
func TestBreaker_negative_threshold_never_pauses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &phRec{}
		r := newVRig(t, webhook.Config{
			CircuitBreakerThreshold: -1, CircuitBreakerCooldown: 10 * time.Second,
			RetrySchedule: phRepeat(4, time.Second), Hooks: rec.hooks(),
		}, true)
		defer r.close()
		registerTypes(t, r.d, "t.e")
		r.respond("/down", func(*http.Request, int) int { return http.StatusInternalServerError })
		r.endpoint("acme", "/down", webhook.EndpointParams{MaxInFlight: 1})
		var ids []string
		for i := range 5 {
			ids = append(ids, r.publish("acme", strconv.Itoa(i))...)
		}
		r.waitFor(30*time.Second, "the messages were not exhausted", func() bool {
			for _, id := range ids {
				if r.message("acme", id).Status != webhook.StatusExhausted {
					return false
				}
			}
			return true
		})
		got := r.deliveries("/down")
		require.Len(t, got, 25, "5 messages x 5 attempts")
		var longest time.Duration
		for i := 1; i < len(got); i++ {
			longest = max(longest, got[i].At.Sub(got[i-1].At))
		}
		require.LessOrEqual(t, longest, 1300*time.Millisecond, "no pause beyond the 1 s ±20%% retry delay")
		for _, id := range ids {
			require.Equal(t, 5, r.message("acme", id).Attempts)
		}
		s := rec.snap()
		require.Empty(t, s.opened, "no circuit opened")
		require.Len(t, s.attempts, 25)
		require.Len(t, s.exhausted, 5)
		t.Logf("25 failed requests over %s of virtual time, longest gap %s", got[24].At.Sub(got[0].At), longest)
	})
}

// An endpoint whose every attempt fails for AutoDisableAfter is disabled
// at the first failure past the window; its message is held, not
// exhausted. Re-enabling resumes it and starts a new window.
func TestAutoDisable_after_an_hour_of_failures_holds_the_message_until_reenabled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &phRec{}
		r := newVRig(t, webhook.Config{
			AutoDisableAfter: time.Hour, CircuitBreakerThreshold: -1,
			RetrySchedule: phRepeat(15, 10*time.Minute), Hooks: rec.hooks(),
		}, true)
		defer r.close()
		registerTypes(t, r.d, "t.e")
		var status sync.Map
		status.Store("code", http.StatusInternalServerError)
		r.respond("/down", func(*http.Request, int) int {
			v, _ := status.Load("code")
			return v.(int)
		})
		ep := r.endpoint("acme", "/down", webhook.EndpointParams{})
		id := r.publish("acme", `{}`)[0]
		tn := r.d.Tenant("acme")

		r.waitFor(time.Second, "no first attempt", func() bool { return len(r.deliveries("/down")) == 1 })
		first := r.deliveries("/down")[0].At

		// At 50 minutes several attempts failed, none an hour after the first.
		phSleepUntil(first.Add(50 * time.Minute))
		early := r.deliveries("/down")
		require.GreaterOrEqual(t, len(early), 5, "attempts every 10 min ±20%%")
		require.False(t, phEndpoint(t, r, "acme", ep.ID).Disabled, "not disabled before the window ends")
		require.Empty(t, rec.snap().disabled)

		phWait(t, time.Hour, time.Second, "the endpoint was not disabled", func() bool {
			return phEndpoint(t, r, "acme", ep.ID).Disabled
		})
		got := r.deliveries("/down")
		last := got[len(got)-1]
		require.GreaterOrEqual(t, last.At.Sub(first), time.Hour, "disabled by an attempt at least 1 h after the first failure")
		require.Less(t, got[len(got)-2].At.Sub(first), time.Hour, "and by the first such attempt")
		disabled := phEndpoint(t, r, "acme", ep.ID)
		require.Contains(t, disabled.DisabledReason, "no successful delivery since")
		require.Contains(t, disabled.DisabledReason, first.UTC().Format(time.RFC3339))
		require.WithinDuration(t, last.At, disabled.UpdatedAt, time.Second, "disabled at that attempt")
		s := rec.snap()
		require.Equal(t, []webhook.EndpointInfo{{TenantID: "acme", EndpointID: ep.ID, Reason: disabled.DisabledReason}}, s.disabled)
		t.Logf("virtual time: disabled at attempt %d, +%s after the first failure; reason %q",
			len(got), last.At.Sub(first), disabled.DisabledReason)

		// Held for hours: no request, the message stays live.
		time.Sleep(6 * time.Hour)
		synctest.Wait()
		require.Len(t, r.deliveries("/down"), len(got), "no request after the endpoint was disabled")
		m := r.message("acme", id)
		require.Equal(t, webhook.StatusFailing, m.Status, "held, not exhausted or cancelled")
		require.Equal(t, len(got), m.Attempts)
		require.Empty(t, phExhausted(t, r, "acme", ""))
		require.Empty(t, rec.snap().exhausted)

		// Re-enabled while the receiver still fails: the window starts over,
		// so a failure 7 h after the first one does not disable it again.
		enabledAt := time.Now()
		require.NoError(t, tn.EnableEndpoint(context.Background(), ep.ID))
		r.waitFor(time.Second, "the held message was not retried on re-enabling", func() bool {
			return len(r.deliveries("/down")) == len(got)+1
		})
		after := r.deliveries("/down")[len(got)]
		require.Less(t, after.At.Sub(enabledAt), time.Second, "retried at once: its retry was long overdue")
		synctest.Wait()
		require.False(t, phEndpoint(t, r, "acme", ep.ID).Disabled, "one failure after re-enabling does not disable it")
		r.waitFor(15*time.Minute, "no second retry after re-enabling", func() bool {
			return len(r.deliveries("/down")) == len(got)+2
		})
		synctest.Wait()
		require.False(t, phEndpoint(t, r, "acme", ep.ID).Disabled, "nor a second, minutes later")
		require.Len(t, rec.snap().disabled, 1)

		// The receiver recovers: the message is delivered and succeeds.
		status.Store("code", http.StatusOK)
		r.waitFor(15*time.Minute, "the message did not succeed", func() bool {
			return r.message("acme", id).Status == webhook.StatusSucceeded
		})
		final := r.deliveries("/down")
		require.Len(t, final, len(got)+3)
		m = r.message("acme", id)
		require.Equal(t, len(final), m.Attempts)
		require.Empty(t, phEndpoint(t, r, "acme", ep.ID).DisabledReason)
		require.Len(t, rec.snap().disabled, 1)
	})
}

// Failures alternating with successes for three times the window never
// disable the endpoint: each success ends the failing run.
func TestAutoDisable_never_while_successes_interleave(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &phRec{}
		r := newVRig(t, webhook.Config{
			AutoDisableAfter: time.Hour, CircuitBreakerThreshold: -1,
			RetrySchedule: phRepeat(5, 10*time.Minute), Hooks: rec.hooks(),
		}, true)
		defer r.close()
		registerTypes(t, r.d, "t.e")
		r.respond("/flaky", func(_ *http.Request, n int) int {
			if n%2 == 1 {
				return http.StatusInternalServerError
			}
			return http.StatusOK
		})
		ep := r.endpoint("acme", "/flaky", webhook.EndpointParams{})
		var ids []string
		for i := range 11 { // one every 20 min: 3 h 40 min of traffic
			ids = append(ids, r.publish("acme", strconv.Itoa(i))...)
			time.Sleep(20 * time.Minute)
			synctest.Wait()
			require.False(t, phEndpoint(t, r, "acme", ep.ID).Disabled, "disabled after message %d", i)
		}
		r.waitFor(time.Hour, "not all succeeded", func() bool {
			for _, id := range ids {
				if r.message("acme", id).Status != webhook.StatusSucceeded {
					return false
				}
			}
			return true
		})
		got := r.deliveries("/flaky")
		require.Len(t, got, 22, "each message: one failure, then one success")
		for i := 1; i < len(got); i += 2 {
			require.Equal(t, got[i-1].ID, got[i].ID, "failure and success alternate, message by message")
		}
		span := got[20].At.Sub(got[0].At)
		require.GreaterOrEqual(t, span, 3*time.Hour, "failures over 3x the window")
		ep = phEndpoint(t, r, "acme", ep.ID)
		require.False(t, ep.Disabled)
		require.Empty(t, ep.DisabledReason)
		require.Empty(t, rec.snap().disabled)
		t.Logf("virtual time: last failure %s after the first; endpoint still enabled", span)
	})
}

// AttemptFinished reports every attempt with its number, status code and
// what follows; MessageExhausted follows the last attempt of a dead
// letter, which ListExhaustedMessages lists, filtered by endpoint.
func TestHooks_report_every_attempt_and_the_exhausted_message(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &phRec{}
		r := newVRig(t, webhook.Config{
			CircuitBreakerThreshold: -1, RetrySchedule: []time.Duration{0, time.Second, time.Second},
			Hooks: rec.hooks(),
		}, true)
		defer r.close()
		registerTypes(t, r.d, "t.e")
		flakyCodes := []int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusOK}
		r.respond("/flaky", func(_ *http.Request, n int) int { return flakyCodes[min(n, 3)-1] })
		r.respond("/dead", func(*http.Request, int) int { return http.StatusInternalServerError })
		flaky := r.endpoint("acme", "/flaky", webhook.EndpointParams{})
		dead := r.endpoint("acme", "/dead", webhook.EndpointParams{})
		res, err := r.d.Tenant("acme").Publish(context.Background(), webhook.Event{Type: "t.e", Payload: []byte(`{}`)})
		require.NoError(t, err)
		require.Len(t, res.Messages, 2)
		msgOf := map[string]string{}
		for _, m := range res.Messages {
			msgOf[m.EndpointID] = m.MessageID
		}
		r.waitFor(10*time.Second, "the messages did not finish", func() bool {
			return r.message("acme", msgOf[flaky.ID]).Status == webhook.StatusSucceeded &&
				r.message("acme", msgOf[dead.ID]).Status == webhook.StatusExhausted
		})
		s := rec.snap()
		require.Len(t, s.attempts, 6)
		for _, tc := range []struct {
			ep    *webhook.Endpoint
			path  string
			codes []int
			next  []webhook.MessageStatus
		}{
			{flaky, "/flaky", flakyCodes, []webhook.MessageStatus{webhook.StatusFailing, webhook.StatusFailing, webhook.StatusSucceeded}},
			{dead, "/dead", []int{500, 500, 500}, []webhook.MessageStatus{webhook.StatusFailing, webhook.StatusFailing, webhook.StatusExhausted}},
		} {
			msgID := msgOf[tc.ep.ID]
			got := r.deliveries(tc.path)
			require.Len(t, got, 3, tc.path)
			as := s.attemptsOf(msgID)
			require.Len(t, as, 3, tc.path)
			for i, a := range as {
				require.Equal(t, "acme", a.TenantID)
				require.Equal(t, tc.ep.ID, a.EndpointID)
				require.Equal(t, msgID, a.MessageID)
				require.Equal(t, res.EventID, a.EventID)
				require.Equal(t, i+1, a.Attempt, "%s attempt %d", tc.path, i+1)
				require.Equal(t, tc.codes[i], a.StatusCode, "%s attempt %d", tc.path, i+1)
				require.Equal(t, tc.next[i], a.Next, "%s attempt %d", tc.path, i+1)
				if a.Next == webhook.StatusFailing {
					require.Equal(t, webhook.ErrorHTTPStatus, a.ErrorClass)
					// The next request goes out when the hook said it would.
					require.False(t, got[i+1].At.Before(a.NextAttemptAt), "%s attempt %d early", tc.path, i+2)
					require.WithinDuration(t, a.NextAttemptAt, got[i+1].At, 100*time.Millisecond)
				} else {
					require.True(t, a.NextAttemptAt.IsZero(), "%s: no next attempt after %s", tc.path, a.Next)
				}
			}
		}
		require.Equal(t, []webhook.MessageInfo{{TenantID: "acme", EndpointID: dead.ID, EventID: res.EventID,
			MessageID: msgOf[dead.ID], Attempts: 3}}, s.exhausted, "MessageExhausted once, for the dead letter")
		require.Equal(t, slices.Index(s.order, "attempt "+msgOf[dead.ID]+" 3")+1,
			slices.Index(s.order, "exhausted "+msgOf[dead.ID]), "MessageExhausted right after its last attempt")
		require.Empty(t, s.opened)
		require.Empty(t, s.disabled)

		require.Equal(t, []string{msgOf[dead.ID]}, phExhausted(t, r, "acme", ""))
		require.Equal(t, []string{msgOf[dead.ID]}, phExhausted(t, r, "acme", dead.ID))
		require.Empty(t, phExhausted(t, r, "acme", flaky.ID), "another endpoint's filter lists none")
		require.Empty(t, phExhausted(t, r, "other", ""), "another tenant lists none")
	})
}

// A hook that never returns stalls nothing: deliveries go on, hook calls
// queue up to HookQueueSize, and the ones beyond are dropped and counted.
func TestHooks_blocked_hook_does_not_stall_delivery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ncalls int
		var mu sync.Mutex
		release := make(chan struct{})
		logs := newPhLogs()
		r := newVRig(t, webhook.Config{
			Logger: slog.New(logs),
			Hooks: &webhook.Hooks{AttemptFinished: func(a webhook.AttemptInfo) {
				mu.Lock()
				ncalls++
				mu.Unlock()
				<-release
			}},
		}, true)
		defer r.close()
		defer close(release) // before r.close: the hook goroutine must end for the bubble to end
		registerTypes(t, r.d, "t.e")
		r.endpoint("acme", "/ok", webhook.EndpointParams{})
		var ids []string
		for i := range 50 {
			ids = append(ids, r.publish("acme", strconv.Itoa(i))...)
		}
		r.waitFor(5*time.Second, "delivery stalled behind a blocked hook", func() bool {
			return len(r.deliveries("/ok")) == 50
		})
		for _, id := range ids {
			r.waitFor(time.Second, "not succeeded", func() bool { return r.message("acme", id).Status == webhook.StatusSucceeded })
		}
		synctest.Wait()
		mu.Lock()
		require.Equal(t, 1, ncalls, "the hook is stuck in its first call")
		mu.Unlock()
		require.Zero(t, r.d.DroppedHooks(), "49 queued calls are below HookQueueSize")

		// Fill the queue: one call stuck, HookQueueSize queued, the rest dropped.
		const n = webhook.HookQueueSize + 100
		for i := 50; i < n; i++ {
			r.publish("acme", strconv.Itoa(i))
		}
		r.waitFor(time.Minute, "delivery stalled behind a full hook queue", func() bool {
			return len(r.deliveries("/ok")) == n
		})
		synctest.Wait()
		dropped := r.d.DroppedHooks()
		require.Equal(t, uint64(n-1-webhook.HookQueueSize), dropped, "calls beyond the queue are dropped")
		require.Positive(t, logs.count("hooks are too slow"), "drops are logged")
		t.Logf("%d attempts with a blocked hook: %d hook calls dropped, %d drop warnings logged",
			n, dropped, logs.count("hooks are too slow"))
	})
}

// A hook that panics is recovered: delivery goes on and later hook calls
// still run.
func TestHooks_panicking_hook_does_not_stop_delivery_or_later_hooks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var panicked []string
		var disabled []webhook.EndpointInfo
		logs := newPhLogs()
		r := newVRig(t, webhook.Config{
			Logger: slog.New(logs), CircuitBreakerThreshold: -1,
			Hooks: &webhook.Hooks{
				AttemptFinished: func(a webhook.AttemptInfo) {
					mu.Lock()
					panicked = append(panicked, a.MessageID)
					mu.Unlock()
					panic("hook bug")
				},
				EndpointDisabled: func(e webhook.EndpointInfo) {
					mu.Lock()
					defer mu.Unlock()
					disabled = append(disabled, e)
				},
			},
		}, true)
		defer r.close()
		registerTypes(t, r.d, "t.e")
		r.endpoint("acme", "/ok", webhook.EndpointParams{MaxInFlight: 1})
		var ids []string
		for i := range 5 {
			ids = append(ids, r.publish("acme", strconv.Itoa(i))...)
		}
		r.waitFor(5*time.Second, "delivery stopped after a hook panicked", func() bool {
			return len(r.deliveries("/ok")) == 5
		})
		synctest.Wait()
		for _, id := range ids {
			require.Equal(t, webhook.StatusSucceeded, r.message("acme", id).Status)
		}
		mu.Lock()
		require.ElementsMatch(t, ids, panicked, "every call ran, though each before it panicked")
		mu.Unlock()
		require.Equal(t, 5, logs.count("a hook panicked"))

		// A later event of another kind still reaches its hook.
		r.respond("/gone", func(*http.Request, int) int { return http.StatusGone })
		gone := r.endpoint("acme", "/gone", webhook.EndpointParams{EventTypes: []string{"t.e"}})
		_, err := r.d.Tenant("acme").SendTo(context.Background(), gone.ID, webhook.Event{Type: "t.e", Payload: []byte(`{}`)})
		require.NoError(t, err)
		r.waitFor(5*time.Second, "EndpointDisabled did not run after panics", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(disabled) == 1
		})
		mu.Lock()
		require.Equal(t, gone.ID, disabled[0].EndpointID)
		require.Len(t, panicked, 6)
		mu.Unlock()
	})
}

// A 410 Gone disables the endpoint with its reason and fires
// EndpointDisabled once, even when several of its requests get the 410; a
// host's DisableEndpoint fires nothing.
func TestGone_fires_EndpointDisabled_once_with_its_reason(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &phRec{}
		r := newVRig(t, webhook.Config{Hooks: rec.hooks()}, true)
		defer r.close()
		registerTypes(t, r.d, "t.e")
		// The three requests are answered together, once all three are in,
		// so three 410s race to disable the endpoint.
		var mu sync.Mutex
		arrived, all := 0, make(chan struct{})
		r.respond("/gone", func(*http.Request, int) int {
			mu.Lock()
			if arrived++; arrived == 3 {
				close(all)
			}
			mu.Unlock()
			<-all
			return http.StatusGone
		})
		gone := r.endpoint("acme", "/gone", webhook.EndpointParams{})
		// Published at the endpoint's creation instant: the three
		// disables race with no clock tick between them, and still only
		// one of them may change the endpoint and fire the hook.
		var ids []string
		for i := range 3 {
			ids = append(ids, r.publish("acme", strconv.Itoa(i))...)
		}
		r.waitFor(5*time.Second, "the endpoint was not disabled", func() bool {
			return phEndpoint(t, r, "acme", gone.ID).Disabled
		})
		const reason = "the endpoint answered 410 Gone"
		require.Equal(t, reason, phEndpoint(t, r, "acme", gone.ID).DisabledReason)
		s := rec.snap()
		require.Equal(t, []webhook.EndpointInfo{{TenantID: "acme", EndpointID: gone.ID, Reason: reason}}, s.disabled,
			"EndpointDisabled once, whatever the number of 410s")
		got := len(r.deliveries("/gone"))
		require.Equal(t, 3, got, "three requests in flight together")
		require.Len(t, s.attempts, got)
		for _, a := range s.attempts {
			require.Equal(t, http.StatusGone, a.StatusCode)
		}

		// Held, not cancelled, and nothing more goes out.
		time.Sleep(time.Hour)
		synctest.Wait()
		require.Len(t, r.deliveries("/gone"), got)
		for _, id := range ids {
			require.False(t, r.message("acme", id).Status.Final())
		}

		// The host disabling an endpoint is not reported.
		other := r.endpoint("acme", "/other", webhook.EndpointParams{})
		require.NoError(t, r.d.Tenant("acme").DisableEndpoint(context.Background(), other.ID))
		require.Len(t, rec.snap().disabled, 1)
	})
}
