package webhook_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hooksmith/webhook"
)

// fixedResolver answers every lookup with the same addresses.
type fixedResolver []netip.Addr

func (r fixedResolver) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return r, nil
}

func TestGuard_refuses_blocked_literal_destinations_at_creation(t *testing.T) {
	t.Parallel()
	d, st := newDispatcher(t, &webhook.Config{AllowInsecureURLs: true})
	registerTypes(t, d, "order.created")
	tn := d.Tenant("acme")
	for _, u := range []string{
		"http://127.0.0.1:8080/hook", "https://169.254.169.254/latest/meta-data", "https://[::1]/",
		"https://2130706433/", "https://0177.0.0.1/", "https://0x7f.0.0.1/", "https://localhost./",
		"https://[::ffff:10.0.0.1]/", "https://[64:ff9b::a9fe:a9fe]/", "https://192.168.0.10/",
	} {
		_, err := tn.CreateEndpoint(ctx, webhook.EndpointParams{URL: u})
		require.True(t, isValidation(err, "url"), "%s: %v", u, err)
		require.ErrorIs(t, err, webhook.ErrBlockedDestination, u)
	}
	require.Zero(t, count(t, st, "endpoints"))
	_, err := tn.CreateEndpoint(ctx, webhook.EndpointParams{URL: "https://hooks.example.com/x"})
	require.NoError(t, err, "names are checked when they are resolved, not before")
}

func TestGuard_blocks_a_name_that_resolves_to_a_private_address(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	rcv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	defer rcv.Close()
	_, port, _ := net.SplitHostPort(rcv.Listener.Addr().String())

	d, _ := startDispatcher(t, &webhook.Config{AllowInsecureURLs: true, RetrySchedule: fastSchedule,
		Resolver: fixedResolver{netip.MustParseAddr("127.0.0.1")}})
	registerTypes(t, d, "order.created")
	tn := d.Tenant("acme")
	ep, err := tn.CreateEndpoint(ctx, webhook.EndpointParams{URL: "http://customer.test:" + port + "/hook"})
	require.NoError(t, err)
	res, err := tn.Publish(ctx, webhook.Event{Type: "order.created", Payload: []byte(`{}`)})
	require.NoError(t, err)
	m := waitStatus(t, tn, res.Messages[0].MessageID, webhook.StatusExhausted)
	require.Equal(t, len(fastSchedule), m.Attempts, "a blocked attempt follows the schedule, then stops")
	atts, err := tn.ListAttempts(ctx, webhook.AttemptQuery{EndpointID: ep.ID})
	require.NoError(t, err)
	require.Len(t, atts.Items, len(fastSchedule))
	for _, a := range atts.Items {
		require.Equal(t, webhook.ErrorBlocked, a.ErrorClass, a.Error)
		require.Zero(t, a.StatusCode)
	}
	require.Zero(t, hits.Load(), "the receiver on loopback was reached")
}

func TestGuard_proxy_carries_deliveries(t *testing.T) {
	t.Parallel()
	seen := make(chan *http.Request, 1)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Clone(context.Background())
	}))
	defer proxy.Close()
	d, _ := startDispatcher(t, &webhook.Config{AllowInsecureURLs: true, Proxy: proxy.URL})
	registerTypes(t, d, "order.created")
	tn := d.Tenant("acme")
	ep, err := tn.CreateEndpoint(ctx, webhook.EndpointParams{URL: "http://customer.example/hook"})
	require.NoError(t, err)
	_, err = tn.Publish(ctx, webhook.Event{ID: "via-proxy", Type: "order.created", Payload: []byte(`{}`)})
	require.NoError(t, err)
	select {
	case r := <-seen:
		require.Equal(t, "http://customer.example/hook", r.URL.String(), "the proxy got the absolute URL")
		require.Equal(t, "via-proxy", r.Header.Get("webhook-id"))
		require.NotEmpty(t, r.Header.Get("webhook-signature"))
	case <-time.After(10 * time.Second):
		t.Fatal("nothing reached the proxy")
	}
	_ = ep

	// The proxy's own address is not a destination.
	_, err = tn.CreateEndpoint(ctx, webhook.EndpointParams{URL: "https://127.0.0.1:22/"})
	require.ErrorIs(t, err, webhook.ErrBlockedDestination)

	_, st := newDispatcher(t, nil)
	for _, bad := range []string{"ftp://proxy:21", "://", "http://"} {
		_, err := webhook.New(st, &webhook.Config{Proxy: bad})
		require.True(t, isValidation(err, "Config.Proxy"), "%s: %v", bad, err)
	}
	_, err = webhook.New(st, &webhook.Config{AllowedDestinations: []string{"not a/host"}})
	require.True(t, isValidation(err, "Config.AllowedDestinations"), "got %v", err)
}

func TestGuard_proxy_rechecks_stored_hosts_at_request_time(t *testing.T) {
	t.Parallel()
	var reached atomic.Int32
	proxy := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached.Add(1) }))
	defer proxy.Close()
	// Stored while 127.0.0.1 was allow-listed...
	d, st := newDispatcher(t, nil)
	registerTypes(t, d, "order.created")
	ep, err := d.Tenant("acme").CreateEndpoint(ctx, webhook.EndpointParams{URL: "http://127.0.0.1:6379/"})
	require.NoError(t, err)
	require.NoError(t, d.Close())
	// ...then delivered through a proxy by a dispatcher without that exemption.
	d2, err := webhook.New(st, &webhook.Config{AllowInsecureURLs: true, Proxy: proxy.URL, RetrySchedule: []time.Duration{0}})
	require.NoError(t, err)
	defer d2.Close()
	require.NoError(t, d2.Start(ctx))
	tn := d2.Tenant("acme")
	res, err := tn.SendTo(ctx, ep.ID, webhook.Event{Type: "order.created", Payload: []byte(`{}`)})
	require.NoError(t, err)
	waitStatus(t, tn, res.Messages[0].MessageID, webhook.StatusExhausted)
	atts, err := tn.ListAttempts(ctx, webhook.AttemptQuery{EndpointID: ep.ID})
	require.NoError(t, err)
	require.Len(t, atts.Items, 1)
	require.Equal(t, webhook.ErrorBlocked, atts.Items[0].ErrorClass, atts.Items[0].Error)
	require.Zero(t, reached.Load(), "the proxy was asked to reach a blocked host")
}
