// Package secretbox seals endpoint signing secrets with AES-256-GCM under a
// keyring, so that the store never holds a secret in clear and keys can be
// rotated without rewriting every record at once.
//
// A sealed value is text, safe to keep in any string field:
//
//	sb1:<key ID>:<base64url, unpadded, of nonce || ciphertext || tag>
//
// The key ID travels in clear so that Open can pick the right key after a
// rotation; it is not secret. The version tag "sb1" leaves room for a
// different scheme later without guessing from the payload.
package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// prefix starts every sealed value and names the format version.
const prefix = "sb1:"

// KeySize is the length of an AES-256 key; shorter keys would silently
// select AES-128 or AES-192.
const KeySize = 32

// maxIDLen bounds key IDs, which are repeated in every sealed value.
const maxIDLen = 32

// maxSealedLen bounds what Open will parse, so that a corrupted or hostile
// record cannot make it allocate or decrypt without limit. Signing secrets
// are tens of bytes; 4 KiB leaves ample headroom.
const maxSealedLen = 4096

// overhead is the random nonce plus the GCM tag that Seal adds.
const overhead = 12 + 16

// payload is the encoding of nonce || ciphertext || tag. Unpadded base64url
// keeps the value free of characters that need escaping in URLs, JSON or
// shell.
var payload = base64.RawURLEncoding.Strict()

// Sentinel errors; match them with errors.Is, since functions wrap them with
// detail. No error from this package contains a key, a plaintext or the text
// it failed to parse, so all are safe to log.
var (
	// ErrInvalidKey means a key or keyring is unusable: a bad ID, bytes that
	// are not exactly KeySize long or not base64, or a duplicate ID.
	ErrInvalidKey = errors.New("webhook: invalid secretbox key")
	// ErrUnknownKey means a value was sealed under a key ID that the keyring
	// does not hold, typically because a retired key was dropped too early.
	ErrUnknownKey = errors.New("webhook: unknown secretbox key")
	// ErrDecrypt means a well-formed value did not authenticate: it was
	// sealed for another aad (copied from another record), tampered with or
	// truncated. Any damage after the key ID lands here rather than in
	// ErrMalformed, so that truncation is reported the same at every length.
	ErrDecrypt = errors.New("webhook: secretbox value does not decrypt")
	// ErrMalformed means the text is not a sealed value at all: no "sb1:"
	// prefix, no valid key ID, or longer than Open accepts.
	ErrMalformed = errors.New("webhook: malformed secretbox value")
)

// Key is one AES-256 key with the ID recorded in values sealed under it.
// fmt and encoding/json print it as secretbox.Key{ID:"k1", Bytes:redacted},
// so that logging it, or a struct holding it in an exported field, cannot
// leak the key. (fmt cannot call methods on unexported fields, so do not
// keep a Key in one of those if the struct may be printed.)
type Key struct {
	// ID names the key in sealed values: 1 to 32 of A-Z a-z 0-9 _ -, so it
	// never needs escaping and cannot contain the ":" separator.
	ID string
	// Bytes is the AES-256 key, exactly KeySize bytes.
	Bytes []byte
}

// String hides the key bytes. An ID that fails validation is hidden too,
// since it may be a secret passed in the wrong argument.
func (k Key) String() string {
	id := "invalid"
	if validID(k.ID) {
		id = `"` + k.ID + `"`
	}
	return "secretbox.Key{ID:" + id + ", Bytes:redacted}"
}

// GoString hides the key bytes from %#v.
func (k Key) GoString() string { return k.String() }

// Format hides the key bytes from every fmt verb, including %x and %+v,
// which would otherwise reach the struct fields.
func (k Key) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(k.String())) }

// MarshalJSON hides the key bytes from encoding/json (and so from JSON
// loggers such as slog.JSONHandler), which would otherwise base64 them.
func (k Key) MarshalJSON() ([]byte, error) { return json.Marshal(k.String()) }

// validate reports why k cannot be used, without echoing any of it.
func (k Key) validate() error {
	if !validID(k.ID) {
		return fmt.Errorf("%w: ID must be 1 to %d of A-Z a-z 0-9 _ -", ErrInvalidKey, maxIDLen)
	}
	if len(k.Bytes) != KeySize {
		return fmt.Errorf("%w: key %q is %d bytes, want %d", ErrInvalidKey, k.ID, len(k.Bytes), KeySize)
	}
	// An all-zero key is almost always a buffer that was never filled.
	if subtle.ConstantTimeCompare(k.Bytes, make([]byte, KeySize)) == 1 {
		return fmt.Errorf("%w: key %q is all zero bytes", ErrInvalidKey, k.ID)
	}
	return nil
}

