package signature_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hooksmith/webhook/internal/signature"
)

// vectorSeed and vectorSig are a known answer from the asymmetric support
// proposed for the reference Go library (standard-webhooks pull request 253,
// libraries/go/webhook_asymmetric_test.go): the whsk_ key there is the
// 32-byte seed "TESTSIGNINGKEYDONOTUSETHISFORANY", signing the spec example.
const (
	vectorSeed = "VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTlk="
	vectorSig  = "v1a,tQ9V2XOqn7jL/DQenEFpqIugdBVtiMmER5mhSkXBNwM0mkATuDe6KYYUuxqtaiHeYGb7KaaBRdM5WqyeFiL8Ag=="
)

// keyPair is a deterministic ed25519 key pair in every encoding the tests use.
type keyPair struct {
	priv   ed25519.PrivateKey
	seed   string // whsk_ + base64 of the 32-byte seed
	full   string // whsk_ + base64 of the 64-byte private key
	public string // whpk_ + base64 of the 32-byte public key
}

func keyPairFromSeed(seed []byte) keyPair {
	priv := ed25519.NewKeyFromSeed(seed)
	return keyPair{
		priv:   priv,
		seed:   signature.SigningKeyPrefix + base64.StdEncoding.EncodeToString(seed),
		full:   signature.SigningKeyPrefix + base64.StdEncoding.EncodeToString(priv),
		public: signature.PublicKeyPrefix + base64.StdEncoding.EncodeToString(priv.Public().(ed25519.PublicKey)),
	}
}

// testKeyPair returns a deterministic key pair distinct for each n.
func testKeyPair(n byte) keyPair {
	seed := bytes.Repeat([]byte{n}, ed25519.SeedSize)
	seed[0] ^= 0x5A
	return keyPairFromSeed(seed)
}

func mustSigningKeyPair(t testing.TB) (secret, public string) {
	t.Helper()
	secret, public, err := signature.NewSigningKeyPair()
	require.NoError(t, err)
	return secret, public
}

func mustAsymmetricKey(t testing.TB, secret string) signature.AsymmetricKey {
	t.Helper()
	k, err := signature.ParseAsymmetricKey(secret)
	require.NoError(t, err)
	return k
}

// oracleAsymmetricSignature signs the obvious way, with no code shared with
// the package under test.
func oracleAsymmetricSignature(priv ed25519.PrivateKey, id string, ts int64, body []byte) string {
	msg := []byte(id + "." + strconv.FormatInt(ts, 10) + "." + string(body))
	return "v1a," + base64.StdEncoding.EncodeToString(ed25519.Sign(priv, msg))
}

// assertNoKeyLeak is assertNoLeak for keys of any prefix.
func assertNoKeyLeak(t *testing.T, s, key string) {
	t.Helper()
	for _, p := range []string{signature.Prefix, signature.SigningKeyPrefix, signature.PublicKeyPrefix} {
		key = strings.TrimPrefix(key, p)
	}
	assertNoLeak(t, s, key)
}

func TestAsymmetricSignatureMatchesTheKnownAnswer(t *testing.T) {
	t.Parallel()
	seed, err := base64.StdEncoding.DecodeString(vectorSeed)
	require.NoError(t, err)
	kp := keyPairFromSeed(seed)
	for _, secret := range []string{vectorSeed, kp.seed, kp.full, strings.TrimPrefix(kp.full, signature.SigningKeyPrefix)} {
		got := signature.AppendAsymmetricSignature(nil, mustAsymmetricKey(t, secret), specID, specTS, []byte(specBody))
		assert.Equal(t, vectorSig, string(got))
	}
	assert.Equal(t, vectorSig, oracleAsymmetricSignature(kp.priv, specID, specTS, []byte(specBody)))
}

