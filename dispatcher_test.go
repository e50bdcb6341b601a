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
		registerTypes(t, d, "order.created")
		started := make(chan struct{})
		rcv := webhooktest.NewServer(t)
		rcv.Respond("/slow", func(webhooktest.Delivery, int) int {
			close(started)
			time.Sleep(300 * time.Millisecond)
			return http.StatusOK
		})
		tn := d.Tenant("acme")
		ep, err := tn.CreateEndpoint(ctx, webhook.EndpointParams{URL: rcv.URL("/slow")})
		require.NoError(t, err)
		rcv.SetSecret("/slow", ep.Secret())
		res, err := tn.Publish(ctx, webhook.Event{Type: "order.created", Payload: []byte(`{}`)})
		require.NoError(t, err)
		<-started
		stopCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		require.NoError(t, d.Stop(stopCtx))
		m, err := st.MessageGet(ctx, "acme", res.Messages[0].MessageID)
		require.NoError(t, err)
		require.Equal(t, webhook.StatusSucceeded, m.Status, "Stop returned before the outcome was recorded")
		require.Equal(t, 1, m.Attempts)
	})
	t.Run("stop_past_its_deadline_releases_the_message_uncounted", func(t *testing.T) {
		t.Parallel()
		d, st := startDispatcher(t, nil)
		registerTypes(t, d, "order.created")
		started := make(chan struct{})
		unblock := make(chan struct{})
		defer close(unblock)
		rcv := webhooktest.NewServer(t)
		rcv.Respond("/stuck", func(webhooktest.Delivery, int) int {
			close(started)
			<-unblock
			return http.StatusOK
		})
		tn := d.Tenant("acme")
		ep, err := tn.CreateEndpoint(ctx, webhook.EndpointParams{URL: rcv.URL("/stuck")})
		require.NoError(t, err)
		rcv.SetSecret("/stuck", ep.Secret())
		res, err := tn.Publish(ctx, webhook.Event{Type: "order.created", Payload: []byte(`{}`)})
		require.NoError(t, err)
		<-started
		stopCtx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		require.ErrorIs(t, d.Stop(stopCtx), context.DeadlineExceeded)
		m, err := st.MessageGet(ctx, "acme", res.Messages[0].MessageID)
		require.NoError(t, err)
		require.Equal(t, webhook.StatusPending, m.Status)
		require.Zero(t, m.Attempts, "an aborted request is not an attempt")
		require.WithinDuration(t, time.Now(), m.NextAttemptAt, 5*time.Second, "released messages are due at once")
	})
}