// validID reports whether id is a usable key ID.
func validID(id string) bool {
	if len(id) == 0 || len(id) > maxIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// ParseKey decodes a key from configuration. encoded is base64 of KeySize
// bytes, standard or URL alphabet, padded or not, so that output of
// GenerateKey, openssl rand -base64 32 and URL-safe tools all work;
// surrounding white space (a trailing newline from a file) is ignored.
// Errors wrap ErrInvalidKey and never include encoded.
func ParseKey(id, encoded string) (Key, error) {
	s := strings.TrimRight(strings.TrimSpace(encoded), "=")
	enc := base64.RawStdEncoding
	if strings.ContainsAny(s, "-_") {
		enc = base64.RawURLEncoding
	}
	// The base64 error is dropped: it would only add an offset into the key.
	b, err := enc.Strict().DecodeString(s)
	if err != nil {
		return Key{}, fmt.Errorf("%w: key %s is not base64", ErrInvalidKey, safeID(id))
	}
	k := Key{ID: id, Bytes: b}
	if err := k.validate(); err != nil {
		return Key{}, err
	}
	return k, nil
}

// safeID quotes id for an error message, or hides it when it is not a valid
// ID and so might be a secret passed in the wrong argument.
func safeID(id string) string {
	if validID(id) {
		return fmt.Sprintf("%q", id)
	}
	return "with invalid ID"
}

// GenerateKey returns a fresh random key and its standard base64 encoding,
// the form ParseKey reads, for setup tools and documentation.
func GenerateKey(id string) (Key, string, error) {
	if !validID(id) {
		return Key{}, "", Key{ID: id}.validate()
	}
	b := make([]byte, KeySize)
	if _, err := rand.Read(b); err != nil {
		return Key{}, "", fmt.Errorf("webhook: generating secretbox key: %w", err)
	}
	return Key{ID: id, Bytes: b}, base64.StdEncoding.EncodeToString(b), nil
}

// Keyring seals under one current key and opens under any key it holds, so
// that a rotated-out key keeps working for old records until they are
// re-sealed. It is immutable after NewKeyring and safe for concurrent use.
// It keeps only expanded AES states, never the caller's Key.Bytes, so later
// changes to those slices have no effect.
type Keyring struct {
	current string
	ids     []string // current first, for printing
	aeads   map[string]cipher.AEAD
}

// NewKeyring returns a keyring that seals under current and also opens values
// sealed under any of previous. Errors wrap ErrInvalidKey.
func NewKeyring(current Key, previous ...Key) (*Keyring, error) {
	all := append([]Key{current}, previous...)
	k := &Keyring{
		current: current.ID,
		ids:     make([]string, 0, len(all)),
		aeads:   make(map[string]cipher.AEAD, len(all)),
	}
	for _, key := range all {
		if err := key.validate(); err != nil {
			return nil, err
		}
		if _, dup := k.aeads[key.ID]; dup {
			return nil, fmt.Errorf("%w: duplicate key ID %q", ErrInvalidKey, key.ID)
		}
		block, err := aes.NewCipher(key.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: key %q: %v", ErrInvalidKey, key.ID, err)
		}
		// NewGCMWithRandomNonce draws a fresh 96-bit nonce per Seal and
		// prepends it, so the nonce can never be reused by mistake here.
		aead, err := cipher.NewGCMWithRandomNonce(block)
		if err != nil {
			return nil, fmt.Errorf("%w: key %q: %v", ErrInvalidKey, key.ID, err)
		}
		k.aeads[key.ID] = aead
		k.ids = append(k.ids, key.ID)
	}
	return k, nil
}

// errNoKeys is returned by a nil or zero Keyring instead of panicking.
var errNoKeys = fmt.Errorf("%w: keyring is empty; use NewKeyring", ErrInvalidKey)

// CurrentID returns the ID of the key Seal uses, so callers can record or
// report which key is active.
func (k *Keyring) CurrentID() string {
	if k == nil {
		return ""
	}
	return k.current
}

// String lists the key IDs (current first) and never any key material:
// fmt would otherwise print the expanded AES state, which reveals the key.
// The value receiver covers a dereferenced Keyring too.
func (k Keyring) String() string {
	return fmt.Sprintf("secretbox.Keyring{Current:%q, IDs:%q}", k.current, k.ids)
}

// GoString hides key material from %#v.
func (k Keyring) GoString() string { return k.String() }

// Format hides key material from every fmt verb, including %x and %+v.
func (k Keyring) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(k.String())) }

