package webhook_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hooksmith/webhook"
	"github.com/hooksmith/webhook/store/bolt"
	"github.com/hooksmith/webhook/webhooktest"
)

func TestRetryMessage(t *testing.T) {
	t.Parallel()

	t.Run("a succeeded message is delivered again with the same webhook-id", func(t *testing.T) {
		t.Parallel()
		_, tn, rcv := acmeRig(t, nil)
		ep := newEndpoint(t, tn, rcv, "/ok", webhook.EndpointParams{})
		msgs, events := sendEach(t, tn, ep.ID, "evt-ok", 1)
		waitStatus(t, tn, msgs[0], webhook.StatusSucceeded)
		require.NoError(t, tn.RetryMessage(ctx, msgs[0]))
		got := rcv.Wait(t, "/ok", 2, 10*time.Second)
		require.Equal(t, events[0], got[0].ID)
		require.Equal(t, got[0].ID, got[1].ID, "the retry keeps the webhook-id")
		require.Equal(t, got[0].Body, got[1].Body)
		require.True(t, got[1].Verified)
		m := waitAttemptsDone(t, tn, msgs[0], 2)
		require.Equal(t, webhook.StatusSucceeded, m.Status)
		require.Len(t, rcv.Deliveries("/ok"), 2, "delivered once more, not more")
	})

	t.Run("an exhausted message gets a full schedule and leaves the dead letters", func(t *testing.T) {
		t.Parallel()
		_, tn, rcv := acmeRig(t, nil)
		// Fails the three attempts of its schedule, then after the retry
		// two more, and succeeds on the sixth: only a fresh schedule of
		// three attempts gets that far.
		rcv.Respond("/dead", func(_ webhooktest.Delivery, n int) int {
			if n < 6 {
				return http.StatusInternalServerError
			}
			return http.StatusOK
		})
		ep := newEndpoint(t, tn, rcv, "/dead", webhook.EndpointParams{})
		msgs, _ := sendEach(t, tn, ep.ID, "evt-dead", 1)
		waitStatus(t, tn, msgs[0], webhook.StatusExhausted)
		require.Equal(t, msgs, exhaustedIDs(t, tn, ""))
		require.NoError(t, tn.RetryMessage(ctx, msgs[0]))
		require.Empty(t, exhaustedIDs(t, tn, ""), "a retried message is no dead letter")
		require.Empty(t, exhaustedIDs(t, tn, ep.ID))
		m := waitStatus(t, tn, msgs[0], webhook.StatusSucceeded)
		require.Equal(t, 6, m.Attempts)
		require.Len(t, rcv.Deliveries("/dead"), 6)
		atts := waitAttempts(t, tn, msgs[0], 6)
		for i, a := range atts {
			require.Equal(t, i+1, a.Number)
		}
		require.Equal(t, webhook.TriggerManual, atts[3].Trigger)
		require.Equal(t, webhook.TriggerScheduled, atts[4].Trigger)
	})

	t.Run("refusals", func(t *testing.T) {
		t.Parallel()
		d, tn, rcv := acmeRig(t, &webhook.Config{RetrySchedule: []time.Duration{0}, AllowInsecureURLs: true, AllowedDestinations: loopback})
		rcv.Respond("/down", func(webhooktest.Delivery, int) int { return http.StatusInternalServerError })
		off := newEndpoint(t, tn, rcv, "/down", webhook.EndpointParams{})
		gone := newEndpoint(t, tn, rcv, "/gone", webhook.EndpointParams{})
		offMsgs, _ := sendEach(t, tn, off.ID, "evt-off", 1)
		goneMsgs, _ := sendEach(t, tn, gone.ID, "evt-gone", 1)
		waitStatus(t, tn, offMsgs[0], webhook.StatusExhausted)
		waitStatus(t, tn, goneMsgs[0], webhook.StatusSucceeded)
		require.NoError(t, tn.DisableEndpoint(ctx, off.ID))
		require.NoError(t, tn.DeleteEndpoint(ctx, gone.ID))
		deliveries := len(rcv.All())

		err := tn.RetryMessage(ctx, offMsgs[0])
		require.ErrorIs(t, err, webhook.ErrEndpointDisabled)
		require.Equal(t, offMsgs, exhaustedIDs(t, tn, ""), "still a dead letter")
		m, err := tn.GetMessage(ctx, offMsgs[0])
		require.NoError(t, err)
		require.Equal(t, webhook.StatusExhausted, m.Status)

		require.ErrorIs(t, tn.RetryMessage(ctx, goneMsgs[0]), webhook.ErrNotFound, "its endpoint was deleted")
		require.ErrorIs(t, tn.RetryMessage(ctx, "msg_unknown"), webhook.ErrNotFound)
		require.True(t, isValidation(d.Tenant("").RetryMessage(ctx, offMsgs[0]), "tenant_id"))
		time.Sleep(50 * time.Millisecond)
		require.Equal(t, deliveries, len(rcv.All()), "a refused retry sent something")
	})

	t.Run("a message in flight", func(t *testing.T) {
		t.Parallel()
		d, _ := startDispatcher(t, nil)
		release := make(chan struct{})
		msgID := inFlight(t, d, func() { <-release })
		err := d.Tenant("acme").RetryMessage(ctx, msgID)
		close(release)
		require.ErrorIs(t, err, webhook.ErrMessageInFlight)
		m := waitStatus(t, d.Tenant("acme"), msgID, webhook.StatusSucceeded)
		require.Equal(t, 1, m.Attempts)
	})
}