func TestAppendAsymmetricSignatureMatchesAnIndependentEd25519Signer(t *testing.T) {
	t.Parallel()
	kp := testKeyPair(1)
	key := mustAsymmetricKey(t, kp.full)
	ids := []string{specID, "msg_ünïcødé_🚀_配信", "a.b.c", strings.Repeat("x", 300), "m"}
	timestamps := []int64{specTS, 0, -1, 1, time.Now().Unix(), math.MaxInt64, math.MinInt64}
	bodies := map[string][]byte{
		"nil body":            nil,
		"empty body":          {},
		"json body":           []byte(specBody),
		"binary body":         binaryBody(),
		"body with separator": []byte(". 123 . v1a,abc"),
	}
	for _, id := range ids {
		for _, ts := range timestamps {
			for bname, body := range bodies {
				name := fmt.Sprintf("%s/%d/%s", id, ts, bname)
				want := oracleAsymmetricSignature(kp.priv, id, ts, body)
				require.Equal(t, want, string(signature.AppendAsymmetricSignature(nil, key, id, ts, body)), name)
				require.Equal(t, want, string(key.AppendSignature(nil, id, ts, body)), name)
				require.Equal(t, want, signature.HeaderOf([]signature.Signer{key}, id, ts, body), name)
			}
		}
	}
	big := largeBody()
	assert.Equal(t, oracleAsymmetricSignature(kp.priv, specID, specTS, big),
		string(signature.AppendAsymmetricSignature(nil, key, specID, specTS, big)), "1 MiB body")
}

func TestAppendAsymmetricSignatureAppendsWithoutClobberingDst(t *testing.T) {
	t.Parallel()
	key := mustAsymmetricKey(t, vectorSeed)
	dst := append(make([]byte, 0, 256), "prefix:"...)
	dst = signature.AppendAsymmetricSignature(dst, key, specID, specTS, []byte(specBody))
	assert.Equal(t, "prefix:"+vectorSig, string(dst))
}

func TestAsymmetricSignatureRoundTrips(t *testing.T) {
	t.Parallel()
	secret, public := mustSigningKeyPair(t)
	key := mustAsymmetricKey(t, secret)
	now := time.Now()
	for _, body := range [][]byte{nil, []byte(specBody), binaryBody(), largeBody()} {
		hdr := headers(specID, now.Unix(), signature.HeaderOf([]signature.Signer{key}, specID, now.Unix(), body))
		assert.NoError(t, signature.VerifyAsymmetric(public, hdr, body, now))
		assert.NoError(t, signature.VerifyAsymmetric(strings.TrimPrefix(public, signature.PublicKeyPrefix), hdr, body, now))
		assert.NoError(t, signature.Verify(public, hdr, body, now), "Verify dispatches on whpk_")
	}
}

func TestHeaderWithBothKindsVerifiesUnderEachKey(t *testing.T) {
	t.Parallel()
	hmacSecret := mustSecret(t)
	signing, public := mustSigningKeyPair(t)
	_, otherPublic := mustSigningKeyPair(t)
	now := time.Now()
	body := []byte(specBody)
	h := signature.HeaderOf([]signature.Signer{mustKey(t, hmacSecret), mustAsymmetricKey(t, signing)}, specID, now.Unix(), body)

	parts := strings.Split(h, " ")
	require.Len(t, parts, 2)
	assert.Equal(t, librarySign(t, hmacSecret, specID, now.Unix(), body), parts[0])
	assert.True(t, strings.HasPrefix(parts[1], "v1a,"), parts[1])

	hdr := headers(specID, now.Unix(), h)
	assert.NoError(t, signature.Verify(hmacSecret, hdr, body, now))
	assert.NoError(t, signature.Verify(public, hdr, body, now))
	assert.NoError(t, signature.VerifyAsymmetric(public, hdr, body, now))
	assert.ErrorIs(t, signature.Verify(mustSecret(t), hdr, body, now), signature.ErrInvalidSignature)
	assert.ErrorIs(t, signature.Verify(otherPublic, hdr, body, now), signature.ErrInvalidSignature)
	assert.ErrorIs(t, signature.VerifyAsymmetric(otherPublic, hdr, body, now), signature.ErrInvalidSignature)
}

func TestHeaderOfMatchesHeaderForHMACKeys(t *testing.T) {
	t.Parallel()
	keys := []signature.Key{mustKey(t, specSecret), mustKey(t, mustSecret(t))}
	signers := []signature.Signer{keys[0], keys[1]}
	body := []byte(specBody)
	assert.Equal(t, signature.Header(keys, specID, specTS, body), signature.HeaderOf(signers, specID, specTS, body))
	assert.Equal(t, specSig, string(keys[0].AppendSignature(nil, specID, specTS, body)))
}

