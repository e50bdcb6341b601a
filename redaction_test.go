package webhook_test

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	bbolt "go.etcd.io/bbolt"

	"github.com/hooksmith/webhook"
	"github.com/hooksmith/webhook/webhooktest"
)

// Credentials planted in request headers (set on the endpoint) and in
// response headers (sent by the receiver). Their names are the kinds the
// attempt log must redact.
var (
	plantedRequest = map[string]string{
		"Authorization":   "Bearer planted-req-authorization-5521",
		"X-Api-Key":       "planted-req-api-key-5522",
		"X-Auth-Token":    "planted-req-auth-token-5523",
		"Cookie":          "sid=planted-req-cookie-5524",
		"X-Client-Secret": "planted-req-client-secret-5525",
	}
	plantedResponse = http.Header{
		"Set-Cookie":       {"session=planted-resp-set-cookie-6631; HttpOnly"},
		"X-Session-Token":  {"planted-resp-session-token-6632"},
		"Www-Authenticate": {`Bearer realm="planted-resp-www-authenticate-6633"`},
		"X-Refresh-Token":  {"planted-resp-refresh-token-6634"},
	}
)

// plantedValues are the values of both maps, each of which must never be
// stored.
func plantedValues() []string {
	var out []string
	for _, v := range plantedRequest {
		out = append(out, v)
	}
	for _, vs := range plantedResponse {
		out = append(out, vs...)
	}
	return out
}

// secretForms are the ways a whsec_ secret could appear: whole, its base64
// key, and the raw key bytes.
func secretForms(t *testing.T, secret string) []string {
	t.Helper()
	key := strings.TrimPrefix(secret, "whsec_")
	raw, err := base64.StdEncoding.DecodeString(key)
	require.NoError(t, err)
	return []string{secret, key, string(raw)}
}

// boltScan calls fn with the path of every key and value of every bucket,
// nested buckets included.
func boltScan(t *testing.T, db *bbolt.DB, fn func(bucket string, k, v []byte)) {
	t.Helper()
	var walk func(name string, b *bbolt.Bucket) error
	walk = func(name string, b *bbolt.Bucket) error {
		return b.ForEach(func(k, v []byte) error {
			if v == nil {
				if nested := b.Bucket(k); nested != nil {
					fn(name, k, nil)
					return walk(name+"/"+string(k), nested)
				}
			}
			fn(name, k, v)
			return nil
		})
	}
	require.NoError(t, db.View(func(tx *bbolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bbolt.Bucket) error {
			fn("", name, nil)
			return walk(string(name), b)
		})
	}))
}

// Endpoints carry credentials in custom headers, the receiver answers with
// credentials in its headers, and deliveries succeed, fail and exhaust.
// Afterwards no key or value of any bucket of the bbolt file holds a
// planted value or an endpoint secret (sealed with Config.SecretKeys), and
// the attempts show those headers as "[redacted]" while keeping the
// signature.
func TestRedaction_no_planted_credential_in_any_bucket(t *testing.T) {
	t.Parallel()
	d, st := startDispatcher(t, &webhook.Config{
		RetrySchedule: fastSchedule, AllowInsecureURLs: true, AllowedDestinations: loopback,
		SecretKeys: []webhook.SecretKey{testKey("k1", 7)},
	})
	registerTypes(t, d, "order.created")
	tn := d.Tenant("acme")
	rcv := webhooktest.NewServer(t)
	rcv.Respond("/down", func(webhooktest.Delivery, int) int { return http.StatusServiceUnavailable })
	var secrets []string
	var msgs []string
	for _, path := range []string{"/ok", "/down"} {
		rcv.SetResponseHeader(path, plantedResponse)
		ep := newEndpoint(t, tn, rcv, path, webhook.EndpointParams{Headers: plantedRequest})
		secrets = append(secrets, secretForms(t, ep.Secret())...)
		res, err := tn.SendTo(ctx, ep.ID, webhook.Event{Type: "order.created", Payload: []byte(`{}`)})
		require.NoError(t, err)
		msgs = append(msgs, res.Messages[0].MessageID)
	}
	waitStatus(t, tn, msgs[0], webhook.StatusSucceeded)
	waitStatus(t, tn, msgs[1], webhook.StatusExhausted)
	for _, dl := range rcv.All() {
		require.True(t, dl.Verified, "delivery %s: %v", dl.Path, dl.Err)
		for name, v := range plantedRequest {
			require.Equal(t, v, dl.Header.Get(name), "the receiver got the endpoint's %s header", name)
		}
	}

	// Through the API: every attempt, listed and read one by one.
	atts, err := tn.ListAttempts(ctx, webhook.AttemptQuery{WithBodies: true})
	require.NoError(t, err)
	require.Len(t, atts.Items, 1+len(fastSchedule), "ok: a success; down: the whole schedule")
	for _, listed := range atts.Items {
		one, err := tn.GetAttempt(ctx, listed.ID)
		require.NoError(t, err)
		for _, a := range []*webhook.Attempt{listed, one} {
			for name := range plantedRequest {
				require.Equal(t, []string{"[redacted]"}, a.RequestHeaders[name], "request header %s of %s", name, a.ID)
			}
			for name := range plantedResponse {
				require.Equal(t, []string{"[redacted]"}, a.ResponseHeaders[name], "response header %s of %s", name, a.ID)
			}
			sig := a.RequestHeaders["Webhook-Signature"]
			require.Len(t, sig, 1, "the signature is kept")
			require.True(t, strings.HasPrefix(sig[0], "v1,"), "the signature is kept: %q", sig)
			require.NotEmpty(t, a.RequestHeaders["Webhook-Id"])
		}
	}

	// On disk, with every writer stopped: every key and value of every
	// bucket. The endpoint records are checked apart, since they must keep
	// the custom headers in some form to send them.
	require.NoError(t, d.Close())
	var buckets []string
	scan := func(t *testing.T, keep func(bucket string) bool, forbidden []string) {
		t.Helper()
		boltScan(t, st.DB(), func(bucket string, k, v []byte) {
			if bucket == "" {
				buckets = append(buckets, string(k))
				return
			}
			if !keep(bucket) {
				return
			}
			for _, f := range forbidden {
				if bytes.Contains(k, []byte(f)) || bytes.Contains(v, []byte(f)) {
					t.Errorf("bucket %q, key %q holds %q", bucket, k, f)
				}
			}
		})
	}
	t.Run("history, indexes and queues", func(t *testing.T) {
		scan(t, func(b string) bool { return b != "endpoints" }, append(plantedValues(), secrets...))
		require.Contains(t, buckets, "attempts")
		require.Contains(t, buckets, "attempt_bodies")
		require.Contains(t, buckets, "stats")
	})
	t.Run("endpoint records", func(t *testing.T) {
		var response []string
		for _, vs := range plantedResponse {
			response = append(response, vs...)
		}
		scan(t, func(b string) bool { return b == "endpoints" }, append(response, secrets...))
	})
	t.Run("endpoint records keep header credentials sealed", func(t *testing.T) {
		// Config.SecretKeys seals the whsec_ secrets; an Authorization or
		// API-key header of the same endpoint is as much a credential.
		var request []string
		for _, v := range plantedRequest {
			request = append(request, v)
		}
		scan(t, func(b string) bool { return b == "endpoints" }, request)
	})
}