func TestReplayEvent(t *testing.T) {
	t.Parallel()

	t.Run("to the endpoints it went to, with the same webhook-id", func(t *testing.T) {
		t.Parallel()
		_, tn, rcv := acmeRig(t, nil)
		a := newEndpoint(t, tn, rcv, "/a", webhook.EndpointParams{})
		b := newEndpoint(t, tn, rcv, "/b", webhook.EndpointParams{})
		off := newEndpoint(t, tn, rcv, "/off", webhook.EndpointParams{})
		res, err := tn.Publish(ctx, webhook.Event{ID: "evt-replay", Type: "order.created", Payload: []byte(`{"v":1}`)})
		require.NoError(t, err)
		require.Len(t, res.Messages, 3)
		for _, m := range res.Messages {
			waitStatus(t, tn, m.MessageID, webhook.StatusSucceeded)
		}
		require.NoError(t, tn.DisableEndpoint(ctx, off.ID))
		newEndpoint(t, tn, rcv, "/late", webhook.EndpointParams{}) // matches, but came after

		rep, err := tn.ReplayEvent(ctx, "evt-replay", webhook.ReplayOptions{})
		require.NoError(t, err)
		require.Equal(t, "evt-replay", rep.EventID)
		msgOf := map[string]string{}
		for _, m := range res.Messages {
			msgOf[m.EndpointID] = m.MessageID
		}
		require.ElementsMatch(t, []webhook.MessageRef{
			{MessageID: msgOf[a.ID], EndpointID: a.ID}, {MessageID: msgOf[b.ID], EndpointID: b.ID},
		}, rep.Replayed, "the event's own messages, reopened")
		require.Equal(t, []webhook.ReplaySkip{{EndpointID: off.ID, MessageID: msgOf[off.ID], Reason: "endpoint_disabled"}}, rep.Skipped)
		for _, path := range []string{"/a", "/b"} {
			got := rcv.Wait(t, path, 2, 10*time.Second)
			require.Equal(t, []string{"evt-replay", "evt-replay"}, []string{got[0].ID, got[1].ID})
			require.Equal(t, got[0].Body, got[1].Body)
		}
		for _, ep := range []string{a.ID, b.ID} {
			waitAttemptsDone(t, tn, msgOf[ep], 2)
		}
		ev, err := tn.GetEvent(ctx, "evt-replay")
		require.NoError(t, err)
		require.Len(t, ev.Messages, 3, "one message per endpoint still")
		require.Empty(t, rcv.Deliveries("/late"), "without Rematch, a later endpoint gets nothing")
		require.Len(t, rcv.Deliveries("/off"), 1)

		_, err = tn.ReplayEvent(ctx, "evt-unknown", webhook.ReplayOptions{})
		require.ErrorIs(t, err, webhook.ErrNotFound)
	})

	t.Run("Rematch sends to the endpoints that match now", func(t *testing.T) {
		t.Parallel()
		_, tn, rcv := acmeRig(t, nil, "order.created", "order.paid")
		still := newEndpoint(t, tn, rcv, "/still", webhook.EndpointParams{EventTypes: []string{"order.*"}})
		moved := newEndpoint(t, tn, rcv, "/moved", webhook.EndpointParams{EventTypes: []string{"order.created"}})
		res, err := tn.Publish(ctx, webhook.Event{ID: "evt-rematch", Type: "order.created", Payload: []byte(`{}`),
			Labels: map[string]string{"region": "eu"}})
		require.NoError(t, err)
		require.Len(t, res.Messages, 2)
		for _, m := range res.Messages {
			waitStatus(t, tn, m.MessageID, webhook.StatusSucceeded)
		}
		// moved no longer matches; later matches now; another label does not.
		p := moved.EndpointParams
		p.EventTypes = []string{"order.paid"}
		_, err = tn.UpdateEndpoint(ctx, moved.ID, p)
		require.NoError(t, err)
		later := newEndpoint(t, tn, rcv, "/later", webhook.EndpointParams{EventTypes: []string{"order.created"},
			Labels: map[string]string{"region": "eu"}})
		newEndpoint(t, tn, rcv, "/elsewhere", webhook.EndpointParams{Labels: map[string]string{"region": "us"}})

		rep, err := tn.ReplayEvent(ctx, "evt-rematch", webhook.ReplayOptions{Rematch: true})
		require.NoError(t, err)
		require.Empty(t, rep.Skipped)
		require.Len(t, rep.Replayed, 2)
		var stillMsg string
		for _, m := range res.Messages {
			if m.EndpointID == still.ID {
				stillMsg = m.MessageID
			}
		}
		i := slices.IndexFunc(rep.Replayed, func(r webhook.MessageRef) bool { return r.EndpointID == later.ID })
		require.GreaterOrEqual(t, i, 0, "the later endpoint gets a message: %+v", rep.Replayed)
		laterMsg := rep.Replayed[i].MessageID
		require.NotContains(t, []string{res.Messages[0].MessageID, res.Messages[1].MessageID}, laterMsg, "a new message")
		require.Contains(t, rep.Replayed, webhook.MessageRef{MessageID: stillMsg, EndpointID: still.ID}, "the matching one's own message")

		got := rcv.Wait(t, "/later", 1, 10*time.Second)
		require.Equal(t, "evt-rematch", got[0].ID)
		require.True(t, got[0].Verified)
		rcv.Wait(t, "/still", 2, 10*time.Second)
		m := waitStatus(t, tn, laterMsg, webhook.StatusSucceeded)
		require.Equal(t, "evt-rematch", m.EventID)
		atts := waitAttempts(t, tn, laterMsg, 1)
		require.Equal(t, webhook.TriggerReplay, atts[0].Trigger)
		waitAttemptsDone(t, tn, stillMsg, 2)

		ev, err := tn.GetEvent(ctx, "evt-rematch")
		require.NoError(t, err)
		require.Len(t, ev.Messages, 3, "the event lists the new message")
		require.Len(t, ev.Deliveries, 3)
		time.Sleep(50 * time.Millisecond)
		require.Len(t, rcv.Deliveries("/moved"), 1, "the endpoint whose filter no longer matches gets nothing")
		require.Empty(t, rcv.Deliveries("/elsewhere"))

		// A second Rematch reopens the later endpoint's message instead of
		// adding another.
		rep, err = tn.ReplayEvent(ctx, "evt-rematch", webhook.ReplayOptions{Rematch: true})
		require.NoError(t, err)
		require.Len(t, rep.Replayed, 2)
		require.Contains(t, rep.Replayed, webhook.MessageRef{MessageID: laterMsg, EndpointID: later.ID})
		rcv.Wait(t, "/later", 2, 10*time.Second)
		ev, err = tn.GetEvent(ctx, "evt-rematch")
		require.NoError(t, err)
		require.Len(t, ev.Messages, 3)
	})
}

