// Package signature implements Standard Webhooks signatures
// (https://www.standardwebhooks.com) of the signed content
// msgID + "." + unixSeconds + "." + body:
//
//   - symmetric: "v1," followed by the base64 of HMAC-SHA256 under a whsec_
//     secret (Key, AppendSignature, Verify);
//   - asymmetric: "v1a," followed by the base64 of an ed25519 signature by a
//     whsk_ signing key, verified with its whpk_ public key (AsymmetricKey,
//     AppendAsymmetricSignature, VerifyAsymmetric; see asymmetric.go).
//
// One webhook-signature header may carry both kinds (HeaderOf), and Verify
// picks the scheme from the prefix of the key it is given.
//
// Symmetric output is byte-identical to the reference library
// github.com/standard-webhooks/standard-webhooks/libraries/go, which the tests
// use as an oracle. It exists because the reference copies the whole payload
// through fmt.Sprintf on every signature and returns untyped errors.
package signature

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Prefix marks a Standard Webhooks secret; DecodeSecret accepts secrets with
// or without it so that keys pasted from other providers work unchanged.
const Prefix = "whsec_"

// KeySize is the number of random bytes in a secret made by NewSecret: the
// output size of SHA-256, beyond which a longer HMAC key adds no strength.
const KeySize = 32

// Tolerance is how far a webhook-timestamp may be from the verifier's clock
// in either direction; it bounds the replay window of a captured request.
const Tolerance = 5 * time.Minute

// Bounds on the decoded key length accepted by DecodeSecret. Shorter keys are
// too weak (and panic crypto/hmac in FIPS 140-only mode below 14 bytes);
// longer ones exceed a SHA-256 block and are hashed down anyway, so they
// almost always indicate a secret of the wrong kind.
const (
	minKeySize = 24
	maxKeySize = 64
)

// Header names read by Verify. http.Header.Get canonicalizes them.
const (
	headerID        = "webhook-id"
	headerTimestamp = "webhook-timestamp"
	headerSignature = "webhook-signature"
)

const (
	version = "v1"
	// sigLen is the length of base64.StdEncoding of a SHA-256 sum.
	sigLen = (sha256.Size + 2) / 3 * 4
)

// Sentinel errors; match them with errors.Is, since Verify and DecodeSecret
// wrap them with detail.
var (
	// ErrMissingHeader means a required webhook-* header is absent or empty.
	ErrMissingHeader = errors.New("webhook: missing header")
	// ErrInvalidHeader means a webhook-* header is present but malformed.
	ErrInvalidHeader = errors.New("webhook: invalid header")
	// ErrInvalidSignature means no signature of the verifying key's kind
	// ("v1" for a whsec_ secret, "v1a" for a whpk_ public key) in
	// webhook-signature matches.
	ErrInvalidSignature = errors.New("webhook: no matching signature")
	// ErrTimestampTooOld means webhook-timestamp is more than Tolerance in
	// the past, which suggests a replayed request.
	ErrTimestampTooOld = errors.New("webhook: timestamp too old")
	// ErrTimestampTooNew means webhook-timestamp is more than Tolerance in
	// the future, usually a clock skewed sender.
	ErrTimestampTooNew = errors.New("webhook: timestamp too new")
	// ErrInvalidSecret means a secret or key is empty, not base64, of the
	// wrong kind (e.g. a whpk_ public key where a whsec_ secret is needed),
	// or decodes to a key of unsupported length. Errors wrapping it never
	// contain the key.
	ErrInvalidSecret = errors.New("webhook: invalid secret")
)

// HeaderError reports which webhook-* header made Verify fail, so that a
// receiver can tell a misbehaving sender exactly what to fix. Err is
// ErrMissingHeader or ErrInvalidHeader.
type HeaderError struct {
	Header string // lower-case header name, e.g. "webhook-timestamp"
	Err    error
}

// Error returns e.g. "webhook: missing header: webhook-id". The header value
// is left out: it is attacker-controlled and may be huge.
func (e *HeaderError) Error() string {
	if e.Err == nil {
		return "webhook: header " + e.Header
	}
	return e.Err.Error() + ": " + e.Header
}

// Unwrap lets errors.Is match ErrMissingHeader or ErrInvalidHeader.
func (e *HeaderError) Unwrap() error { return e.Err }

// NewSecret returns a fresh secret: Prefix followed by the standard base64 of
// KeySize random bytes.
func NewSecret() (string, error) {
	var b [KeySize]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("webhook: generating secret: %w", err)
	}
	return Prefix + base64.StdEncoding.EncodeToString(b[:]), nil
}