func TestHeaderOfKeepsSignerOrder(t *testing.T) {
	t.Parallel()
	kp := testKeyPair(2)
	asym := mustAsymmetricKey(t, kp.seed)
	body := []byte(specBody)
	want := oracleAsymmetricSignature(kp.priv, specID, specTS, body) + " " + specSig
	assert.Equal(t, want, signature.HeaderOf([]signature.Signer{asym, mustKey(t, specSecret)}, specID, specTS, body))
}

func TestHeaderOfNoSignersIsEmpty(t *testing.T) {
	t.Parallel()
	assert.Empty(t, signature.HeaderOf(nil, specID, specTS, nil))
	assert.Empty(t, signature.HeaderOf([]signature.Signer{}, specID, specTS, nil))
}

func TestAsymmetricKeyIsSafeForConcurrentSigning(t *testing.T) {
	t.Parallel()
	kp := testKeyPair(3)
	key := mustAsymmetricKey(t, kp.full)
	bodies := [][]byte{[]byte(specBody), binaryBody()}
	wants := []string{
		oracleAsymmetricSignature(kp.priv, specID, specTS, bodies[0]),
		oracleAsymmetricSignature(kp.priv, specID, specTS, bodies[1]),
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			var buf []byte
			for i := range 100 {
				body, want := bodies[(g+i)%2], wants[(g+i)%2]
				buf = signature.AppendAsymmetricSignature(buf[:0], key, specID, specTS, body)
				if string(buf) != want {
					t.Errorf("goroutine %d iteration %d: got %s, want %s", g, i, buf, want)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestZeroAsymmetricKeySignsWithoutPanicking(t *testing.T) {
	t.Parallel()
	var k signature.AsymmetricKey
	sig := string(signature.AppendAsymmetricSignature(nil, k, specID, specTS, []byte(specBody)))
	assert.True(t, strings.HasPrefix(sig, "v1a,"), sig)
	_, public := mustSigningKeyPair(t)
	err := signature.VerifyAsymmetric(public, headers(specID, specTS, sig), []byte(specBody), time.Unix(specTS, 0))
	assert.ErrorIs(t, err, signature.ErrInvalidSignature)
	assert.True(t, strings.HasPrefix(k.PublicKey(), signature.PublicKeyPrefix))
}

func TestVerifyAsymmetricAcceptsTheMatchingEntryAmongOthers(t *testing.T) {
	t.Parallel()
	kp, other := testKeyPair(4), testKeyPair(5)
	body := []byte(specBody)
	right := oracleAsymmetricSignature(kp.priv, specID, specTS, body)
	wrong := oracleAsymmetricSignature(other.priv, specID, specTS, body)
	for name, sig := range map[string]string{
		"wrong key then right":    wrong + " " + right,
		"right then wrong key":    right + " " + wrong,
		"v1 entries then right":   specSig + " v1,abc " + right,
		"double space separators": wrong + "  " + right + " ",
		"garbage then right":      ",,, v1a v1a, , v1a,%%% " + right,
		"v1 spelling of the sig":  "v1," + strings.TrimPrefix(right, "v1a,") + " " + right,
	} {
		hdr := headers(specID, specTS, sig)
		assert.NoError(t, signature.VerifyAsymmetric(kp.public, hdr, body, time.Unix(specTS, 0)), name)
	}
}

func TestVerifyAsymmetricChecksAtMostMaxAsymmetricSignaturesEntries(t *testing.T) {
	t.Parallel()
	kp, other := testKeyPair(6), testKeyPair(7)
	body := []byte(specBody)
	now := time.Unix(specTS, 0)
	right := oracleAsymmetricSignature(kp.priv, specID, specTS, body)
	wrong := oracleAsymmetricSignature(other.priv, specID, specTS, body)
	fill := func(n int) string { return strings.Repeat(wrong+" ", n) }

	assert.NoError(t, signature.VerifyAsymmetric(kp.public,
		headers(specID, specTS, fill(signature.MaxAsymmetricSignatures-1)+right), body, now))
	assert.ErrorIs(t, signature.VerifyAsymmetric(kp.public,
		headers(specID, specTS, fill(signature.MaxAsymmetricSignatures)+right), body, now), signature.ErrInvalidSignature)
	// Malformed entries cost no verification and so do not count.
	junk := strings.Repeat("v1a,"+strings.Repeat("!", 88)+" v1,"+strings.Repeat("A", 43)+"= ", 1000)
	assert.NoError(t, signature.VerifyAsymmetric(kp.public, headers(specID, specTS, junk+right), body, now))
}

func TestVerifyAsymmetricAcceptsTimestampsExactlyAtTheToleranceBoundary(t *testing.T) {
	t.Parallel()
	kp := testKeyPair(8)
	tol := int64(signature.Tolerance / time.Second)
	for _, ts := range []int64{specTS - tol, specTS + tol} {
		sig := oracleAsymmetricSignature(kp.priv, specID, ts, nil)
		assert.NoError(t, signature.VerifyAsymmetric(kp.public, headers(specID, ts, sig), nil, time.Unix(specTS, 0)))
	}
}

// nonCanonical re-spells a v1a signature with non-zero padding bits: it
// decodes to the same bytes under lenient base64, but is not what any
// conforming encoder emits.
func nonCanonical(sig string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	// 64 bytes encode as 21 full groups plus one byte: "XY==", where the low
	// four bits of Y are padding.
	i := len(sig) - 3
	y := strings.IndexByte(alphabet, sig[i])
	return sig[:i] + string(alphabet[y|1]) + sig[i+1:]
}

func TestVerifyAsymmetricReturnsTheRightErrorForEachFailure(t *testing.T) {
	t.Parallel()
	kp, other := testKeyPair(9), testKeyPair(10)
	body := []byte(specBody)
	now := time.Unix(specTS, 0)
	signed := func(id string, ts int64, b []byte) http.Header {
		return headers(id, ts, oracleAsymmetricSignature(kp.priv, id, ts, b))
	}
	good := oracleAsymmetricSignature(kp.priv, specID, specTS, body)
	without := func(name string) http.Header {
		h := signed(specID, specTS, body)
		h.Del(name)
		return h
	}
	with := func(name, value string) http.Header {
		h := signed(specID, specTS, body)
		h.Set(name, value)
		return h
	}
	badPadding := nonCanonical(good)
	require.NotEqual(t, good, badPadding)
	lenient, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(badPadding, "v1a,"))
	require.NoError(t, err)
	require.True(t, ed25519.Verify(kp.priv.Public().(ed25519.PublicKey), []byte(specID+".1614265330."+specBody), lenient),
		"the re-spelled signature is still valid under lenient decoding")

	hmacSig := string(signature.AppendSignature(nil, mustKey(t, specSecret), specID, specTS, body))
	sixMin := int64(6 * 60)
	cases := []struct {
		name       string
		public     string
		header     http.Header
		body       []byte
		want       error
		wantHeader string
	}{
		{"missing webhook-id", kp.public, without("webhook-id"), body, signature.ErrMissingHeader, "webhook-id"},
		{"missing webhook-timestamp", kp.public, without("webhook-timestamp"), body, signature.ErrMissingHeader, "webhook-timestamp"},
		{"missing webhook-signature", kp.public, without("webhook-signature"), body, signature.ErrMissingHeader, "webhook-signature"},
		{"nil header", kp.public, nil, body, signature.ErrMissingHeader, "webhook-id"},
		{"non-numeric timestamp", kp.public, with("webhook-timestamp", "yesterday"), body, signature.ErrInvalidHeader, "webhook-timestamp"},
		{"timestamp overflowing int64", kp.public, with("webhook-timestamp", "99999999999999999999"), body, signature.ErrInvalidHeader, "webhook-timestamp"},
		{"6 minutes old", kp.public, signed(specID, specTS-sixMin, body), body, signature.ErrTimestampTooOld, ""},
		{"6 minutes in the future", kp.public, signed(specID, specTS+sixMin, body), body, signature.ErrTimestampTooNew, ""},
		{"minimum int64 timestamp", kp.public, with("webhook-timestamp", strconv.FormatInt(math.MinInt64, 10)), body, signature.ErrTimestampTooOld, ""},
		{"tampered body", kp.public, signed(specID, specTS, body), []byte(`{"test": 2432232315}`), signature.ErrInvalidSignature, ""},
		{"truncated body", kp.public, signed(specID, specTS, body), body[:len(body)-1], signature.ErrInvalidSignature, ""},
		{"tampered id", kp.public, with("webhook-id", specID+"x"), body, signature.ErrInvalidSignature, ""},
		{"tampered timestamp", kp.public, with("webhook-timestamp", strconv.FormatInt(specTS+1, 10)), body, signature.ErrInvalidSignature, ""},
		{"wrong public key", other.public, signed(specID, specTS, body), body, signature.ErrInvalidSignature, ""},
		{"v1 entry only", kp.public, with("webhook-signature", hmacSig), body, signature.ErrInvalidSignature, ""},
		{"v1 spelling of a valid v1a signature", kp.public, with("webhook-signature", "v1,"+strings.TrimPrefix(good, "v1a,")), body, signature.ErrInvalidSignature, ""},
		{"signature without version", kp.public, with("webhook-signature", strings.TrimPrefix(good, "v1a,")), body, signature.ErrInvalidSignature, ""},
		{"signature with trailing field", kp.public, with("webhook-signature", good+",extra"), body, signature.ErrInvalidSignature, ""},
		{"unpadded signature", kp.public, with("webhook-signature", strings.TrimRight(good, "=")), body, signature.ErrInvalidSignature, ""},
		{"url-alphabet signature", kp.public, with("webhook-signature", strings.NewReplacer("+", "-", "/", "_").Replace(good)), body, signature.ErrInvalidSignature, ""},
		{"non-canonical base64 padding bits", kp.public, with("webhook-signature", badPadding), body, signature.ErrInvalidSignature, ""},
		{"only separators", kp.public, with("webhook-signature", " , ,, "), body, signature.ErrInvalidSignature, ""},
		{"huge signature header", kp.public, with("webhook-signature", strings.Repeat("v1a,"+strings.Repeat("A", 86)+"== ", 20000)), body, signature.ErrInvalidSignature, ""},
		{"invalid public key", "whpk_%%%", signed(specID, specTS, body), body, signature.ErrInvalidSecret, ""},
		{"empty public key", "", signed(specID, specTS, body), body, signature.ErrInvalidSecret, ""},
		{"signing key instead of public key", kp.full, signed(specID, specTS, body), body, signature.ErrInvalidSecret, ""},
		{"HMAC secret instead of public key", specSecret, signed(specID, specTS, body), body, signature.ErrInvalidSecret, ""},
		{"31-byte public key", signature.PublicKeyPrefix + base64.StdEncoding.EncodeToString(make([]byte, 31)), signed(specID, specTS, body), body, signature.ErrInvalidSecret, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := signature.VerifyAsymmetric(tc.public, tc.header, tc.body, now)
			require.ErrorIs(t, err, tc.want)
			assert.True(t, strings.HasPrefix(err.Error(), "webhook: "), err.Error())
			assertNoKeyLeak(t, fmt.Sprintf("%v %+v %#v", err, err, err), tc.public)
			var he *signature.HeaderError
			if tc.wantHeader == "" {
				assert.False(t, errors.As(err, &he), "unexpected HeaderError %v", err)
			} else {
				require.ErrorAs(t, err, &he)
				assert.Equal(t, tc.wantHeader, he.Header)
			}
			if strings.HasPrefix(tc.public, signature.PublicKeyPrefix) {
				assert.Equal(t, err, signature.Verify(tc.public, tc.header, tc.body, now), "Verify dispatches on whpk_")
			}
		})
	}
}

func TestHMACVerifyIgnoresV1aSignatures(t *testing.T) {
	t.Parallel()
	kp := testKeyPair(11)
	body := []byte(specBody)
	now := time.Unix(specTS, 0)
	v1a := oracleAsymmetricSignature(kp.priv, specID, specTS, body)
	assert.ErrorIs(t, signature.Verify(specSecret, headers(specID, specTS, v1a), body, now), signature.ErrInvalidSignature)
	assert.NoError(t, signature.Verify(specSecret, headers(specID, specTS, v1a+" "+specSig), body, now))
	assert.ErrorIs(t, signature.Verify(kp.public, headers(specID, specTS, specSig), body, now), signature.ErrInvalidSignature)
}

func TestVerifyRejectsSigningKeysWithAnErrorNamingTheKind(t *testing.T) {
	t.Parallel()
	kp := testKeyPair(12)
	hdr := headers(specID, specTS, oracleAsymmetricSignature(kp.priv, specID, specTS, nil))
	for _, secret := range []string{kp.seed, kp.full} {
		err := signature.Verify(secret, hdr, nil, time.Unix(specTS, 0))
		require.ErrorIs(t, err, signature.ErrInvalidSecret)
		assert.Contains(t, err.Error(), "whsk_ signing key")
		assertNoKeyLeak(t, err.Error(), secret)
	}
}

func TestParseAsymmetricKeyAcceptsSeedsAndFullPrivateKeysWithOrWithoutPrefix(t *testing.T) {
	t.Parallel()
	kp := testKeyPair(13)
	want := oracleAsymmetricSignature(kp.priv, specID, specTS, []byte(specBody))
	for _, secret := range []string{
		kp.seed, kp.full,
		strings.TrimPrefix(kp.seed, signature.SigningKeyPrefix),
		strings.TrimPrefix(kp.full, signature.SigningKeyPrefix),
	} {
		key := mustAsymmetricKey(t, secret)
		assert.Equal(t, want, string(key.AppendSignature(nil, specID, specTS, []byte(specBody))))
		assert.Equal(t, kp.public, key.PublicKey())
		pub, err := signature.PublicKeyOf(secret)
		require.NoError(t, err)
		assert.Equal(t, kp.public, pub)
	}
}

func TestParseAsymmetricKeyRejectsBadKeysWithoutEchoingThem(t *testing.T) {
	t.Parallel()
	kp, other := testKeyPair(14), testKeyPair(15)
	b64 := func(n int) string {
		return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xC3}, n))
	}
	// The seed of kp with the public half of other: 64 bytes that are not a
	// key pair.
	mismatched := signature.SigningKeyPrefix + base64.StdEncoding.EncodeToString(
		append(append([]byte{}, kp.priv.Seed()...), other.priv.Public().(ed25519.PublicKey)...))
	for name, tc := range map[string]struct {
		secret  string
		message string
	}{
		"empty":                         {"", "empty"},
		"prefix only":                   {signature.SigningKeyPrefix, "empty"},
		"not base64":                    {"whsk_this-is-not-base64!", "not standard base64"},
		"url alphabet":                  {"whsk_" + strings.NewReplacer("+", "-", "/", "_").Replace(b64(63)) + "-_", "not standard base64"},
		"unpadded":                      {strings.TrimRight(kp.seed, "="), "not standard base64"},
		"31-byte key":                   {"whsk_" + b64(31), "31 bytes"},
		"33-byte key":                   {"whsk_" + b64(33), "33 bytes"},
		"63-byte key":                   {"whsk_" + b64(63), "63 bytes"},
		"65-byte key":                   {"whsk_" + b64(65), "65 bytes"},
		"mismatched public half":        {mismatched, "does not match"},
		"public key":                    {kp.public, "whpk_ public"},
		"HMAC secret":                   {specSecret, "whsec_ HMAC"},
		"signing key with two prefixes": {"whsk_" + kp.seed, "not standard base64"},
	} {
		key, err := signature.ParseAsymmetricKey(tc.secret)
		require.ErrorIs(t, err, signature.ErrInvalidSecret, name)
		assert.Contains(t, err.Error(), tc.message, name)
		assert.Equal(t, signature.AsymmetricKey{}, key, name)
		assertNoKeyLeak(t, err.Error(), tc.secret)
		_, err = signature.PublicKeyOf(tc.secret)
		require.ErrorIs(t, err, signature.ErrInvalidSecret, name)
		assertNoKeyLeak(t, err.Error(), tc.secret)
	}
	assertNoKeyLeak(t, func() string { _, err := signature.ParseAsymmetricKey(mismatched); return err.Error() }(), kp.full)
}

