package secretbox_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hooksmith/webhook/internal/secretbox"
)

// Test keys. They are fixed so that fixedCurrent and fixedPrevious, sealed
// once with them, can be checked here and seed the fuzzer.
const (
	currentID      = "k2025"
	currentEncoded = "1Mgflx9TpFGS5j8JtL7Osdi6zd7iX88Q8a29pJNf+AE="
	previousID     = "k2024"
	previousEnc    = "ltF9MQaVxpfAY7yLns7dby1GZx+zYe/Lm57rlZj4lo8="

	fixedCurrent          = "sb1:k2025:r-wVKVY610t8earffgVlMav67vGJ8o2-VGDNgkmRkN3qYF7k5dAHqdp459GkswVkNsHBA9W1e9pQGCahbktydr_3"
	fixedCurrentPlaintext = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	fixedCurrentAAD       = "ep_current"

	fixedPrevious          = "sb1:k2024:OoVksYmiTAa5nwcEdi7nxzlzKE0dyMvlwROhkXj8-ycKMTBqErmLZH9NpSa-S1AzruWEmCw"
	fixedPreviousPlaintext = "whsec_previous-key-secret"
	fixedPreviousAAD       = "ep_previous"
)

func mustKey(t testing.TB, id, encoded string) secretbox.Key {
	t.Helper()
	k, err := secretbox.ParseKey(id, encoded)
	require.NoError(t, err)
	return k
}

// rotatedKeyring seals under currentID and still opens previousID.
func rotatedKeyring(t testing.TB) *secretbox.Keyring {
	t.Helper()
	kr, err := secretbox.NewKeyring(mustKey(t, currentID, currentEncoded), mustKey(t, previousID, previousEnc))
	require.NoError(t, err)
	return kr
}

// splitSealed returns the header ("sb1:id:") and decoded payload of s.
func splitSealed(t testing.TB, s string) (string, []byte) {
	t.Helper()
	i := strings.LastIndexByte(s, ':')
	require.Positive(t, i)
	raw, err := base64.RawURLEncoding.DecodeString(s[i+1:])
	require.NoError(t, err)
	return s[:i+1], raw
}

func TestSeal_then_Open_returns_the_plaintext(t *testing.T) {
	t.Parallel()
	kr := rotatedKeyring(t)
	for _, pt := range [][]byte{{}, []byte("x"), []byte(fixedCurrentPlaintext), bytes.Repeat([]byte{0, 0xff}, 500)} {
		for _, aad := range []string{"", "ep_1", "ünïcødé:\x00"} {
			sealed, err := kr.Seal(pt, aad)
			require.NoError(t, err)
			require.True(t, secretbox.IsSealed(sealed))
			header, raw := splitSealed(t, sealed)
			require.Equal(t, "sb1:"+currentID+":", header)
			require.Len(t, raw, 12+len(pt)+16, "nonce || ciphertext || tag")

			got, err := kr.Open(sealed, aad)
			require.NoError(t, err)
			require.Equal(t, pt, got)
		}
	}
}

func TestOpen_returns_a_non_nil_slice_for_an_empty_plaintext(t *testing.T) {
	t.Parallel()
	kr := rotatedKeyring(t)
	sealed, err := kr.Seal(nil, "ep_1")
	require.NoError(t, err)
	got, err := kr.Open(sealed, "ep_1")
	require.NoError(t, err)
	require.NotNil(t, got)
	require.Empty(t, got)
}

func TestOpen_accepts_the_values_sealed_when_the_tests_were_written(t *testing.T) {
	t.Parallel()
	kr := rotatedKeyring(t)
	got, err := kr.Open(fixedCurrent, fixedCurrentAAD)
	require.NoError(t, err)
	require.Equal(t, fixedCurrentPlaintext, string(got))
	got, err = kr.Open(fixedPrevious, fixedPreviousAAD)
	require.NoError(t, err)
	require.Equal(t, fixedPreviousPlaintext, string(got))
}

func TestSeal_uses_a_fresh_nonce_so_the_same_plaintext_seals_differently(t *testing.T) {
	t.Parallel()
	kr := rotatedKeyring(t)
	sealed := map[string]bool{}
	nonces := map[string]bool{}
	for range 200 {
		s, err := kr.Seal([]byte(fixedCurrentPlaintext), "ep_1")
		require.NoError(t, err)
		require.False(t, sealed[s], "sealed value repeated")
		sealed[s] = true
		_, raw := splitSealed(t, s)
		require.False(t, nonces[string(raw[:12])], "nonce repeated")
		nonces[string(raw[:12])] = true
	}
}

