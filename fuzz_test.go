package webhook_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"net/url"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"unicode/utf8"

	"github.com/hooksmith/webhook"
	"github.com/hooksmith/webhook/store/bolt"
)

// fuzzDispatcher opens a store and a dispatcher once per fuzz target, in
// f's temp dir, so that each input costs a write and not a file. It is not
// started: nothing is delivered. The event types are registered.
func fuzzDispatcher(f *testing.F, cfg webhook.Config, types ...string) (*webhook.Dispatcher, *bolt.Store) {
	f.Helper()
	st, err := bolt.Open(filepath.Join(f.TempDir(), "fuzz.db"), &bolt.Options{NoSync: true})
	if err != nil {
		f.Fatal(err)
	}
	cfg.Logger = slog.New(slog.DiscardHandler)
	d, err := webhook.New(st, &cfg)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() {
		if err := d.Close(); err != nil {
			f.Error(err)
		}
		if err := st.Close(); err != nil {
			f.Error(err)
		}
	})
	for _, n := range types {
		if _, err := d.RegisterEventType(context.Background(), webhook.EventType{Name: n}); err != nil {
			f.Fatal(err)
		}
	}
	return d, st
}

// fuzzPair returns {k: v}, or nil when both are empty, so that the fuzzer
// explores inputs with and without the map.
func fuzzPair(k, v string) map[string]string {
	if k == "" && v == "" {
		return nil
	}
	return map[string]string{k: v}
}

// fuzzRequireValidation fails unless err is a *ValidationError naming a
// field and matching ErrInvalid.
func fuzzRequireValidation(t *testing.T, err error) {
	t.Helper()
	var ve *webhook.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error is not a *webhook.ValidationError: %T %v", err, err)
	}
	if ve.Field == "" {
		t.Fatalf("ValidationError without a Field: %v", err)
	}
	if !errors.Is(err, webhook.ErrInvalid) {
		t.Fatalf("ValidationError does not match ErrInvalid: %v", err)
	}
}

// fuzzBlockedLiteral reports whether a URL host is a literal address, or a
// name, that the address guard must refuse at creation whatever DNS says.
func fuzzBlockedLiteral(host string) bool {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip, err := netip.ParseAddr(h)
	if err != nil {
		return false
	}
	if ip.Zone() != "" {
		return true
	}
	ip = ip.Unmap()
	return ip.IsLoopback() || ip.IsPrivate() || ip.IsUnspecified() || ip.IsLinkLocalUnicast() ||
		ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() || ip.IsMulticast()
}

