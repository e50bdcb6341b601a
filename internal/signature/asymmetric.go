package signature

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Standard Webhooks asymmetric signatures ("v1a"): the ed25519 signature of
// msgID + "." + unixSeconds + "." + body, in standard base64.
//
// Key encoding. The specification says only that the signing secret is a
// "standard ed25519 key pair", serialized "base64 encoded, prefixed with
// whsk_ for the secret key, and whpk_ for the public key". A whpk_ key is
// unambiguously the 32-byte public key, but for whsk_ implementations differ:
// Svix's open-source server, whose scheme the specification standardized,
// stores the 64-byte private key (seed followed by public key, as in Go's
// ed25519.PrivateKey), while the asymmetric support proposed for the
// reference Go library and some other implementations store the 32-byte RFC
// 8032 seed. So this package accepts both lengths when parsing a whsk_ key,
// and emits the 64-byte form. A 64-byte key whose public half does not match its seed is
// rejected: ed25519 would otherwise sign with the wrong public key, producing
// signatures that never verify.
//
// As with whsec_ secrets, the whsk_ and whpk_ prefixes are optional on input,
// but a key carrying the prefix of another kind (whsec_, whpk_ where a whsk_
// key is needed, and so on) is rejected rather than misread.

// Prefixes of asymmetric keys.
const (
	// SigningKeyPrefix marks an ed25519 signing (private) key: it signs
	// "v1a" signatures and stays with the sender.
	SigningKeyPrefix = "whsk_"
	// PublicKeyPrefix marks an ed25519 public key: receivers verify "v1a"
	// signatures with it, and Verify dispatches on it.
	PublicKeyPrefix = "whpk_"
)

// MaxAsymmetricSignatures bounds how many well-formed "v1a" entries of one
// webhook-signature header VerifyAsymmetric checks. Each costs an ed25519
// verification (tens of microseconds, against a few nanoseconds for an HMAC
// comparison), so without a bound a header of net/http's default 1 MiB could
// cost the receiver about half a second of CPU. A sender needs one entry per
// live key, a few at most during a rotation.
const MaxAsymmetricSignatures = 16

const (
	versionAsymmetric = "v1a"
	// asymSigLen is the length of base64.StdEncoding of an ed25519 signature.
	asymSigLen = (ed25519.SignatureSize + 2) / 3 * 4
	// maxPooledMessage caps the capacity of signed-content buffers returned
	// to msgPool, so that one unusually large body does not keep a large
	// buffer alive for every P.
	maxPooledMessage = 4 << 20
)

// strictBase64 rejects encodings with non-zero padding bits, so that each
// signature has exactly one accepted spelling.
var strictBase64 = base64.StdEncoding.Strict()

// Signer is a key that can sign a webhook: Key (HMAC, "v1") and AsymmetricKey
// (ed25519, "v1a") both implement it, so that HeaderOf can put signatures of
// both kinds in one header.
type Signer interface {
	// AppendSignature appends "<version>,<base64 signature>" of the message
	// msgID, sent at Unix time ts (seconds) with body, to dst and returns the
	// extended slice.
	AppendSignature(dst []byte, msgID string, ts int64, body []byte) []byte
}

var (
	_ Signer = Key{}
	_ Signer = AsymmetricKey{}
)

// AsymmetricKey is a parsed whsk_ signing key, ready to sign "v1a" signatures
// with. It is safe for concurrent use and cheap to copy. fmt prints it as
// "signature.AsymmetricKey{redacted}" so that logging a struct holding one
// cannot leak it.
//
// The zero AsymmetricKey signs with the key pair whose seed is all zeros; it
// exists only so that AsymmetricKey can be a struct field, and never verifies
// under a public key made by NewSigningKeyPair.
type AsymmetricKey struct {
	// A pointer keeps AsymmetricKey comparable, like Key, so that comparing
	// two Signers holding keys does not panic.
	priv *ed25519.PrivateKey // 64 bytes, or nil for the zero value
}

// zeroPrivateKey is the key the zero AsymmetricKey signs with. It is made
// once so that crypto/ed25519's cache of expanded keys, which is keyed by
// the slice's address, applies to it as to parsed keys.
var zeroPrivateKey = sync.OnceValue(func() ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
})

func (k AsymmetricKey) privateKey() ed25519.PrivateKey {
	if k.priv == nil {
		return zeroPrivateKey()
	}
	return *k.priv
}

// NewSigningKeyPair returns a fresh ed25519 key pair: secret is
// SigningKeyPrefix followed by the standard base64 of the 64-byte private key
// (seed followed by public key), and public is PublicKeyPrefix followed by
// the standard base64 of the 32-byte public key. The sender keeps secret;
// receivers verify with public.
func NewSigningKeyPair() (secret, public string, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", "", fmt.Errorf("webhook: generating signing key: %w", err)
	}
	return SigningKeyPrefix + base64.StdEncoding.EncodeToString(priv),
		PublicKeyPrefix + base64.StdEncoding.EncodeToString(pub), nil
}

