package bolt_test

import (
	"bytes"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hooksmith/webhook/internal/ids"
	"github.com/hooksmith/webhook/store"
	"github.com/hooksmith/webhook/store/bolt"
)

// Run with
//
//	go test -run '^$' -bench '^Benchmark(ClaimComplete|EventInsert)$' -benchmem ./store/bolt/

// benchPayload is a 1 KiB JSON event payload.
var benchPayload = append(append([]byte(`{"data":"`), bytes.Repeat([]byte("x"), 1024-11)...), `"}`...)

// benchEndpoints is how many endpoints the claim benchmark spreads its
// messages over: at the dispatcher's default in-flight cap of 8, 16
// endpoints let one claim fill a batch of 64.
const (
	benchEndpoints   = 16
	benchMaxInFlight = 8
	benchBatch       = 64
)

// BenchmarkClaimComplete measures the store's side of one delivery, as the
// dispatcher drives it: claim a batch of up to 64 due messages (cap 8 per
// endpoint, 16 endpoints), then complete each with its attempt record (6
// request headers, 2 response headers, a small body). One op is one message,
// so ns/op and allocs/op are per message. Each message is its own event,
// so the claim decodes one event per message, the worst case.
//
// serial completes the batch one message after another, one commit each;
// workers completes it from one goroutine per message, as the dispatcher's
// workers do, so completions share commits (group commit).
func BenchmarkClaimComplete(b *testing.B) {
	for _, disk := range []struct {
		name   string
		noSync bool
	}{{"fsync", false}, {"nosync", true}} {
		for _, mode := range []struct {
			name    string
			workers bool
		}{{"serial", false}, {"workers", true}} {
			b.Run(disk.name+"/"+mode.name, func(b *testing.B) {
				benchClaimComplete(b, disk.noSync, mode.workers)
			})
		}
	}
}

