package webhook_test

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hooksmith/webhook"
)

// SetRetention takes [MinRetention, MaxRetention], or 0 to return to
// Config.Retention; anything else is a *ValidationError and changes
// nothing. Config.Retention is held to the same bounds.
func TestSetRetention_validates_and_0_resets(t *testing.T) {
	t.Parallel()
	d, st := newDispatcher(t, nil)
	tn := d.Tenant("acme")
	require.Equal(t, webhook.DefaultRetention, mustRetention(t, tn), "without Config.Retention")
	for _, bad := range []time.Duration{webhook.MinRetention - time.Second, time.Minute, -time.Hour,
		webhook.MaxRetention + time.Second} {
		require.True(t, isValidation(tn.SetRetention(ctx, bad), "retention"), "SetRetention(%v)", bad)
		require.Equal(t, webhook.DefaultRetention, mustRetention(t, tn), "a refused SetRetention(%v) changed it", bad)
	}
	for _, ok := range []time.Duration{webhook.MinRetention, 7 * 24 * time.Hour, webhook.MaxRetention} {
		require.NoError(t, tn.SetRetention(ctx, ok))
		require.Equal(t, ok, mustRetention(t, tn))
	}
	require.NoError(t, tn.SetRetention(ctx, 0))
	require.Equal(t, webhook.DefaultRetention, mustRetention(t, tn), "0 returns to the default")
	require.True(t, isValidation(d.Tenant("").SetRetention(ctx, time.Hour), "tenant_id"))

	for _, bad := range []time.Duration{time.Minute, webhook.MaxRetention + time.Hour, -time.Hour} {
		_, err := webhook.New(st, &webhook.Config{Retention: bad})
		require.True(t, isValidation(err, "Config.Retention"), "Config.Retention %v: %v", bad, err)
	}
	d2, err := webhook.New(st, &webhook.Config{Retention: 48 * time.Hour})
	require.NoError(t, err)
	require.NoError(t, tn.SetRetention(ctx, 2*time.Hour))
	require.Equal(t, 2*time.Hour, mustRetention(t, d2.Tenant("acme")), "the tenant's setting is stored")
	require.NoError(t, d2.Tenant("acme").SetRetention(ctx, 0))
	require.Equal(t, 48*time.Hour, mustRetention(t, d2.Tenant("acme")), "0: Config.Retention")
	require.NoError(t, d2.Close())
}

// requireGone asserts that every read of a purged event, message and
// attempt is ErrNotFound.
func requireGone(t *testing.T, tn *webhook.Tenant, eventID, msgID, attemptID string) {
	t.Helper()
	_, err := tn.GetEvent(ctx, eventID)
	require.ErrorIs(t, err, webhook.ErrNotFound, "event %s", eventID)
	_, err = tn.GetMessage(ctx, msgID)
	require.ErrorIs(t, err, webhook.ErrNotFound, "message %s", msgID)
	_, err = tn.GetMessageDetail(ctx, msgID)
	require.ErrorIs(t, err, webhook.ErrNotFound, "message detail %s", msgID)
	_, err = tn.GetAttempt(ctx, attemptID)
	require.ErrorIs(t, err, webhook.ErrNotFound, "attempt %s", attemptID)
	p, err := tn.ListAttempts(ctx, webhook.AttemptQuery{EventID: eventID})
	require.NoError(t, err)
	require.Empty(t, p.Items, "attempts of event %s", eventID)
}

// onlyAttempt returns the one attempt of a message.
func onlyAttempt(t *testing.T, tn *webhook.Tenant, msgID string) *webhook.Attempt {
	t.Helper()
	det, err := tn.GetMessageDetail(ctx, msgID)
	require.NoError(t, err)
	require.NotEmpty(t, det.Attempts)
	return det.Attempts[len(det.Attempts)-1]
}

// hourAttempts is how many attempts EndpointStats counts for the hour
// starting at from.
func hourAttempts(t *testing.T, tn *webhook.Tenant, endpointID string, from time.Time) int64 {
	t.Helper()
	s, err := tn.EndpointStats(ctx, endpointID, from, from.Add(time.Hour))
	require.NoError(t, err)
	return s.Attempts
}