// ParseAsymmetricKey decodes a whsk_ signing key: standard base64, with an
// optional SigningKeyPrefix, of either the 32-byte seed or the 64-byte
// private key (seed followed by its public key). Errors wrap ErrInvalidSecret
// and never include the key, so they are safe to log.
func ParseAsymmetricKey(secret string) (AsymmetricKey, error) {
	priv, err := decodeSigningKey(secret)
	if err != nil {
		return AsymmetricKey{}, err
	}
	return AsymmetricKey{priv: &priv}, nil
}

// PublicKeyOf returns the whpk_ public key of a whsk_ signing key, which
// ParseAsymmetricKey would accept, for handing to receivers.
func PublicKeyOf(secret string) (string, error) {
	priv, err := decodeSigningKey(secret)
	if err != nil {
		return "", err
	}
	return encodePublicKey(priv), nil
}

// PublicKey returns the whpk_ public key of k.
func (k AsymmetricKey) PublicKey() string { return encodePublicKey(k.privateKey()) }

func encodePublicKey(priv ed25519.PrivateKey) string {
	return PublicKeyPrefix + base64.StdEncoding.EncodeToString(priv[ed25519.SeedSize:])
}

// decodeKeyBytes strips prefix from key and decodes the base64 under it.
func decodeKeyBytes(key, prefix string) ([]byte, error) {
	s, err := keyBody(key, prefix)
	if err != nil {
		return nil, err
	}
	if s == "" {
		return nil, fmt.Errorf("%w: empty", ErrInvalidSecret)
	}
	// The base64 error is dropped: it would only add an offset, and keeping
	// errors free of key-derived data is simpler to audit.
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: not standard base64", ErrInvalidSecret)
	}
	return raw, nil
}

func decodeSigningKey(secret string) (ed25519.PrivateKey, error) {
	raw, err := decodeKeyBytes(secret, SigningKeyPrefix)
	if err != nil {
		return nil, err
	}
	defer clear(raw)
	switch len(raw) {
	case ed25519.SeedSize:
		return ed25519.NewKeyFromSeed(raw), nil
	case ed25519.PrivateKeySize:
		priv := ed25519.NewKeyFromSeed(raw[:ed25519.SeedSize])
		if subtle.ConstantTimeCompare(priv[ed25519.SeedSize:], raw[ed25519.SeedSize:]) != 1 {
			clear(priv)
			return nil, fmt.Errorf("%w: the public half of the %d-byte signing key does not match its seed",
				ErrInvalidSecret, ed25519.PrivateKeySize)
		}
		return priv, nil
	default:
		return nil, fmt.Errorf("%w: signing key is %d bytes, want %d (seed) or %d (seed and public key)",
			ErrInvalidSecret, len(raw), ed25519.SeedSize, ed25519.PrivateKeySize)
	}
}

func decodePublicKey(public string) (ed25519.PublicKey, error) {
	raw, err := decodeKeyBytes(public, PublicKeyPrefix)
	if err != nil {
		return nil, err
	}
	if len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: public key is %d bytes, want %d",
			ErrInvalidSecret, len(raw), ed25519.PublicKeySize)
	}
	return raw, nil
}

// keyBody strips want, the prefix of the kind of key the caller needs, from
// key. A key carrying the prefix of another kind is an error naming both
// prefixes (never any key material): base64 has no '_', so such a key would
// otherwise fail only as "not base64", which does not tell the operator that
// they pasted, say, the public key where the signing key belongs.
func keyBody(key, want string) (string, error) {
	for _, p := range [...]string{Prefix, SigningKeyPrefix, PublicKeyPrefix} {
		if !strings.HasPrefix(key, p) {
			continue
		}
		if p != want {
			return "", fmt.Errorf("%w: got a %s%s key, want a %s%s key",
				ErrInvalidSecret, p, kindOf(p), want, kindOf(want))
		}
		return key[len(p):], nil
	}
	return key, nil
}

func kindOf(prefix string) string {
	switch prefix {
	case SigningKeyPrefix:
		return " signing"
	case PublicKeyPrefix:
		return " public"
	default:
		return " HMAC"
	}
}

// redactedAsymmetric is how fmt shows an AsymmetricKey, whatever the verb.
const redactedAsymmetric = "signature.AsymmetricKey{redacted}"

// String hides the key bytes.
func (AsymmetricKey) String() string { return redactedAsymmetric }

// GoString hides the key bytes from %#v.
func (AsymmetricKey) GoString() string { return redactedAsymmetric }

// Format hides the key bytes from every fmt verb, including %x and %+v,
// which would otherwise reach the struct fields.
func (AsymmetricKey) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redactedAsymmetric)) }

