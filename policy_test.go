package webhook_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hooksmith/webhook"
	"github.com/hooksmith/webhook/webhooktest"
)

func TestRetrySchedule_per_endpoint_overrides_the_default(t *testing.T) {
	t.Parallel()
	d, _ := startDispatcher(t, nil) // default: fastSchedule, 3 attempts
	registerTypes(t, d, "order.created")
	tn := d.Tenant("acme")
	rcv := webhooktest.NewServer(t)
	for _, p := range []string{"/own", "/default"} {
		rcv.Respond(p, func(webhooktest.Delivery, int) int { return http.StatusInternalServerError })
	}
	own := newEndpoint(t, tn, rcv, "/own", webhook.EndpointParams{RetrySchedule: []time.Duration{0, 10 * time.Millisecond}})
	got, err := tn.GetEndpoint(ctx, own.ID)
	require.NoError(t, err)
	require.Equal(t, []time.Duration{0, 10 * time.Millisecond}, got.RetrySchedule)
	newEndpoint(t, tn, rcv, "/default", webhook.EndpointParams{})
	res, err := tn.Publish(ctx, webhook.Event{Type: "order.created", Payload: []byte(`{}`)})
	require.NoError(t, err)
	for _, m := range res.Messages {
		want := len(fastSchedule)
		if m.EndpointID == own.ID {
			want = 2
		}
		got := waitStatus(t, tn, m.MessageID, webhook.StatusExhausted)
		require.Equal(t, want, got.Attempts, m.EndpointID)
	}

	for _, bad := range [][]time.Duration{{-time.Second}, {0, 31 * 24 * time.Hour}, make([]time.Duration, 51)} {
		_, err := tn.CreateEndpoint(ctx, webhook.EndpointParams{URL: "https://x.example/", RetrySchedule: bad})
		require.True(t, isValidation(err, "retry_schedule"), "got %v", err)
	}
}

func TestRetryAfter_is_honoured_and_clamped(t *testing.T) {
	t.Parallel()
	d, _ := startDispatcher(t, &webhook.Config{AllowInsecureURLs: true, AllowedDestinations: loopback,
		RetrySchedule: fastSchedule, MaxRetryAfter: 5 * time.Minute})
	registerTypes(t, d, "order.created")
	tn := d.Tenant("acme")
	date := time.Now().Add(2 * time.Minute).UTC().Format(http.TimeFormat)
	rcv := webhooktest.NewServer(t)
	cases := []struct {
		path       string
		status     int
		retryAfter string
		want       time.Duration // delay from the attempt's start to the next attempt
		slack      time.Duration
	}{
		{"/seconds", http.StatusServiceUnavailable, "30", 30 * time.Second, 3 * time.Second},
		{"/clamped", http.StatusTooManyRequests, "86400", 5 * time.Minute, 3 * time.Second},
		{"/date", http.StatusServiceUnavailable, date, 2 * time.Minute, 4 * time.Second},
		{"/ignored-on-500", http.StatusInternalServerError, "3600", 20 * time.Millisecond, 3 * time.Second},
	}
	for _, c := range cases {
		rcv.SetResponseHeader(c.path, http.Header{"Retry-After": {c.retryAfter}})
		status := c.status
		rcv.Respond(c.path, func(webhooktest.Delivery, int) int { return status })
		ep := newEndpoint(t, tn, rcv, c.path, webhook.EndpointParams{})
		res, err := tn.SendTo(ctx, ep.ID, webhook.Event{Type: "order.created", Payload: []byte(`{}`)})
		require.NoError(t, err)
		atts := waitAttempts(t, tn, res.Messages[0].MessageID, 1)
		m, err := tn.GetMessage(ctx, res.Messages[0].MessageID)
		require.NoError(t, err)
		if m.Status != webhook.StatusFailing {
			continue // the 20 ms case may already be on its next attempt
		}
		delay := m.NextAttemptAt.Sub(atts[0].StartedAt)
		require.InDelta(t, float64(c.want), float64(delay), float64(c.slack), "%s: next attempt after %v", c.path, delay)
	}
}