func benchClaimComplete(b *testing.B, noSync, workers bool) {
	s := seededStore(b, b.N, noSync)
	ctx := b.Context()
	now := t0.Add(time.Minute)
	reqHeaders := map[string][]string{
		"Content-Type": {"application/json"}, "User-Agent": {"hooksmith-webhook/1"},
		"Webhook-Id": {"evt_01jd3k8w0c2v4n6r8t0x2z4b6d"}, "Webhook-Timestamp": {"1767225600"},
		"Webhook-Signature": {"v1,dJ+qJTnpv09QmXc2dm0i4lYkq1QWm0Oa3iBQxL4kp8c="}, "Authorization": {"[redacted]"},
	}
	resHeaders := map[string][]string{"Content-Type": {"application/json"}, "Date": {"Thu, 01 Jan 2026 00:01:00 GMT"}}
	complete := func(c store.Claim) error {
		msg := c.Message
		return s.MessageComplete(ctx, store.MessageCompleteParams{
			MessageID: msg.ID, LeaseToken: msg.LeaseToken, Status: store.StatusSucceeded, Now: now,
			Attempt: &store.Attempt{
				ID: ids.New("att"), TenantID: msg.TenantID, MessageID: msg.ID, EndpointID: msg.EndpointID,
				EventID: msg.EventID, Number: msg.Attempts + 1, Trigger: store.TriggerScheduled,
				StartedAt: now, Duration: 42 * time.Millisecond, URL: c.Endpoint.URL,
				RequestHeaders: reqHeaders, StatusCode: 200, ResponseHeaders: resHeaders,
				ResponseBody: []byte(`{"ok":true}`),
			},
		})
	}
	w0 := s.Stats()
	claims := 0
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		res, err := s.MessageClaim(ctx, store.MessageClaimParams{Now: now, LeaseUntil: now.Add(45 * time.Second),
			Limit: benchBatch, DefaultMaxInFlight: benchMaxInFlight})
		if err != nil {
			b.Fatal(err)
		}
		if len(res.Claims) == 0 {
			b.Fatalf("claimed nothing after %d of %d messages", done, b.N)
		}
		claims++
		done += len(res.Claims)
		if !workers {
			for _, c := range res.Claims {
				if err := complete(c); err != nil {
					b.Fatal(err)
				}
			}
			continue
		}
		var wg sync.WaitGroup
		for _, c := range res.Claims {
			wg.Go(func() {
				if err := complete(c); err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
	}
	b.StopTimer()
	w := s.Stats()
	b.ReportMetric(float64(b.N)/float64(claims), "msgs/claim")
	b.ReportMetric(float64(w.Writes-w0.Writes)/float64(w.Commits-w0.Commits), "writes/commit")
}

// seededStore returns a store holding n messages due at t0, each of its
// own event (1 KiB payload), spread over benchEndpoints endpoints of one
// tenant. It seeds without fsync, from many goroutines so the writes share
// commits, then reopens the file with fsync unless noSync.
func seededStore(b *testing.B, n int, noSync bool) *bolt.Store {
	b.Helper()
	// Leave the seeding out of -memprofile, which would otherwise show
	// these writes beside the claims and completions measured.
	defer func(rate int) { runtime.MemProfileRate = rate }(runtime.MemProfileRate)
	runtime.MemProfileRate = 0
	path := filepath.Join(b.TempDir(), "webhook.db")
	s, err := bolt.Open(path, &bolt.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	for i := range benchEndpoints {
		if err := s.EndpointCreate(ctx, benchEndpoint(i)); err != nil {
			b.Fatal(err)
		}
	}
	var (
		next  atomic.Int64
		wg    sync.WaitGroup
		first atomic.Value
	)
	for range 64 {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(n); i = next.Add(1) - 1 {
				p := benchEvent(fmt.Sprintf("ep_%02d", i%benchEndpoints), t0)
				if _, err := s.EventInsert(ctx, p); err != nil {
					first.CompareAndSwap(nil, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err, _ := first.Load().(error); err != nil {
		b.Fatal(err)
	}
	if !noSync {
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		if s, err = bolt.Open(path, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkEventInsert measures Publish's write: one event with one
// message, 1 KiB payload, fsync on, from concurrent goroutines, so writes
// queued during a commit share the next one. events/s is the throughput,
// writes/commit how many writes each fsync served.
func BenchmarkEventInsert(b *testing.B) {
	for _, p := range []int{1, 8, 32} {
		b.Run(fmt.Sprintf("goroutines=%d", p*runtime.GOMAXPROCS(0)), func(b *testing.B) {
			ctx := b.Context()
			s := openTest(b) // fsync on every commit
			if err := s.EndpointCreate(ctx, benchEndpoint(0)); err != nil {
				b.Fatal(err)
			}
			w0 := s.Stats()
			b.SetParallelism(p)
			b.SetBytes(int64(len(benchPayload)))
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := s.EventInsert(ctx, benchEvent("ep_00", time.Now().UTC())); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			w := s.Stats()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(w.Writes-w0.Writes)/float64(w.Commits-w0.Commits), "writes/commit")
		})
	}
}

func benchEndpoint(i int) *store.Endpoint {
	return &store.Endpoint{ID: fmt.Sprintf("ep_%02d", i), TenantID: "acme",
		URL: fmt.Sprintf("https://customer-%02d.example/webhooks", i), Method: "POST", Enabled: true,
		Secrets: []store.Secret{{Value: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", CreatedAt: t0}}, CreatedAt: t0, UpdatedAt: t0}
}

// benchEvent is what Publish writes for an event routed to one endpoint.
func benchEvent(endpointID string, now time.Time) store.EventInsertParams {
	ev := &store.Event{Key: ids.New("evk"), TenantID: "acme", ID: ids.New("evt"), Type: "order.created",
		ContentType: "application/json", Labels: map[string]string{"project_id": "42"},
		OccurredAt: now, CreatedAt: now, Payload: benchPayload}
	m := &store.Message{ID: ids.New("msg"), TenantID: "acme", EndpointID: endpointID, EventID: ev.ID,
		EventKey: ev.Key, Status: store.StatusPending, NextAttemptAt: now, CreatedAt: now, UpdatedAt: now}
	ev.Messages = []store.MessageRef{{MessageID: m.ID, EndpointID: endpointID}}
	return store.EventInsertParams{Event: ev, Messages: []*store.Message{m}, IdempotencyWindow: 24 * time.Hour, Now: now}
}