// msgPool holds buffers for the signed content msgID.ts.body. Unlike HMAC,
// which AppendSignature feeds piecewise, ed25519 hashes the whole message
// twice (once for the nonce, once for the challenge) and its API takes one
// slice, so the message must be contiguous. Assembling it in a pooled buffer
// avoids allocating a copy of the body per signature or verification.
var msgPool = sync.Pool{New: func() any { return new([]byte) }}

// getMessage returns a pooled buffer holding msgID.ts.body; the message is
// *b. Return it with putMessage once the message is no longer used.
func getMessage(msgID string, ts int64, body []byte) *[]byte {
	b := msgPool.Get().(*[]byte)
	m := (*b)[:0]
	if need := len(msgID) + 2 + 20 + len(body); cap(m) < need {
		m = make([]byte, 0, need)
	}
	m = append(m, msgID...)
	m = append(m, '.')
	m = strconv.AppendInt(m, ts, 10)
	m = append(m, '.')
	m = append(m, body...)
	*b = m
	return b
}

func putMessage(b *[]byte) {
	if cap(*b) > maxPooledMessage {
		*b = nil
	}
	msgPool.Put(b)
}

// AppendAsymmetricSignature appends "v1a,<base64 signature>" of the message
// msgID, sent at Unix time ts (seconds) with body, to dst and returns the
// extended slice. The signed content is assembled in a pooled buffer (see
// msgPool), so with a reused dst signing does not allocate.
func AppendAsymmetricSignature(dst []byte, key AsymmetricKey, msgID string, ts int64, body []byte) []byte {
	m := getMessage(msgID, ts, body)
	sig := ed25519.Sign(key.privateKey(), *m)
	putMessage(m)
	dst = append(dst, versionAsymmetric+","...)
	return base64.StdEncoding.AppendEncode(dst, sig)
}

// AppendSignature is AppendAsymmetricSignature(dst, k, msgID, ts, body); with
// it AsymmetricKey implements Signer.
func (k AsymmetricKey) AppendSignature(dst []byte, msgID string, ts int64, body []byte) []byte {
	return AppendAsymmetricSignature(dst, k, msgID, ts, body)
}

// HeaderOf returns the webhook-signature header value: one space-separated
// signature per signer, in order, of whichever kind each signer makes. It
// returns "" for no signers. Signers must not be nil.
func HeaderOf(signers []Signer, msgID string, ts int64, body []byte) string {
	if len(signers) == 0 {
		return ""
	}
	n := 0
	for _, s := range signers {
		switch s.(type) {
		case Key:
			n += len(version) + 1 + sigLen + 1
		default:
			n += len(versionAsymmetric) + 1 + asymSigLen + 1
		}
	}
	b := make([]byte, 0, n)
	for i, s := range signers {
		if i > 0 {
			b = append(b, ' ')
		}
		b = s.AppendSignature(b, msgID, ts, body)
	}
	return string(b)
}

// VerifyAsymmetric checks a received webhook against public, a whpk_ ed25519
// public key (the prefix is optional), with now as the current time. It
// returns nil if any "v1a,<sig>" entry of webhook-signature verifies with
// ed25519.Verify; entries with another version, such as the symmetric "v1",
// are skipped.
//
// Errors and the order of checks are Verify's: the key (ErrInvalidSecret),
// the headers (*HeaderError), the timestamp against Tolerance
// (ErrTimestampTooOld, ErrTimestampTooNew), and finally the signatures
// (ErrInvalidSignature).
//
// An entry counts only if everything after "v1a," is the canonical standard
// base64 of 64 bytes. At most MaxAsymmetricSignatures such entries are
// verified; later ones are ignored.
func VerifyAsymmetric(public string, h http.Header, body []byte, now time.Time) error {
	pub, err := decodePublicKey(public)
	if err != nil {
		return err
	}
	r, err := readHeaders(h, now)
	if err != nil {
		return err
	}

	var (
		enc [asymSigLen]byte
		// Sized for DecodedLen, which counts the padding as bytes.
		dec   [asymSigLen / 4 * 3]byte
		msg   *[]byte // assembled on the first well-formed entry
		tried int
	)
	defer func() {
		if msg != nil {
			putMessage(msg)
		}
	}()
	for it := r.entries(versionAsymmetric); tried < MaxAsymmetricSignatures; {
		s, ok := it.next()
		if !ok {
			break
		}
		if len(s) != asymSigLen {
			continue
		}
		// Decode from a stack copy: []byte(s) would allocate.
		copy(enc[:], s)
		n, err := strictBase64.Decode(dec[:], enc[:])
		if err != nil || n != ed25519.SignatureSize {
			continue
		}
		tried++
		if msg == nil {
			msg = getMessage(r.msgID, r.ts, body)
		}
		if ed25519.Verify(pub, *msg, dec[:n]) {
			return nil
		}
	}
	return ErrInvalidSignature
}
