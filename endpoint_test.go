package webhook_test

import (
	"encoding/base64"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hooksmith/webhook"
)

func TestEventTypes(t *testing.T) {
	t.Parallel()
	d, _ := newDispatcher(t, nil)
	t.Run("register_get_list_archive", func(t *testing.T) {
		for _, n := range []string{"order.created", "gitlab.push.created", "a-b.c_d.E9"} {
			et, err := d.RegisterEventType(ctx, webhook.EventType{Name: n, Description: "d " + n})
			require.NoError(t, err)
			require.Equal(t, n, et.Name)
		}
		et, err := d.GetEventType(ctx, "order.created")
		require.NoError(t, err)
		require.Equal(t, "d order.created", et.Description)
		page, err := d.ListEventTypes(ctx, webhook.ListOptions{Limit: 2})
		require.NoError(t, err)
		require.Len(t, page.Items, 2)
		require.Equal(t, "a-b.c_d.E9", page.Items[0].Name)
		rest, err := d.ListEventTypes(ctx, webhook.ListOptions{Cursor: page.Next})
		require.NoError(t, err)
		require.Len(t, rest.Items, 1)
		require.Equal(t, "order.created", rest.Items[0].Name)
		require.Empty(t, rest.Next)

		require.NoError(t, d.ArchiveEventType(ctx, "order.created"))
		et, err = d.GetEventType(ctx, "order.created")
		require.NoError(t, err)
		require.True(t, et.Archived)
	})
	t.Run("bad_names_are_rejected", func(t *testing.T) {
		for _, n := range []string{"", ".a", "a.", "a..b", "a b", "a/b", "ordér.created", strings.Repeat("a", 129)} {
			_, err := d.RegisterEventType(ctx, webhook.EventType{Name: n})
			require.True(t, isValidation(err, "name"), "%q: %v", n, err)
		}
	})
	t.Run("unknown_type_is_not_found", func(t *testing.T) {
		_, err := d.GetEventType(ctx, "nope")
		require.ErrorIs(t, err, webhook.ErrNotFound)
		require.ErrorIs(t, d.ArchiveEventType(ctx, "nope"), webhook.ErrNotFound)
	})
}

