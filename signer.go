package webhook

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
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
func signatureHeader(secrets []store.Secret, msgID string, ts int64, body []byte, now time.Time) (string, error) {
	signers := make([]signature.Signer, 0, len(secrets))
	for _, s := range secrets {
		if !s.ExpiresAt.IsZero() && !s.ExpiresAt.After(now) {
			continue
		}
		var (
			signer signature.Signer
			err    error
		)
		if isSigningKey(s.Value) {
			signer, err = signature.ParseAsymmetricKey(s.Value)
		} else {
			signer, err = signature.ParseKey(s.Value)
		}
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

// errNoValidSecret: an endpoint whose secrets have all expired cannot sign.
var errNoValidSecret = errors.New("webhook: endpoint has no valid signing secret")
