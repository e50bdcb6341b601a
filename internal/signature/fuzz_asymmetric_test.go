package signature_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/hooksmith/webhook/internal/signature"
)

// asymSigner is the key pair FuzzAsymmetricVerify signs with: the one of the
// known answer, so that seeds can hold vectorSig literally. asymOther is a
// second key whose signatures must never verify under asymSigner.public.
var (
	asymSigner = func() keyPair {
		seed, err := base64.StdEncoding.DecodeString(vectorSeed)
		if err != nil {
			panic(err)
		}
		return keyPairFromSeed(seed)
	}()
	asymOther = testKeyPair(0xF1)
)

// FuzzAsymmetricVerify (named so that -fuzz=FuzzVerify still selects exactly
// one target) checks that VerifyAsymmetric never panics, returns
// only its documented errors, and accepts exactly when public is asymSigner's
// public key and one of the first MaxAsymmetricSignatures well-formed "v1a"
// entries of webhook-signature is asymSigner's signature (which is
// deterministic, so any other accepted entry would be a forgery), or the
// same for asymOther's key and signature. It also
// checks that Verify dispatches whpk_ keys to it, and that
// AppendAsymmetricSignature agrees with an independent signer.
//
// Placeholders let the fuzzer build valid material it could not find by
// mutation: in public, "$" becomes the base64 of asymSigner's public key; in
// sig, "$" becomes asymSigner's v1a signature, "#" asymOther's, and "@" the
// v1 HMAC signature under specSecret (which must never count here).
func FuzzAsymmetricVerify(f *testing.F) {
	f.Add("whpk_$", specID, "1614265330", "$", []byte(specBody))
	f.Add("$", specID, "1614265330", "$", []byte(specBody))
	f.Add("whpk_$", specID, "1614265330", vectorSig, []byte(specBody))
	f.Add("whpk_$", specID, "1614265330", vectorSig, []byte(`{"test": 2432232315}`))
	f.Add("whpk_$", specID, "1614265330", "# @ $", []byte(specBody))
	f.Add("whpk_$", specID, "1614265330", "#", []byte(specBody))
	f.Add("whpk_$", specID, "1614265330", "@", []byte(specBody))
	f.Add("whpk_$", specID, "1614265330", "$,extra", []byte(specBody))
	f.Add("whpk_$", specID, "1614265330", "v1,$", []byte(specBody))
	f.Add("whpk_$", specID, "1614265330", nonCanonical(vectorSig), []byte(specBody))
	f.Add("whpk_$", specID, "1614265330", strings.Repeat("# ", signature.MaxAsymmetricSignatures)+"$", []byte(specBody))
	f.Add("whpk_$", specID, "1614265330", strings.Repeat("# ", signature.MaxAsymmetricSignatures-1)+"$", []byte(specBody))
	f.Add("whpk_$", specID, "1614265031", "$", []byte(specBody))
	f.Add("whpk_$", specID, "-9223372036854775808", "$", []byte(specBody))
	f.Add("whpk_$", "", "1614265330", "$", []byte(specBody))
	f.Add("whpk_$", specID, "", "$", []byte(specBody))
	f.Add("whpk_$", specID, "1614265330", "", []byte(specBody))
	f.Add("whpk_$", specID, "1614265330", " , ,,v1a,, v1a ,", []byte(specBody))
	f.Add(asymOther.public, specID, "1614265330", "$", []byte(specBody))
	f.Add(asymSigner.full, specID, "1614265330", "$", []byte(specBody))
	f.Add(specSecret, specID, "1614265330", "@", []byte(specBody))
	f.Add("whpk_", specID, "1614265330", "$", []byte(specBody))
	f.Add("whpk_%%%", specID, "1614265330", "$", []byte(specBody))
	f.Add("whpk_$", "msg_ünïcødé", "+1614265330", "v1a,x $ v2,y", []byte{0, 0xff, '.', ' '})

	signerPub := []byte(asymSigner.priv.Public().(ed25519.PublicKey))
	otherPub := []byte(asymOther.priv.Public().(ed25519.PublicKey))
	signerPubB64 := base64.StdEncoding.EncodeToString(signerPub)
	strict := base64.StdEncoding.Strict()
	hmacKey, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(specSecret, signature.Prefix))
	if err != nil {
		f.Fatal(err)
	}
	signer := mustAsymmetricKey(f, asymSigner.full)

	f.Fuzz(func(t *testing.T, public, id, ts, sig string, body []byte) {
		public = strings.ReplaceAll(public, "$", signerPubB64)
		tsInt, tsErr := strconv.ParseInt(ts, 10, 64)

		var want, wantOther string
		if tsErr == nil {
			wantOther = oracleAsymmetricSignature(asymOther.priv, id, tsInt, body)
			want = oracleAsymmetricSignature(asymSigner.priv, id, tsInt, body)
			sig = strings.NewReplacer(
				"$", want,
				"#", wantOther,
				"@", oracleSignature(hmacKey, id, tsInt, body),
			).Replace(sig)
			if got := string(signature.AppendAsymmetricSignature(nil, signer, id, tsInt, body)); got != want {
				t.Fatalf("AppendAsymmetricSignature = %q, want %q", got, want)
			}
		}

		h := http.Header{}
		h.Set("webhook-id", id)
		h.Set("webhook-timestamp", ts)
		h.Set("webhook-signature", sig)
		err := signature.VerifyAsymmetric(public, h, body, fuzzNow)

		if err != nil {
			known := false
			for _, s := range []error{
				signature.ErrMissingHeader, signature.ErrInvalidHeader, signature.ErrInvalidSignature,
				signature.ErrTimestampTooOld, signature.ErrTimestampTooNew, signature.ErrInvalidSecret,
			} {
				known = known || errors.Is(err, s)
			}
			if !known {
				t.Fatalf("undocumented error %T: %v", err, err)
			}
			if !strings.HasPrefix(err.Error(), "webhook: ") {
				t.Fatalf("error %q lacks the webhook: prefix", err)
			}
		}
		if strings.HasPrefix(public, signature.PublicKeyPrefix) {
			if v := signature.Verify(public, h, body, fuzzNow); fmt.Sprint(v) != fmt.Sprint(err) {
				t.Fatalf("Verify(whpk_...) = %v, VerifyAsymmetric = %v", v, err)
			}
		}

		// The oracle's reading of the key: optional whpk_, no other prefix,
		// standard base64 of 32 bytes.
		keyOK, isSigner, isOther := false, false, false
		if !strings.HasPrefix(public, signature.Prefix) && !strings.HasPrefix(public, signature.SigningKeyPrefix) {
			raw, derr := base64.StdEncoding.DecodeString(strings.TrimPrefix(public, signature.PublicKeyPrefix))
			keyOK = derr == nil && len(raw) == ed25519.PublicKeySize
			// Bytes, not text: lenient base64 lets a key be spelled with
			// non-zero padding bits, which is still the same key.
			isSigner = keyOK && bytes.Equal(raw, signerPub)
			// The "#" placeholder signs with asymOther: under asymOther's
			// key that signature is genuine.
			isOther = keyOK && bytes.Equal(raw, otherPub)
		}

		inWindow := tsErr == nil && tsInt >= fuzzNow.Unix()-300 && tsInt <= fuzzNow.Unix()+300
		wellFormed := keyOK && id != "" && ts != "" && sig != "" && inWindow

		// present: want is among the first MaxAsymmetricSignatures entries
		// that are "v1a," and the canonical base64 of 64 bytes.
		present, presentOther, counted := false, false, 0
		for _, e := range strings.Split(sig, " ") {
			s, ok := strings.CutPrefix(e, "v1a,")
			if !ok || len(s) != 88 {
				continue
			}
			if d, derr := strict.DecodeString(s); derr != nil || len(d) != ed25519.SignatureSize {
				continue
			}
			if counted++; counted > signature.MaxAsymmetricSignatures {
				break
			}
			if want != "" && e == want {
				present = true
			}
			if wantOther != "" && e == wantOther {
				presentOther = true
			}
		}

		switch {
		case err == nil && !wellFormed:
			t.Fatalf("accepted a request that should fail before signature checks")
		case err == nil && !(isSigner && present) && !(isOther && presentOther):
			t.Fatalf("accepted signature header %q under key %q, which lacks %q from the signer", sig, public, want)
		case err != nil && wellFormed && isSigner && present:
			t.Fatalf("rejected a header containing the correct signature: %v", err)
		}
		if err != nil && !keyOK && !errors.Is(err, signature.ErrInvalidSecret) {
			t.Fatalf("bad key %q gave %v, want ErrInvalidSecret", public, err)
		}
		if bytes.Contains([]byte(fmt.Sprint(err)), []byte(strings.TrimPrefix(asymSigner.full, signature.SigningKeyPrefix))) {
			t.Fatalf("error leaks the signing key")
		}
	})
}
