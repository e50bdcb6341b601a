package webhook_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hooksmith/webhook"
)

func TestEd25519_endpoint_signs_v1a_for_its_public_key(t *testing.T) {
	t.Parallel()
	tn, ep, got := capturedEndpoint(t, webhook.EndpointParams{Ed25519: true})
	require.True(t, ep.Ed25519)
	require.Empty(t, ep.Secret(), "an Ed25519 endpoint has no shared secret to hand out")
	pub := ep.PublicKey()
	require.True(t, strings.HasPrefix(pub, "whpk_"), pub)
	again, err := tn.GetEndpoint(ctx, ep.ID)
	require.NoError(t, err)
	require.Equal(t, pub, again.PublicKey())
	require.True(t, again.Ed25519)

	_, err = tn.Publish(ctx, webhook.Event{ID: "evt-ed", Type: "order.created", Payload: []byte(`{"n":1}`)})
	require.NoError(t, err)
	c := next(t, got)
	require.NoError(t, webhook.Verify(pub, c.header, c.body))
	sigs := strings.Fields(c.header.Get("webhook-signature"))
	require.Len(t, sigs, 1)
	sig, ok := strings.CutPrefix(sigs[0], "v1a,")
	require.True(t, ok, sigs[0])
	raw, err := base64.StdEncoding.DecodeString(sig)
	require.NoError(t, err)
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(pub, "whpk_"))
	require.NoError(t, err)
	signed := fmt.Sprintf("%s.%s.%s", c.header.Get("webhook-id"), c.header.Get("webhook-timestamp"), c.body)
	require.True(t, ed25519.Verify(ed25519.PublicKey(key), []byte(signed), raw), "not an ed25519 signature of id.timestamp.body")

	// Rotation keeps the scheme; during the grace both public keys verify.
	rotated, err := tn.RotateSecret(ctx, ep.ID, time.Hour)
	require.NoError(t, err)
	require.NotEqual(t, pub, rotated.PublicKey())
	_, err = tn.Publish(ctx, webhook.Event{Type: "order.created", Payload: []byte(`{"n":2}`)})
	require.NoError(t, err)
	c = next(t, got)
	require.Len(t, strings.Fields(c.header.Get("webhook-signature")), 2)
	require.NoError(t, webhook.Verify(pub, c.header, c.body))
	require.NoError(t, webhook.Verify(rotated.PublicKey(), c.header, c.body))

	for _, f := range []string{"%v", "%+v", "%#v", "%d", "%x"} {
		require.NotContains(t, fmt.Sprintf(f, rotated), "whsk_", f)
	}

	// A public key without its prefix is refused, not taken for an HMAC
	// secret that anyone holding the public key could sign with.
	require.ErrorIs(t, webhook.Verify(strings.TrimPrefix(pub, "whpk_"), c.header, c.body), webhook.ErrInvalidSecret)
}

func TestEd25519_scheme_is_fixed_at_creation(t *testing.T) {
	t.Parallel()
	d, _ := newDispatcher(t, nil)
	tn := d.Tenant("acme")
	ep, err := tn.CreateEndpoint(ctx, webhook.EndpointParams{URL: "https://a.example/", Ed25519: true})
	require.NoError(t, err)
	p := ep.EndpointParams
	p.Ed25519 = false
	_, err = tn.UpdateEndpoint(ctx, ep.ID, p)
	require.True(t, isValidation(err, "ed25519"), "got %v", err)
	p.Ed25519, p.Description = true, "still ed25519"
	updated, err := tn.UpdateEndpoint(ctx, ep.ID, p)
	require.NoError(t, err)
	require.Equal(t, ep.PublicKey(), updated.PublicKey())

	own := "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	_, err = tn.SetSecret(ctx, ep.ID, own, 0)
	require.True(t, isValidation(err, "secret"), "got %v", err)

	hmac, err := tn.CreateEndpoint(ctx, webhook.EndpointParams{URL: "https://b.example/"})
	require.NoError(t, err)
	require.Empty(t, hmac.PublicKey())
	p = hmac.EndpointParams
	p.Ed25519 = true
	_, err = tn.UpdateEndpoint(ctx, hmac.ID, p)
	require.True(t, isValidation(err, "ed25519"), "got %v", err)
}