func TestHMACKeyParsingRejectsAsymmetricKeysByKind(t *testing.T) {
	t.Parallel()
	kp := testKeyPair(16)
	for _, tc := range []struct{ key, message string }{
		{kp.full, "whsk_ signing key"},
		{kp.public, "whpk_ public key"},
	} {
		_, err := signature.ParseKey(tc.key)
		require.ErrorIs(t, err, signature.ErrInvalidSecret)
		assert.Contains(t, err.Error(), tc.message)
		assertNoKeyLeak(t, err.Error(), tc.key)
		_, err = signature.DecodeSecret(tc.key)
		require.ErrorIs(t, err, signature.ErrInvalidSecret)
	}
}

func TestNewSigningKeyPairEmitsThe64ByteFormAndItsPublicKey(t *testing.T) {
	t.Parallel()
	secret, public := mustSigningKeyPair(t)
	require.True(t, strings.HasPrefix(secret, signature.SigningKeyPrefix), "secret lacks whsk_")
	require.True(t, strings.HasPrefix(public, signature.PublicKeyPrefix), public)
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, signature.SigningKeyPrefix))
	require.NoError(t, err)
	require.Len(t, raw, ed25519.PrivateKeySize)
	pub, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(public, signature.PublicKeyPrefix))
	require.NoError(t, err)
	require.Len(t, pub, ed25519.PublicKeySize)
	assert.Equal(t, ed25519.NewKeyFromSeed(raw[:ed25519.SeedSize]), ed25519.PrivateKey(raw), "private key is seed || public key")
	assert.Equal(t, pub, raw[ed25519.SeedSize:])

	derived, err := signature.PublicKeyOf(secret)
	require.NoError(t, err)
	assert.Equal(t, public, derived)
	assert.Equal(t, public, mustAsymmetricKey(t, secret).PublicKey())
	seedForm := signature.SigningKeyPrefix + base64.StdEncoding.EncodeToString(raw[:ed25519.SeedSize])
	derived, err = signature.PublicKeyOf(seedForm)
	require.NoError(t, err)
	assert.Equal(t, public, derived)
}