func TestGone_disables_the_endpoint_and_holds_its_messages(t *testing.T) {
	t.Parallel()
	d, _ := startDispatcher(t, nil)
	registerTypes(t, d, "order.created")
	tn := d.Tenant("acme")
	rcv := webhooktest.NewServer(t)
	rcv.Respond("/gone", func(_ webhooktest.Delivery, n int) int {
		if n == 1 {
			return http.StatusGone
		}
		return http.StatusOK
	})
	gone := newEndpoint(t, tn, rcv, "/gone", webhook.EndpointParams{})
	newEndpoint(t, tn, rcv, "/ok", webhook.EndpointParams{})
	res, err := tn.Publish(ctx, webhook.Event{Type: "order.created", Payload: []byte(`{}`)})
	require.NoError(t, err)
	var goneMsg string
	for _, m := range res.Messages {
		if m.EndpointID == gone.ID {
			goneMsg = m.MessageID
		}
	}
	rcv.Wait(t, "/ok", 1, 10*time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for {
		ep, err := tn.GetEndpoint(ctx, gone.ID)
		require.NoError(t, err)
		if ep.Disabled {
			require.Contains(t, ep.DisabledReason, "410")
			break
		}
		require.True(t, time.Now().Before(deadline), "the endpoint was not disabled")
		time.Sleep(5 * time.Millisecond)
	}
	m, err := tn.GetMessage(ctx, goneMsg)
	require.NoError(t, err)
	require.False(t, m.Status.Final(), "410 cancels nothing: the message waits, got %s", m.Status)
	require.Equal(t, 1, m.Attempts)

	require.NoError(t, tn.EnableEndpoint(ctx, gone.ID))
	rcv.Wait(t, "/gone", 2, 10*time.Second)
	waitStatus(t, tn, goneMsg, webhook.StatusSucceeded)
}

func TestNoRetryOnClientError(t *testing.T) {
	t.Parallel()
	d, _ := startDispatcher(t, nil)
	registerTypes(t, d, "order.created")
	tn := d.Tenant("acme")
	rcv := webhooktest.NewServer(t)
	for _, p := range []string{"/optout-400", "/default-400"} {
		rcv.Respond(p, func(webhooktest.Delivery, int) int { return http.StatusBadRequest })
	}
	rcv.Respond("/optout-429", func(webhooktest.Delivery, int) int { return http.StatusTooManyRequests })
	for path, want := range map[string]int{"/optout-400": 1, "/default-400": len(fastSchedule), "/optout-429": len(fastSchedule)} {
		ep := newEndpoint(t, tn, rcv, path, webhook.EndpointParams{NoRetryOnClientError: strings.HasPrefix(path, "/optout")})
		res, err := tn.SendTo(ctx, ep.ID, webhook.Event{Type: "order.created", Payload: []byte(`{}`)})
		require.NoError(t, err)
		m := waitStatus(t, tn, res.Messages[0].MessageID, webhook.StatusExhausted)
		require.Equal(t, want, m.Attempts, path)
	}
}

// waitAttempts waits until a message has at least n attempts and returns
// them oldest first.
func waitAttempts(t *testing.T, tn *webhook.Tenant, msgID string, n int) []*webhook.Attempt {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		page, err := tn.ListAttempts(ctx, webhook.AttemptQuery{MessageID: msgID})
		require.NoError(t, err)
		if len(page.Items) >= n {
			out := page.Items
			for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
				out[i], out[j] = out[j], out[i]
			}
			return out
		}
		require.True(t, time.Now().Before(deadline), "message %s has %d attempts, want %d", msgID, len(page.Items), n)
		time.Sleep(5 * time.Millisecond)
	}
}