// DecodeSecret returns the HMAC key of secret, which is standard base64 with
// an optional Prefix. An asymmetric key (SigningKeyPrefix or PublicKeyPrefix)
// is rejected as such. Errors wrap ErrInvalidSecret and never include the
// secret, so they are safe to log.
func DecodeSecret(secret string) ([]byte, error) {
	key, err := decodeKeyBytes(secret, Prefix)
	if err != nil {
		return nil, err
	}
	if len(key) < minKeySize || len(key) > maxKeySize {
		return nil, fmt.Errorf("%w: key is %d bytes, want %d to %d",
			ErrInvalidSecret, len(key), minKeySize, maxKeySize)
	}
	return key, nil
}

// Key is a parsed secret, ready to sign with. Parse once and reuse: a Key
// keeps a pool of keyed HMAC states so that signing does not re-derive the
// HMAC pads or allocate per call. A Key is safe for concurrent use and cheap
// to copy. fmt prints it as "signature.Key{redacted}" so that logging a
// struct holding one cannot leak it.
//
// The zero Key signs with an empty HMAC key; it exists only so that Key can
// be a struct field, and never verifies anything a sender made with a real
// secret.
type Key struct {
	s *keyState
}

type keyState struct {
	pool sync.Pool // of *macState
}

// macState is an HMAC keyed once plus scratch space. The scratch lives on the
// heap with the state because bytes passed to hash.Hash.Write (an interface
// call) escape, so a stack buffer would be allocated on every call.
type macState struct {
	h   hash.Hash
	buf [64]byte
}

// ParseKey decodes secret as DecodeSecret does and returns a Key for it.
func ParseKey(secret string) (Key, error) {
	key, err := DecodeSecret(secret)
	if err != nil {
		return Key{}, err
	}
	ks := &keyState{}
	ks.pool.New = func() any { return newMACState(key) }
	return Key{s: ks}, nil
}

func newMACState(key []byte) *macState {
	return &macState{h: hmac.New(sha256.New, key)}
}

// redacted is how fmt shows a Key, whatever the verb.
const redacted = "signature.Key{redacted}"

// String hides the key bytes.
func (Key) String() string { return redacted }

// GoString hides the key bytes from %#v.
func (Key) GoString() string { return redacted }

// Format hides the key bytes from every fmt verb, including %x and %+v,
// which would otherwise reach the struct fields.
func (Key) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

func (k Key) get() *macState {
	if k.s == nil {
		return newMACState(nil)
	}
	return k.s.pool.Get().(*macState)
}

func (k Key) put(m *macState) {
	if k.s != nil {
		m.h.Reset()
		k.s.pool.Put(m)
	}
}

// sum computes the raw MAC of msgID.ts.body into m.buf without building the
// joined message, and returns it (valid until m is reused).
func (m *macState) sum(msgID string, ts int64, body []byte) []byte {
	// Copy msgID through the scratch buffer rather than []byte(msgID), which
	// would allocate since the interface call makes it escape.
	for s := msgID; s != ""; {
		n := copy(m.buf[:], s)
		m.h.Write(m.buf[:n])
		s = s[n:]
	}
	b := append(m.buf[:0], '.')
	b = strconv.AppendInt(b, ts, 10)
	b = append(b, '.')
	m.h.Write(b)
	m.h.Write(body)
	return m.h.Sum(m.buf[:0])
}

// AppendSignature appends "v1,<base64 signature>" of the message msgID, sent
// at Unix time ts (seconds) with body, to dst and returns the extended slice.
// With a reused dst it does not allocate.
func AppendSignature(dst []byte, key Key, msgID string, ts int64, body []byte) []byte {
	m := key.get()
	mac := m.sum(msgID, ts, body)
	dst = append(dst, version+","...)
	dst = base64.StdEncoding.AppendEncode(dst, mac)
	key.put(m)
	return dst
}

// AppendSignature is AppendSignature(dst, k, msgID, ts, body); with it Key
// implements Signer.
func (k Key) AppendSignature(dst []byte, msgID string, ts int64, body []byte) []byte {
	return AppendSignature(dst, k, msgID, ts, body)
}

// Header returns the webhook-signature header value: one space-separated
// signature per key. HeaderOf does the same for a mix of symmetric and
// asymmetric keys. Sending several during secret rotation lets a receiver
// holding either the old or the new secret verify. It returns "" for no keys.
func Header(keys []Key, msgID string, ts int64, body []byte) string {
	signers := make([]Signer, len(keys))
	for i, k := range keys {
		signers[i] = k
	}
	return HeaderOf(signers, msgID, ts, body)
}