// RecoverEndpoint retries every failing and exhausted message of the
// endpoint published since the given time, once, and leaves succeeded and
// older ones alone; GetRecovery reports the counts.
func TestRecoverEndpoint_retries_each_failed_message_once(t *testing.T) {
	t.Parallel()
	_, tn, rcv := acmeRig(t, &webhook.Config{RetrySchedule: fastSchedule,
		AllowInsecureURLs: true, AllowedDestinations: loopback, CircuitBreakerThreshold: -1})
	var up atomic.Bool
	// While down: ok-* succeed, bad-* get a 400 that ends them, the rest a
	// 500 (retry in an hour).
	rcv.Respond("/r", func(dl webhooktest.Delivery, _ int) int {
		switch {
		case up.Load() || dl.ID[:3] == "ok-":
			return http.StatusOK
		case dl.ID[:4] == "bad-":
			return http.StatusBadRequest
		}
		return http.StatusInternalServerError
	})
	ep := newEndpoint(t, tn, rcv, "/r", webhook.EndpointParams{RetrySchedule: []time.Duration{0, time.Hour}, NoRetryOnClientError: true})
	oldMsgs, oldEvents := sendEach(t, tn, ep.ID, "old", 3)
	for _, id := range oldMsgs {
		waitStatus(t, tn, id, webhook.StatusFailing)
	}
	time.Sleep(2 * time.Millisecond)
	since := time.Now()
	failMsgs, failEvents := sendEach(t, tn, ep.ID, "fail", 4)
	badMsgs, badEvents := sendEach(t, tn, ep.ID, "bad", 3)
	okMsgs, okEvents := sendEach(t, tn, ep.ID, "ok", 2)
	for _, id := range failMsgs {
		waitStatus(t, tn, id, webhook.StatusFailing)
	}
	for _, id := range badMsgs {
		waitStatus(t, tn, id, webhook.StatusExhausted)
	}
	for _, id := range okMsgs {
		waitStatus(t, tn, id, webhook.StatusSucceeded)
	}

	up.Store(true)
	job, err := tn.RecoverEndpoint(ctx, ep.ID, since)
	require.NoError(t, err)
	require.Equal(t, ep.ID, job.EndpointID)
	require.False(t, job.Exhausted)
	job = waitRecovery(t, tn, job.ID)
	require.Equal(t, 4+3, job.Retried, "every failing and exhausted message since then")
	require.Equal(t, 4+3+2, job.Scanned, "every message since then was examined")
	require.Zero(t, job.Skipped)
	for _, id := range append(slices.Clone(failMsgs), badMsgs...) {
		waitStatus(t, tn, id, webhook.StatusSucceeded)
	}
	require.Empty(t, exhaustedIDs(t, tn, ""))
	time.Sleep(50 * time.Millisecond)
	byID := countByID(rcv.Deliveries("/r"))
	for _, id := range append(slices.Clone(failEvents), badEvents...) {
		require.Equal(t, 2, byID[id], "%s: the failure and one retry", id)
	}
	for _, id := range okEvents {
		require.Equal(t, 1, byID[id], "%s succeeded: not retried", id)
	}
	for i, id := range oldEvents {
		require.Equal(t, 1, byID[id], "%s is older than since: not retried", id)
		m, err := tn.GetMessage(ctx, oldMsgs[i])
		require.NoError(t, err)
		require.Equal(t, webhook.StatusFailing, m.Status)
	}
	for _, id := range failMsgs {
		atts := waitAttempts(t, tn, id, 2)
		require.Equal(t, webhook.TriggerReplay, atts[1].Trigger)
	}

	// Without since: the old ones too, now.
	job, err = tn.RecoverEndpoint(ctx, ep.ID, time.Time{})
	require.NoError(t, err)
	job = waitRecovery(t, tn, job.ID)
	require.Equal(t, 3, job.Retried)
	for _, id := range oldMsgs {
		waitStatus(t, tn, id, webhook.StatusSucceeded)
	}

	require.NoError(t, tn.DisableEndpoint(ctx, ep.ID))
	_, err = tn.RecoverEndpoint(ctx, ep.ID, time.Time{})
	require.ErrorIs(t, err, webhook.ErrEndpointDisabled)
	_, err = tn.RecoverEndpoint(ctx, "ep_unknown", time.Time{})
	require.ErrorIs(t, err, webhook.ErrNotFound)
	_, err = tn.GetRecovery(ctx, "rcv_unknown")
	require.ErrorIs(t, err, webhook.ErrNotFound)
}

