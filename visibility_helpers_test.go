package webhook_test

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hooksmith/webhook"
	"github.com/hooksmith/webhook/webhooktest"
)

// Helpers of the delivery history, recovery and retention tests.

// acmeRig starts a dispatcher as startDispatcher does, registers types
// ("order.created" when none are given) and a receiver, and returns them
// with tenant acme's handle.
func acmeRig(t *testing.T, cfg *webhook.Config, types ...string) (*webhook.Dispatcher, *webhook.Tenant, *webhooktest.Server) {
	t.Helper()
	d, _ := startDispatcher(t, cfg)
	if len(types) == 0 {
		types = []string{"order.created"}
	}
	registerTypes(t, d, types...)
	return d, d.Tenant("acme"), webhooktest.NewServer(t)
}

// downUntil makes path answer 500 until the returned flag is set, 200 after.
func downUntil(rcv *webhooktest.Server, path string) *atomic.Bool {
	up := new(atomic.Bool)
	rcv.Respond(path, func(webhooktest.Delivery, int) int { return upOr500(up) })
	return up
}

// vDownUntil is downUntil for the virtual-time rig's receiver.
func vDownUntil(r *vrig, path string) *atomic.Bool {
	up := new(atomic.Bool)
	r.respond(path, func(*http.Request, int) int { return upOr500(up) })
	return up
}

func upOr500(up *atomic.Bool) int {
	if up.Load() {
		return http.StatusOK
	}
	return http.StatusInternalServerError
}

// countByID counts a receiver's deliveries per webhook-id.
func countByID(dls []webhooktest.Delivery) map[string]int {
	n := map[string]int{}
	for _, d := range dls {
		n[d.ID]++
	}
	return n
}

// sendEach sends n events of type order.created straight to an endpoint,
// with IDs prefix-00, prefix-01, ..., and returns their message and event
// IDs.
func sendEach(t *testing.T, tn *webhook.Tenant, endpointID, prefix string, n int) (msgs, events []string) {
	t.Helper()
	for i := range n {
		id := fmt.Sprintf("%s-%02d", prefix, i)
		res, err := tn.SendTo(ctx, endpointID, webhook.Event{ID: id, Type: "order.created", Payload: []byte(`{}`)})
		require.NoError(t, err)
		msgs = append(msgs, res.Messages[0].MessageID)
		events = append(events, id)
	}
	return msgs, events
}

// waitRecovery polls a recovery job until it is done (time may be virtual).
func waitRecovery(t *testing.T, tn *webhook.Tenant, id string) *webhook.Recovery {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := tn.GetRecovery(ctx, id)
		require.NoError(t, err)
		if r.Done {
			return r
		}
		require.True(t, time.Now().Before(deadline), "recovery %s not done: %+v", id, r)
		time.Sleep(5 * time.Millisecond)
	}
}

// waitAttemptsDone waits until the message has n attempts and is final.
func waitAttemptsDone(t *testing.T, tn *webhook.Tenant, msgID string, n int) *webhook.Message {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		m, err := tn.GetMessage(ctx, msgID)
		require.NoError(t, err)
		if m.Attempts >= n && m.Status.Final() {
			return m
		}
		require.True(t, time.Now().Before(deadline), "message %s: %d attempts, %s", msgID, m.Attempts, m.Status)
		time.Sleep(5 * time.Millisecond)
	}
}

// exhaustedIDs lists the IDs of the tenant's dead letters.
func exhaustedIDs(t *testing.T, tn *webhook.Tenant, endpointID string) []string {
	t.Helper()
	p, err := tn.ListExhaustedMessages(ctx, webhook.ExhaustedQuery{EndpointID: endpointID})
	require.NoError(t, err)
	ids := make([]string, len(p.Items))
	for i, m := range p.Items {
		ids[i] = m.ID
	}
	return ids
}

// mustRetention returns the tenant's retention.
func mustRetention(t *testing.T, tn *webhook.Tenant) time.Duration {
	t.Helper()
	d, err := tn.Retention(ctx)
	require.NoError(t, err)
	return d
}
