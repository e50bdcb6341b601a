package signature_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/hooksmith/webhook/internal/signature"
)

// fuzzNow is the verifier's clock in FuzzVerify; seeds use timestamps near it.
var fuzzNow = time.Unix(specTS, 0)

// oracleSignature signs the obvious way, with no code shared with the package
// under test, so that FuzzVerify checks Verify against an independent answer.
func oracleSignature(key []byte, id string, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + strconv.FormatInt(ts, 10) + "." + string(body)))
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// FuzzVerify checks that Verify never panics, returns only its documented
// errors, and accepts exactly when an entry of webhook-signature is the
// correct signature. A "$" in sig is replaced by the correct signature so
// that the fuzzer explores valid entries surrounded by arbitrary text, which
// it could not find by mutation alone.
func FuzzVerify(f *testing.F) {
	f.Add(specSecret, specID, "1614265330", specSig, []byte(specBody))
	f.Add(specSecret, specID, "1614265330", "$", []byte(specBody))
	f.Add(specSecret, specID, "1614265330", "v1,bad $", []byte(specBody))
	f.Add(specSecret, specID, "1614265330", "v1a,$", []byte(specBody))
	f.Add(specSecret, specID, "1614265330", "$,extra", []byte(specBody))
	f.Add(specSecret, specID, "+1614265330", "$", []byte{})
	f.Add(specSecret, specID, "1614265031", "$", []byte(specBody))
	f.Add(specSecret, specID, "1614265629", "$", []byte(specBody))
	f.Add(specSecret, specID, "-9223372036854775808", "$", []byte(specBody))
	f.Add(specSecret, specID, "9223372036854775807", "$", []byte(specBody))
	f.Add(specSecret, "", "1614265330", "$", []byte(specBody))
	f.Add(specSecret, specID, "", "$", []byte(specBody))
	f.Add(specSecret, specID, "1614265330", "", []byte(specBody))
	f.Add(specSecret, specID, "1614265330", " , ,,v1,, v1 ,", []byte(specBody))
	f.Add("whsec_", specID, "1614265330", specSig, []byte(specBody))
	f.Add("whsec_%%%", specID, "1614265330", specSig, []byte(specBody))
	f.Add(secretOfLen(64, false), "msg_ünïcødé", "1614265330", "v1,x $ v2,y", []byte{0, 0xff, '.', ' '})

	f.Add(asymSigner.public, specID, "1614265330", vectorSig, []byte(specBody))

	f.Fuzz(func(t *testing.T, secret, id, ts, sig string, body []byte) {
		if strings.HasPrefix(secret, signature.PublicKeyPrefix) {
			// Verify dispatches whpk_ keys to VerifyAsymmetric, which
			// FuzzAsymmetricVerify checks against its own oracle; here it
			// is enough that the dispatch is exact.
			h := http.Header{}
			h.Set("webhook-id", id)
			h.Set("webhook-timestamp", ts)
			h.Set("webhook-signature", sig)
			got := signature.Verify(secret, h, body, fuzzNow)
			want := signature.VerifyAsymmetric(secret, h, body, fuzzNow)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("Verify(whpk_...) = %v, VerifyAsymmetric = %v", got, want)
			}
			return
		}
		key, keyErr := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, signature.Prefix))
		keyOK := keyErr == nil && len(key) >= 24 && len(key) <= 64 && strings.TrimPrefix(secret, signature.Prefix) != ""
		tsInt, tsErr := strconv.ParseInt(ts, 10, 64)

		var want string
		if keyOK && tsErr == nil {
			want = oracleSignature(key, id, tsInt, body)
			sig = strings.ReplaceAll(sig, "$", want)
		}

		h := http.Header{}
		h.Set("webhook-id", id)
		h.Set("webhook-timestamp", ts)
		h.Set("webhook-signature", sig)
		err := signature.Verify(secret, h, body, fuzzNow)

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

		inWindow := tsErr == nil && tsInt >= fuzzNow.Unix()-300 && tsInt <= fuzzNow.Unix()+300
		wellFormed := keyOK && id != "" && ts != "" && sig != "" && inWindow
		present := want != "" && slices.Contains(strings.Split(sig, " "), want)

		switch {
		case err == nil && !wellFormed:
			t.Fatalf("accepted a request that should fail before signature checks")
		case err == nil && !present:
			t.Fatalf("accepted signature header %q, which lacks %q", sig, want)
		case err != nil && wellFormed && present:
			t.Fatalf("rejected a header containing the correct signature: %v", err)
		}

		if err == nil {
			wh, werr := standardwebhooks.NewWebhook(secret)
			if werr != nil {
				t.Fatalf("reference library rejects secret: %v", werr)
			}
			if lerr := wh.VerifyIgnoringTimestamp(body, h); lerr != nil {
				t.Fatalf("reference library disagrees: %v", lerr)
			}
		}
	})
}