func TestOpen_accepts_a_value_sealed_under_a_previous_key_after_rotation(t *testing.T) {
	t.Parallel()
	oldKey := mustKey(t, previousID, previousEnc)
	before, err := secretbox.NewKeyring(oldKey)
	require.NoError(t, err)
	sealed, err := before.Seal([]byte("s3cret"), "ep_1")
	require.NoError(t, err)

	after, err := secretbox.NewKeyring(mustKey(t, currentID, currentEncoded), oldKey)
	require.NoError(t, err)
	require.Equal(t, currentID, after.CurrentID())
	got, err := after.Open(sealed, "ep_1")
	require.NoError(t, err)
	require.Equal(t, "s3cret", string(got))

	resealed, err := after.Seal(got, "ep_1")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(resealed, "sb1:"+currentID+":"))
}

func TestNeedsReseal_is_true_only_for_values_sealed_under_a_key_other_than_the_current_one(t *testing.T) {
	t.Parallel()
	kr := rotatedKeyring(t)
	fresh, err := kr.Seal([]byte("x"), "ep_1")
	require.NoError(t, err)

	require.False(t, kr.NeedsReseal(fresh))
	require.False(t, kr.NeedsReseal(fixedCurrent))
	require.True(t, kr.NeedsReseal(fixedPrevious))
	require.True(t, kr.NeedsReseal("sb1:retired:AAAA"), "an unknown key is not the current one either")
	for _, notSealed := range []string{"", "whsec_legacy-plaintext", "sb1:", "sb1:bad id:AAAA"} {
		require.False(t, kr.NeedsReseal(notSealed), "%q", notSealed)
	}
}

func TestIsSealed_reports_the_sealed_prefix_so_legacy_plaintext_can_be_told_apart(t *testing.T) {
	t.Parallel()
	require.True(t, secretbox.IsSealed(fixedCurrent))
	require.True(t, secretbox.IsSealed("sb1:"))
	require.False(t, secretbox.IsSealed("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"))
	require.False(t, secretbox.IsSealed(""))
	require.False(t, secretbox.IsSealed("SB1:k:x"))
}

func TestOpen_rejects_an_unknown_key_ID_and_names_it(t *testing.T) {
	t.Parallel()
	onlyCurrent, err := secretbox.NewKeyring(mustKey(t, currentID, currentEncoded))
	require.NoError(t, err)
	_, err = onlyCurrent.Open(fixedPrevious, fixedPreviousAAD)
	require.ErrorIs(t, err, secretbox.ErrUnknownKey)
	require.Contains(t, err.Error(), `"`+previousID+`"`)
}

func TestOpen_rejects_a_value_sealed_for_a_different_aad(t *testing.T) {
	t.Parallel()
	kr := rotatedKeyring(t)
	for _, aad := range []string{"", "ep_other", fixedCurrentAAD + " ", fixedCurrentAAD[:len(fixedCurrentAAD)-1]} {
		_, err := kr.Open(fixedCurrent, aad)
		require.ErrorIs(t, err, secretbox.ErrDecrypt, "aad %q", aad)
	}
}

func TestOpen_rejects_a_flipped_bit_anywhere_in_the_payload(t *testing.T) {
	t.Parallel()
	kr := rotatedKeyring(t)
	header, raw := splitSealed(t, fixedCurrent)
	for i := range raw {
		for bit := range 8 {
			mutated := bytes.Clone(raw)
			mutated[i] ^= 1 << bit
			_, err := kr.Open(header+base64.RawURLEncoding.EncodeToString(mutated), fixedCurrentAAD)
			require.ErrorIs(t, err, secretbox.ErrDecrypt, "byte %d bit %d", i, bit)
		}
	}
}

