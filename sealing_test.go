package webhook_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hooksmith/webhook"
	"github.com/hooksmith/webhook/store/bolt"
	"github.com/hooksmith/webhook/webhooktest"
)

func testKey(id string, fill byte) webhook.SecretKey {
	return webhook.SecretKey{ID: id, Key: base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{fill}, 32))}
}

// openAt opens a store at path and a dispatcher with keys; both close with the test.
func openAt(t *testing.T, path string, logs *syncBuffer, keys ...webhook.SecretKey) (*webhook.Dispatcher, *bolt.Store) {
	t.Helper()
	st, err := bolt.Open(path, nil)
	require.NoError(t, err)
	cfg := &webhook.Config{SecretKeys: keys, Logger: slog.New(slog.DiscardHandler)}
	if logs != nil {
		cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	}
	d, err := webhook.New(st, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { d.Close(); st.Close() })
	return d, st
}

// secretsOnDisk creates endpoints (one rotated, one with a host secret),
// closes everything and reports which of their secrets appear in the file.
func secretsOnDisk(t *testing.T, keys ...webhook.SecretKey) (found []string, all []string) {
	path := filepath.Join(t.TempDir(), "webhook.db")
	d, st := openAt(t, path, nil, keys...)
	tn := d.Tenant("acme")
	for i := range 3 {
		ep, err := tn.CreateEndpoint(ctx, webhook.EndpointParams{URL: fmt.Sprintf("https://e%d.example/", i)})
		require.NoError(t, err)
		all = append(all, ep.Secret())
		if i == 1 {
			r, err := tn.RotateSecret(ctx, ep.ID, 0)
			require.NoError(t, err)
			all = append(all, r.Secret())
		}
		if i == 2 {
			own := "whsec_" + base64.StdEncoding.EncodeToString([]byte("host-chosen-secret-of-32-bytes!!"))
			_, err := tn.SetSecret(ctx, ep.ID, own, 0)
			require.NoError(t, err)
			all = append(all, own)
		}
	}
	require.NoError(t, d.Close())
	require.NoError(t, st.Close())
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	for _, s := range all {
		key := strings.TrimPrefix(s, "whsec_")
		decoded, _ := base64.StdEncoding.DecodeString(key)
		if bytes.Contains(raw, []byte(key)) || bytes.Contains(raw, decoded) {
			found = append(found, s)
		}
	}
	for _, k := range keys {
		decoded, _ := base64.StdEncoding.DecodeString(k.Key)
		require.False(t, bytes.Contains(raw, decoded), "the sealing key itself is in the file")
	}
	return found, all
}

func TestSecretKeys_keep_secrets_out_of_the_file(t *testing.T) {
	t.Parallel()
	found, all := secretsOnDisk(t, testKey("k1", 7))
	require.Len(t, all, 5)
	require.Empty(t, found, "secrets readable in the raw bbolt file")

	// The control: without a key the same scan finds them, so it can fail.
	found, all = secretsOnDisk(t)
	require.ElementsMatch(t, all, found)
}

func TestSecretKeys_rotation_and_resealing(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "webhook.db")
	oldKey, newKey := testKey("old", 1), testKey("new", 2)

	// Written in clear (no key), then under the old key.
	d, st := openAt(t, path, nil)
	plain, err := d.Tenant("acme").CreateEndpoint(ctx, webhook.EndpointParams{URL: "https://a.example/"})
	require.NoError(t, err)
	d.Close()
	st.Close()
	d, st = openAt(t, path, nil, oldKey)
	sealed, err := d.Tenant("globex").CreateEndpoint(ctx, webhook.EndpointParams{URL: "https://b.example/"})
	require.NoError(t, err)
	got, err := d.Tenant("acme").GetEndpoint(ctx, plain.ID)
	require.NoError(t, err, "secrets stored before keys were configured stay readable")
	require.Equal(t, plain.Secret(), got.Secret())
	d.Close()
	st.Close()

	// A new key first, the old one still listed: everything opens, and resealing moves all to the new key.
	d, st = openAt(t, path, nil, newKey, oldKey)
	got, err = d.Tenant("globex").GetEndpoint(ctx, sealed.ID)
	require.NoError(t, err)
	require.Equal(t, sealed.Secret(), got.Secret())
	n, err := d.ResealSecrets(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	n, err = d.ResealSecrets(ctx)
	require.NoError(t, err)
	require.Zero(t, n, "a second pass finds nothing to do")
	d.Close()
	st.Close()

	// The old key can go.
	d, st = openAt(t, path, nil, newKey)
	for tenant, ep := range map[string]*webhook.Endpoint{"acme": plain, "globex": sealed} {
		got, err := d.Tenant(tenant).GetEndpoint(ctx, ep.ID)
		require.NoError(t, err)
		require.Equal(t, ep.Secret(), got.Secret())
	}
	d.Close()
	st.Close()

	// Only the retired key: the secrets cannot be opened, and the error says so without leaking.
	d, _ = openAt(t, path, nil, oldKey)
	_, err = d.Tenant("acme").GetEndpoint(ctx, plain.ID)
	require.ErrorIs(t, err, webhook.ErrSecretUnavailable)
	require.NotContains(t, err.Error(), strings.TrimPrefix(plain.Secret(), "whsec_"))
}

