package webhook_test

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/require"

	"github.com/hooksmith/webhook"
	"github.com/hooksmith/webhook/webhooktest"
)

// newEndpoint creates an endpoint for a path of rcv and tells rcv its secret.
func newEndpoint(t *testing.T, tn *webhook.Tenant, rcv *webhooktest.Server, path string, p webhook.EndpointParams) *webhook.Endpoint {
	t.Helper()
	p.URL = rcv.URL(path)
	ep, err := tn.CreateEndpoint(ctx, p)
	require.NoError(t, err)
	rcv.SetSecret(path, ep.Secret())
	return ep
}

func TestDelivery_is_signed_per_standard_webhooks(t *testing.T) {
	t.Parallel()
	d, _ := startDispatcher(t, nil)
	registerTypes(t, d, "order.created")
	tn := d.Tenant("acme")
	type got struct {
		method  string
		header  http.Header
		body    []byte
		libErr  error
		ourErr  error
		verbose string
	}
	received := make(chan got, 1)
	var secret atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		wh, err := standardwebhooks.NewWebhook(secret.Load().(string))
		require.NoError(t, err)
		received <- got{method: r.Method, header: r.Header.Clone(), body: body,
			libErr: wh.Verify(body, r.Header), ourErr: webhook.Verify(secret.Load().(string), r.Header, body)}
	}))
	defer srv.Close()
	ep, err := tn.CreateEndpoint(ctx, webhook.EndpointParams{URL: srv.URL + "/hook", Method: "PUT",
		Headers: map[string]string{"X-Custom-Header": "acme-api-gateway"}})
	require.NoError(t, err)
	secret.Store(ep.Secret())
	payload := []byte(`{"ref":"refs/heads/main","commits":3}`)
	_, err = tn.Publish(ctx, webhook.Event{ID: "evt-42", Type: "order.created", Payload: payload, ContentType: "application/vnd.acme+json"})
	require.NoError(t, err)

	var g got
	select {
	case g = <-received:
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery")
	}
	require.NoError(t, g.libErr, "the standard-webhooks library rejects our signature")
	require.NoError(t, g.ourErr)
	require.Equal(t, "PUT", g.method)
	require.Equal(t, payload, g.body)
	require.Equal(t, "evt-42", g.header.Get("webhook-id"))
	require.Equal(t, "application/vnd.acme+json", g.header.Get("Content-Type"))
	require.Equal(t, "acme-api-gateway", g.header.Get("X-Custom-Header"))
	ts, err := strconv.ParseInt(g.header.Get("webhook-timestamp"), 10, 64)
	require.NoError(t, err)
	require.InDelta(t, time.Now().Unix(), ts, 10)
	require.True(t, strings.HasPrefix(g.header.Get("webhook-signature"), "v1,"))
}