func TestCreateEndpoint(t *testing.T) {
	t.Parallel()
	d, st := newDispatcher(t, nil)
	registerTypes(t, d, "order.created", "order.paid")
	tn := d.Tenant("acme")

	t.Run("returns_a_fresh_secret_and_defaults", func(t *testing.T) {
		seen := map[string]bool{}
		for range 20 {
			ep, err := tn.CreateEndpoint(ctx, webhook.EndpointParams{URL: "https://acme.example/hooks"})
			require.NoError(t, err)
			require.True(t, strings.HasPrefix(ep.ID, "ep_"))
			require.Equal(t, "acme", ep.TenantID)
			require.Equal(t, "POST", ep.Method)
			require.False(t, ep.Disabled)
			secret := ep.Secret()
			require.True(t, strings.HasPrefix(secret, "whsec_"), secret)
			raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
			require.NoError(t, err)
			require.Len(t, raw, 32)
			require.False(t, seen[secret], "secret repeated")
			seen[secret] = true
		}
	})
	t.Run("stores_every_field", func(t *testing.T) {
		p := webhook.EndpointParams{
			URL: "https://ci.acme.example/webhooks/gitlab", Method: "put", Description: "project hook",
			EventTypes:  []string{"order.created", "order.*"},
			Labels:      map[string]string{"project_id": "67890"},
			Headers:     map[string]string{"X-Custom-Header": "acme-api-gateway"},
			Metadata:    map[string]string{"gitlab_webhook_id": "webhook_123"},
			Disabled:    true,
			MaxInFlight: 1, FIFO: true, RateLimit: 2.5, RateBurst: 3,
			RetrySchedule: []time.Duration{0, time.Minute}, NoRetryOnClientError: true,
		}
		ep, err := tn.CreateEndpoint(ctx, p)
		require.NoError(t, err)
		got, err := tn.GetEndpoint(ctx, ep.ID)
		require.NoError(t, err)
		p.Method = "PUT"
		require.Equal(t, p, got.EndpointParams)
		require.Equal(t, ep.Secret(), got.Secret())
		require.NotEmpty(t, got.DisabledReason)
	})
	t.Run("bad_input_names_the_field_and_writes_nothing", func(t *testing.T) {
		before := count(t, st, "endpoints")
		long := strings.Repeat("x", 300)
		many := func(n int) map[string]string {
			m := map[string]string{}
			for i := range n {
				m[fmt.Sprintf("k%d", i)] = "v"
			}
			return m
		}
		cases := []struct {
			name  string
			p     webhook.EndpointParams
			field string
		}{
			{"empty URL", webhook.EndpointParams{}, "url"},
			{"unparsable URL", webhook.EndpointParams{URL: "https://exa mple.com/%zz"}, "url"},
			{"ftp URL", webhook.EndpointParams{URL: "ftp://example.com/"}, "url"},
			{"invalid UTF-8 URL", webhook.EndpointParams{URL: "https://\xec.example/"}, "url"},
			{"port 0", webhook.EndpointParams{URL: "https://example.com:0/"}, "url"},
			{"port 65536", webhook.EndpointParams{URL: "https://example.com:65536/"}, "url"},
			{"invalid UTF-8 header value", webhook.EndpointParams{URL: "https://example.com/", Headers: map[string]string{"X-A": "\xb2"}}, "headers"},
			{"no host", webhook.EndpointParams{URL: "https:///path"}, "url"},
			{"credentials in URL", webhook.EndpointParams{URL: "https://u:p@example.com/"}, "url"},
			{"over-long URL", webhook.EndpointParams{URL: "https://example.com/" + strings.Repeat("a", 2100)}, "url"},
			{"GET method", webhook.EndpointParams{URL: "https://example.com/", Method: "GET"}, "method"},
			{"unregistered type", webhook.EndpointParams{URL: "https://example.com/", EventTypes: []string{"user.deleted"}}, "event_types"},
			{"malformed type", webhook.EndpointParams{URL: "https://example.com/", EventTypes: []string{"a..b"}}, "event_types"},
			{"empty label key", webhook.EndpointParams{URL: "https://example.com/", Labels: map[string]string{"": "v"}}, "labels"},
			{"empty label value", webhook.EndpointParams{URL: "https://example.com/", Labels: map[string]string{"k": ""}}, "labels"},
			{"over-long label value", webhook.EndpointParams{URL: "https://example.com/", Labels: map[string]string{"k": long}}, "labels"},
			{"invalid UTF-8 label", webhook.EndpointParams{URL: "https://example.com/", Labels: map[string]string{"k": "\xff"}}, "labels"},
			{"too many labels", webhook.EndpointParams{URL: "https://example.com/", Labels: many(33)}, "labels"},
			{"too many headers", webhook.EndpointParams{URL: "https://example.com/", Headers: many(21)}, "headers"},
			{"signature header", webhook.EndpointParams{URL: "https://example.com/", Headers: map[string]string{"Webhook-Signature": "x"}}, "headers"},
			{"content-type header", webhook.EndpointParams{URL: "https://example.com/", Headers: map[string]string{"content-type": "x"}}, "headers"},
			{"header injection", webhook.EndpointParams{URL: "https://example.com/", Headers: map[string]string{"X-A": "a\r\nX-B: b"}}, "headers"},
			{"bad header name", webhook.EndpointParams{URL: "https://example.com/", Headers: map[string]string{"X A": "a"}}, "headers"},
			{"control character in header value", webhook.EndpointParams{URL: "https://example.com/", Headers: map[string]string{"X-A": "a\x01b"}}, "headers"},
			{"header twice in two cases", webhook.EndpointParams{URL: "https://example.com/", Headers: map[string]string{"X-A": "1", "x-a": "2"}}, "headers"},
			{"user-agent header", webhook.EndpointParams{URL: "https://example.com/", Headers: map[string]string{"User-Agent": "x"}}, "headers"},
			{"huge metadata", webhook.EndpointParams{URL: "https://example.com/", Metadata: map[string]string{"k": strings.Repeat("m", 9000)}}, "metadata"},
			{"huge description", webhook.EndpointParams{URL: "https://example.com/", Description: strings.Repeat("d", 1025)}, "description"},
			{"negative in-flight cap", webhook.EndpointParams{URL: "https://example.com/", MaxInFlight: -1}, "max_in_flight"},
			{"in-flight cap over the limit", webhook.EndpointParams{URL: "https://example.com/", MaxInFlight: webhook.MaxInFlightLimit + 1}, "max_in_flight"},
			{"FIFO with 2 in flight", webhook.EndpointParams{URL: "https://example.com/", FIFO: true, MaxInFlight: 2}, "max_in_flight"},
			{"negative rate", webhook.EndpointParams{URL: "https://example.com/", RateLimit: -1}, "rate_limit"},
			{"NaN rate", webhook.EndpointParams{URL: "https://example.com/", RateLimit: math.NaN()}, "rate_limit"},
			{"infinite rate", webhook.EndpointParams{URL: "https://example.com/", RateLimit: math.Inf(1)}, "rate_limit"},
			{"rate over the limit", webhook.EndpointParams{URL: "https://example.com/", RateLimit: webhook.MaxRateLimit + 1}, "rate_limit"},
			{"negative burst", webhook.EndpointParams{URL: "https://example.com/", RateLimit: 1, RateBurst: -1}, "rate_burst"},
			{"burst over the limit", webhook.EndpointParams{URL: "https://example.com/", RateLimit: 1, RateBurst: webhook.MaxRateBurst + 1}, "rate_burst"},
			{"burst without a rate", webhook.EndpointParams{URL: "https://example.com/", RateBurst: 5}, "rate_burst"},
		}
		for _, c := range cases {
			_, err := tn.CreateEndpoint(ctx, c.p)
			require.True(t, isValidation(err, c.field), "%s: got %v", c.name, err)
		}
		require.Equal(t, before, count(t, st, "endpoints"))
	})
	t.Run("unregistered_type_in_filter_is_ErrUnknownEventType", func(t *testing.T) {
		_, err := tn.CreateEndpoint(ctx, webhook.EndpointParams{URL: "https://example.com/", EventTypes: []string{"user.deleted"}})
		require.ErrorIs(t, err, webhook.ErrUnknownEventType)
	})
	t.Run("http_is_refused_unless_allowed", func(t *testing.T) {
		strict, _ := newDispatcher(t, &webhook.Config{})
		_, err := strict.Tenant("acme").CreateEndpoint(ctx, webhook.EndpointParams{URL: "http://example.com/"})
		require.True(t, isValidation(err, "url"), "got %v", err)
	})
	t.Run("printing_never_shows_the_secret", func(t *testing.T) {
		ep, err := tn.CreateEndpoint(ctx, webhook.EndpointParams{URL: "https://example.com/"})
		require.NoError(t, err)
		secret := ep.Secret()
		raw := strings.TrimPrefix(secret, "whsec_")
		for _, f := range []string{"%v", "%+v", "%#v", "%s", "%d", "%x", "%q", "%t"} {
			for _, v := range []any{ep, *ep} {
				out := fmt.Sprintf(f, v)
				require.NotContains(t, out, raw, "format %s", f)
			}
		}
	})
	t.Run("invalid_tenant_id_is_refused", func(t *testing.T) {
		for _, id := range []string{"", "a\x00b", "\xff", strings.Repeat("t", 129)} {
			_, err := d.Tenant(id).CreateEndpoint(ctx, webhook.EndpointParams{URL: "https://example.com/"})
			require.True(t, isValidation(err, "tenant_id"), "%q: %v", id, err)
		}
	})
}

