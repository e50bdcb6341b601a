package webhook_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hooksmith/webhook"
	"github.com/hooksmith/webhook/webhooktest"
)

var ctx = context.Background()

func TestNew(t *testing.T) {
	t.Parallel()
	t.Run("rejects_a_nil_store", func(t *testing.T) {
		_, err := webhook.New(nil, nil)
		require.True(t, isValidation(err, "store"), "got %v", err)
	})
	t.Run("rejects_a_lease_shorter_than_the_request_timeout", func(t *testing.T) {
		_, st := newDispatcher(t, nil)
		_, err := webhook.New(st, &webhook.Config{RequestTimeout: time.Minute, LeaseDuration: time.Second})
		require.True(t, isValidation(err, "Config.LeaseDuration"), "got %v", err)
	})
	t.Run("rejects_retry_delays_over_30_days", func(t *testing.T) {
		_, st := newDispatcher(t, nil)
		_, err := webhook.New(st, &webhook.Config{RetrySchedule: []time.Duration{0, 31 * 24 * time.Hour}})
		require.True(t, isValidation(err, "Config.RetrySchedule"), "got %v", err)
		_, err = webhook.New(st, &webhook.Config{RetrySchedule: []time.Duration{-time.Second}})
		require.True(t, isValidation(err, "Config.RetrySchedule"), "got %v", err)
	})
	t.Run("accepts_a_nil_config", func(t *testing.T) {
		_, st := newDispatcher(t, nil)
		d, err := webhook.New(st, nil)
		require.NoError(t, err)
		require.NoError(t, d.Close())
	})
}

func TestDispatcher_lifecycle(t *testing.T) {
	t.Parallel()
	t.Run("start_twice_is_an_error", func(t *testing.T) {
		t.Parallel()
		d, _ := startDispatcher(t, nil)
		require.ErrorIs(t, d.Start(ctx), webhook.ErrAlreadyStarted)
	})
	t.Run("stopped_dispatcher_refuses_work", func(t *testing.T) {
		t.Parallel()
		d, _ := startDispatcher(t, nil)
		registerTypes(t, d, "order.created")
		require.NoError(t, d.Stop(ctx))
		_, err := d.Tenant("acme").Publish(ctx, webhook.Event{Type: "order.created", Payload: []byte(`{}`)})
		require.ErrorIs(t, err, webhook.ErrClosed)
		require.ErrorIs(t, d.Start(ctx), webhook.ErrClosed)
		require.NoError(t, d.Stop(ctx), "a second Stop is a no-op")
	})
	t.Run("publish_before_start_is_delivered_after_start", func(t *testing.T) {
		t.Parallel()
		d, _ := newDispatcher(t, nil)
		srv := webhooktest.NewServer(t)
		registerTypes(t, d, "order.created")
		tn := d.Tenant("acme")
		ep, err := tn.CreateEndpoint(ctx, webhook.EndpointParams{URL: srv.URL("/a")})
		require.NoError(t, err)
		srv.SetSecret("/a", ep.Secret())
		res, err := tn.Publish(ctx, webhook.Event{ID: "evt-1", Type: "order.created", Payload: []byte(`{"n":1}`)})
		require.NoError(t, err)
		require.Len(t, res.Messages, 1)
		m, err := tn.GetMessage(ctx, res.Messages[0].MessageID)
		require.NoError(t, err)
		require.Equal(t, webhook.StatusPending, m.Status)
		require.Empty(t, srv.Deliveries("/a"))

		require.NoError(t, d.Start(ctx))
		got := srv.Wait(t, "/a", 1, 5*time.Second)
		require.True(t, got[0].Verified)
		require.Equal(t, "evt-1", got[0].ID)
		waitStatus(t, tn, res.Messages[0].MessageID, webhook.StatusSucceeded)
	})
	t.Run("stop_drains_in_flight_deliveries", func(t *testing.T) {
		t.Parallel()
		d, st := startDispatcher(t, nil)
		msgID := inFlight(t, d, func() { time.Sleep(300 * time.Millisecond) })
		stopCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		require.NoError(t, d.Stop(stopCtx))
		m, err := st.MessageGet(ctx, "acme", msgID)
		require.NoError(t, err)
		require.Equal(t, webhook.StatusSucceeded, m.Status, "Stop returned before the outcome was recorded")
		require.Equal(t, 1, m.Attempts)
	})
	t.Run("stop_past_its_deadline_releases_the_message_uncounted", func(t *testing.T) {
		t.Parallel()
		d, st := startDispatcher(t, nil)
		unblock := make(chan struct{})
		defer close(unblock)
		msgID := inFlight(t, d, func() { <-unblock })
		stopCtx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		require.ErrorIs(t, d.Stop(stopCtx), context.DeadlineExceeded)
		m, err := st.MessageGet(ctx, "acme", msgID)
		require.NoError(t, err)
		require.Equal(t, webhook.StatusPending, m.Status)
		require.Zero(t, m.Attempts, "an aborted request is not an attempt")
		require.WithinDuration(t, time.Now(), m.NextAttemptAt, 5*time.Second, "released messages are due at once")
	})
	t.Run("close_during_stop_waits_for_the_workers", func(t *testing.T) {
		t.Parallel()
		d, st := startDispatcher(t, nil)
		unblock := make(chan struct{})
		defer close(unblock)
		msgID := inFlight(t, d, func() { <-unblock })
		stopped := make(chan error, 1)
		go func() { stopped <- d.Stop(context.Background()) }()
		time.Sleep(20 * time.Millisecond) // let Stop begin
		require.NoError(t, d.Close())
		// Close returned only after the worker released the message.
		m, err := st.MessageGet(ctx, "acme", msgID)
		require.NoError(t, err)
		require.Equal(t, webhook.StatusPending, m.Status)
		require.NoError(t, <-stopped)
	})
}

// inFlight publishes one event to a receiver that runs hold before
// answering 200, and returns its message ID once the request is in flight.
func inFlight(t *testing.T, d *webhook.Dispatcher, hold func()) string {
	t.Helper()
	registerTypes(t, d, "order.created")
	started := make(chan struct{})
	rcv := webhooktest.NewServer(t)
	rcv.Respond("/held", func(webhooktest.Delivery, int) int {
		close(started)
		hold()
		return http.StatusOK
	})
	tn := d.Tenant("acme")
	ep, err := tn.CreateEndpoint(ctx, webhook.EndpointParams{URL: rcv.URL("/held")})
	require.NoError(t, err)
	rcv.SetSecret("/held", ep.Secret())
	res, err := tn.Publish(ctx, webhook.Event{Type: "order.created", Payload: []byte(`{}`)})
	require.NoError(t, err)
	<-started
	return res.Messages[0].MessageID
}
