package webhook

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hooksmith/webhook/internal/signature"
	"github.com/hooksmith/webhook/store"
)

// Verification errors returned by Verify; match them with errors.Is.
var (
	// ErrMissingHeader: webhook-id, webhook-timestamp or webhook-signature
	// is absent. errors.As gives a *HeaderError naming it.
	ErrMissingHeader = signature.ErrMissingHeader
	// ErrInvalidHeader: a header is present but malformed.
	ErrInvalidHeader = signature.ErrInvalidHeader
	// ErrInvalidSignature: no signature in the header matches the body.
	ErrInvalidSignature = signature.ErrInvalidSignature
	// ErrTimestampTooOld: webhook-timestamp is more than 5 minutes old.
	ErrTimestampTooOld = signature.ErrTimestampTooOld
	// ErrTimestampTooNew: webhook-timestamp is more than 5 minutes ahead.
	ErrTimestampTooNew = signature.ErrTimestampTooNew
	// ErrInvalidSecret: the secret is not a whsec_ base64 key.
	ErrInvalidSecret = signature.ErrInvalidSecret
)

// HeaderError names the header that was missing or malformed.
type HeaderError = signature.HeaderError

// VerifyTolerance is how far webhook-timestamp may be from the receiver's
// clock, either way.
const VerifyTolerance = signature.Tolerance

// Verify checks a delivery the way a receiver should, before trusting it:
// the webhook-signature header must hold a signature of
// "webhook-id.webhook-timestamp.body" under secret, and the timestamp must be
// within VerifyTolerance of now. With a whsec_ secret that is a v1 HMAC
// signature, compared in constant time; with a whpk_ public key (an Ed25519
// endpoint) a v1a ed25519 signature. Any of several space-separated
// signatures may match, so rotations verify. Pass the raw body, before any
// JSON decoding. The key must carry its prefix: without it, a public key
// could be mistaken for an HMAC secret, and anyone holding it could sign.
func Verify(secret string, header http.Header, body []byte) error {
	if !strings.HasPrefix(secret, signature.Prefix) && !strings.HasPrefix(secret, signature.PublicKeyPrefix) {
		return fmt.Errorf("%w: want a whsec_ secret or a whpk_ public key", ErrInvalidSecret)
	}
	return signature.Verify(secret, header, body, time.Now())
}

// newSecret makes a fresh signing secret: whsec_ HMAC, or whsk_ ed25519.
func newSecret(ed25519 bool) (string, error) {
	if ed25519 {
		secret, _, err := signature.NewSigningKeyPair()
		return secret, err
	}
	return signature.NewSecret()
}

const signaturePrefix = signature.Prefix

func parseSecret(s string) (signature.Key, error) { return signature.ParseKey(s) }

func isSigningKey(s string) bool { return strings.HasPrefix(s, signature.SigningKeyPrefix) }

func publicKeyOf(secret string) (string, error) { return signature.PublicKeyOf(secret) }

// signatureHeader signs with every secret still valid at now: the current
// one and, during a rotation's grace period, the previous ones.
func (c *signerCache) signatureHeader(secrets []store.Secret, msgID string, ts int64, body []byte, now time.Time) (string, error) {
	var buf [2]signature.Signer // a rotation signs with two
	signers := buf[:0]
	for _, s := range secrets {
		if !s.ExpiresAt.IsZero() && !s.ExpiresAt.After(now) {
			continue
		}
		signer, err := c.get(s.Value)
		if err != nil {
			return "", err
		}
		signers = append(signers, signer)
	}
	if len(signers) == 0 {
		return "", errNoValidSecret
	}
	return signature.HeaderOf(signers, msgID, ts, body), nil
}

// signerCache keeps parsed signing keys by secret: parsing derives the HMAC
// pads (or the ed25519 key) and allocates, and every delivery signs with its
// endpoint's keys. A parsed key also keeps a pool of keyed HMAC states, which
// only pays off when the key is reused.
type signerCache struct {
	mu sync.Mutex
	m  map[string]signature.Signer
}

// maxCachedSigners bounds the keys held; the cache starts again when full.
const maxCachedSigners = 4096

func (c *signerCache) get(secret string) (signature.Signer, error) {
	c.mu.Lock()
	signer, ok := c.m[secret]
	c.mu.Unlock()
	if ok {
		return signer, nil
	}
	var err error
	if isSigningKey(secret) {
		signer, err = signature.ParseAsymmetricKey(secret)
	} else {
		signer, err = signature.ParseKey(secret)
	}
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCachedSigners {
		c.m = make(map[string]signature.Signer)
	}
	c.m[secret] = signer
	return signer, nil
}

// errNoValidSecret: an endpoint whose secrets have all expired cannot sign.
var errNoValidSecret = errors.New("webhook: endpoint has no valid signing secret")
