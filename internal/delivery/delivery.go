// Package delivery makes one webhook HTTP request and describes its outcome.
package delivery

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/hooksmith/webhook/internal/netguard"
	"github.com/hooksmith/webhook/store"
)

// NewClient returns the client shared by every delivery: connections made by
// dial (the address guard), keep-alive with a generous idle pool per host
// (net/http's default of 2 throttles a busy endpoint to two reused
// connections), TLS 1.2 at least, and no redirects, since a redirect would
// send a signed payload somewhere the customer did not register. Requests go
// through proxy when it is not nil. Per-request deadlines come from the
// request context.
func NewClient(dial func(ctx context.Context, network, addr string) (net.Conn, error), proxy func(*http.Request) (*url.URL, error)) *http.Client {
	t := &http.Transport{
		DialContext:           dial,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
	}
	t.Proxy = proxy
	return &http.Client{
		Transport: t,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// Result is what one request produced.
type Result struct {
	StatusCode int
	Header     http.Header
	Body       []byte
	Truncated  bool
	Duration   time.Duration
	Class      store.ErrorClass
	Err        error
}

// OK reports a 2xx response.
func (r *Result) OK() bool { return r.Err == nil && r.StatusCode >= 200 && r.StatusCode < 300 }

// Do sends req and reads at most maxBody bytes of the response.
func Do(client *http.Client, req *http.Request, maxBody int64) Result {
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return Result{Duration: time.Since(start), Class: Classify(err), Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	r := Result{StatusCode: resp.StatusCode, Header: resp.Header, Duration: time.Since(start)}
	if int64(len(body)) > maxBody {
		body, r.Truncated = body[:maxBody], true
	}
	r.Body = body
	if err != nil {
		r.Class, r.Err = Classify(err), err
	} else if !r.OK() {
		r.Class = store.ErrorHTTPStatus
	}
	return r
}

// Classify names the kind of transport failure err is.
func Classify(err error) store.ErrorClass {
	var (
		dnsErr   *net.DNSError
		netErr   net.Error
		recErr   tls.RecordHeaderError
		alertErr tls.AlertError
		certErr  *tls.CertificateVerificationError
		unkAuth  x509.UnknownAuthorityError
		hostErr  x509.HostnameError
		invErr   x509.CertificateInvalidError
	)
	switch {
	case err == nil:
		return store.ErrorNone
	case errors.Is(err, netguard.ErrBlocked):
		return store.ErrorBlocked
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return store.ErrorTimeout
	case errors.As(err, &dnsErr):
		return store.ErrorDNS
	case errors.As(err, &recErr), errors.As(err, &alertErr), errors.As(err, &certErr),
		errors.As(err, &unkAuth), errors.As(err, &hostErr), errors.As(err, &invErr):
		return store.ErrorTLS
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.EPIPE):
		return store.ErrorConnection
	}
	var opErr *net.OpError
	switch {
	case errors.As(err, &opErr) && opErr.Op == "remote error": // crypto/tls's wrapping of the peer's alert
		return store.ErrorTLS
	case errors.As(err, &opErr):
		return store.ErrorConnection
	}
	return store.ErrorOther
}

// ErrorText describes a request error without the request URL, whose query
// string may carry a credential of the customer's.
func ErrorText(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Op + ": " + ue.Err.Error()
	}
	return err.Error()
}

// sensitive lists fragments of header names whose values are never stored.
var sensitive = []string{"auth", "cookie", "token", "secret", "key", "password", "session", "credential"}

// Redacted is the value stored in place of a sensitive header's value.
const Redacted = "[redacted]"

// Redact copies h, replacing the values of sensitive headers with Redacted.
func Redact(h http.Header) map[string][]string {
	if len(h) == 0 {
		return nil
	}
	out := make(map[string][]string, len(h))
	for name, vals := range h {
		if IsSensitive(name) {
			out[name] = []string{Redacted}
			continue
		}
		out[name] = append([]string(nil), vals...)
	}
	return out
}

// IsSensitive reports whether a header's value must not be stored or shown.
func IsSensitive(name string) bool {
	var buf [32]byte // most header names are short ASCII: lower-case those without an allocation
	lower := buf[:0]
	for i := range len(name) {
		c := name[i]
		if c >= utf8.RuneSelf || len(lower) == len(buf) {
			return isSensitiveLower(strings.ToLower(name))
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		lower = append(lower, c)
	}
	return isSensitiveLower(string(lower))
}

func isSensitiveLower(lower string) bool {
	for _, s := range sensitive {
		if strings.Contains(lower, s) {
			return true
		}
	}
	return false
}