// ReplayExhausted retries every dead letter of the tenant (or of one
// endpoint) once, each with a full schedule; those of a disabled endpoint
// are skipped and stay listed.
func TestReplayExhausted_retries_the_dead_letters_once(t *testing.T) {
	t.Parallel()
	_, tn, rcv := acmeRig(t, nil)
	var ups []*atomic.Bool
	var eps []*webhook.Endpoint
	var msgs [][]string
	var events [][]string
	for i, path := range []string{"/x", "/y", "/off"} {
		ups = append(ups, downUntil(rcv, path))
		ep := newEndpoint(t, tn, rcv, path, webhook.EndpointParams{})
		m, e := sendEach(t, tn, ep.ID, fmt.Sprintf("ev%d", i), 3)
		eps, msgs, events = append(eps, ep), append(msgs, m), append(events, e)
	}
	for _, ms := range msgs {
		for _, id := range ms {
			waitStatus(t, tn, id, webhook.StatusExhausted)
		}
	}
	require.Len(t, exhaustedIDs(t, tn, ""), 9)
	require.NoError(t, tn.DisableEndpoint(ctx, eps[2].ID))
	for _, up := range ups {
		up.Store(true)
	}

	// One endpoint's first.
	job, err := tn.ReplayExhausted(ctx, eps[0].ID)
	require.NoError(t, err)
	require.True(t, job.Exhausted)
	job = waitRecovery(t, tn, job.ID)
	require.Equal(t, 3, job.Retried)
	for _, id := range msgs[0] {
		waitStatus(t, tn, id, webhook.StatusSucceeded)
	}
	require.Len(t, exhaustedIDs(t, tn, ""), 6)

	// Then the whole tenant.
	job, err = tn.ReplayExhausted(ctx, "")
	require.NoError(t, err)
	require.Empty(t, job.EndpointID)
	job = waitRecovery(t, tn, job.ID)
	require.Equal(t, 3, job.Retried)
	require.Equal(t, 3, job.Skipped, "the disabled endpoint's")
	for _, id := range msgs[1] {
		waitStatus(t, tn, id, webhook.StatusSucceeded)
	}
	require.ElementsMatch(t, msgs[2], exhaustedIDs(t, tn, ""), "the disabled endpoint's stay dead letters")
	time.Sleep(50 * time.Millisecond)
	byID := countByID(rcv.All())
	for i, evs := range events {
		for _, id := range evs {
			want := len(fastSchedule) + 1
			if i == 2 {
				want = len(fastSchedule)
			}
			require.Equal(t, want, byID[id], "%s", id)
		}
	}
	_, err = tn.ReplayExhausted(ctx, "ep_unknown")
	require.ErrorIs(t, err, webhook.ErrNotFound)
}