// In virtual time: tenant "short" keeps 1 h of history, tenant "long" the
// dispatcher's 3 h. Purge deletes what is past each tenant's retention and
// final: events, messages, attempts and hourly stats; it keeps an old
// event whose message is still retrying, which is then delivered and goes
// at the next purge; newer events stay.
func TestPurge_deletes_old_final_history_and_keeps_live_messages(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newVRig(t, webhook.Config{Retention: 3 * time.Hour, PurgeInterval: -1, IdempotencyWindow: 30 * time.Minute,
			PollInterval: 10 * time.Minute, CircuitBreakerThreshold: -1}, true)
		defer r.close()
		registerTypes(t, r.d, "order.created")
		short, long := r.d.Tenant("short"), r.d.Tenant("long")
		require.NoError(t, short.SetRetention(ctx, time.Hour))
		up := vDownUntil(r, "/s-down")
		sOK := r.endpoint("short", "/s-ok", webhook.EndpointParams{})
		sDown := r.endpoint("short", "/s-down", webhook.EndpointParams{RetrySchedule: []time.Duration{0, 4 * time.Hour}})
		lOK := r.endpoint("long", "/l-ok", webhook.EndpointParams{})
		t0 := r.start

		oldOK, oldOKEv := sendEach(t, short, sOK.ID, "old-ok", 1)
		oldDown, oldDownEv := sendEach(t, short, sDown.ID, "old-down", 1)
		longMsg, longEv := sendEach(t, long, lOK.ID, "long", 1)
		waitStatus(t, short, oldOK[0], webhook.StatusSucceeded)
		waitStatus(t, short, oldDown[0], webhook.StatusFailing)
		waitStatus(t, long, longMsg[0], webhook.StatusSucceeded)
		oldOKAtt := onlyAttempt(t, short, oldOK[0]).ID
		longAtt := onlyAttempt(t, long, longMsg[0]).ID

		phSleepUntil(t0.Add(100 * time.Minute))
		newMsg, newEv := sendEach(t, short, sOK.ID, "new", 1)
		waitStatus(t, short, newMsg[0], webhook.StatusSucceeded)
		require.EqualValues(t, 1, hourAttempts(t, short, sOK.ID, t0))
		require.EqualValues(t, 1, hourAttempts(t, short, sOK.ID, t0.Add(time.Hour)))

		// At 2 h 30: short's hour-0 history is past its 1 h; long's is not
		// past its 3 h.
		phSleepUntil(t0.Add(150 * time.Minute))
		st, err := r.d.Purge(ctx)
		require.NoError(t, err)
		require.Equal(t, webhook.PurgeStats{Tenants: 2, Events: 1, Messages: 1, Attempts: 1, Kept: 1}, st)
		requireGone(t, short, oldOKEv[0], oldOK[0], oldOKAtt)
		require.Zero(t, hourAttempts(t, short, sOK.ID, t0), "the hour-0 rollup is gone")
		require.EqualValues(t, 1, hourAttempts(t, short, sOK.ID, t0.Add(time.Hour)), "the newer hour stays")
		sOKStats, err := short.EndpointStats(ctx, sOK.ID, t0, time.Now())
		require.NoError(t, err)
		require.EqualValues(t, 1, sOKStats.Attempts)

		ev, err := short.GetEvent(ctx, oldDownEv[0])
		require.NoError(t, err, "an old event with a retrying message is kept")
		require.Equal(t, webhook.StatusFailing, ev.Deliveries[0].Status)
		onlyAttempt(t, short, oldDown[0])
		_, err = short.GetEvent(ctx, newEv[0])
		require.NoError(t, err, "a newer event stays")
		_, err = long.GetEvent(ctx, longEv[0])
		require.NoError(t, err, "the other tenant's retention is 3 h")
		_, err = long.GetAttempt(ctx, longAtt)
		require.NoError(t, err)
		require.EqualValues(t, 1, hourAttempts(t, long, lOK.ID, t0), "the other tenant's stats stay")

		// The kept message is still delivered at its retry, 4 h ±20% in.
		up.Store(true)
		phWait(t, 5*time.Hour, time.Minute, "the kept message was not retried", func() bool {
			return r.message("short", oldDown[0]).Status == webhook.StatusSucceeded
		})
		got := r.deliveries("/s-down")
		require.Len(t, got, 2)
		require.Equal(t, got[0].Body, got[1].Body, "the payload was kept")
		require.Equal(t, oldDownEv[0], got[1].ID)
		require.Greater(t, got[1].At.Sub(t0), 3*time.Hour)

		// Five hours in: everything is past both retentions and final.
		phSleepUntil(t0.Add(5 * time.Hour))
		st, err = r.d.Purge(ctx)
		require.NoError(t, err)
		require.Equal(t, webhook.PurgeStats{Tenants: 2, Events: 3, Messages: 3, Attempts: 4}, st)
		requireGone(t, short, oldDownEv[0], oldDown[0], got[0].ID)
		requireGone(t, long, longEv[0], longMsg[0], longAtt)
		_, err = short.GetEvent(ctx, newEv[0])
		require.ErrorIs(t, err, webhook.ErrNotFound)
		require.Zero(t, hourAttempts(t, long, lOK.ID, t0))

		st, err = r.d.Purge(ctx)
		require.NoError(t, err)
		require.Zero(t, st.Events, "nothing left to purge")
	})
}

