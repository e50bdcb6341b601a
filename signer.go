package webhook

import (
	"errors"
	"net/http"
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
// the webhook-signature header must hold a v1 signature of
// "webhook-id.webhook-timestamp.body" under secret (any of several
// space-separated signatures may match, so rotations verify), compared in
// constant time, and the timestamp must be within VerifyTolerance of now.
// Pass the raw body, before any JSON decoding.
func Verify(secret string, header http.Header, body []byte) error {
	return signature.Verify(secret, header, body, time.Now())
}

func newSecret() (string, error) { return signature.NewSecret() }

const signaturePrefix = signature.Prefix

func parseSecret(s string) (signature.Key, error) { return signature.ParseKey(s) }

// signatureHeader signs with every secret still valid at now: the current
// one and, during a rotation's grace period, the previous ones.
func signatureHeader(secrets []store.Secret, msgID string, ts int64, body []byte, now time.Time) (string, error) {
	keys := make([]signature.Key, 0, len(secrets))
	for _, s := range secrets {
		if !s.ExpiresAt.IsZero() && !s.ExpiresAt.After(now) {
			continue
		}
		k, err := signature.ParseKey(s.Value)
		if err != nil {
			return "", err
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return "", errNoValidSecret
	}
	return signature.Header(keys, msgID, ts, body), nil
}

// errNoValidSecret: an endpoint whose secrets have all expired cannot sign.
var errNoValidSecret = errors.New("webhook: endpoint has no valid signing secret")
