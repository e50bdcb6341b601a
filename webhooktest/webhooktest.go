// Package webhooktest provides a webhook receiver for tests, in the spirit of
// net/http/httptest: point an endpoint at Server.URL, then assert on the
// recorded deliveries. It verifies Standard Webhooks signatures so that tests
// exercise the same checks a real receiver makes.
package webhooktest

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hooksmith/webhook/internal/signature"
)

// MaxBodySize bounds how much of a request body the Server reads, so that a
// runaway sender fails the test instead of exhausting memory. Larger bodies
// are recorded with Err set and answered 413.
const MaxBodySize = 10 << 20

// ErrNoSecret is set on deliveries to a path that has no secret, since such a
// delivery cannot be verified.
var ErrNoSecret = errors.New("webhooktest: no secret set for path")

// Delivery is one request received by a Server.
type Delivery struct {
	Path       string      // URL path the request was sent to
	ID         string      // webhook-id header
	Timestamp  int64       // webhook-timestamp header; 0 if absent or malformed
	Header     http.Header // all request headers
	Body       []byte
	Verified   bool  // the signature verified under the path's secret
	Err        error // why verification or reading failed; nil if Verified
	ReceivedAt time.Time
}

// Server receives webhooks on a local httptest server. Its methods are safe
// for concurrent use, including while requests are in flight.
type Server struct {
	tb  testing.TB
	srv *httptest.Server

	mu         sync.Mutex
	secrets    map[string]string
	responders map[string]func(Delivery, int) int
	headers    map[string]http.Header
	deliveries []Delivery
	counts     map[string]int
	// changed is closed and replaced on every delivery, so that any number
	// of Wait calls can block on it with a timeout, which sync.Cond lacks.
	changed chan struct{}
}

// NewServer starts a Server on 127.0.0.1 and closes it when the test ends.
func NewServer(tb testing.TB) *Server {
	tb.Helper()
	s := &Server{
		tb:         tb,
		secrets:    make(map[string]string),
		responders: make(map[string]func(Delivery, int) int),
		headers:    make(map[string]http.Header),
		counts:     make(map[string]int),
		changed:    make(chan struct{}),
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	tb.Cleanup(s.srv.Close)
	return s
}

// URL returns the absolute URL of path on the server. It panics if path does
// not start with "/", since a relative path would silently change the host.
func (s *Server) URL(path string) string {
	if !strings.HasPrefix(path, "/") {
		panic(fmt.Sprintf("webhooktest: path %q must start with /", path))
	}
	return s.srv.URL + path
}

// SetSecret sets the secret that deliveries to path must be signed with. An
// invalid secret is reported with tb.Errorf right away, because otherwise it
// would surface only as every delivery failing verification.
func (s *Server) SetSecret(path, secret string) {
	if _, err := signature.DecodeSecret(secret); err != nil {
		s.tb.Errorf("webhooktest: SetSecret(%q): %v", path, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secrets[path] = secret
}

// Respond scripts the status code returned for verified deliveries to path:
// fn gets the delivery and n, the 1-based count of deliveries to path
// including this one, so that e.g. returning 500 for n == 1 and 200 after
// exercises retries. A status of 0 means 200. Deliveries that fail
// verification are always answered 401 without calling fn, so a test never
// sees a forged request acknowledged. fn runs on the server's goroutine
// without locks held and may call the Server's methods.
func (s *Server) Respond(path string, fn func(d Delivery, n int) int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if fn == nil {
		delete(s.responders, path)
		return
	}
	s.responders[path] = fn
}

// SetResponseHeader adds h to every response on path, to script headers such
// as Retry-After.
func (s *Server) SetResponseHeader(path string, h http.Header) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.headers[path] = h.Clone()
}

// Deliveries returns the deliveries to path in arrival order. The result is
// a deep copy, so callers may modify it.
func (s *Server) Deliveries(path string) []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.copyLocked(path, true)
}

// All returns every delivery on every path in arrival order, as a deep copy.
func (s *Server) All() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.copyLocked("", false)
}

func (s *Server) copyLocked(path string, filter bool) []Delivery {
	var out []Delivery
	for _, d := range s.deliveries {
		if filter && d.Path != path {
			continue
		}
		d.Header = d.Header.Clone()
		d.Body = slices.Clone(d.Body)
		out = append(out, d)
	}
	return out
}