func TestSecretKeys_config(t *testing.T) {
	t.Parallel()
	_, st := newDispatcher(t, nil)
	secretText := base64.StdEncoding.EncodeToString([]byte("short"))
	for _, keys := range [][]webhook.SecretKey{
		{{ID: "k1", Key: secretText}},
		{{ID: "bad id!", Key: testKey("x", 3).Key}},
		{testKey("same", 1), testKey("same", 2)},
	} {
		_, err := webhook.New(st, &webhook.Config{SecretKeys: keys})
		require.True(t, isValidation(err, "Config.SecretKeys"), "got %v", err)
		require.NotContains(t, err.Error(), secretText)
	}
	k := testKey("k1", 9)
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		require.NotContains(t, fmt.Sprintf(f, webhook.Config{SecretKeys: []webhook.SecretKey{k}}), k.Key, f)
	}
	js, err := json.Marshal(webhook.Config{SecretKeys: []webhook.SecretKey{k}})
	require.NoError(t, err)
	require.NotContains(t, string(js), k.Key)

	_, err = func() (int, error) {
		d, err := webhook.New(st, &webhook.Config{})
		require.NoError(t, err)
		return d.ResealSecrets(ctx)
	}()
	require.True(t, isValidation(err, "Config.SecretKeys"), "got %v", err)
}

func TestStart_warns_once_when_secrets_are_unsealed(t *testing.T) {
	t.Parallel()
	var plain, keyed syncBuffer
	d, _ := openAt(t, filepath.Join(t.TempDir(), "a.db"), &plain)
	require.NoError(t, d.Start(ctx))
	d2, _ := openAt(t, filepath.Join(t.TempDir(), "b.db"), &keyed, testKey("k", 4))
	require.NoError(t, d2.Start(ctx))
	require.Equal(t, 1, strings.Count(plain.String(), "stored unencrypted"))
	require.NotContains(t, keyed.String(), "stored unencrypted")
}

// After a delivery the dispatcher holds the endpoint's parsed signing key
// and the sealing keys; printing it in any form shows neither.
func TestDispatcher_prints_no_secret_after_a_delivery(t *testing.T) {
	t.Parallel()
	key := testKey("k1", 5)
	d, _ := startDispatcher(t, &webhook.Config{RetrySchedule: fastSchedule, AllowInsecureURLs: true,
		AllowedDestinations: loopback, SecretKeys: []webhook.SecretKey{key}})
	registerTypes(t, d, "order.created")
	tn := d.Tenant("acme")
	rcv := webhooktest.NewServer(t)
	ep := newEndpoint(t, tn, rcv, "/hook", webhook.EndpointParams{})
	_, err := tn.Publish(ctx, webhook.Event{Type: "order.created", Payload: []byte(`{"n":1}`)})
	require.NoError(t, err)
	rcv.Wait(t, "/hook", 1, 10*time.Second)

	secret := strings.TrimPrefix(ep.Secret(), "whsec_")
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		for _, v := range []any{d, tn} {
			out := fmt.Sprintf(f, v)
			require.NotContains(t, out, secret, f)
			require.NotContains(t, out, key.Key, f)
		}
	}
}
