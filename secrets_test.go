package webhook_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hooksmith/webhook"
	"github.com/hooksmith/webhook/webhooktest"
)

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestSecrets_never_leave_through_side_doors(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	d, _ := startDispatcher(t, &webhook.Config{
		AllowInsecureURLs: true, AllowedDestinations: loopback, RetrySchedule: fastSchedule,
		Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	registerTypes(t, d, "order.created")
	tn := d.Tenant("acme")
	rcv := webhooktest.NewServer(t)
	rcv.Respond("/fails", func(webhooktest.Delivery, int) int { return http.StatusInternalServerError })
	const token = "Bearer planted-credential-4711"
	ep := newEndpoint(t, tn, rcv, "/fails", webhook.EndpointParams{Headers: map[string]string{"Authorization": token, "X-Api-Key": "planted-key-0815"}})
	rotated, err := tn.RotateSecret(ctx, ep.ID, 0)
	require.NoError(t, err)
	rcv.SetSecret("/fails", rotated.Secret())
	res, err := tn.Publish(ctx, webhook.Event{Type: "order.created", Payload: []byte(`{"card":"planted-payload"}`)})
	require.NoError(t, err)
	waitStatus(t, tn, res.Messages[0].MessageID, webhook.StatusExhausted)

	secrets := []string{ep.Secret(), rotated.Secret()}
	planted := []string{"planted-credential-4711", "planted-key-0815"}
	forbidden := func(where, text string, extra ...string) {
		t.Helper()
		for _, s := range append(append([]string{}, secrets...), extra...) {
			key := strings.TrimPrefix(s, "whsec_")
			require.NotContains(t, text, key, "%s holds a secret", where)
		}
	}
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		forbidden("fmt "+f, fmt.Sprintf(f, rotated))
	}
	js, err := json.Marshal(rotated)
	require.NoError(t, err)
	forbidden("JSON", string(js))

	atts, err := tn.ListAttempts(ctx, webhook.AttemptQuery{EndpointID: ep.ID})
	require.NoError(t, err)
	require.Len(t, atts.Items, len(fastSchedule))
	for _, a := range atts.Items {
		js, err := json.Marshal(a)
		require.NoError(t, err)
		forbidden("an attempt record", string(js), planted...)
		require.Equal(t, []string{"[redacted]"}, a.RequestHeaders["Authorization"])
		require.NotEmpty(t, a.RequestHeaders["Webhook-Signature"])
	}
	out := logs.String()
	require.Contains(t, out, "attempt finished", "debug logs were captured")
	forbidden("the logs", out, append(planted, "planted-payload")...)

	_, err = tn.SetSecret(ctx, ep.ID, "whsec_"+strings.TrimPrefix(ep.Secret(), "whsec_")[:10], 0)
	require.Error(t, err)
	forbidden("an error", err.Error())
}