// Verify checks a received webhook against secret, with now as the current
// time.
//
// If secret starts with PublicKeyPrefix ("whpk_") it is an ed25519 public key
// and Verify is VerifyAsymmetric: only "v1a,<sig>" entries count. Otherwise
// secret is a whsec_ secret (the prefix is optional) and Verify returns nil if
// any "v1,<sig>" entry of webhook-signature matches; entries with another
// version, such as the asymmetric "v1a", are skipped. A whsk_ signing key is
// rejected with ErrInvalidSecret: receivers verify with the public key.
//
// Checks run from cheapest and least attacker-influenced to most expensive:
// the secret first, so a misconfigured receiver fails on every request rather
// than only on well-formed ones; then the headers (*HeaderError wrapping
// ErrMissingHeader or ErrInvalidHeader); then the timestamp against Tolerance,
// in whole seconds (ErrTimestampTooOld, ErrTimestampTooNew), before spending
// an HMAC on a stale or replayed request; and finally the signatures
// (ErrInvalidSignature).
//
// The number of signature entries is not capped: the HMAC is computed once
// and each entry costs one constant-time comparison of a fixed 44 bytes, so
// the work is linear in the header's length, which net/http already bounds.
// An entry matches only if everything after "v1," is the signature; the
// reference library would also accept trailing ",..." text, which no
// conforming sender produces.
func Verify(secret string, h http.Header, body []byte, now time.Time) error {
	switch {
	case strings.HasPrefix(secret, PublicKeyPrefix):
		return VerifyAsymmetric(secret, h, body, now)
	case strings.HasPrefix(secret, SigningKeyPrefix):
		return fmt.Errorf("%w: got a %s signing key; receivers verify with its %s public key",
			ErrInvalidSecret, SigningKeyPrefix, PublicKeyPrefix)
	}
	key, err := DecodeSecret(secret)
	if err != nil {
		return err
	}
	r, err := readHeaders(h, now)
	if err != nil {
		return err
	}

	var expected [sigLen]byte
	m := newMACState(key)
	base64.StdEncoding.Encode(expected[:], m.sum(r.msgID, r.ts, body))

	var got [sigLen]byte
	for it := r.entries(version); ; {
		sig, ok := it.next()
		if !ok {
			return ErrInvalidSignature
		}
		if len(sig) != sigLen {
			// The length is public (every v1 signature is 44 bytes), so
			// skipping on it leaks nothing; it keeps the copy below in bounds.
			continue
		}
		copy(got[:], sig)
		if hmac.Equal(got[:], expected[:]) {
			return nil
		}
	}
}

// signedRequest is what Verify and VerifyAsymmetric read from the headers of
// a request before looking at its signatures.
type signedRequest struct {
	msgID string
	ts    int64
	sigs  string // the raw webhook-signature value
}

// readHeaders reads the three webhook-* headers and checks the timestamp
// against now, in the order Verify documents: presence of each header, then
// the timestamp's syntax, then its distance from now.
func readHeaders(h http.Header, now time.Time) (signedRequest, error) {
	msgID := h.Get(headerID)
	if msgID == "" {
		return signedRequest{}, &HeaderError{Header: headerID, Err: ErrMissingHeader}
	}
	tsText := h.Get(headerTimestamp)
	if tsText == "" {
		return signedRequest{}, &HeaderError{Header: headerTimestamp, Err: ErrMissingHeader}
	}
	sigs := h.Get(headerSignature)
	if sigs == "" {
		return signedRequest{}, &HeaderError{Header: headerSignature, Err: ErrMissingHeader}
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return signedRequest{}, &HeaderError{Header: headerTimestamp, Err: ErrInvalidHeader}
	}
	if err := checkTimestamp(ts, now.Unix()); err != nil {
		return signedRequest{}, err
	}
	return signedRequest{msgID: msgID, ts: ts, sigs: sigs}, nil
}

// entries returns an iterator over the signatures in r.sigs tagged with
// version v.
func (r signedRequest) entries(v string) entryIter {
	return entryIter{rest: r.sigs, version: v}
}

// entryIter walks a webhook-signature value: space-separated entries of the
// form "<version>,<signature>". It is a plain struct rather than a callback
// so that the verifiers' stack buffers do not escape.
type entryIter struct {
	rest, version string
}

// next returns the signature part of the next entry whose version is exactly
// it.version, skipping empty entries and entries of other versions; ok is
// false when the header is exhausted. The signature is everything after the
// first comma, so "v1,sig,extra" yields "sig,extra", which never has a valid
// length.
func (it *entryIter) next() (sig string, ok bool) {
	for it.rest != "" {
		var entry string
		entry, it.rest, _ = strings.Cut(it.rest, " ")
		v, sig, found := strings.Cut(entry, ",")
		if found && v == it.version {
			return sig, true
		}
	}
	return "", false
}

// checkTimestamp compares in uint64 so that extreme int64 timestamps cannot
// overflow into the accepted window.
func checkTimestamp(ts, now int64) error {
	const tol = uint64(Tolerance / time.Second)
	if ts <= now {
		if uint64(now)-uint64(ts) > tol {
			return ErrTimestampTooOld
		}
		return nil
	}
	if uint64(ts)-uint64(now) > tol {
		return ErrTimestampTooNew
	}
	return nil
}