func TestEndpoint_list_update_enable_delete(t *testing.T) {
	t.Parallel()
	d, _ := newDispatcher(t, nil)
	registerTypes(t, d, "order.created", "order.paid")
	tn := d.Tenant("acme")
	var created []string
	for i := range 7 {
		ep, err := tn.CreateEndpoint(ctx, webhook.EndpointParams{URL: fmt.Sprintf("https://e%d.example/", i)})
		require.NoError(t, err)
		created = append(created, ep.ID)
	}
	_, err := d.Tenant("other").CreateEndpoint(ctx, webhook.EndpointParams{URL: "https://other.example/"})
	require.NoError(t, err)

	t.Run("list_pages_in_creation_order_exactly_once", func(t *testing.T) {
		var got []string
		opts := webhook.ListOptions{Limit: 3}
		for {
			page, err := tn.ListEndpoints(ctx, opts)
			require.NoError(t, err)
			for _, ep := range page.Items {
				got = append(got, ep.ID)
			}
			if page.Next == "" {
				break
			}
			opts.Cursor = page.Next
		}
		require.Equal(t, created, got)
		_, err := tn.ListEndpoints(ctx, webhook.ListOptions{Cursor: "not/a*cursor"})
		require.True(t, isValidation(err, "cursor"), "got %v", err)
	})
	t.Run("full_update_replaces_every_field_and_keeps_the_secret", func(t *testing.T) {
		ep, err := tn.CreateEndpoint(ctx, webhook.EndpointParams{
			URL: "https://old.example/", EventTypes: []string{"order.created"},
			Labels: map[string]string{"project_id": "1"}, Headers: map[string]string{"X-A": "a"},
			Metadata: map[string]string{"m": "1"}, Description: "old",
		})
		require.NoError(t, err)
		p := ep.EndpointParams
		p.URL = "https://new.example/hooks"
		p.EventTypes = []string{"order.created", "order.paid"}
		p.Labels = nil
		p.Headers = map[string]string{"X-B": "b"}
		p.Description = ""
		updated, err := tn.UpdateEndpoint(ctx, ep.ID, p)
		require.NoError(t, err)
		got, err := tn.GetEndpoint(ctx, ep.ID)
		require.NoError(t, err)
		require.Equal(t, updated.EndpointParams, got.EndpointParams)
		require.Equal(t, "https://new.example/hooks", got.URL)
		require.Nil(t, got.Labels)
		require.Equal(t, map[string]string{"X-B": "b"}, got.Headers)
		require.Empty(t, got.Description)
		require.Equal(t, ep.Secret(), got.Secret())

		_, err = tn.UpdateEndpoint(ctx, ep.ID, webhook.EndpointParams{URL: "not a url"})
		require.True(t, isValidation(err, "url"), "got %v", err)
		got, err = tn.GetEndpoint(ctx, ep.ID)
		require.NoError(t, err)
		require.Equal(t, "https://new.example/hooks", got.URL, "a rejected update wrote something")
	})
	t.Run("disable_and_enable", func(t *testing.T) {
		id := created[0]
		require.NoError(t, tn.DisableEndpoint(ctx, id))
		ep, err := tn.GetEndpoint(ctx, id)
		require.NoError(t, err)
		require.True(t, ep.Disabled)
		require.NotEmpty(t, ep.DisabledReason)
		require.NoError(t, tn.EnableEndpoint(ctx, id))
		ep, err = tn.GetEndpoint(ctx, id)
		require.NoError(t, err)
		require.False(t, ep.Disabled)
		require.Empty(t, ep.DisabledReason)
	})
	t.Run("delete", func(t *testing.T) {
		id := created[len(created)-1]
		require.NoError(t, tn.DeleteEndpoint(ctx, id))
		_, err := tn.GetEndpoint(ctx, id)
		require.ErrorIs(t, err, webhook.ErrNotFound)
		require.ErrorIs(t, tn.DeleteEndpoint(ctx, id), webhook.ErrNotFound)
	})
}

