package webhook_test

import (
	"net/http"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hooksmith/webhook"
	"github.com/hooksmith/webhook/webhooktest"
)

// A message claimed while every worker is busy waits for one; if it waited
// so long that its lease no longer covers a request, it goes back and is
// claimed afresh instead of being sent on a lease that could expire
// mid-request (which would deliver it twice).
func TestClaimAhead_a_message_that_waited_out_its_lease_is_claimed_again(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// 10 s of slack beyond the request: the scheduler claims ahead.
		r := newVRig(t, webhook.Config{Workers: 1, RequestTimeout: 20 * time.Second, LeaseDuration: 30 * time.Second}, false)
		defer r.close()
		registerTypes(t, r.d, "t.e")
		r.respond("/slow", func(_ *http.Request, n int) int {
			if n == 1 {
				time.Sleep(15 * time.Second) // the second message waits this long for the worker
			} else {
				time.Sleep(18 * time.Second) // within the timeout, past the end of the second's first lease
			}
			return http.StatusOK
		})
		r.endpoint("acme", "/slow", webhook.EndpointParams{})
		first := r.publish("acme", `{"n":1}`)[0]
		r.waitFor(time.Second, "the first message was not sent", func() bool { return len(r.deliveries("/slow")) == 1 })
		second := r.publish("acme", `{"n":2}`)[0]
		r.waitFor(time.Second, "the second message was not claimed ahead", func() bool {
			return r.message("acme", second).Status == webhook.StatusDelivering
		})
		r.waitFor(time.Minute, "the messages were not delivered", func() bool {
			return r.message("acme", first).Status == webhook.StatusSucceeded &&
				r.message("acme", second).Status == webhook.StatusSucceeded
		})
		time.Sleep(time.Minute) // a second delivery would come by now
		synctest.Wait()
		got := r.deliveries("/slow")
		require.Len(t, got, 2, "each message is sent once")
		require.Equal(t, `{"n":2}`, got[1].Body)
		require.Equal(t, 1, r.message("acme", second).Attempts, "going back is not an attempt")
	})
}

// With a lease that leaves little time beyond the request, nothing is
// claimed before a worker is free.
func TestClaimAhead_needs_a_lease_with_room_to_wait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newVRig(t, webhook.Config{Workers: 1, RequestTimeout: 10 * time.Second, LeaseDuration: 15 * time.Second}, false)
		defer r.close()
		registerTypes(t, r.d, "t.e")
		r.respond("/slow", func(_ *http.Request, n int) int {
			if n == 1 {
				time.Sleep(5 * time.Second)
			}
			return http.StatusOK
		})
		r.endpoint("acme", "/slow", webhook.EndpointParams{})
		r.publish("acme", `{"n":1}`)
		r.waitFor(time.Second, "the first message was not sent", func() bool { return len(r.deliveries("/slow")) == 1 })
		second := r.publish("acme", `{"n":2}`)[0]
		time.Sleep(time.Second)
		synctest.Wait()
		require.Equal(t, webhook.StatusPending, r.message("acme", second).Status, "not claimed while the only worker is busy")
		r.waitFor(time.Minute, "the second message was not delivered", func() bool {
			return r.message("acme", second).Status == webhook.StatusSucceeded
		})
	})
}

// Outcomes are written after the worker has moved on to its next request;
// Stop still returns only once every outcome is stored and its hook told.
func TestStop_returns_once_every_outcome_is_recorded(t *testing.T) {
	t.Parallel()
	var finished atomic.Int64
	d, st := newDispatcher(t, &webhook.Config{AllowInsecureURLs: true, AllowedDestinations: loopback, Workers: 8,
		Hooks: &webhook.Hooks{AttemptFinished: func(webhook.AttemptInfo) { finished.Add(1) }}})
	registerTypes(t, d, "order.created")
	tn := d.Tenant("acme")
	rcv := webhooktest.NewServer(t)
	newEndpoint(t, tn, rcv, "/ok", webhook.EndpointParams{})
	const n = 200
	for range n {
		_, err := tn.Publish(ctx, webhook.Event{Type: "order.created", Payload: []byte(`{}`)})
		require.NoError(t, err)
	}
	require.NoError(t, d.Start(ctx))
	rcv.Wait(t, "/ok", n, 10*time.Second)
	require.NoError(t, d.Stop(ctx))
	require.Zero(t, count(t, st, "queue"), "messages still live after Stop")
	require.Zero(t, count(t, st, "leases"), "messages still leased after Stop")
	require.Eventually(t, func() bool { return finished.Load() == n }, 5*time.Second, time.Millisecond,
		"every attempt reaches the hook")
}
