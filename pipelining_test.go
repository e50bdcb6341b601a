package webhook_test

import (
	"fmt"
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

// How far the scheduler claims ahead follows how long requests take: one
// round of Workers while none has been timed or they are slow, three when
// they are quick, each round waiting about one request.
func TestClaimAhead_depth_follows_request_times(t *testing.T) {
	for _, tc := range []struct {
		name    string
		warm    time.Duration // how long a request before the slow one takes; < 0: none
		claimed int           // messages leased with the slow request in flight, itself included
	}{
		// The budget is a quarter of the lease's 40 s beyond the request.
		{name: "untimed", warm: -1, claimed: 2},
		{name: "slow", warm: 12 * time.Second, claimed: 2},
		{name: "quick", warm: 0, claimed: 4},
		{name: "middling", warm: 4 * time.Second, claimed: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := newVRig(t, webhook.Config{Workers: 1, RequestTimeout: 20 * time.Second, LeaseDuration: time.Minute}, false)
				defer r.close()
				registerTypes(t, r.d, "t.e")
				var slow atomic.Bool
				r.respond("/ep", func(*http.Request, int) int {
					if slow.Load() {
						time.Sleep(15 * time.Second)
					} else {
						time.Sleep(tc.warm)
					}
					return http.StatusOK
				})
				r.endpoint("acme", "/ep", webhook.EndpointParams{})
				if tc.warm >= 0 {
					warm := r.publish("acme", `{"warm":true}`)[0]
					r.waitFor(time.Minute, "the first message was not delivered", func() bool {
						return r.message("acme", warm).Status == webhook.StatusSucceeded
					})
				}
				slow.Store(true)
				first := r.publish("acme", `{"n":0}`)[0]
				r.waitFor(time.Second, "the slow message was not sent", func() bool {
					return r.message("acme", first).Status == webhook.StatusDelivering
				})
				ids := []string{first}
				for i := range 5 {
					ids = append(ids, r.publish("acme", fmt.Sprintf(`{"n":%d}`, i+1))[0])
				}
				time.Sleep(time.Second)
				synctest.Wait()
				var leased []string
				for _, id := range ids {
					if r.message("acme", id).Status == webhook.StatusDelivering {
						leased = append(leased, id)
					}
				}
				require.Equal(t, ids[:tc.claimed], leased, "claimed in publish order, as far ahead as the request times allow")
			})
		})
	}
}

// Outcomes are written after the worker has moved on to its next request;
// Stop still returns only once every outcome is stored and queued for the
// hooks (which run on their own goroutine, hence Eventually below).
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

// Rate-limit tokens are spent when a message is claimed, so a rate-limited
// endpoint's messages are never claimed ahead to wait for a worker: they
// would all go out together when one came free.
func TestClaimAhead_keeps_rate_limits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newVRig(t, webhook.Config{Workers: 2, RequestTimeout: 20 * time.Second, LeaseDuration: time.Minute}, false)
		defer r.close()
		registerTypes(t, r.d, "t.e")
		r.respond("/slow", func(*http.Request, int) int {
			time.Sleep(10 * time.Second) // both workers busy
			return http.StatusOK
		})
		r.endpoint("acme", "/slow", webhook.EndpointParams{})
		r.endpoint("limited", "/limited", webhook.EndpointParams{RateLimit: 1})
		r.publish("acme", `{"n":1}`)
		r.publish("acme", `{"n":2}`)
		r.waitFor(time.Second, "the slow messages were not sent", func() bool { return len(r.deliveries("/slow")) == 2 })
		for i := range 4 {
			r.publish("limited", fmt.Sprintf(`{"n":%d}`, i))
		}
		r.waitFor(time.Minute, "the limited endpoint did not get its messages", func() bool { return len(r.deliveries("/limited")) == 4 })
		got := r.deliveries("/limited")
		for i := 1; i < len(got); i++ {
			require.GreaterOrEqual(t, got[i].At.Sub(got[i-1].At), 900*time.Millisecond,
				"requests %d and %d came %s apart; the limit is 1 per second", i, i+1, got[i].At.Sub(got[i-1].At))
		}
	})
}

// A message claimed ahead for an endpoint whose circuit opens while it
// waits is not sent: it waits for the probe like the endpoint's others.
func TestClaimAhead_a_circuit_that_opens_holds_the_messages_waiting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newVRig(t, webhook.Config{Workers: 1, RequestTimeout: 20 * time.Second, LeaseDuration: time.Minute,
			CircuitBreakerThreshold: 1, CircuitBreakerCooldown: time.Minute}, false)
		defer r.close()
		registerTypes(t, r.d, "t.e")
		r.respond("/down", func(*http.Request, int) int { return http.StatusInternalServerError })
		r.endpoint("acme", "/down", webhook.EndpointParams{})
		ids := make([]string, 3)
		for i := range ids {
			ids[i] = r.publish("acme", fmt.Sprintf(`{"n":%d}`, i))[0]
		}
		time.Sleep(30 * time.Second)
		synctest.Wait()
		require.Len(t, r.deliveries("/down"), 1, "the first failure opened the circuit")
		for _, id := range ids[1:] {
			m := r.message("acme", id)
			require.Equal(t, webhook.StatusPending, m.Status)
			require.Zero(t, m.Attempts, "no attempt spent while the circuit was open")
		}
	})
}
