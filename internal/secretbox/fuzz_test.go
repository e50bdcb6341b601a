package secretbox_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/hooksmith/webhook/internal/secretbox"
)

// FuzzOpen checks that Open never panics, fails only with its documented
// errors, and succeeds only on an exact (sealed, aad) pair that Seal
// produced, returning exactly what was sealed: any other input that opens
// would mean a malleable encoding or a broken authentication check. A "$" in
// sealed is replaced by a value sealed when the fuzzer starts, so that it
// explores near-valid variants of a fresh value as well as of the fixtures.
// Each input is also sealed as a plaintext and must round-trip.
func FuzzOpen(f *testing.F) {
	kr := rotatedKeyring(f)
	const freshPlaintext, freshAAD = "whsec_fresh-secret", "ep_fresh"
	fresh, err := kr.Seal([]byte(freshPlaintext), freshAAD)
	if err != nil {
		f.Fatal(err)
	}
	type pair struct{ sealed, aad string }
	known := map[pair]string{
		{fixedCurrent, fixedCurrentAAD}:   fixedCurrentPlaintext,
		{fixedPrevious, fixedPreviousAAD}: fixedPreviousPlaintext,
		{fresh, freshAAD}:                 freshPlaintext,
	}

	f.Add(fixedCurrent, fixedCurrentAAD)
	f.Add(fixedPrevious, fixedPreviousAAD)
	f.Add(fixedCurrent, fixedPreviousAAD)
	f.Add("$", freshAAD)
	f.Add("$\n", freshAAD)
	f.Add("$$", freshAAD)
	f.Add("$=", freshAAD)
	f.Add(fixedCurrent[:len(fixedCurrent)-1], fixedCurrentAAD)
	f.Add(strings.TrimSuffix(fixedPrevious, "w")+"x", fixedPreviousAAD)
	f.Add("sb1:k2024"+fixedCurrent[9:], fixedCurrentAAD)
	f.Add("sb1:retired:AAAA", "")
	f.Add("sb1:", "")
	f.Add("sb1::", "")
	f.Add("", "")
	f.Add("whsec_legacy-plaintext", "ep_1")
	f.Add("sb1:k2025:"+strings.Repeat("A", 4086), "")

	f.Fuzz(func(t *testing.T, sealed, aad string) {
		sealed = strings.ReplaceAll(sealed, "$", fresh)

		got, err := kr.Open(sealed, aad)
		if err == nil {
			want, ok := known[pair{sealed, aad}]
			if !ok {
				t.Fatalf("opened %q with aad %q, which Seal never produced", sealed, aad)
			}
			if string(got) != want {
				t.Fatalf("opened %q as %q, want %q", sealed, got, want)
			}
		} else {
			if got != nil {
				t.Fatalf("Open returned data with error %v", err)
			}
			switch {
			case errors.Is(err, secretbox.ErrMalformed):
			case errors.Is(err, secretbox.ErrUnknownKey), errors.Is(err, secretbox.ErrDecrypt):
				if !secretbox.IsSealed(sealed) || len(sealed) > 4096 {
					t.Fatalf("%q should be malformed, got %v", sealed, err)
				}
			default:
				t.Fatalf("undocumented error %T: %v", err, err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "webhook: ") {
				t.Fatalf("error %q lacks the webhook: prefix", msg)
			}
			for _, pt := range known {
				if strings.Contains(msg, pt) {
					t.Fatalf("error %q contains a plaintext", msg)
				}
			}
			if _, ok := known[pair{sealed, aad}]; ok {
				t.Fatalf("rejected a value Seal produced: %v", err)
			}
		}
		if kr.NeedsReseal(sealed) && !secretbox.IsSealed(sealed) {
			t.Fatalf("NeedsReseal true for unsealed %q", sealed)
		}

		resealed, err := kr.Seal([]byte(sealed), aad)
		if err != nil {
			if len(sealed) < 2048 {
				t.Fatalf("Seal refused %d bytes: %v", len(sealed), err)
			}
			return
		}
		back, err := kr.Open(resealed, aad)
		if err != nil || string(back) != sealed {
			t.Fatalf("round trip of %q under aad %q: got %q, %v", sealed, aad, back, err)
		}
		if _, err := kr.Open(resealed, aad+"\x00"); !errors.Is(err, secretbox.ErrDecrypt) {
			t.Fatalf("opened under a longer aad: %v", err)
		}
		if kr.NeedsReseal(resealed) {
			t.Fatal("NeedsReseal true for a value sealed under the current key")
		}
	})
}