func TestOpen_rejects_any_other_spelling_of_the_sealed_text(t *testing.T) {
	t.Parallel()
	kr := rotatedKeyring(t)
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/.: \r\n\x00"
	for i := range len(fixedCurrent) {
		for _, c := range []byte(alphabet) {
			if c == fixedCurrent[i] {
				continue
			}
			replaced := fixedCurrent[:i] + string(c) + fixedCurrent[i+1:]
			inserted := fixedCurrent[:i] + string(c) + fixedCurrent[i:]
			for _, s := range []string{replaced, inserted} {
				_, err := kr.Open(s, fixedCurrentAAD)
				require.Error(t, err, "%q", s)
			}
		}
	}
	// fixedPrevious's 53-byte payload leaves two unused low bits in its last
	// character, which must be zero: a decoder that ignored them would
	// accept four spellings of one payload.
	require.True(t, strings.HasSuffix(fixedPrevious, "w"), "fixture changed")
	for _, c := range []string{"x", "y", "z"} { // 'w' with unused bits set
		_, err := kr.Open(strings.TrimSuffix(fixedPrevious, "w")+c, fixedPreviousAAD)
		require.ErrorIs(t, err, secretbox.ErrDecrypt, c)
	}
}

func TestOpen_rejects_a_truncated_value(t *testing.T) {
	t.Parallel()
	kr := rotatedKeyring(t)
	header := "sb1:" + currentID + ":"
	for n := range len(fixedCurrent) {
		_, err := kr.Open(fixedCurrent[:n], fixedCurrentAAD)
		if n < len(header) {
			require.ErrorIs(t, err, secretbox.ErrMalformed, "cut at %d", n)
		} else {
			require.ErrorIs(t, err, secretbox.ErrDecrypt, "cut at %d", n)
		}
	}
}

func TestOpen_rejects_empty_garbage_and_prefix_only_input_as_malformed(t *testing.T) {
	t.Parallel()
	kr := rotatedKeyring(t)
	for _, s := range []string{
		"",
		"sb1",
		"sb1:",
		"sb1::",
		"sb1::AAAA",
		"sb1:" + currentID,
		"sb2:" + fixedCurrent[4:],
		" " + fixedCurrent,
		"SB1:" + fixedCurrent[4:],
		"sb1:bad id:AAAA",
		"sb1:" + strings.Repeat("k", 33) + ":AAAA",
		"sb1:ключ:AAAA",
		fixedCurrentPlaintext,
		"\x00\xff\xfe",
		"garbage",
	} {
		got, err := kr.Open(s, fixedCurrentAAD)
		require.ErrorIs(t, err, secretbox.ErrMalformed, "%q", s)
		require.Nil(t, got)
	}
}

func TestOpen_rejects_a_well_formed_header_with_a_garbage_payload_as_undecryptable(t *testing.T) {
	t.Parallel()
	kr := rotatedKeyring(t)
	for _, body := range []string{"", "A", "AAAA", "!!!!", strings.Repeat("A", 38), "AAAA=", "AA AA"} {
		_, err := kr.Open("sb1:"+currentID+":"+body, "ep_1")
		require.ErrorIs(t, err, secretbox.ErrDecrypt, "%q", body)
	}
}

func TestOpen_rejects_input_over_4_KiB_as_malformed(t *testing.T) {
	t.Parallel()
	kr := rotatedKeyring(t)
	header := "sb1:" + currentID + ":"
	atLimit := header + strings.Repeat("A", 4096-len(header))
	_, err := kr.Open(atLimit, "ep_1")
	require.ErrorIs(t, err, secretbox.ErrDecrypt, "4096 bytes is within the limit")
	_, err = kr.Open(atLimit+"A", "ep_1")
	require.ErrorIs(t, err, secretbox.ErrMalformed)
	_, err = kr.Open(fixedCurrent+strings.Repeat("A", 1<<20), fixedCurrentAAD)
	require.ErrorIs(t, err, secretbox.ErrMalformed)
}

func TestSeal_refuses_plaintext_that_Open_could_not_read_back(t *testing.T) {
	t.Parallel()
	kr := rotatedKeyring(t)
	n := 4096
	for ; n > 0; n-- {
		if _, err := kr.Seal(make([]byte, n), "ep_1"); err == nil {
			break
		}
	}
	require.Greater(t, n, 2048, "limit leaves room for real secrets")
	sealed, err := kr.Seal(bytes.Repeat([]byte{7}, n), "ep_1")
	require.NoError(t, err)
	require.LessOrEqual(t, len(sealed), 4096)
	got, err := kr.Open(sealed, "ep_1")
	require.NoError(t, err)
	require.Len(t, got, n)

	big := bytes.Repeat([]byte("PLAINTEXT!"), (n+1)/10+1)
	_, err = kr.Seal(big, "ep_1")
	require.Error(t, err)
	require.True(t, strings.HasPrefix(err.Error(), "webhook: "))
	require.NotContains(t, err.Error(), "PLAINTEXT")
}