func TestNewSigningKeyPairIsUniqueAcross200Calls(t *testing.T) {
	t.Parallel()
	seen := make(map[string]bool, 400)
	for range 200 {
		secret, public := mustSigningKeyPair(t)
		require.False(t, seen[secret] || seen[public], "duplicate key")
		seen[secret], seen[public] = true, true
	}
}

func TestAsymmetricKeyNeverPrintsItsBytes(t *testing.T) {
	t.Parallel()
	secret, _ := mustSigningKeyPair(t)
	key := mustAsymmetricKey(t, secret)
	wrapped := struct {
		Name string
		Key  signature.AsymmetricKey
		Ptr  *signature.AsymmetricKey
		Any  signature.Signer
	}{"endpoint", key, &key, key}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T"} {
		for _, v := range []any{key, &key, wrapped, []signature.AsymmetricKey{key}, []signature.Signer{key}} {
			out := fmt.Sprintf(verb, v)
			assertNoKeyLeak(t, out, secret)
		}
	}
	const redacted = "signature.AsymmetricKey{redacted}"
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		assert.Equal(t, redacted, fmt.Sprintf(verb, key), verb)
	}
	assert.Equal(t, redacted, key.String())
	assert.Equal(t, redacted, key.GoString())
	assert.Contains(t, fmt.Sprintf("%+v", wrapped), "Key:"+redacted)
}