func FuzzCreateEndpoint(f *testing.F) {
	type input struct{ url, method, desc, labelK, labelV, headerK, headerV, eventType string }
	for _, in := range []input{
		// Good.
		{"https://hooks.example.com/in", "", "", "", "", "", "", ""},
		{"https://hooks.example.com:8443/in?x=1", "post", "orders", "region", "eu", "X-Api-Key", "k\tv", "order.created"},
		{"http://example.org/", "PATCH", "ünïcode", "ключ", "значение", "Authorization", "Bearer abc", "order.*"},
		{"HTTPS://Example.COM./a%20b", "put", "", "k", "v", "X-A", "", "order.paid"},
		// Bad, one field at a time.
		{"", "", "", "", "", "", "", ""},
		{"ftp://example.com/", "", "", "", "", "", "", ""},
		{"https://user:pw@example.com/", "", "", "", "", "", "", ""},
		{"https://example.com/#frag", "", "", "", "", "", "", ""},
		{"https://example.com:99999/", "", "", "", "", "", "", ""},
		{"https:///nohost", "", "", "", "", "", "", ""},
		{"http://127.0.0.1/", "", "", "", "", "", "", ""},
		{"http://[::ffff:169.254.169.254]/latest/meta-data", "", "", "", "", "", "", ""},
		{"http://localhost./", "", "", "", "", "", "", ""},
		{"http://0x7f.1/", "", "", "", "", "", "", ""},
		{"https://example.com/", "GET", "", "", "", "", "", ""},
		{"https://example.com/", "", "\xff", "", "", "", "", ""},
		{"https://example.com/", "", "", "", "v", "", "", ""},
		{"https://example.com/", "", "", "k", "", "", "", ""},
		{"https://example.com/", "", "", "k", "\xc3\x28", "", "", ""},
		{"https://example.com/", "", "", "", "", "Content-Type", "text/plain", ""},
		{"https://example.com/", "", "", "", "", "webhook-id", "x", ""},
		{"https://example.com/", "", "", "", "", "X-Bad Name", "v", ""},
		{"https://example.com/", "", "", "", "", "X-Inject", "a\r\nHost: evil", ""},
		{"https://example.com/", "", "", "", "", "X-Del", "a\x7fb", ""},
		{"https://example.com/", "", "", "", "", "", "", "order.deleted"},
		{"https://example.com/", "", "", "", "", "", "", "order..created"},
		{"https://example.com/", "", "", "", "", "", "", ".*"},
	} {
		f.Add(in.url, in.method, in.desc, in.labelK, in.labelV, in.headerK, in.headerV, in.eventType)
	}
	d, _ := fuzzDispatcher(f, webhook.Config{AllowInsecureURLs: true}, "order.created", "order.paid")
	tn := d.Tenant("fuzz-tenant")

	f.Fuzz(func(t *testing.T, rawURL, method, desc, labelK, labelV, headerK, headerV, eventType string) {
		ctx := context.Background()
		p := webhook.EndpointParams{URL: rawURL, Method: method, Description: desc,
			Labels: fuzzPair(labelK, labelV), Headers: fuzzPair(headerK, headerV)}
		if eventType != "" {
			p.EventTypes = []string{eventType}
		}
		ep, err := tn.CreateEndpoint(ctx, p)
		if err != nil {
			fuzzRequireValidation(t, err)
			if ep != nil {
				t.Fatalf("an endpoint came back with error %v", err)
			}
			return
		}

		// The returned endpoint is the input, normalized.
		want := p
		if want.Method = strings.ToUpper(method); want.Method == "" {
			want.Method = "POST"
		}
		if !reflect.DeepEqual(want, ep.EndpointParams) {
			t.Fatalf("CreateEndpoint returned params\n%#v\nfor input\n%#v", ep.EndpointParams, want)
		}
		// What is stored reads back the same.
		got, err := tn.GetEndpoint(ctx, ep.ID)
		if err != nil {
			t.Fatalf("GetEndpoint(%s) after create: %v", ep.ID, err)
		}
		if !reflect.DeepEqual(ep.EndpointParams, got.EndpointParams) {
			t.Fatalf("stored params do not round-trip:\ncreated %#v\nstored  %#v", ep.EndpointParams, got.EndpointParams)
		}
		if got.Secret() != ep.Secret() || !strings.HasPrefix(ep.Secret(), "whsec_") {
			t.Fatalf("secret: created %d bytes, stored %d bytes, want the same whsec_ secret", len(ep.Secret()), len(got.Secret()))
		}

		// The URL is one a delivery can be made to.
		u, err := url.Parse(got.URL)
		if err != nil {
			t.Fatalf("stored URL %q does not parse: %v", got.URL, err)
		}
		if u.Scheme != "https" && u.Scheme != "http" {
			t.Fatalf("stored URL %q has scheme %q", got.URL, u.Scheme)
		}
		if u.Hostname() == "" || u.User != nil || u.Fragment != "" {
			t.Fatalf("stored URL %q has no host, or credentials, or a fragment", got.URL)
		}
		if port := u.Port(); port != "" {
			if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
				t.Fatalf("stored URL %q has port %q, which no connection can use", got.URL, port)
			}
		}
		if fuzzBlockedLiteral(u.Hostname()) {
			t.Fatalf("stored URL %q names a blocked destination %q", got.URL, u.Hostname())
		}
		switch got.Method {
		case "POST", "PUT", "PATCH":
		default:
			t.Fatalf("stored method %q", got.Method)
		}
		if len(got.Description) > webhook.MaxDescriptionLength || !utf8.ValidString(got.Description) {
			t.Fatalf("stored description %q", got.Description)
		}

		for name, v := range got.Headers {
			lower := strings.ToLower(name)
			if lower == "content-type" || lower == "host" || strings.HasPrefix(lower, "webhook-") {
				t.Fatalf("stored header %q overrides one the library sets", name)
			}
			for i := 0; i < len(v); i++ {
				if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
					t.Fatalf("stored header %q has control character %#x in %q", name, c, v)
				}
			}
			for i := 0; i < len(name); i++ {
				if c := name[i]; c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
					t.Fatalf("stored header name %q is not a token", name)
				}
			}
		}
		for k, v := range got.Labels {
			if k == "" || v == "" || !utf8.ValidString(k) || !utf8.ValidString(v) {
				t.Fatalf("stored label %q=%q is empty or not UTF-8", k, v)
			}
		}
		for _, et := range got.EventTypes {
			if et == "" || strings.Contains(strings.TrimSuffix(et, ".*"), "*") {
				t.Fatalf("stored event-type filter %q", et)
			}
		}

		// Printing never shows the secret.
		secret := ep.Secret()
		for _, s := range []string{fmt.Sprintf("%v", ep), fmt.Sprintf("%+v", ep), fmt.Sprintf("%#v", ep),
			fmt.Sprintf("%v", *ep), fmt.Sprintf("%s", ep), fmt.Sprint(got)} {
			if strings.Contains(s, secret) {
				t.Fatalf("formatting the endpoint printed its secret: %s", s)
			}
		}
	})
}