func TestTenant_isolation(t *testing.T) {
	t.Parallel()
	d, st := newDispatcher(t, nil)
	registerTypes(t, d, "order.created")
	a, b := d.Tenant("tenant-a"), d.Tenant("tenant-b")
	epA, err := a.CreateEndpoint(ctx, webhook.EndpointParams{URL: "https://a.example/"})
	require.NoError(t, err)
	resA, err := a.Publish(ctx, webhook.Event{ID: "shared-id", Type: "order.created", Payload: []byte(`{"for":"a"}`)})
	require.NoError(t, err)
	require.Len(t, resA.Messages, 1)
	msgA := resA.Messages[0].MessageID
	endpoints, messages := count(t, st, "endpoints"), count(t, st, "messages")

	_, err = b.GetEndpoint(ctx, epA.ID)
	require.ErrorIs(t, err, webhook.ErrNotFound)
	_, err = b.UpdateEndpoint(ctx, epA.ID, webhook.EndpointParams{URL: "https://evil.example/"})
	require.ErrorIs(t, err, webhook.ErrNotFound)
	require.ErrorIs(t, b.DisableEndpoint(ctx, epA.ID), webhook.ErrNotFound)
	require.ErrorIs(t, b.EnableEndpoint(ctx, epA.ID), webhook.ErrNotFound)
	require.ErrorIs(t, b.DeleteEndpoint(ctx, epA.ID), webhook.ErrNotFound)
	_, err = b.SendTo(ctx, epA.ID, webhook.Event{Type: "order.created", Payload: []byte(`{}`)})
	require.ErrorIs(t, err, webhook.ErrNotFound)
	_, err = b.GetMessage(ctx, msgA)
	require.ErrorIs(t, err, webhook.ErrNotFound)
	_, err = b.GetEvent(ctx, "shared-id")
	require.ErrorIs(t, err, webhook.ErrNotFound)
	page, err := b.ListEndpoints(ctx, webhook.ListOptions{})
	require.NoError(t, err)
	require.Empty(t, page.Items)
	atts, err := b.ListAttempts(ctx, webhook.AttemptQuery{EndpointID: epA.ID})
	require.NoError(t, err)
	require.Empty(t, atts.Items)

	// B publishing an event reaches none of A's endpoints, even with A's event ID.
	resB, err := b.Publish(ctx, webhook.Event{ID: "shared-id", Type: "order.created", Payload: []byte(`{"for":"b"}`)})
	require.NoError(t, err)
	require.False(t, resB.Duplicate, "another tenant's event ID is not a duplicate")
	require.Empty(t, resB.Messages)

	require.Equal(t, endpoints, count(t, st, "endpoints"))
	require.Equal(t, messages, count(t, st, "messages"))
	ep, err := a.GetEndpoint(ctx, epA.ID)
	require.NoError(t, err)
	require.Equal(t, "https://a.example/", ep.URL)
	require.False(t, ep.Disabled)
}