func TestNewKeyring_rejects_duplicate_key_IDs(t *testing.T) {
	t.Parallel()
	a := mustKey(t, currentID, currentEncoded)
	b := mustKey(t, currentID, previousEnc)
	for _, keys := range [][]secretbox.Key{{a, a}, {a, b}, {a, mustKey(t, previousID, previousEnc), b}} {
		kr, err := secretbox.NewKeyring(keys[0], keys[1:]...)
		require.ErrorIs(t, err, secretbox.ErrInvalidKey)
		require.Contains(t, err.Error(), "duplicate")
		require.Nil(t, kr)
	}
}

func TestNewKeyring_rejects_keys_of_the_wrong_size_or_with_bad_IDs(t *testing.T) {
	t.Parallel()
	good := mustKey(t, currentID, currentEncoded)
	bad := []secretbox.Key{
		{ID: "k", Bytes: nil},
		{ID: "k", Bytes: make([]byte, 16)}, // AES-128 would be accepted by crypto/aes
		{ID: "k", Bytes: bytes.Repeat([]byte{1}, 24)},
		{ID: "k", Bytes: bytes.Repeat([]byte{1}, 31)},
		{ID: "k", Bytes: bytes.Repeat([]byte{1}, 33)},
		{ID: "k", Bytes: bytes.Repeat([]byte{1}, 64)},
		{ID: "k", Bytes: make([]byte, 32)}, // never filled
		{ID: "", Bytes: good.Bytes},
		{ID: "a:b", Bytes: good.Bytes},
		{ID: "a b", Bytes: good.Bytes},
		{ID: "ключ", Bytes: good.Bytes},
		{ID: strings.Repeat("k", 33), Bytes: good.Bytes},
	}
	for _, k := range bad {
		_, err := secretbox.NewKeyring(k)
		require.ErrorIs(t, err, secretbox.ErrInvalidKey, "%d bytes, ID %q", len(k.Bytes), k.ID)
		_, err = secretbox.NewKeyring(good, k)
		require.ErrorIs(t, err, secretbox.ErrInvalidKey, "as previous key: %d bytes, ID %q", len(k.Bytes), k.ID)
	}
	_, err := secretbox.NewKeyring(secretbox.Key{ID: strings.Repeat("k", 32), Bytes: good.Bytes})
	require.NoError(t, err, "32-character IDs are allowed")
	_, err = secretbox.NewKeyring(secretbox.Key{ID: "Az09_-", Bytes: good.Bytes})
	require.NoError(t, err)
}

func TestNewKeyring_is_unaffected_by_later_changes_to_the_key_bytes(t *testing.T) {
	t.Parallel()
	k := mustKey(t, currentID, currentEncoded)
	kr, err := secretbox.NewKeyring(k)
	require.NoError(t, err)
	clear(k.Bytes)
	got, err := kr.Open(fixedCurrent, fixedCurrentAAD)
	require.NoError(t, err)
	require.Equal(t, fixedCurrentPlaintext, string(got))
}

func TestParseKey_accepts_standard_and_URL_base64_padded_or_not(t *testing.T) {
	t.Parallel()
	want := mustKey(t, currentID, currentEncoded).Bytes
	url := base64.URLEncoding.EncodeToString(want)
	require.True(t, strings.ContainsAny(url, "-_"), "fixture should exercise the URL alphabet")
	for _, enc := range []string{
		currentEncoded,
		strings.TrimRight(currentEncoded, "="),
		url,
		strings.TrimRight(url, "="),
		currentEncoded + "\n",
		"  " + currentEncoded + "\r\n",
	} {
		k, err := secretbox.ParseKey(currentID, enc)
		require.NoError(t, err, "%q", enc)
		require.Equal(t, currentID, k.ID)
		require.Equal(t, want, k.Bytes)
	}
}

