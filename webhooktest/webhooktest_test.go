package webhooktest_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hooksmith/webhook/internal/signature"
	"github.com/hooksmith/webhook/webhooktest"
)

// fakeTB records Fatalf and Errorf instead of failing, so that tests can
// check the failures webhooktest reports. Everything else goes to the real
// test, including Cleanup.
type fakeTB struct {
	testing.TB
	mu     sync.Mutex
	fatals []string
	errors []string
}

// client has a transport of its own: closing an httptest.Server closes the
// idle connections of http.DefaultTransport, which broke a request that a
// parallel test was about to send on one of them.
var client = &http.Client{Transport: &http.Transport{}}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fatals = append(f.fatals, fmt.Sprintf(format, args...))
}

func (f *fakeTB) Errorf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errors = append(f.errors, fmt.Sprintf(format, args...))
}

func (f *fakeTB) recorded() (fatals, errs []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.fatals...), append([]string(nil), f.errors...)
}

func newSecret(t *testing.T) string {
	t.Helper()
	s, err := signature.NewSecret()
	require.NoError(t, err)
	return s
}

// send posts body to url signed with secret (unsigned if secret is "") and
// returns the response status.
func send(url, secret, id string, body []byte) (int, error) {
	resp, err := sendResponse(url, secret, id, body)
	if err != nil {
		return 0, err
	}
	return resp.StatusCode, nil
}

// sendResponse is send returning the whole (closed) response.
func sendResponse(url, secret, id string, body []byte) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	ts := time.Now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	if secret != "" {
		key, err := signature.ParseKey(secret)
		if err != nil {
			return nil, err
		}
		req.Header.Set("webhook-signature", signature.Header([]signature.Key{key}, id, ts, body))
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	return resp, nil
}

func mustSend(t *testing.T, url, secret, id string, body []byte) int {
	t.Helper()
	status, err := send(url, secret, id, body)
	require.NoError(t, err)
	return status
}

func TestSignedDeliveryToAPathWithItsSecretIsRecordedAsVerified(t *testing.T) {
	t.Parallel()
	srv := webhooktest.NewServer(t)
	secret := newSecret(t)
	srv.SetSecret("/hooks", secret)
	assert.True(t, strings.HasPrefix(srv.URL("/hooks"), "http://127.0.0.1:"), srv.URL("/hooks"))

	before := time.Now()
	body := []byte(`{"type":"invoice.paid"}`)
	assert.Equal(t, http.StatusOK, mustSend(t, srv.URL("/hooks"), secret, "msg_1", body))

	got := srv.Deliveries("/hooks")
	require.Len(t, got, 1)
	d := got[0]
	assert.True(t, d.Verified)
	assert.NoError(t, d.Err)
	assert.Equal(t, "/hooks", d.Path)
	assert.Equal(t, "msg_1", d.ID)
	assert.Equal(t, body, d.Body)
	assert.InDelta(t, time.Now().Unix(), d.Timestamp, 5)
	assert.Equal(t, "application/json", d.Header.Get("Content-Type"))
	assert.NotEmpty(t, d.Header.Get("webhook-signature"))
	assert.False(t, d.ReceivedAt.Before(before))
}

func TestDeliverySignedWithTheWrongSecretIsAnswered401AndNotVerified(t *testing.T) {
	t.Parallel()
	srv := webhooktest.NewServer(t)
	srv.SetSecret("/hooks", newSecret(t))

	assert.Equal(t, http.StatusUnauthorized, mustSend(t, srv.URL("/hooks"), newSecret(t), "msg_1", []byte("{}")))

	got := srv.Deliveries("/hooks")
	require.Len(t, got, 1)
	assert.False(t, got[0].Verified)
	assert.ErrorIs(t, got[0].Err, signature.ErrInvalidSignature)
}

func TestUnsignedDeliveryIsAnswered401WithTheMissingHeaderNamed(t *testing.T) {
	t.Parallel()
	srv := webhooktest.NewServer(t)
	srv.SetSecret("/hooks", newSecret(t))

	assert.Equal(t, http.StatusUnauthorized, mustSend(t, srv.URL("/hooks"), "", "msg_1", nil))

	got := srv.Deliveries("/hooks")
	require.Len(t, got, 1)
	var he *signature.HeaderError
	require.ErrorAs(t, got[0].Err, &he)
	assert.Equal(t, "webhook-signature", he.Header)
}