func FuzzPublishValidation(f *testing.F) {
	type input struct {
		id, typ string
		payload []byte
		ct      string
		labelK  string
		labelV  string
	}
	for _, in := range []input{
		// Good.
		{"", "order.created", []byte(`{"id":1}`), "", "", ""},
		{"evt-1", "order.created", []byte(`{}`), "application/json", "region", "eu"},
		{"a.b:c-d_e", "order.paid", []byte("plain text"), "text/plain; charset=utf-8", "ключ", "значение"},
		{"evt-2", "order.created", []byte("<x/>"), `application/xml; profile="urn:é"; q="a\"b"`, "k", "v"},
		{"evt-1", "order.created", []byte(`{"again":true}`), "", "", ""},
		// Bad.
		{"has space", "order.created", []byte(`{}`), "", "", ""},
		{strings.Repeat("x", 129), "order.created", []byte(`{}`), "", "", ""},
		{"", "order..created", []byte(`{}`), "", "", ""},
		{"", "order.deleted", []byte(`{}`), "", "", ""},
		{"", "old.type", []byte(`{}`), "", "", ""},
		{"", "order.created", nil, "", "", ""},
		{"", "order.created", make([]byte, 4097), "", "", ""},
		{"", "order.created", []byte(`{}`), "not a type", "", ""},
		{"", "order.created", []byte(`{}`), "text/plain; x=\"a\x01b\"", "", ""},
		{"", "order.created", []byte(`{}`), "text/plain\r\nX-Injected: 1", "", ""},
		{"", "order.created", []byte(`{}`), "", "", "v"},
		{"", "order.created", []byte(`{}`), "", "k", ""},
		{"", "order.created", []byte(`{}`), "", "k", "\xc3\x28"},
	} {
		f.Add(in.id, in.typ, in.payload, in.ct, in.labelK, in.labelV)
	}
	// A small payload limit lets the fuzzer reach ErrPayloadTooLarge.
	d, st := fuzzDispatcher(f, webhook.Config{MaxPayloadSize: 4096, AllowInsecureURLs: true}, "order.created", "order.paid", "old.type")
	if err := d.ArchiveEventType(context.Background(), "old.type"); err != nil {
		f.Fatal(err)
	}
	// Each input publishes as a tenant of its own, which has no endpoints
	// (nothing is ever routed) and no earlier events: the outcome does not
	// depend on what the fuzzer ran before.
	var tenants atomic.Int64

	f.Fuzz(func(t *testing.T, id, typ string, payload []byte, contentType, labelK, labelV string) {
		ctx := context.Background()
		tn := d.Tenant("fuzz-" + strconv.FormatInt(tenants.Add(1), 10))
		labels := fuzzPair(labelK, labelV)
		ev := webhook.Event{ID: id, Type: typ, Payload: payload, ContentType: contentType, Labels: maps.Clone(labels)}
		before := count(t, st, "events")
		res, err := tn.Publish(ctx, ev)
		after := count(t, st, "events")
		if err != nil {
			var ve *webhook.ValidationError
			switch {
			case errors.As(err, &ve):
				fuzzRequireValidation(t, err)
				if errors.Is(err, webhook.ErrPayloadTooLarge) && len(payload) <= 4096 {
					t.Fatalf("payload of %d bytes: %v", len(payload), err)
				}
			case errors.Is(err, webhook.ErrUnknownEventType), errors.Is(err, webhook.ErrEventTypeArchived):
			default:
				t.Fatalf("untyped error: %T %v", err, err)
			}
			if after != before {
				t.Fatalf("a refused publish (%v) wrote %d events", err, after-before)
			}
			if res != nil {
				t.Fatalf("a result came back with error %v", err)
			}
			return
		}

		if len(res.Messages) != 0 {
			t.Fatalf("routed to %v on a tenant without endpoints", res.Messages)
		}
		if typ != "order.created" && typ != "order.paid" {
			t.Fatalf("published type %q, which is unregistered or archived", typ)
		}
		if len(id) > webhook.MaxIDLength {
			t.Fatalf("published an event ID of %d bytes", len(id))
		}
		for i := 0; i < len(id); i++ {
			if c := id[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("._:-", c) >= 0) {
				t.Fatalf("published event ID %q, which has %q", id, c)
			}
		}
		for k, v := range labels {
			if k == "" || v == "" || !utf8.ValidString(k) || !utf8.ValidString(v) {
				t.Fatalf("published label %q=%q, empty or not UTF-8", k, v)
			}
		}
		if id != "" && res.EventID != id {
			t.Fatalf("published %q, result names %q", id, res.EventID)
		}
		if res.Duplicate {
			t.Fatalf("the first publish of a fresh tenant is a duplicate: %+v", res)
		}
		if len(payload) == 0 || len(payload) > 4096 {
			t.Fatalf("published a payload of %d bytes; the limit is 4096 and it is required", len(payload))
		}
		if after != before+1 {
			t.Fatalf("a publish wrote %d events, want 1", after-before)
		}
		got, err := tn.GetEvent(ctx, res.EventID)
		if err != nil {
			t.Fatalf("GetEvent(%q) after publish: %v", res.EventID, err)
		}
		wantCT := contentType
		if wantCT == "" {
			wantCT = "application/json"
		}
		if got.Type != typ || string(got.Payload) != string(payload) || got.ContentType != wantCT ||
			!maps.Equal(got.Labels, labels) {
			t.Fatalf("stored event does not round-trip:\npublished type=%q ct=%q labels=%q payload=%q\nstored    type=%q ct=%q labels=%q payload=%q",
				typ, wantCT, labels, payload, got.Type, got.ContentType, got.Labels, got.Payload)
		}
		for i := 0; i < len(got.ContentType); i++ {
			if c := got.ContentType[i]; c < ' ' && c != '\t' || c == 0x7f {
				t.Fatalf("stored content type %q has control character %#x", got.ContentType, c)
			}
		}

		// Publishing the same ID again is a duplicate and writes nothing.
		again, err := tn.Publish(ctx, webhook.Event{ID: res.EventID, Type: typ, Payload: payload, ContentType: contentType})
		if err != nil {
			t.Fatalf("republishing %q: %v", res.EventID, err)
		}
		if !again.Duplicate || again.EventID != res.EventID {
			t.Fatalf("republishing %q: %+v, want a duplicate", res.EventID, again)
		}
		if n := count(t, st, "events"); n != after {
			t.Fatalf("a duplicate publish wrote %d events", n-after)
		}
	})
}
