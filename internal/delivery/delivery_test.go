package delivery

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hooksmith/webhook/internal/netguard"
	"github.com/hooksmith/webhook/store"
)

func TestNewClient_refuses_TLS_below_1_2(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.TLS = &tls.Config{MaxVersion: tls.VersionTLS11}
	srv.StartTLS()
	defer srv.Close()
	c := NewClient((&net.Dialer{}).DialContext, nil)
	c.Transport.(*http.Transport).TLSClientConfig.InsecureSkipVerify = true // the test server's certificate is self-signed
	_, err := c.Get(srv.URL)
	require.Error(t, err)
	require.Equal(t, store.ErrorTLS, Classify(err), "%v", err)
	require.EqualValues(t, tls.VersionTLS12, c.Transport.(*http.Transport).TLSClientConfig.MinVersion)
}

func TestClassify(t *testing.T) {
	t.Parallel()
	for err, want := range map[error]store.ErrorClass{
		nil:                      store.ErrorNone,
		context.DeadlineExceeded: store.ErrorTimeout,
		&net.DNSError{Err: "nxdomain", Name: "x"}:            store.ErrorDNS,
		fmt.Errorf("dial: %w", netguard.ErrBlocked):          store.ErrorBlocked,
		&net.OpError{Op: "dial", Err: errors.New("refused")}: store.ErrorConnection,
		errors.New("something else"):                         store.ErrorOther,
	} {
		require.Equal(t, want, Classify(err), "%v", err)
	}
}

func TestErrorText_and_Redact_keep_credentials_out(t *testing.T) {
	t.Parallel()
	err := &url.Error{Op: "Post", URL: "https://h.example/x?token=s3cret", Err: errors.New("connection refused")}
	require.NotContains(t, ErrorText(err), "s3cret")
	h := Redact(http.Header{"Authorization": {"Bearer s3cret"}, "X-Api-Key": {"s3cret"}, "Cookie": {"a=s3cret"},
		"X-Session-Id": {"s3cret"}, "Webhook-Signature": {"v1,abc"}, "Accept": {"*/*"}})
	for _, name := range []string{"Authorization", "X-Api-Key", "Cookie", "X-Session-Id"} {
		require.Equal(t, []string{Redacted}, h[name], name)
	}
	require.Equal(t, []string{"v1,abc"}, h["Webhook-Signature"], "the signature is kept for debugging")
	require.Equal(t, []string{"*/*"}, h["Accept"])
}

func TestIsSensitive_any_case_any_length_and_without_allocating(t *testing.T) {
	// Not parallel: AllocsPerRun counts the whole process's allocations.
	long := strings.Repeat("X-Padding-", 8) + "ToKeN"
	for name, want := range map[string]bool{
		"AUTHORIZATION": true, "x-api-key": true, "X-Csrf-Token": true, long: true,
		"X-\u212aey":   true, // the Kelvin sign lower-cases to k, as strings.ToLower has it
		"Content-Type": false, "Webhook-Id": false, strings.Repeat("X-Padding-", 8): false, "X-\u00e9tat": false,
	} {
		require.Equal(t, want, IsSensitive(name), "%q", name)
	}
	require.Zero(t, testing.AllocsPerRun(100, func() { IsSensitive("Webhook-Signature") }))
}