func TestDeliveryToAPathWithoutASecretIsAnswered401(t *testing.T) {
	t.Parallel()
	srv := webhooktest.NewServer(t)
	secret := newSecret(t)
	srv.SetSecret("/hooks", secret)

	assert.Equal(t, http.StatusUnauthorized, mustSend(t, srv.URL("/elsewhere"), secret, "msg_1", nil))

	got := srv.Deliveries("/elsewhere")
	require.Len(t, got, 1)
	assert.False(t, got[0].Verified)
	assert.ErrorIs(t, got[0].Err, webhooktest.ErrNoSecret)
	assert.Empty(t, srv.Deliveries("/hooks"))
}

func TestRespondScriptsA500ThenA200(t *testing.T) {
	t.Parallel()
	srv := webhooktest.NewServer(t)
	secret := newSecret(t)
	srv.SetSecret("/hooks", secret)
	var seen []int
	var mu sync.Mutex
	srv.Respond("/hooks", func(d webhooktest.Delivery, n int) int {
		mu.Lock()
		seen = append(seen, n)
		mu.Unlock()
		assert.True(t, d.Verified)
		if n == 1 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})

	assert.Equal(t, http.StatusInternalServerError, mustSend(t, srv.URL("/hooks"), secret, "msg_1", nil))
	assert.Equal(t, http.StatusOK, mustSend(t, srv.URL("/hooks"), secret, "msg_1", nil))
	assert.Equal(t, http.StatusOK, mustSend(t, srv.URL("/hooks"), secret, "msg_1", nil))

	mu.Lock()
	assert.Equal(t, []int{1, 2, 3}, seen)
	mu.Unlock()
	assert.Len(t, srv.Deliveries("/hooks"), 3)
}

func TestRespondIsNotConsultedForUnverifiedDeliveries(t *testing.T) {
	t.Parallel()
	srv := webhooktest.NewServer(t)
	srv.SetSecret("/hooks", newSecret(t))
	srv.Respond("/hooks", func(webhooktest.Delivery, int) int {
		t.Error("responder called for an unverified delivery")
		return http.StatusOK
	})
	assert.Equal(t, http.StatusUnauthorized, mustSend(t, srv.URL("/hooks"), newSecret(t), "msg_1", nil))
}

func TestRespondWithAnInvalidStatusAnswers500AndReportsIt(t *testing.T) {
	t.Parallel()
	ftb := &fakeTB{TB: t}
	srv := webhooktest.NewServer(ftb)
	secret := newSecret(t)
	srv.SetSecret("/hooks", secret)
	srv.Respond("/hooks", func(webhooktest.Delivery, int) int { return 42 })

	assert.Equal(t, http.StatusInternalServerError, mustSend(t, srv.URL("/hooks"), secret, "msg_1", nil))
	_, errs := ftb.recorded()
	require.Len(t, errs, 1)
	assert.Contains(t, errs[0], "invalid status 42")
}

func TestWaitReturnsOnceConcurrentSendersDeliver(t *testing.T) {
	t.Parallel()
	srv := webhooktest.NewServer(t)
	secret := newSecret(t)
	srv.SetSecret("/hooks", secret)

	const senders = 20
	errs := make(chan error, senders)
	start := make(chan struct{})
	for i := range senders {
		go func() {
			<-start
			status, err := send(srv.URL("/hooks"), secret, fmt.Sprintf("msg_%d", i), []byte(strconv.Itoa(i)))
			if err == nil && status != http.StatusOK {
				err = fmt.Errorf("sender %d: status %d", i, status)
			}
			errs <- err
		}()
	}
	// Wait must be blocked before anything arrives for this to test waking.
	time.AfterFunc(20*time.Millisecond, func() { close(start) })

	got := srv.Wait(t, "/hooks", senders, 10*time.Second)
	require.Len(t, got, senders)
	ids := map[string]bool{}
	for _, d := range got {
		assert.True(t, d.Verified, d.Err)
		ids[d.ID] = true
	}
	assert.Len(t, ids, senders)
	for range senders {
		require.NoError(t, <-errs)
	}
}

func TestWaitReturnsImmediatelyWhenEnoughHaveArrived(t *testing.T) {
	t.Parallel()
	srv := webhooktest.NewServer(t)
	secret := newSecret(t)
	srv.SetSecret("/hooks", secret)
	mustSend(t, srv.URL("/hooks"), secret, "msg_1", nil)
	mustSend(t, srv.URL("/hooks"), secret, "msg_2", nil)

	got := srv.Wait(t, "/hooks", 1, time.Nanosecond)
	assert.Len(t, got, 2)
}