func BenchmarkAppendAsymmetricSignature(b *testing.B) {
	key := mustAsymmetricKey(b, vectorSeed)
	body := bytes.Repeat([]byte("a"), 1024)
	dst := make([]byte, 0, 128)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		dst = signature.AppendAsymmetricSignature(dst[:0], key, specID, specTS, body)
	}
	sink = dst
}

func BenchmarkVerifyAsymmetric(b *testing.B) {
	key := mustAsymmetricKey(b, vectorSeed)
	body := bytes.Repeat([]byte("a"), 1024)
	h := headers(specID, specTS, string(signature.AppendAsymmetricSignature(nil, key, specID, specTS, body)))
	public := key.PublicKey()
	now := time.Unix(specTS, 0)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if err := signature.VerifyAsymmetric(public, h, body, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHeaderOfHMACAndAsymmetric(b *testing.B) {
	signers := []signature.Signer{mustKey(b, specSecret), mustAsymmetricKey(b, vectorSeed)}
	body := bytes.Repeat([]byte("a"), 1024)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		sink = []byte(signature.HeaderOf(signers, specID, specTS, body))
	}
}

func TestSignersHoldingKeysAreComparable(t *testing.T) {
	t.Parallel()
	asym := mustAsymmetricKey(t, vectorSeed)
	hmacKey := mustKey(t, specSecret)
	signers := []signature.Signer{asym, hmacKey, asym, signature.AsymmetricKey{}}
	assert.True(t, signers[0] == signers[2])
	assert.False(t, signers[0] == signers[1])
	assert.False(t, signers[0] == signers[3])
}