// A recovery job interrupted part way (here: created while no dispatcher
// runs, and stepped once by hand through the store, as if the process died
// after that step) is finished by the next dispatcher that starts on the
// same file, and retries each message exactly once across both. In
// virtual time, so that the stored positions are the same on every run.
func TestRecovery_resumes_after_a_restart(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start func(tn *webhook.Tenant, endpointID string) (*webhook.Recovery, error)
	}{
		{"RecoverEndpoint", func(tn *webhook.Tenant, id string) (*webhook.Recovery, error) {
			return tn.RecoverEndpoint(ctx, id, time.Time{})
		}},
		{"ReplayExhausted", func(tn *webhook.Tenant, id string) (*webhook.Recovery, error) {
			return tn.ReplayExhausted(ctx, "")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				// First run: ten messages exhaust.
				r := newVRig(t, webhook.Config{RetrySchedule: []time.Duration{0}}, true)
				defer r.close()
				registerTypes(t, r.d, "order.created")
				up := vDownUntil(r, "/r")
				ep := r.endpoint("acme", "/r", webhook.EndpointParams{})
				msgs, events := sendEach(t, r.d.Tenant("acme"), ep.ID, "evt", 10)
				for _, id := range msgs {
					waitStatus(t, r.d.Tenant("acme"), id, webhook.StatusExhausted)
				}
				require.NoError(t, r.d.Close())

				// Second, never started: the job is stored and one step of
				// three messages is made.
				d, err := webhook.New(r.st, &webhook.Config{Logger: slog.New(slog.DiscardHandler)})
				require.NoError(t, err)
				job, err := tc.start(d.Tenant("acme"), ep.ID)
				require.NoError(t, err)
				part, err := r.st.RecoveryStep(ctx, "acme", job.ID, 3, time.Now().UTC())
				require.NoError(t, err)
				require.Equal(t, 3, part.Retried)
				require.False(t, part.Done)
				if stored, err := r.st.RecoveryGet(ctx, "acme", job.ID); err != nil || stored.Cursor != part.Cursor {
					t.Errorf("the job's cursor does not survive the store: stepped to %q, stored %q (%v)", part.Cursor, stored.Cursor, err)
				}
				got, err := d.Tenant("acme").GetRecovery(ctx, job.ID)
				require.NoError(t, err)
				require.Equal(t, 3, got.Scanned)
				require.False(t, got.Done)
				require.NoError(t, d.Close())
				path := r.st.DB().Path()
				require.NoError(t, r.st.Close())
				time.Sleep(time.Minute)
				synctest.Wait()
				require.Len(t, r.deliveries("/r"), 10, "nothing was sent while no dispatcher ran")

				// Third: a new dispatcher on a new handle to the same file
				// finishes the job; r.close closes them.
				up.Store(true)
				r.st, err = bolt.Open(path, &bolt.Options{NoSync: true})
				require.NoError(t, err)
				cfg := webhook.Config{AllowInsecureURLs: true, AllowedDestinations: loopback,
					RetrySchedule: []time.Duration{0}, Logger: slog.New(slog.DiscardHandler)}
				webhook.SetDialForTest(&cfg, r.ln.dial)
				r.d, err = webhook.New(r.st, &cfg)
				require.NoError(t, err)
				require.NoError(t, r.d.Start(ctx))
				tn := r.d.Tenant("acme")
				done := waitRecovery(t, tn, job.ID)
				require.Equal(t, 10, done.Scanned)
				require.Equal(t, 10, done.Retried, "3 before the restart, 7 after")
				for _, id := range msgs {
					waitStatus(t, tn, id, webhook.StatusSucceeded)
				}
				time.Sleep(time.Hour)
				synctest.Wait()
				byID := phCountByID(r.deliveries("/r"))
				for _, id := range events {
					require.Equal(t, 2, byID[id], "%s: one failure, then exactly one retry", id)
				}
			})
		})
	}
}