func TestWaitFailsTheTestWhenTooFewDeliveriesArrive(t *testing.T) {
	t.Parallel()
	srv := webhooktest.NewServer(t)
	secret := newSecret(t)
	srv.SetSecret("/hooks", secret)
	mustSend(t, srv.URL("/hooks"), secret, "msg_ok", nil)
	mustSend(t, srv.URL("/hooks"), newSecret(t), "msg_forged", nil)
	mustSend(t, srv.URL("/typo"), secret, "msg_lost", nil)

	ftb := &fakeTB{TB: t}
	start := time.Now()
	got := srv.Wait(ftb, "/hooks", 3, 100*time.Millisecond)
	elapsed := time.Since(start)

	assert.Len(t, got, 2)
	assert.GreaterOrEqual(t, elapsed, 100*time.Millisecond)
	assert.Less(t, elapsed, 5*time.Second)
	fatals, _ := ftb.recorded()
	require.Len(t, fatals, 1)
	msg := fatals[0]
	for _, want := range []string{"3 deliveries to /hooks", "got 2", `"msg_ok" verified=true`, `"msg_forged" verified=false`, "no matching signature", "/typo=1"} {
		assert.Contains(t, msg, want)
	}
}

func TestOversizedBodyIsAnswered413AndRecorded(t *testing.T) {
	t.Parallel()
	srv := webhooktest.NewServer(t)
	secret := newSecret(t)
	srv.SetSecret("/hooks", secret)

	status := mustSend(t, srv.URL("/hooks"), secret, "msg_big", make([]byte, webhooktest.MaxBodySize+1))

	assert.Equal(t, http.StatusRequestEntityTooLarge, status)
	got := srv.Deliveries("/hooks")
	require.Len(t, got, 1)
	assert.False(t, got[0].Verified)
	var maxErr *http.MaxBytesError
	assert.True(t, errors.As(got[0].Err, &maxErr), got[0].Err)
}

func TestDeliveriesReturnsACopyThatCallersMayModify(t *testing.T) {
	t.Parallel()
	srv := webhooktest.NewServer(t)
	secret := newSecret(t)
	srv.SetSecret("/hooks", secret)
	mustSend(t, srv.URL("/hooks"), secret, "msg_1", []byte("original"))

	first := srv.Deliveries("/hooks")
	first[0].Body[0] = 'X'
	first[0].Header.Set("webhook-id", "changed")
	first[0].ID = "changed"

	again := srv.Deliveries("/hooks")
	assert.Equal(t, "original", string(again[0].Body))
	assert.Equal(t, "msg_1", again[0].Header.Get("webhook-id"))
	assert.Equal(t, "msg_1", again[0].ID)
}

func TestAllReturnsEveryPathInArrivalOrder(t *testing.T) {
	t.Parallel()
	srv := webhooktest.NewServer(t)
	secret := newSecret(t)
	srv.SetSecret("/a", secret)
	srv.SetSecret("/b", secret)
	mustSend(t, srv.URL("/a"), secret, "1", nil)
	mustSend(t, srv.URL("/b"), secret, "2", nil)
	mustSend(t, srv.URL("/a"), secret, "3", nil)

	var order []string
	for _, d := range srv.All() {
		order = append(order, d.Path+"#"+d.ID)
	}
	assert.Equal(t, []string{"/a#1", "/b#2", "/a#3"}, order)
	assert.Len(t, srv.Deliveries("/a"), 2)
}

func TestURLPanicsOnAPathWithoutLeadingSlash(t *testing.T) {
	t.Parallel()
	srv := webhooktest.NewServer(t)
	assert.PanicsWithValue(t, `webhooktest: path "hooks" must start with /`, func() { srv.URL("hooks") })
}

func TestSetSecretReportsAnInvalidSecret(t *testing.T) {
	t.Parallel()
	ftb := &fakeTB{TB: t}
	srv := webhooktest.NewServer(ftb)
	srv.SetSecret("/hooks", "whsec_not-base64")
	_, errs := ftb.recorded()
	require.Len(t, errs, 1)
	assert.Contains(t, errs[0], "invalid secret")
	assert.NotContains(t, errs[0], "not-base64")
}

func TestServer_SetResponseHeader_scripts_headers(t *testing.T) {
	t.Parallel()
	s := webhooktest.NewServer(t)
	secret := newSecret(t)
	s.SetSecret("/h", secret)
	s.SetResponseHeader("/h", http.Header{"Retry-After": {"7"}})
	resp, err := sendResponse(s.URL("/h"), secret, "msg_h", []byte(`{}`))
	require.NoError(t, err)
	require.Equal(t, "7", resp.Header.Get("Retry-After"))
}