// Wait blocks until at least n deliveries to path have been recorded and
// returns them. If timeout passes first it fails the test with tb.Fatalf,
// listing what did arrive, and returns the deliveries recorded so far (which
// matters only to a tb whose Fatalf returns). Verified and unverified
// deliveries both count; check Verified on the result. A delivery is recorded
// before its response is written, so the sender may not have seen the status
// yet when Wait returns.
func (s *Server) Wait(tb testing.TB, path string, n int, timeout time.Duration) []Delivery {
	tb.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		s.mu.Lock()
		if s.counts[path] >= n {
			out := s.copyLocked(path, true)
			s.mu.Unlock()
			return out
		}
		changed := s.changed
		s.mu.Unlock()

		select {
		case <-changed:
		case <-timer.C:
			s.mu.Lock()
			out := s.copyLocked(path, true)
			summary := s.summaryLocked(path)
			s.mu.Unlock()
			tb.Fatalf("webhooktest: waited %v for %d deliveries to %s, got %d%s", timeout, n, path, len(out), summary)
			return out
		}
	}
}

// summaryLocked describes what arrived, to make a failed Wait diagnosable:
// usually the sender used the wrong path, the wrong secret, or never ran.
func (s *Server) summaryLocked(path string) string {
	var b strings.Builder
	for i, d := range s.deliveries {
		if d.Path != path {
			continue
		}
		fmt.Fprintf(&b, "\n  #%d id=%q verified=%t", i+1, d.ID, d.Verified)
		if d.Err != nil {
			fmt.Fprintf(&b, " err=%v", d.Err)
		}
	}
	var others []string
	for p, c := range s.counts {
		if p != path {
			others = append(others, fmt.Sprintf("%s=%d", p, c))
		}
	}
	if len(others) > 0 {
		slices.Sort(others)
		fmt.Fprintf(&b, "\n  other paths: %s", strings.Join(others, ", "))
	}
	return b.String()
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	d := Delivery{
		Path:       r.URL.Path,
		ID:         r.Header.Get("webhook-id"),
		Header:     r.Header.Clone(),
		ReceivedAt: time.Now(),
	}
	d.Timestamp, _ = strconv.ParseInt(r.Header.Get("webhook-timestamp"), 10, 64)

	body, readErr := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodySize))
	d.Body = body

	s.mu.Lock()
	secret, hasSecret := s.secrets[d.Path]
	fn := s.responders[d.Path]
	extra := s.headers[d.Path]
	s.mu.Unlock()

	status := http.StatusUnauthorized
	var maxErr *http.MaxBytesError
	switch {
	case errors.As(readErr, &maxErr):
		d.Err = fmt.Errorf("webhooktest: body exceeds %d bytes: %w", MaxBodySize, readErr)
		status = http.StatusRequestEntityTooLarge
	case readErr != nil:
		d.Err = fmt.Errorf("webhooktest: reading body: %w", readErr)
		status = http.StatusBadRequest
	case !hasSecret:
		d.Err = fmt.Errorf("%w %s", ErrNoSecret, d.Path)
	default:
		d.Err = signature.Verify(secret, r.Header, body, d.ReceivedAt)
		d.Verified = d.Err == nil
	}

	n := s.record(d)

	if d.Verified {
		status = http.StatusOK
		if fn != nil {
			status = fn(d, n)
			if status == 0 {
				status = http.StatusOK
			}
			if status < 100 || status > 999 {
				s.tb.Errorf("webhooktest: responder for %s returned invalid status %d", d.Path, status)
				status = http.StatusInternalServerError
			}
		}
	}
	for k, v := range extra {
		w.Header()[k] = v
	}
	w.WriteHeader(status)
}

// record stores d, wakes waiters, and returns n for the responder.
func (s *Server) record(d Delivery) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts[d.Path]++
	// The stored copy is private so that what the responder does with d
	// cannot change the record.
	stored := d
	stored.Header = d.Header.Clone()
	stored.Body = slices.Clone(d.Body)
	s.deliveries = append(s.deliveries, stored)
	close(s.changed)
	s.changed = make(chan struct{})
	return s.counts[d.Path]
}