func TestParseKey_rejects_bad_input_without_echoing_it(t *testing.T) {
	t.Parallel()
	short := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 31))
	long := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 33))
	mixed := "-" + currentEncoded[1:] // URL-only '-' with standard-only '+'
	require.Contains(t, mixed, "+")
	for _, c := range []struct{ id, enc string }{
		{currentID, ""},
		{currentID, short},
		{currentID, long},
		{currentID, "not base64 at all!!"},
		{currentID, currentEncoded[:len(currentEncoded)-2] + "F="}, // non-zero unused bits
		{currentID, mixed},
		{currentID, base64.StdEncoding.EncodeToString(make([]byte, 32))},
		{"", currentEncoded},
		{currentEncoded, currentID}, // arguments swapped
		{currentEncoded, currentEncoded},
	} {
		_, err := secretbox.ParseKey(c.id, c.enc)
		require.ErrorIs(t, err, secretbox.ErrInvalidKey, "%q %q", c.id, c.enc)
		require.True(t, strings.HasPrefix(err.Error(), "webhook: "), err.Error())
		if len(c.enc) > 3 {
			require.NotContains(t, err.Error(), c.enc)
		}
		require.NotContains(t, err.Error(), currentEncoded[:8])
	}
}

func TestGenerateKey_returns_a_usable_random_key_and_the_encoding_ParseKey_reads(t *testing.T) {
	t.Parallel()
	k, enc, err := secretbox.GenerateKey("gen-1")
	require.NoError(t, err)
	require.Equal(t, "gen-1", k.ID)
	require.Len(t, k.Bytes, 32)
	parsed, err := secretbox.ParseKey("gen-1", enc)
	require.NoError(t, err)
	require.Equal(t, k.Bytes, parsed.Bytes)

	k2, enc2, err := secretbox.GenerateKey("gen-1")
	require.NoError(t, err)
	require.NotEqual(t, enc, enc2)
	require.NotEqual(t, k.Bytes, k2.Bytes)

	kr, err := secretbox.NewKeyring(k)
	require.NoError(t, err)
	sealed, err := kr.Seal([]byte("x"), "ep")
	require.NoError(t, err)
	got, err := kr.Open(sealed, "ep")
	require.NoError(t, err)
	require.Equal(t, "x", string(got))

	_, _, err = secretbox.GenerateKey("bad id")
	require.ErrorIs(t, err, secretbox.ErrInvalidKey)
}

// leaks lists renderings of key bytes that must never appear in output.
func leaks(b []byte) []string {
	dec := strings.Trim(fmt.Sprint(b), "[]")
	return []string{
		base64.StdEncoding.EncodeToString(b),
		base64.RawStdEncoding.EncodeToString(b),
		base64.URLEncoding.EncodeToString(b),
		base64.RawURLEncoding.EncodeToString(b)[:16],
		base64.StdEncoding.EncodeToString(b)[:16],
		hex.EncodeToString(b)[:16],
		strings.ToUpper(hex.EncodeToString(b)[:16]),
		string(b[:8]),
		dec[:strings.Index(dec[8:], " ")+8], // first few decimal bytes
		fmt.Sprintf("%#x", b[:4])[2:],
	}
}

func TestKey_formatting_never_reveals_the_key_bytes(t *testing.T) {
	t.Parallel()
	k := mustKey(t, currentID, currentEncoded)
	const want = `secretbox.Key{ID:"k2025", Bytes:redacted}`
	require.Equal(t, want, k.String())
	require.Equal(t, want, fmt.Sprintf("%#v", k))

	type holder struct {
		Name string
		Key  secretbox.Key
		Ptr  *secretbox.Key
	}
	var out []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3v"} {
		for _, v := range []any{k, &k, holder{"h", k, &k}, &holder{"h", k, &k}, []secretbox.Key{k}, map[string]secretbox.Key{"a": k}} {
			out = append(out, fmt.Sprintf(verb, v))
		}
	}
	out = append(out, fmt.Sprint(k), fmt.Sprintln(k, &k))
	for _, v := range []any{k, &k, holder{"h", k, &k}} {
		j, err := json.Marshal(v)
		require.NoError(t, err)
		out = append(out, string(j))
	}
	for _, s := range out {
		require.Contains(t, s, "redacted", s)
		for _, leak := range leaks(k.Bytes) {
			require.NotContains(t, s, leak, s)
		}
	}
	require.Equal(t, `secretbox.Key{ID:invalid, Bytes:redacted}`, secretbox.Key{ID: currentEncoded}.String(),
		"an invalid ID may be a misplaced secret")
}

