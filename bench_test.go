package webhook_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/hooksmith/webhook"
	"github.com/hooksmith/webhook/store"
	"github.com/hooksmith/webhook/store/bolt"
)

// Run with
//
//	go test -run '^$' -bench . -benchmem .

// benchPayload is a 1 KiB JSON event payload.
var benchPayload = append(append([]byte(`{"data":"`), bytes.Repeat([]byte("x"), 1024-11)...), `"}`...)

// newBenchDispatcher opens a bbolt store in b.TempDir and an unstarted
// dispatcher on it, so no delivery runs beside the benchmark. The store
// skips fsync (bolt.Options.NoSync), to isolate what is measured from the
// disk's flush latency: Publish's commit then costs CPU only.
func newBenchDispatcher(b *testing.B, cfg webhook.Config) (*webhook.Dispatcher, *bolt.Store) {
	b.Helper()
	st, err := bolt.Open(filepath.Join(b.TempDir(), "webhook.db"), &bolt.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	cfg.Logger = slog.New(slog.DiscardHandler)
	d, err := webhook.New(st, &cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := d.Close(); err != nil {
			b.Error(err)
		}
		if err := st.Close(); err != nil {
			b.Error(err)
		}
	})
	for _, name := range []string{"order.created", "order.updated", "invoice.paid", "user.signup"} {
		if _, err := d.RegisterEventType(b.Context(), webhook.EventType{Name: name}); err != nil {
			b.Fatal(err)
		}
	}
	return d, st
}

// BenchmarkNewRequest measures building one signed delivery request as a
// worker does before sending it: the stored endpoint's secrets opened, two
// custom headers, the webhook-* headers and a v1 HMAC signature of
// id.timestamp.payload with a whsec_ secret, 1 KiB payload. sealed has
// Config.SecretKeys set, so the secret and the Authorization header are
// opened (AES-GCM) on every request; rotating signs with two secrets.
func BenchmarkNewRequest(b *testing.B) {
	key := webhook.SecretKey{ID: "k1", Key: base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))}
	for _, bc := range []struct {
		name   string
		keys   []webhook.SecretKey
		rotate bool
	}{
		{"whsec", nil, false},
		{"whsec_sealed", []webhook.SecretKey{key}, false},
		{"whsec_rotating", nil, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := b.Context()
			d, st := newBenchDispatcher(b, webhook.Config{SecretKeys: bc.keys})
			tn := d.Tenant("acme")
			ep, err := tn.CreateEndpoint(ctx, webhook.EndpointParams{
				URL:     "https://acme.example/webhooks",
				Headers: map[string]string{"Authorization": "Bearer 0123456789abcdef", "X-Customer": "acme"},
			})
			if err != nil {
				b.Fatal(err)
			}
			if bc.rotate {
				if _, err := tn.RotateSecret(ctx, ep.ID, 0); err != nil {
					b.Fatal(err)
				}
			}
			rec, err := st.EndpointGet(ctx, "acme", ep.ID)
			if err != nil {
				b.Fatal(err)
			}
			ev := &store.Event{Key: "evk_1", TenantID: "acme", ID: "evt_01jd3k8w0c2v4n6r8t0x2z4b6d",
				Type: "order.created", ContentType: "application/json", Payload: benchPayload}
			b.ReportAllocs()
			b.SetBytes(int64(len(benchPayload)))
			for b.Loop() {
				if _, err := webhook.NewRequestForTest(ctx, d, rec, ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// routeEvent is the event the routing benchmarks publish: it matches one
// endpoint in ten of routingEndpoint's.
var routeEvent = webhook.Event{Type: "order.created", Payload: benchPayload,
	Labels: map[string]string{"project_id": "p42", "env": "prod", "region": "eu"}}

// routingEndpoint is the i-th endpoint of a tenant: every tenth matches
// routeEvent (by a type pattern and a label, by an exact type, or by a
// label alone), the others miss by type, by label or by both.
func routingEndpoint(i int) webhook.EndpointParams {
	p := webhook.EndpointParams{URL: fmt.Sprintf("https://customer-%d.example/webhooks", i)}
	if i%10 == 0 {
		switch (i / 10) % 3 {
		case 0:
			p.EventTypes, p.Labels = []string{"order.*"}, map[string]string{"project_id": "p42"}
		case 1:
			p.EventTypes = []string{"order.created"}
		default:
			p.Labels = map[string]string{"env": "prod"}
		}
		return p
	}
	switch i % 3 {
	case 0:
		p.EventTypes = []string{"invoice.*"}
	case 1:
		p.EventTypes, p.Labels = []string{"order.created"}, map[string]string{"project_id": fmt.Sprintf("q%d", i)}
	default:
		p.EventTypes = []string{"user.signup", "invoice.paid", "order.updated"}
		p.Labels = map[string]string{"env": "staging"}
	}
	return p
}

// routingTenant returns a tenant with n routing endpoints on a fresh
// dispatcher, and its store.
func routingTenant(b *testing.B, n int) (*webhook.Tenant, *bolt.Store) {
	b.Helper()
	d, st := newBenchDispatcher(b, webhook.Config{})
	tn := d.Tenant("acme")
	for i := range n {
		if _, err := tn.CreateEndpoint(b.Context(), routingEndpoint(i)); err != nil {
			b.Fatal(err)
		}
	}
	return tn, st
}

// BenchmarkPublish_route measures Tenant.Publish of a 1 KiB event to a
// tenant whose endpoints one in ten match: validation, reading and matching
// every endpoint, and the write of the event and its messages. The store
// skips fsync and the dispatcher is not started (see newBenchDispatcher).
// msgs/op is how many endpoints matched.
func BenchmarkPublish_route(b *testing.B) {
	for _, n := range []int{10, 1000} {
		b.Run(fmt.Sprintf("endpoints=%d", n), func(b *testing.B) {
			ctx := b.Context()
			tn, _ := routingTenant(b, n)
			msgs := 0
			b.ReportAllocs()
			b.SetBytes(int64(len(benchPayload)))
			for b.Loop() {
				res, err := tn.Publish(ctx, routeEvent) // a fresh event ID each time
				if err != nil {
					b.Fatal(err)
				}
				msgs += len(res.Messages)
			}
			b.ReportMetric(float64(msgs)/float64(b.N), "msgs/op")
		})
	}
}

// BenchmarkRoute_match measures the matching alone, in memory: the type
// and label filters of every endpoint of the tenant, as Publish applies
// them to the records it read.
func BenchmarkRoute_match(b *testing.B) {
	for _, n := range []int{10, 1000} {
		b.Run(fmt.Sprintf("endpoints=%d", n), func(b *testing.B) {
			_, st := routingTenant(b, n)
			eps, err := st.EndpointListAll(b.Context(), "acme")
			if err != nil {
				b.Fatal(err)
			}
			matched := 0
			b.ReportAllocs()
			for b.Loop() {
				matched = 0
				for _, ep := range eps {
					if webhook.RoutesForTest(ep, routeEvent.Type, routeEvent.Labels) {
						matched++
					}
				}
			}
			if want := (n + 9) / 10; matched != want {
				b.Fatalf("matched %d endpoints, want %d", matched, want)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/endpoint")
		})
	}
}
