package webhook

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/hooksmith/webhook/internal/secretbox"
	"github.com/hooksmith/webhook/store"
)

// SecretKey is a key that seals endpoint secrets at rest (AES-256-GCM).
// Printing it never shows Key.
type SecretKey struct {
	// ID names the key; it is stored with every value sealed under it, so
	// older keys keep opening what they sealed. 1 to 32 of [A-Za-z0-9_-].
	ID string
	// Key is the standard or URL base64 of 32 random bytes, for example
	// the output of `openssl rand -base64 32`.
	Key string
}

func (k SecretKey) String() string {
	return fmt.Sprintf("webhook.SecretKey{ID:%q Key:[redacted]}", k.ID)
}

// GoString keeps %#v from printing the key.
func (k SecretKey) GoString() string { return k.String() }

// Format makes every fmt verb print String.
func (k SecretKey) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, k.String()) }

// MarshalJSON keeps the key out of JSON, a Config dumped to a log say.
func (k SecretKey) MarshalJSON() ([]byte, error) {
	return fmt.Appendf(nil, `{"ID":%q,"Key":"[redacted]"}`, k.ID), nil
}

// ErrSecretUnavailable: a stored secret could not be opened with the
// configured keys (a key was removed from Config.SecretKeys too early, or
// the record was altered).
var ErrSecretUnavailable = errors.New("webhook: endpoint secret cannot be opened")

func newKeyring(keys []SecretKey) (*secretbox.Keyring, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	parsed := make([]secretbox.Key, len(keys))
	for i, k := range keys {
		var err error
		if parsed[i], err = secretbox.ParseKey(k.ID, k.Key); err != nil {
			return nil, &ValidationError{Field: "Config.SecretKeys",
				Reason: fmt.Sprintf("key %d: want an ID of [A-Za-z0-9_-] and the base64 of 32 random bytes", i)}
		}
	}
	ring, err := secretbox.NewKeyring(parsed[0], parsed[1:]...)
	if err != nil {
		return nil, &ValidationError{Field: "Config.SecretKeys", Reason: "key IDs must be distinct"}
	}
	return ring, nil
}

// sealed returns a copy of r whose secrets are sealed for storage. Without
// keys it returns r as it is.
func (d *Dispatcher) sealed(r *store.Endpoint) (*store.Endpoint, error) {
	if d.keys == nil {
		return r, nil
	}
	out := *r
	out.Secrets = make([]store.Secret, len(r.Secrets))
	for i, s := range r.Secrets {
		v, err := d.keys.Seal([]byte(s.Value), sealAAD(r))
		if err != nil {
			return nil, err
		}
		s.Value = v
		out.Secrets[i] = s
	}
	return &out, nil
}

// openSecrets returns r's secrets with their plain values, in a new slice:
// records may be shared between goroutines. Values stored before keys were
// configured are plain already.
func (d *Dispatcher) openSecrets(r *store.Endpoint) ([]store.Secret, error) {
	out := make([]store.Secret, len(r.Secrets))
	for i, s := range r.Secrets {
		out[i] = s
		if !secretbox.IsSealed(s.Value) {
			continue
		}
		if d.keys == nil {
			return nil, fmt.Errorf("%w: endpoint %s (no Config.SecretKeys)", ErrSecretUnavailable, r.ID)
		}
		v, err := d.keys.Open(s.Value, sealAAD(r))
		if err != nil {
			return nil, fmt.Errorf("%w: endpoint %s: %w", ErrSecretUnavailable, r.ID, err)
		}
		out[i].Value = string(v)
	}
	return out, nil
}

// endpoint converts a freshly read record, opening its secrets.
func (d *Dispatcher) endpoint(r *store.Endpoint) (*Endpoint, error) {
	secrets, err := d.openSecrets(r)
	if err != nil {
		return nil, err
	}
	r.Secrets = secrets
	return endpointFromStore(r), nil
}

// sealAAD binds a sealed secret to its tenant and endpoint, so a value
// copied into another record does not open.
func sealAAD(r *store.Endpoint) string { return r.TenantID + "\x00" + r.ID }

// needsReseal reports whether a stored endpoint has a secret in clear or
// sealed under a key other than the current one.
func (d *Dispatcher) needsReseal(r *store.Endpoint) bool {
	for _, s := range r.Secrets {
		if !secretbox.IsSealed(s.Value) || d.keys.NeedsReseal(s.Value) {
			return true
		}
	}
	return false
}

// ResealSecrets seals every stored endpoint secret under the current key of
// Config.SecretKeys: secrets stored in clear before keys were configured,
// and secrets sealed under older keys. Run it after putting a new key first
// in Config.SecretKeys; once it returns, the older keys can be removed. It
// returns how many endpoints it rewrote, and a *ValidationError when no key
// is configured. Endpoints whose secrets no configured key opens are skipped
// and reported with ErrSecretUnavailable once the rest are done.
func (d *Dispatcher) ResealSecrets(ctx context.Context) (int, error) {
	if d.keys == nil {
		return 0, invalid("Config.SecretKeys", "no key is configured")
	}
	if d.closed() {
		return 0, ErrClosed
	}
	n := 0
	var skipped []string
	p := store.EndpointScanParams{Limit: 500}
	for {
		page, err := d.store.EndpointScan(ctx, p)
		if err != nil {
			return n, err
		}
		for _, r := range page {
			if !d.needsReseal(r) {
				continue
			}
			_, err := d.Tenant(r.TenantID).modifyEndpoint(ctx, r.ID, func(*store.Endpoint) bool { return true })
			switch {
			case errors.Is(err, ErrNotFound): // deleted meanwhile
				continue
			case errors.Is(err, ErrSecretUnavailable):
				skipped = append(skipped, r.ID)
				continue
			case err != nil:
				return n, err
			}
			n++
		}
		if len(page) < p.Limit {
			if len(skipped) > 0 {
				return n, fmt.Errorf("%w: %d endpoints left as they were: %v", ErrSecretUnavailable, len(skipped), skipped)
			}
			return n, nil
		}
		p.AfterTenant, p.AfterID = page[len(page)-1].TenantID, page[len(page)-1].ID
	}
}

// warnUnsealed logs once, at Start, that secrets are stored in clear.
func (d *Dispatcher) warnUnsealed() {
	if d.keys == nil {
		d.log.Warn("webhook: endpoint secrets are stored unencrypted; set Config.SecretKeys to seal them at rest")
	}
}