// A started dispatcher purges on its own every PurgeInterval.
func TestPurge_runs_in_the_background(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newVRig(t, webhook.Config{Retention: time.Hour, IdempotencyWindow: 30 * time.Minute, PollInterval: 10 * time.Minute}, true)
		defer r.close()
		registerTypes(t, r.d, "order.created")
		tn := r.d.Tenant("acme")
		ep := r.endpoint("acme", "/ok", webhook.EndpointParams{})
		old, oldEv := sendEach(t, tn, ep.ID, "old", 1)
		waitStatus(t, tn, old[0], webhook.StatusSucceeded)
		att := onlyAttempt(t, tn, old[0]).ID
		phSleepUntil(r.start.Add(65 * time.Minute))
		recent, recentEv := sendEach(t, tn, ep.ID, "recent", 1)
		waitStatus(t, tn, recent[0], webhook.StatusSucceeded)
		// The purge at 1 h 10 (DefaultPurgeInterval is 10 min) takes the old one.
		phSleepUntil(r.start.Add(time.Hour + webhook.DefaultPurgeInterval + time.Minute))
		requireGone(t, tn, oldEv[0], old[0], att)
		_, err := tn.GetEvent(ctx, recentEv[0])
		require.NoError(t, err)
	})
}

// A retention shorter than the idempotency window does not let an event ID
// be published twice: the purge keeps the event until the window is over.
func TestPurge_keeps_an_event_ID_for_the_idempotency_window(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newVRig(t, webhook.Config{Retention: time.Hour, IdempotencyWindow: 3 * time.Hour, PurgeInterval: -1,
			PollInterval: 10 * time.Minute}, true)
		defer r.close()
		registerTypes(t, r.d, "order.created")
		tn := r.d.Tenant("acme")
		ep := r.endpoint("acme", "/ok", webhook.EndpointParams{})
		msgs, evs := sendEach(t, tn, ep.ID, "once", 1)
		waitStatus(t, tn, msgs[0], webhook.StatusSucceeded)
		att := onlyAttempt(t, tn, msgs[0]).ID

		phSleepUntil(r.start.Add(2 * time.Hour)) // past the retention, inside the window
		st, err := r.d.Purge(ctx)
		require.NoError(t, err)
		require.Zero(t, st.Events, "the event ID is still remembered")
		res, err := tn.SendTo(ctx, ep.ID, webhook.Event{ID: evs[0], Type: "order.created", Payload: []byte(`{}`)})
		require.NoError(t, err)
		require.True(t, res.Duplicate, "publishing the ID again within the window is a duplicate")
		require.Equal(t, msgs[0], res.Messages[0].MessageID)

		phSleepUntil(r.start.Add(4 * time.Hour)) // past both
		st, err = r.d.Purge(ctx)
		require.NoError(t, err)
		require.Equal(t, 1, st.Events)
		requireGone(t, tn, evs[0], msgs[0], att)
	})
}
