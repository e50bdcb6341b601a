package webhook_test

import (
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hooksmith/webhook"
)

type captured struct {
	header http.Header
	body   []byte
}

// captureServer records every request it receives.
func captureServer(t *testing.T) (*httptest.Server, chan captured) {
	got := make(chan captured, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- captured{r.Header.Clone(), body}
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

// capturedEndpoint starts a dispatcher with the order.created type and one
// endpoint of tenant acme on a capture server.
func capturedEndpoint(t *testing.T, p webhook.EndpointParams) (*webhook.Tenant, *webhook.Endpoint, chan captured) {
	t.Helper()
	d, _ := startDispatcher(t, nil)
	registerTypes(t, d, "order.created")
	tn := d.Tenant("acme")
	srv, got := captureServer(t)
	p.URL = srv.URL
	ep, err := tn.CreateEndpoint(ctx, p)
	require.NoError(t, err)
	return tn, ep, got
}

func next(t *testing.T, got chan captured) captured {
	t.Helper()
	select {
	case c := <-got:
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery")
		return captured{}
	}
}

func TestRotateSecret_signs_with_old_and_new_during_the_grace(t *testing.T) {
	t.Parallel()
	tn, ep, got := capturedEndpoint(t, webhook.EndpointParams{})
	old := ep.Secret()

	rotated, err := tn.RotateSecret(ctx, ep.ID, time.Second)
	require.NoError(t, err)
	fresh := rotated.Secret()
	require.NotEqual(t, old, fresh)
	stored, err := tn.GetEndpoint(ctx, ep.ID)
	require.NoError(t, err)
	require.Equal(t, fresh, stored.Secret())

	_, err = tn.Publish(ctx, webhook.Event{Type: "order.created", Payload: []byte(`{"n":1}`)})
	require.NoError(t, err)
	c := next(t, got)
	require.Len(t, strings.Fields(c.header.Get("webhook-signature")), 2)
	require.NoError(t, webhook.Verify(old, c.header, c.body), "the old secret still verifies during the grace")
	require.NoError(t, webhook.Verify(fresh, c.header, c.body))

	time.Sleep(1100 * time.Millisecond)
	_, err = tn.Publish(ctx, webhook.Event{Type: "order.created", Payload: []byte(`{"n":2}`)})
	require.NoError(t, err)
	c = next(t, got)
	require.Len(t, strings.Fields(c.header.Get("webhook-signature")), 1)
	require.ErrorIs(t, webhook.Verify(old, c.header, c.body), webhook.ErrInvalidSignature, "the old secret outlived its grace")
	require.NoError(t, webhook.Verify(fresh, c.header, c.body))
}

func TestRotateSecret_keeps_at_most_ten_previous_secrets(t *testing.T) {
	t.Parallel()
	tn, ep, got := capturedEndpoint(t, webhook.EndpointParams{})
	secrets := []string{ep.Secret()}
	for range 12 {
		r, err := tn.RotateSecret(ctx, ep.ID, webhook.MaxRotationGrace)
		require.NoError(t, err)
		secrets = append(secrets, r.Secret())
	}
	_, err := tn.Publish(ctx, webhook.Event{Type: "order.created", Payload: []byte(`{}`)})
	require.NoError(t, err)
	c := next(t, got)
	require.Len(t, strings.Fields(c.header.Get("webhook-signature")), 1+webhook.MaxPreviousSecrets)
	for i, s := range secrets {
		err := webhook.Verify(s, c.header, c.body)
		if i < len(secrets)-1-webhook.MaxPreviousSecrets {
			require.ErrorIs(t, err, webhook.ErrInvalidSignature, "secret %d should have been dropped", i)
		} else {
			require.NoError(t, err, "secret %d", i)
		}
	}
}

func TestSetSecret_validates_the_hosts_secret(t *testing.T) {
	t.Parallel()
	d, _ := newDispatcher(t, nil)
	tn := d.Tenant("acme")
	ep, err := tn.CreateEndpoint(ctx, webhook.EndpointParams{URL: "https://a.example/"})
	require.NoError(t, err)
	key := func(n int) string { return base64.StdEncoding.EncodeToString(make([]byte, n)) }
	for _, bad := range []string{
		"", key(32), "whsec_", "whsec_" + key(23), "whsec_" + key(65), "whsec_!!not-base64!!", "whsk_" + key(32),
	} {
		_, err := tn.SetSecret(ctx, ep.ID, bad, 0)
		require.True(t, isValidation(err, "secret"), "%q: %v", bad, err)
		require.ErrorIs(t, err, webhook.ErrInvalidSecret)
		if len(bad) > len("whsec_") {
			require.NotContains(t, err.Error(), bad[len("whsec_"):], "the error quotes the secret")
		}
	}
	own := "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	got, err := tn.SetSecret(ctx, ep.ID, own, 0)
	require.NoError(t, err)
	require.Equal(t, own, got.Secret())

	for _, g := range []time.Duration{-time.Second, webhook.MaxRotationGrace + time.Second} {
		_, err := tn.RotateSecret(ctx, ep.ID, g)
		require.True(t, isValidation(err, "grace"), "%v: %v", g, err)
	}
	_, err = d.Tenant("other").RotateSecret(ctx, ep.ID, 0)
	require.ErrorIs(t, err, webhook.ErrNotFound)
}

func TestRotateSecret_RevokeNow_drops_every_previous_secret(t *testing.T) {
	t.Parallel()
	tn, ep, got := capturedEndpoint(t, webhook.EndpointParams{})
	week, err := tn.RotateSecret(ctx, ep.ID, webhook.MaxRotationGrace)
	require.NoError(t, err)
	leaked, err := tn.RotateSecret(ctx, ep.ID, webhook.RevokeNow)
	require.NoError(t, err)
	_, err = tn.Publish(ctx, webhook.Event{Type: "order.created", Payload: []byte(`{}`)})
	require.NoError(t, err)
	c := next(t, got)
	require.Len(t, strings.Fields(c.header.Get("webhook-signature")), 1)
	require.NoError(t, webhook.Verify(leaked.Secret(), c.header, c.body))
	for _, old := range []string{ep.Secret(), week.Secret()} {
		require.ErrorIs(t, webhook.Verify(old, c.header, c.body), webhook.ErrInvalidSignature)
	}
}

func TestRotateSecret_concurrent_rotations_all_survive(t *testing.T) {
	t.Parallel()
	tn, ep, got := capturedEndpoint(t, webhook.EndpointParams{})
	const n = 8
	secrets := make(chan string, n)
	errs := make(chan error, n)
	for range n {
		go func() {
			r, err := tn.RotateSecret(ctx, ep.ID, time.Hour)
			errs <- err
			if err == nil {
				secrets <- r.Secret()
			}
		}()
	}
	for range n {
		require.NoError(t, <-errs)
	}
	_, err := tn.Publish(ctx, webhook.Event{Type: "order.created", Payload: []byte(`{}`)})
	require.NoError(t, err)
	c := next(t, got)
	require.Len(t, strings.Fields(c.header.Get("webhook-signature")), n+1, "a concurrent rotation was lost")
	for range n {
		require.NoError(t, webhook.Verify(<-secrets, c.header, c.body))
	}
	require.NoError(t, webhook.Verify(ep.Secret(), c.header, c.body))
}