func TestDelivery_retries_a_500_then_succeeds(t *testing.T) {
	t.Parallel()
	d, _ := startDispatcher(t, nil)
	registerTypes(t, d, "order.created")
	tn := d.Tenant("acme")
	rcv := webhooktest.NewServer(t)
	rcv.Respond("/flaky", func(_ webhooktest.Delivery, n int) int {
		if n == 1 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	ep := newEndpoint(t, tn, rcv, "/flaky", webhook.EndpointParams{})
	res, err := tn.Publish(ctx, webhook.Event{Type: "order.created", Payload: []byte(`{"n":1}`)})
	require.NoError(t, err)
	msgID := res.Messages[0].MessageID

	got := rcv.Wait(t, "/flaky", 2, 10*time.Second)
	require.Equal(t, got[0].ID, got[1].ID, "a retry keeps the webhook-id")
	require.Equal(t, res.EventID, got[0].ID)
	require.Equal(t, got[0].Body, got[1].Body)
	m := waitStatus(t, tn, msgID, webhook.StatusSucceeded)
	require.Equal(t, 2, m.Attempts)
	require.True(t, m.NextAttemptAt.IsZero())

	atts, err := tn.ListAttempts(ctx, webhook.AttemptQuery{MessageID: msgID})
	require.NoError(t, err)
	require.Len(t, atts.Items, 2)
	newest, oldest := atts.Items[0], atts.Items[1]
	require.Equal(t, 1, oldest.Number)
	require.Equal(t, http.StatusInternalServerError, oldest.StatusCode)
	require.Equal(t, webhook.ErrorHTTPStatus, oldest.ErrorClass)
	require.Equal(t, 2, newest.Number)
	require.Equal(t, http.StatusOK, newest.StatusCode)
	require.Empty(t, newest.ErrorClass)
	require.Equal(t, ep.ID, newest.EndpointID)
	require.Equal(t, res.EventID, newest.EventID)
	require.NotEmpty(t, newest.RequestHeaders["Webhook-Signature"], "the attempt records the signature it sent")
}

func TestDelivery_exhausts_the_schedule(t *testing.T) {
	t.Parallel()
	d, _ := startDispatcher(t, nil)
	registerTypes(t, d, "order.created")
	tn := d.Tenant("acme")
	rcv := webhooktest.NewServer(t)
	rcv.Respond("/down", func(webhooktest.Delivery, int) int { return http.StatusBadGateway })
	newEndpoint(t, tn, rcv, "/down", webhook.EndpointParams{})
	res, err := tn.Publish(ctx, webhook.Event{Type: "order.created", Payload: []byte(`{}`)})
	require.NoError(t, err)
	m := waitStatus(t, tn, res.Messages[0].MessageID, webhook.StatusExhausted)
	require.Equal(t, len(fastSchedule), m.Attempts)
	require.Len(t, rcv.Deliveries("/down"), len(fastSchedule))
}

func TestDelivery_failure_classes(t *testing.T) {
	t.Parallel()
	d, _ := startDispatcher(t, &webhook.Config{
		RetrySchedule: []time.Duration{0}, AllowInsecureURLs: true, AllowedDestinations: loopback,
		RequestTimeout: 200 * time.Millisecond, MaxResponseBodySize: 1024,
	})
	registerTypes(t, d, "order.created")
	tn := d.Tenant("acme")

	var redirected atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	})
	mux.HandleFunc("/elsewhere", func(w http.ResponseWriter, r *http.Request) { redirected.Add(1) })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		w.Write(bytes.Repeat([]byte("x"), 100<<10))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closedURL := "http://" + ln.Addr().String() + "/gone?token=query-credential"
	require.NoError(t, ln.Close())

	cases := []struct {
		url    string
		status int
		class  webhook.ErrorClass
		check  func(*webhook.Attempt)
	}{
		{srv.URL + "/redirect", http.StatusFound, webhook.ErrorHTTPStatus, nil},
		{srv.URL + "/slow", 0, webhook.ErrorTimeout, nil},
		{closedURL, 0, webhook.ErrorConnection, nil},
		{srv.URL + "/big", http.StatusBadRequest, webhook.ErrorHTTPStatus, func(a *webhook.Attempt) {
			require.Len(t, a.ResponseBody, 1024)
			require.True(t, a.ResponseTruncated)
		}},
	}
	for _, c := range cases {
		ep, err := tn.CreateEndpoint(ctx, webhook.EndpointParams{URL: c.url})
		require.NoError(t, err)
		res, err := tn.SendTo(ctx, ep.ID, webhook.Event{Type: "order.created", Payload: []byte(`{}`)})
		require.NoError(t, err)
		waitStatus(t, tn, res.Messages[0].MessageID, webhook.StatusExhausted)
		atts, err := tn.ListAttempts(ctx, webhook.AttemptQuery{MessageID: res.Messages[0].MessageID, WithBodies: true})
		require.NoError(t, err)
		require.Len(t, atts.Items, 1, c.url)
		a := atts.Items[0]
		require.Equal(t, c.status, a.StatusCode, c.url)
		require.Equal(t, c.class, a.ErrorClass, "%s: %s", c.url, a.Error)
		require.NotEmpty(t, a.Error)
		require.NotContains(t, a.Error, "query-credential", "the error text repeats the URL")
		if c.check != nil {
			c.check(a)
		}
	}
	require.Zero(t, redirected.Load(), "a redirect was followed")
}

