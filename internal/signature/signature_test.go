package signature_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hooksmith/webhook/internal/signature"
)

// specSecret and the values below are the worked example from the Standard
// Webhooks specification; specSecret decodes to exactly the minimum 24 bytes.
const (
	specSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	specID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	specTS     = int64(1614265330)
	specBody   = `{"test": 2432232314}`
	specSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func mustKey(t testing.TB, secret string) signature.Key {
	t.Helper()
	k, err := signature.ParseKey(secret)
	require.NoError(t, err)
	return k
}

func mustSecret(t testing.TB) string {
	t.Helper()
	s, err := signature.NewSecret()
	require.NoError(t, err)
	return s
}

// secretOfLen makes a deterministic secret whose key is n bytes long.
func secretOfLen(n int, withPrefix bool) string {
	key := bytes.Repeat([]byte{0xA5}, n)
	for i := range key {
		key[i] ^= byte(i)
	}
	s := base64.StdEncoding.EncodeToString(key)
	if withPrefix {
		return signature.Prefix + s
	}
	return s
}

func librarySign(t testing.TB, secret, id string, ts int64, body []byte) string {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	require.NoError(t, err)
	sig, err := wh.Sign(id, time.Unix(ts, 0), body)
	require.NoError(t, err)
	return sig
}

func headers(id string, ts int64, sig string) http.Header {
	h := http.Header{}
	h.Set("webhook-id", id)
	h.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	h.Set("webhook-signature", sig)
	return h
}

func binaryBody() []byte {
	b := make([]byte, 512)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

func largeBody() []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, 1<<20)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestSignatureMatchesTheSpecificationExample(t *testing.T) {
	t.Parallel()
	got := signature.AppendSignature(nil, mustKey(t, specSecret), specID, specTS, []byte(specBody))
	assert.Equal(t, specSig, string(got))
}

func TestAppendSignatureAndHeaderMatchTheReferenceLibraryByteForByte(t *testing.T) {
	t.Parallel()
	secrets := map[string]string{
		"spec secret (24-byte key)":   specSecret,
		"generated secret":            mustSecret(t),
		"64-byte key":                 secretOfLen(64, true),
		"secret without whsec prefix": secretOfLen(32, false),
	}
	ids := map[string]string{
		"spec id":     specID,
		"unicode id":  "msg_ünïcødé_🚀_配信",
		"dotted id":   "a.b.c",
		"long id":     strings.Repeat("x", 300),
		"one-char id": "m",
	}
	timestamps := []int64{specTS, 0, -1, 1, time.Now().Unix(), math.MaxInt64, math.MinInt64}
	bodies := map[string][]byte{
		"nil body":            nil,
		"empty body":          {},
		"json body":           []byte(specBody),
		"binary body":         binaryBody(),
		"body with separator": []byte(". 123 . v1,abc"),
		"1 MiB body":          largeBody(),
	}
	for sname, secret := range secrets {
		key := mustKey(t, secret)
		for iname, id := range ids {
			for _, ts := range timestamps {
				for bname, body := range bodies {
					if bname == "1 MiB body" && ts != specTS {
						continue // one large case per secret and id is enough
					}
					name := fmt.Sprintf("%s/%s/%d/%s", sname, iname, ts, bname)
					want := librarySign(t, secret, id, ts, body)
					require.Equal(t, want, string(signature.AppendSignature(nil, key, id, ts, body)), name)
					require.Equal(t, want, signature.Header([]signature.Key{key}, id, ts, body), name)
				}
			}
		}
	}
}

func TestAppendSignatureAppendsWithoutClobberingDst(t *testing.T) {
	t.Parallel()
	key := mustKey(t, specSecret)
	dst := make([]byte, 0, 128)
	dst = append(dst, "prefix:"...)
	dst = signature.AppendSignature(dst, key, specID, specTS, []byte(specBody))
	assert.Equal(t, "prefix:"+specSig, string(dst))
}

func TestHeaderJoinsOneSignaturePerKeyWithSpaces(t *testing.T) {
	t.Parallel()
	other := mustSecret(t)
	h := signature.Header([]signature.Key{mustKey(t, specSecret), mustKey(t, other)}, specID, specTS, []byte(specBody))
	assert.Equal(t, specSig+" "+librarySign(t, other, specID, specTS, []byte(specBody)), h)
}

func TestHeaderOfNoKeysIsEmpty(t *testing.T) {
	t.Parallel()
	assert.Empty(t, signature.Header(nil, specID, specTS, nil))
}

func TestKeyIsSafeForConcurrentSigning(t *testing.T) {
	t.Parallel()
	key := mustKey(t, specSecret)
	bodies := [][]byte{[]byte(specBody), binaryBody()}
	wants := []string{
		librarySign(t, specSecret, specID, specTS, bodies[0]),
		librarySign(t, specSecret, specID, specTS, bodies[1]),
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			var buf []byte
			for i := range 200 {
				body, want := bodies[(g+i)%2], wants[(g+i)%2]
				buf = signature.AppendSignature(buf[:0], key, specID, specTS, body)
				if string(buf) != want {
					t.Errorf("goroutine %d iteration %d: got %s, want %s", g, i, buf, want)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestZeroKeySignsWithoutPanicking(t *testing.T) {
	t.Parallel()
	var k signature.Key
	sig := signature.AppendSignature(nil, k, specID, specTS, []byte(specBody))
	assert.True(t, strings.HasPrefix(string(sig), "v1,"))
	assert.NotEqual(t, specSig, string(sig))
}

func TestVerifyAcceptsWhatTheReferenceLibrarySigns(t *testing.T) {
	t.Parallel()
	for _, secret := range []string{specSecret, mustSecret(t), secretOfLen(64, false)} {
		now := time.Now()
		for _, body := range [][]byte{nil, []byte(specBody), binaryBody()} {
			sig := librarySign(t, secret, specID, now.Unix(), body)
			assert.NoError(t, signature.Verify(secret, headers(specID, now.Unix(), sig), body, now))
		}
	}
}

func TestTheReferenceLibraryVerifiesWhatWeSign(t *testing.T) {
	t.Parallel()
	for _, secret := range []string{specSecret, mustSecret(t), secretOfLen(64, true)} {
		wh, err := standardwebhooks.NewWebhook(secret)
		require.NoError(t, err)
		ts := time.Now().Unix()
		for _, body := range [][]byte{{}, []byte(specBody), binaryBody()} {
			sig := signature.Header([]signature.Key{mustKey(t, secret)}, specID, ts, body)
			assert.NoError(t, wh.Verify(body, headers(specID, ts, sig)))
		}
	}
}

func TestVerifyAcceptsTheMatchingEntryAmongWrongOnes(t *testing.T) {
	t.Parallel()
	now := time.Unix(specTS, 0)
	wrong := librarySign(t, mustSecret(t), specID, specTS, []byte(specBody))
	for name, sig := range map[string]string{
		"wrong then right":        wrong + " " + specSig,
		"right then wrong":        specSig + " " + wrong,
		"v1a then right":          "v1a,c2lnbmF0dXJl " + specSig,
		"double space separators": wrong + "  " + specSig + " ",
		"garbage then right":      ",,, v1 v1, , " + specSig,
	} {
		assert.NoError(t, signature.Verify(specSecret, headers(specID, specTS, sig), []byte(specBody), now), name)
	}
}

func TestRotationHeaderVerifiesUnderEitherSecret(t *testing.T) {
	t.Parallel()
	oldSecret, newSecret := mustSecret(t), mustSecret(t)
	now := time.Now()
	body := []byte(specBody)
	h := signature.Header([]signature.Key{mustKey(t, oldSecret), mustKey(t, newSecret)}, specID, now.Unix(), body)
	hdr := headers(specID, now.Unix(), h)
	assert.NoError(t, signature.Verify(oldSecret, hdr, body, now))
	assert.NoError(t, signature.Verify(newSecret, hdr, body, now))
	assert.ErrorIs(t, signature.Verify(mustSecret(t), hdr, body, now), signature.ErrInvalidSignature)
}

func TestVerifyAcceptsTimestampsExactlyAtTheToleranceBoundary(t *testing.T) {
	t.Parallel()
	key := mustKey(t, specSecret)
	tol := int64(signature.Tolerance / time.Second)
	for _, ts := range []int64{specTS - tol, specTS + tol} {
		sig := string(signature.AppendSignature(nil, key, specID, ts, nil))
		assert.NoError(t, signature.Verify(specSecret, headers(specID, ts, sig), nil, time.Unix(specTS, 0)))
	}
}

// The signed content uses the parsed integer, as in the reference library, so
// a non-canonical spelling of the same second still verifies.
func TestVerifyAcceptsNonCanonicalSpellingsOfTheTimestamp(t *testing.T) {
	t.Parallel()
	ts := strconv.FormatInt(specTS, 10)
	wh, err := standardwebhooks.NewWebhook(specSecret)
	require.NoError(t, err)
	for _, spelled := range []string{"0" + ts, "+" + ts} {
		h := headers(specID, specTS, specSig)
		h.Set("webhook-timestamp", spelled)
		assert.NoError(t, signature.Verify(specSecret, h, []byte(specBody), time.Unix(specTS, 0)), spelled)
		assert.NoError(t, wh.VerifyIgnoringTimestamp([]byte(specBody), h), spelled)
	}
}

func TestVerifyReturnsTheRightErrorForEachFailure(t *testing.T) {
	t.Parallel()
	body := []byte(specBody)
	now := time.Unix(specTS, 0)
	signed := func(id string, ts int64, b []byte) http.Header {
		return headers(id, ts, string(signature.AppendSignature(nil, mustKey(t, specSecret), id, ts, b)))
	}
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
	sixMin := int64(6 * 60)
	cases := []struct {
		name       string
		secret     string
		header     http.Header
		body       []byte
		want       error
		wantHeader string
	}{
		{"missing webhook-id", specSecret, without("webhook-id"), body, signature.ErrMissingHeader, "webhook-id"},
		{"missing webhook-timestamp", specSecret, without("webhook-timestamp"), body, signature.ErrMissingHeader, "webhook-timestamp"},
		{"missing webhook-signature", specSecret, without("webhook-signature"), body, signature.ErrMissingHeader, "webhook-signature"},
		{"empty webhook-id", specSecret, with("webhook-id", ""), body, signature.ErrMissingHeader, "webhook-id"},
		{"nil header", specSecret, nil, body, signature.ErrMissingHeader, "webhook-id"},
		{"non-numeric timestamp", specSecret, with("webhook-timestamp", "yesterday"), body, signature.ErrInvalidHeader, "webhook-timestamp"},
		{"fractional timestamp", specSecret, with("webhook-timestamp", "1614265330.5"), body, signature.ErrInvalidHeader, "webhook-timestamp"},
		{"timestamp overflowing int64", specSecret, with("webhook-timestamp", "99999999999999999999"), body, signature.ErrInvalidHeader, "webhook-timestamp"},
		{"6 minutes old", specSecret, signed(specID, specTS-sixMin, body), body, signature.ErrTimestampTooOld, ""},
		{"6 minutes in the future", specSecret, signed(specID, specTS+sixMin, body), body, signature.ErrTimestampTooNew, ""},
		{"one second past tolerance", specSecret, signed(specID, specTS-301, body), body, signature.ErrTimestampTooOld, ""},
		{"minimum int64 timestamp", specSecret, with("webhook-timestamp", strconv.FormatInt(math.MinInt64, 10)), body, signature.ErrTimestampTooOld, ""},
		{"maximum int64 timestamp", specSecret, with("webhook-timestamp", strconv.FormatInt(math.MaxInt64, 10)), body, signature.ErrTimestampTooNew, ""},
		{"tampered body", specSecret, signed(specID, specTS, body), []byte(`{"test": 2432232315}`), signature.ErrInvalidSignature, ""},
		{"truncated body", specSecret, signed(specID, specTS, body), body[:len(body)-1], signature.ErrInvalidSignature, ""},
		{"tampered id", specSecret, with("webhook-id", specID+"x"), body, signature.ErrInvalidSignature, ""},
		{"tampered timestamp", specSecret, with("webhook-timestamp", strconv.FormatInt(specTS+1, 10)), body, signature.ErrInvalidSignature, ""},
		{"wrong secret", mustSecret(t), signed(specID, specTS, body), body, signature.ErrInvalidSignature, ""},
		{"invalid secret", "whsec_%%%", signed(specID, specTS, body), body, signature.ErrInvalidSecret, ""},
		{"empty secret", "", signed(specID, specTS, body), body, signature.ErrInvalidSecret, ""},
		{"v1a entry only", specSecret, with("webhook-signature", "v1a,"+strings.TrimPrefix(specSig, "v1,")), body, signature.ErrInvalidSignature, ""},
		{"signature without version", specSecret, with("webhook-signature", strings.TrimPrefix(specSig, "v1,")), body, signature.ErrInvalidSignature, ""},
		{"signature with trailing field", specSecret, with("webhook-signature", specSig+",extra"), body, signature.ErrInvalidSignature, ""},
		{"only separators", specSecret, with("webhook-signature", " , ,, "), body, signature.ErrInvalidSignature, ""},
		{"huge signature header", specSecret, with("webhook-signature", strings.Repeat("v1,"+strings.Repeat("A", 43)+"= ", 20000)), body, signature.ErrInvalidSignature, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := signature.Verify(tc.secret, tc.header, tc.body, now)
			require.ErrorIs(t, err, tc.want)
			assert.True(t, strings.HasPrefix(err.Error(), "webhook: "), err.Error())
			var he *signature.HeaderError
			if tc.wantHeader == "" {
				assert.False(t, errors.As(err, &he), "unexpected HeaderError %v", err)
				return
			}
			require.ErrorAs(t, err, &he)
			assert.Equal(t, tc.wantHeader, he.Header)
			assert.Contains(t, err.Error(), tc.wantHeader)
		})
	}
}

func TestHeaderErrorNamesTheHeaderAndUnwraps(t *testing.T) {
	t.Parallel()
	err := error(&signature.HeaderError{Header: "webhook-id", Err: signature.ErrMissingHeader})
	assert.Equal(t, "webhook: missing header: webhook-id", err.Error())
	assert.ErrorIs(t, err, signature.ErrMissingHeader)
	assert.NotErrorIs(t, err, signature.ErrInvalidHeader)
}

func TestSentinelErrorsStartWithWebhookPrefix(t *testing.T) {
	t.Parallel()
	for _, err := range []error{
		signature.ErrMissingHeader, signature.ErrInvalidHeader, signature.ErrInvalidSignature,
		signature.ErrTimestampTooOld, signature.ErrTimestampTooNew, signature.ErrInvalidSecret,
	} {
		assert.True(t, strings.HasPrefix(err.Error(), "webhook: "), err.Error())
	}
}

func TestDecodeSecretAcceptsKeysFrom24To64BytesWithOrWithoutPrefix(t *testing.T) {
	t.Parallel()
	for _, n := range []int{24, 32, 64} {
		for _, prefix := range []bool{true, false} {
			key, err := signature.DecodeSecret(secretOfLen(n, prefix))
			require.NoError(t, err)
			assert.Len(t, key, n)
		}
	}
}

func TestDecodeSecretRejectsBadSecretsWithoutEchoingThem(t *testing.T) {
	t.Parallel()
	for name, secret := range map[string]string{
		"empty":           "",
		"prefix only":     signature.Prefix,
		"not base64":      "whsec_this-is-not-base64!",
		"url alphabet":    "whsec_" + strings.ReplaceAll(secretOfLen(32, false), "+", "-") + "-_",
		"unpadded":        strings.TrimRight("whsec_"+base64.StdEncoding.EncodeToString([]byte("twenty-five-bytes-long-ok")), "="),
		"23-byte key":     secretOfLen(23, true),
		"65-byte key":     secretOfLen(65, true),
		"short plaintext": "whsec_" + base64.StdEncoding.EncodeToString([]byte("hunter2")),
	} {
		key, err := signature.DecodeSecret(secret)
		require.ErrorIs(t, err, signature.ErrInvalidSecret, name)
		assert.Nil(t, key, name)
		assertNoLeak(t, err.Error(), secret)
		_, err = signature.ParseKey(secret)
		require.ErrorIs(t, err, signature.ErrInvalidSecret, name)
		assertNoLeak(t, err.Error(), secret)
	}
}

// assertNoLeak fails if s contains secret, its base64 part, or a sizeable
// fragment of either.
func assertNoLeak(t *testing.T, s, secret string) {
	t.Helper()
	body := strings.TrimPrefix(secret, signature.Prefix)
	if body == "" {
		return
	}
	assert.NotContains(t, s, secret)
	assert.NotContains(t, s, body)
	if len(body) >= 8 {
		for i := 0; i+8 <= len(body); i++ {
			assert.NotContains(t, s, body[i:i+8], "fragment of secret leaked")
		}
	}
	if key, err := base64.StdEncoding.DecodeString(body); err == nil && len(key) > 0 {
		assert.NotContains(t, s, string(key))
		assert.NotContains(t, s, fmt.Sprintf("%x", key))
		assert.NotContains(t, s, fmt.Sprint(key))
	}
}

func TestVerifyErrorsNeverContainTheSecret(t *testing.T) {
	t.Parallel()
	secret := mustSecret(t)
	now := time.Unix(specTS, 0)
	for _, h := range []http.Header{
		nil,
		headers(specID, specTS, specSig),
		headers(specID, specTS-3600, specSig),
		headers(specID, specTS+3600, specSig),
		{"Webhook-Id": {specID}, "Webhook-Timestamp": {"x"}, "Webhook-Signature": {specSig}},
	} {
		err := signature.Verify(secret, h, []byte(specBody), now)
		require.Error(t, err)
		assertNoLeak(t, err.Error(), secret)
		assertNoLeak(t, fmt.Sprintf("%+v %#v", err, err), secret)
	}
	bad := "whsec_" + strings.Repeat("Q", 31) // 31 chars: not valid padded base64
	err := signature.Verify(bad, headers(specID, specTS, specSig), nil, now)
	require.ErrorIs(t, err, signature.ErrInvalidSecret)
	assertNoLeak(t, err.Error(), bad)
}

func TestKeyNeverPrintsItsBytes(t *testing.T) {
	t.Parallel()
	secret := mustSecret(t)
	key := mustKey(t, secret)
	wrapped := struct {
		Name string
		Key  signature.Key
		Ptr  *signature.Key
	}{"endpoint", key, &key}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T"} {
		for _, v := range []any{key, &key, wrapped, []signature.Key{key}} {
			out := fmt.Sprintf(verb, v)
			assertNoLeak(t, out, secret)
		}
	}
	assert.Equal(t, "signature.Key{redacted}", fmt.Sprintf("%v", key))
	assert.Equal(t, "signature.Key{redacted}", fmt.Sprintf("%+v", key))
	assert.Equal(t, "signature.Key{redacted}", fmt.Sprintf("%#v", key))
	assert.Equal(t, "signature.Key{redacted}", key.String())
	assert.Equal(t, "signature.Key{redacted}", key.GoString())
	assert.Contains(t, fmt.Sprintf("%+v", wrapped), "Key:signature.Key{redacted}")
}

func TestNewSecretHasPrefixAnd32ByteKey(t *testing.T) {
	t.Parallel()
	s := mustSecret(t)
	require.True(t, strings.HasPrefix(s, signature.Prefix), s)
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, signature.Prefix))
	require.NoError(t, err)
	assert.Len(t, raw, signature.KeySize)
	key, err := signature.DecodeSecret(s)
	require.NoError(t, err)
	assert.Equal(t, raw, key)
}

func TestNewSecretIsUniqueAcross1000Calls(t *testing.T) {
	t.Parallel()
	seen := make(map[string]bool, 1000)
	for range 1000 {
		s := mustSecret(t)
		require.False(t, seen[s], "duplicate secret")
		seen[s] = true
	}
}

var sink []byte

func BenchmarkAppendSignature(b *testing.B) {
	key := mustKey(b, specSecret)
	body := bytes.Repeat([]byte("a"), 1024)
	dst := make([]byte, 0, 64)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		dst = signature.AppendSignature(dst[:0], key, specID, specTS, body)
	}
	sink = dst
}

// BenchmarkReferenceLibrarySign is the baseline AppendSignature replaces.
func BenchmarkReferenceLibrarySign(b *testing.B) {
	wh, err := standardwebhooks.NewWebhook(specSecret)
	require.NoError(b, err)
	body := bytes.Repeat([]byte("a"), 1024)
	ts := time.Unix(specTS, 0)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		s, _ := wh.Sign(specID, ts, body)
		sink = []byte(s)
	}
}

func BenchmarkVerify(b *testing.B) {
	body := bytes.Repeat([]byte("a"), 1024)
	h := headers(specID, specTS, string(signature.AppendSignature(nil, mustKey(b, specSecret), specID, specTS, body)))
	now := time.Unix(specTS, 0)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if err := signature.Verify(specSecret, h, body, now); err != nil {
			b.Fatal(err)
		}
	}
}