func TestKeyring_formatting_lists_key_IDs_and_never_key_material(t *testing.T) {
	t.Parallel()
	kr := rotatedKeyring(t)
	const want = `secretbox.Keyring{Current:"k2025", IDs:["k2025" "k2024"]}`
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%d"} {
		require.Equal(t, want, fmt.Sprintf(verb, kr), verb)
		require.Equal(t, want, fmt.Sprintf(verb, *kr), verb)
		require.Contains(t, fmt.Sprintf(verb, struct{ K *secretbox.Keyring }{kr}), want, verb)
	}
}

func TestErrors_never_contain_the_plaintext_or_the_key(t *testing.T) {
	t.Parallel()
	kr := rotatedKeyring(t)
	onlyCurrent, err := secretbox.NewKeyring(mustKey(t, currentID, currentEncoded))
	require.NoError(t, err)
	header, raw := splitSealed(t, fixedCurrent)
	raw[20] ^= 1
	tampered := header + base64.RawURLEncoding.EncodeToString(raw)

	var errs []error
	collect := func(_ any, err error) { errs = append(errs, err) }
	collect(kr.Open(fixedCurrent, "wrong"))
	collect(kr.Open(tampered, fixedCurrentAAD))
	collect(kr.Open(fixedCurrent[:40], fixedCurrentAAD))
	collect(kr.Open(fixedCurrent+strings.Repeat("A", 5000), fixedCurrentAAD))
	collect(kr.Open(fixedCurrentPlaintext, fixedCurrentAAD))
	collect(kr.Open("sb1:"+fixedCurrentPlaintext+":AAAA", fixedCurrentAAD))
	collect(onlyCurrent.Open(fixedPrevious, fixedPreviousAAD))
	collect(kr.Seal([]byte(strings.Repeat(fixedCurrentPlaintext, 200)), "ep"))
	collect(secretbox.ParseKey(currentID, currentEncoded[:40]))
	collect(secretbox.ParseKey(currentEncoded, currentID))
	collect(secretbox.ParseKey(currentEncoded, currentEncoded))
	collect(secretbox.NewKeyring(secretbox.Key{ID: currentEncoded, Bytes: []byte(fixedCurrentPlaintext)}))
	collect(secretbox.NewKeyring(secretbox.Key{ID: "k", Bytes: []byte(fixedCurrentPlaintext)}))
	collect(secretbox.NewKeyring(mustKey(t, currentID, currentEncoded), mustKey(t, currentID, currentEncoded)))

	forbidden := append(leaks(mustKey(t, currentID, currentEncoded).Bytes), leaks(mustKey(t, previousID, previousEnc).Bytes)...)
	forbidden = append(forbidden, fixedCurrentPlaintext, fixedCurrentPlaintext[6:20], fixedPreviousPlaintext, fixedCurrent[12:40])
	for i, err := range errs {
		require.Error(t, err, "case %d", i)
		msg := err.Error()
		require.True(t, strings.HasPrefix(msg, "webhook: "), msg)
		for _, f := range forbidden {
			require.NotContains(t, msg, f)
		}
	}
}

func TestKeyring_is_safe_for_concurrent_use(t *testing.T) {
	t.Parallel()
	kr := rotatedKeyring(t)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			aad := fmt.Sprintf("ep_%d", g)
			for i := range 200 {
				pt := fmt.Appendf(nil, "secret-%d-%d", g, i)
				sealed, err := kr.Seal(pt, aad)
				if err != nil {
					t.Error(err)
					return
				}
				got, err := kr.Open(sealed, aad)
				if err != nil || !bytes.Equal(got, pt) {
					t.Errorf("round trip failed: %v", err)
					return
				}
				if _, err := kr.Open(fixedPrevious, fixedPreviousAAD); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestA_nil_or_zero_Keyring_returns_errors_instead_of_panicking(t *testing.T) {
	t.Parallel()
	for _, kr := range []*secretbox.Keyring{nil, {}} {
		_, err := kr.Seal([]byte("x"), "ep")
		require.ErrorIs(t, err, secretbox.ErrInvalidKey)
		_, err = kr.Open(fixedCurrent, fixedCurrentAAD)
		require.ErrorIs(t, err, secretbox.ErrInvalidKey)
		_, err = kr.Open("garbage", "")
		require.ErrorIs(t, err, secretbox.ErrMalformed)
		require.Empty(t, kr.CurrentID())
		require.False(t, kr.NeedsReseal(fixedPrevious))
	}
}