func TestDelivery_deleted_endpoint_gets_nothing(t *testing.T) {
	t.Parallel()
	d, _ := newDispatcher(t, nil)
	registerTypes(t, d, "order.created")
	tn := d.Tenant("acme")
	rcv := webhooktest.NewServer(t)
	doomed := newEndpoint(t, tn, rcv, "/doomed", webhook.EndpointParams{})
	res, err := tn.Publish(ctx, webhook.Event{Type: "order.created", Payload: []byte(`{}`)})
	require.NoError(t, err)
	require.NoError(t, tn.DeleteEndpoint(ctx, doomed.ID))
	m, err := tn.GetMessage(ctx, res.Messages[0].MessageID)
	require.NoError(t, err)
	require.Equal(t, webhook.StatusCancelled, m.Status)

	// Deliveries are processed in due order: once a later message to another
	// endpoint arrived, the cancelled one would have been sent before it.
	newEndpoint(t, tn, rcv, "/live", webhook.EndpointParams{})
	_, err = tn.Publish(ctx, webhook.Event{Type: "order.created", Payload: []byte(`{}`)})
	require.NoError(t, err)
	require.NoError(t, d.Start(ctx))
	rcv.Wait(t, "/live", 1, 10*time.Second)
	require.Empty(t, rcv.Deliveries("/doomed"))
}

func TestDelivery_disabled_endpoint_holds_messages_until_enabled(t *testing.T) {
	t.Parallel()
	d, _ := newDispatcher(t, nil)
	registerTypes(t, d, "order.created")
	tn := d.Tenant("acme")
	rcv := webhooktest.NewServer(t)
	paused := newEndpoint(t, tn, rcv, "/paused", webhook.EndpointParams{})
	res, err := tn.Publish(ctx, webhook.Event{ID: "held", Type: "order.created", Payload: []byte(`{}`)})
	require.NoError(t, err)
	require.NoError(t, tn.DisableEndpoint(ctx, paused.ID))
	newEndpoint(t, tn, rcv, "/live", webhook.EndpointParams{})
	_, err = tn.Publish(ctx, webhook.Event{Type: "order.created", Payload: []byte(`{}`)})
	require.NoError(t, err)
	require.NoError(t, d.Start(ctx))
	rcv.Wait(t, "/live", 1, 10*time.Second)
	require.Empty(t, rcv.Deliveries("/paused"))
	m, err := tn.GetMessage(ctx, res.Messages[0].MessageID)
	require.NoError(t, err)
	require.Equal(t, webhook.StatusPending, m.Status)
	require.Zero(t, m.Attempts)

	require.NoError(t, tn.EnableEndpoint(ctx, paused.ID))
	got := rcv.Wait(t, "/paused", 1, 10*time.Second)
	require.Equal(t, "held", got[0].ID)
	require.True(t, got[0].Verified)
	waitStatus(t, tn, res.Messages[0].MessageID, webhook.StatusSucceeded)
}

// TestDispatcher_Close_leaves_no_goroutines is not parallel: it inspects
// every goroutine of the process.
func TestDispatcher_Close_leaves_no_goroutines(t *testing.T) {
	d, st := newDispatcher(t, nil)
	registerTypes(t, d, "order.created")
	tn := d.Tenant("acme")
	rcv := webhooktest.NewServer(t)
	newEndpoint(t, tn, rcv, "/a", webhook.EndpointParams{})
	require.NoError(t, d.Start(ctx))
	for range 20 {
		_, err := tn.Publish(ctx, webhook.Event{Type: "order.created", Payload: []byte(`{}`)})
		require.NoError(t, err)
	}
	rcv.Wait(t, "/a", 5, 10*time.Second)
	require.NoError(t, d.Close())
	require.NoError(t, st.Close())
	requireNoLibraryGoroutines(t)
}