// header is the clear part of a value sealed under key id.
func header(id string) string { return prefix + id + ":" }

// additionalData binds the whole header as well as aad, so that neither the
// version nor the key ID can be swapped without failing authentication. The
// key ID cannot contain ":", so the concatenation is unambiguous.
func additionalData(id, aad string) []byte { return []byte(header(id) + aad) }

// Seal encrypts plaintext under the current key with a fresh random nonce,
// so sealing the same secret twice gives unrelated values. aad (in practice
// the endpoint ID) must be passed again to Open: binding it means a sealed
// value copied into another record does not open there. Errors never contain
// plaintext.
func (k *Keyring) Seal(plaintext []byte, aad string) (string, error) {
	if k == nil || k.aeads[k.current] == nil {
		return "", errNoKeys
	}
	h := header(k.current)
	if n := len(h) + payload.EncodedLen(overhead+len(plaintext)); n > maxSealedLen {
		return "", fmt.Errorf("webhook: secretbox plaintext of %d bytes seals to %d bytes, over the %d-byte limit",
			len(plaintext), n, maxSealedLen)
	}
	ct := k.aeads[k.current].Seal(nil, nil, plaintext, additionalData(k.current, aad))
	return h + payload.EncodeToString(ct), nil
}

// Open returns the plaintext of a value made by Seal with the same aad,
// under whichever key of the keyring sealed it. Errors wrap ErrMalformed,
// ErrUnknownKey (naming the key ID) or ErrDecrypt; see their docs. Open
// never panics, whatever sealed holds.
func (k *Keyring) Open(sealed, aad string) ([]byte, error) {
	id, body, err := parse(sealed)
	if err != nil {
		return nil, err
	}
	if k == nil || len(k.aeads) == 0 {
		return nil, errNoKeys
	}
	aead := k.aeads[id]
	if aead == nil {
		return nil, fmt.Errorf("%w %q", ErrUnknownKey, id)
	}
	// Base64 decoders skip CR and LF, so such a value would otherwise open
	// despite differing from what Seal returned.
	if strings.ContainsAny(body, "\r\n") {
		return nil, fmt.Errorf("%w: key %q", ErrDecrypt, id)
	}
	ct, err := payload.DecodeString(body)
	if err != nil || len(ct) < overhead {
		return nil, fmt.Errorf("%w: key %q", ErrDecrypt, id)
	}
	pt, err := aead.Open(nil, nil, ct, additionalData(id, aad))
	if err != nil {
		return nil, fmt.Errorf("%w: key %q", ErrDecrypt, id)
	}
	if pt == nil {
		pt = []byte{}
	}
	return pt, nil
}

// NeedsReseal reports whether sealed was made under a key other than the
// current one, so that after a rotation the caller can Open and Seal it
// again and eventually drop the old key. It is false for values that are
// not sealed at all; IsSealed tells those apart.
func (k *Keyring) NeedsReseal(sealed string) bool {
	if k == nil || len(k.aeads) == 0 {
		return false // nothing to re-seal with
	}
	id, _, err := parse(sealed)
	return err == nil && id != k.current
}

// IsSealed reports whether s has the sealed-value prefix. A store may still
// hold plaintext secrets written before a key was configured; those need
// Seal, not Open.
func IsSealed(s string) bool { return strings.HasPrefix(s, prefix) }

// parse splits sealed into key ID and payload text, checking only the parts
// that need no key.
func parse(sealed string) (id, body string, err error) {
	if len(sealed) > maxSealedLen {
		return "", "", fmt.Errorf("%w: %d bytes, over the %d-byte limit", ErrMalformed, len(sealed), maxSealedLen)
	}
	rest, ok := strings.CutPrefix(sealed, prefix)
	if !ok {
		return "", "", fmt.Errorf("%w: no %q prefix", ErrMalformed, prefix)
	}
	id, body, ok = strings.Cut(rest, ":")
	if !ok || !validID(id) {
		return "", "", fmt.Errorf("%w: no valid key ID", ErrMalformed)
	}
	return id, body, nil
}
