package webhook

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"

	"github.com/hooksmith/webhook/internal/delivery"
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

// sealed returns a copy of r whose secrets, and the values of its custom
// headers named like credentials (Authorization, X-Api-Key...), are sealed
// for storage. Without keys it returns r as it is.
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
	if len(r.Headers) > 0 {
		out.Headers = make(map[string]string, len(r.Headers))
		for name, v := range r.Headers {
			if delivery.IsSensitive(name) {
				var err error
				if v, err = d.keys.Seal([]byte(v), headerAAD(r, name)); err != nil {
					return nil, err
				}
			}
			out.Headers[name] = v
		}
	}
	return &out, nil
}

// opened returns a copy of r with its secrets and sealed header values in
// clear (records may be shared between goroutines). Values stored before
// keys were configured are in clear already.
func (d *Dispatcher) opened(r *store.Endpoint) (*store.Endpoint, error) {
	out := *r
	out.Secrets = make([]store.Secret, len(r.Secrets))
	for i, s := range r.Secrets {
		out.Secrets[i] = s
		var err error
		if out.Secrets[i].Value, err = d.open(r, s.Value, sealAAD(r)); err != nil {
			return nil, err
		}
	}
	cloned := false
	for name, v := range r.Headers {
		if !delivery.IsSensitive(name) || !secretbox.IsSealed(v) {
			continue
		}
		if !cloned {
			out.Headers, cloned = maps.Clone(r.Headers), true
		}
		var err error
		if out.Headers[name], err = d.open(r, v, headerAAD(r, name)); err != nil {
			return nil, err
		}
	}
	return &out, nil
}

// open returns a stored value in clear.
func (d *Dispatcher) open(r *store.Endpoint, v, aad string) (string, error) {
	if !secretbox.IsSealed(v) {
		return v, nil
	}
	if d.keys == nil {
		return "", fmt.Errorf("%w: endpoint %s (no Config.SecretKeys)", ErrSecretUnavailable, r.ID)
	}
	plain, err := d.keys.Open(v, aad)
	if err != nil {
		return "", fmt.Errorf("%w: endpoint %s: %w", ErrSecretUnavailable, r.ID, err)
	}
	return string(plain), nil
}

// endpoint converts a freshly read record, opening its secrets.
func (d *Dispatcher) endpoint(r *store.Endpoint) (*Endpoint, error) {
	open, err := d.opened(r)
	if err != nil {
		return nil, err
	}
	return endpointFromStore(open), nil
}

// sealAAD binds a sealed secret to its tenant and endpoint, so a value
// copied into another record does not open.
func sealAAD(r *store.Endpoint) string { return r.TenantID + "\x00" + r.ID }

// headerAAD binds a sealed header value to its endpoint and header name.
func headerAAD(r *store.Endpoint, name string) string {
	return sealAAD(r) + "\x00header\x00" + name
}

// needsReseal reports whether a stored endpoint has a secret or a
// credential header in clear, or sealed under a key other than the current
// one.
func (d *Dispatcher) needsReseal(r *store.Endpoint) bool {
	for _, s := range r.Secrets {
		if !secretbox.IsSealed(s.Value) || d.keys.NeedsReseal(s.Value) {
			return true
		}
	}
	for name, v := range r.Headers {
		if delivery.IsSensitive(name) && (!secretbox.IsSealed(v) || d.keys.NeedsReseal(v)) {
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