// A job longer than one step (the runner examines 200 messages a step)
// still retries every message: with no restart at all, each step resumes
// where the last one stopped. In virtual time, like the test above.
func TestRecoverEndpoint_covers_more_than_one_step(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newVRig(t, webhook.Config{RetrySchedule: []time.Duration{0, time.Hour}, CircuitBreakerThreshold: -1}, true)
		defer r.close()
		registerTypes(t, r.d, "t.e")
		up := vDownUntil(r, "/r")
		ep := r.endpoint("acme", "/r", webhook.EndpointParams{MaxInFlight: 50})
		const n = 230
		var ids []string
		for i := range n {
			ids = append(ids, r.publish("acme", strconv.Itoa(i))...)
		}
		r.waitFor(time.Minute, "the messages did not all fail once", func() bool {
			for _, id := range ids {
				if r.message("acme", id).Status != webhook.StatusFailing {
					return false
				}
			}
			return true
		})

		up.Store(true)
		tn := r.d.Tenant("acme")
		job, err := tn.RecoverEndpoint(ctx, ep.ID, time.Time{})
		require.NoError(t, err)
		job = waitRecovery(t, tn, job.ID)
		require.Equal(t, n, job.Scanned, "every message examined")
		require.Equal(t, n, job.Retried, "every failing message retried")
		r.waitFor(time.Minute, "the retried messages did not all succeed", func() bool {
			for _, id := range ids {
				if r.message("acme", id).Status != webhook.StatusSucceeded {
					return false
				}
			}
			return true
		})
	})
}
