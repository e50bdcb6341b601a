package bolt

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/hooksmith/webhook/store"
)

// BenchmarkHistory measures the delivery-log queries on a store holding a
// million attempts of one tenant: 100 endpoints, 500,000 messages, attempts
// spread over 30 days, 90% 2xx, 8% 5xx, 2% without a response. Building
// the store takes a minute or two; run it with
//
//	go test -run '^$' -bench History -benchtime 200x ./store/bolt/
//
// HISTORY_ATTEMPTS changes the size.
func BenchmarkHistory(b *testing.B) {
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("HISTORY_ATTEMPTS")); err == nil && v > 0 {
		n = v
	}
	s, end := buildHistory(b, n)
	ctx := context.Background()
	day := 24 * time.Hour
	ep := "ep_0042"
	list := func(name string, p store.AttemptListParams) {
		b.Run(name, func(b *testing.B) {
			var got int
			for b.Loop() {
				page, err := s.AttemptList(ctx, "acme", p)
				if err != nil {
					b.Fatal(err)
				}
				got = len(page.Attempts)
			}
			b.ReportMetric(float64(got), "rows/op")
		})
	}
	list("list/tenant/first_page_100", store.AttemptListParams{Limit: 100})
	list("list/endpoint/first_page_100", store.AttemptListParams{EndpointID: ep, Limit: 100})
	list("list/event/one_event", store.AttemptListParams{EventID: "evt_0250000"})
	list("list/class_5xx/first_page_100", store.AttemptListParams{StatusClass: store.Class5xx, Limit: 100})
	list("list/endpoint+5xx/first_page_100", store.AttemptListParams{EndpointID: ep, StatusClass: store.Class5xx, Limit: 100})
	list("list/time_range_1h_15_days_ago/page_100", store.AttemptListParams{
		Since: end.Add(-15 * day), Until: end.Add(-15*day + time.Hour), Limit: 100})
	list("list/message_status_exhausted/page_100", store.AttemptListParams{MessageStatus: store.StatusExhausted, Limit: 100})
	list("list/endpoint+exhausted/page_100", store.AttemptListParams{EndpointID: ep, MessageStatus: store.StatusExhausted, Limit: 100})
	list("list/tenant/page_1000_with_bodies", store.AttemptListParams{Limit: 1000, WithBodies: true})
	stats := func(name string, span time.Duration) {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, err := s.EndpointStats(ctx, store.EndpointStatsParams{
					TenantID: "acme", EndpointID: ep, Since: end.Add(-span), Until: end}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	stats("stats/endpoint/24h", day)
	stats("stats/endpoint/30d", 30*day)
}

// buildHistory writes n attempts directly, in large transactions, and
// returns the store and the time of the newest attempt.
func buildHistory(b *testing.B, n int) (*Store, time.Time) {
	b.Helper()
	s, err := Open(filepath.Join(b.TempDir(), "history.db"), &Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	rng := rand.New(rand.NewPCG(7, 9))
	end := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	span := 30 * 24 * time.Hour
	const endpoints = 100
	err = s.db.Update(func(tx *bbolt.Tx) error {
		for i := range endpoints {
			id := fmt.Sprintf("ep_%04d", i)
			if err := putRecord(tx.Bucket(bucketEndpoints), tenantKey("acme", id), &store.Endpoint{ID: id, TenantID: "acme", Enabled: true}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	headers := map[string][]string{
		"Content-Type": {"application/json"}, "User-Agent": {"hooksmith-webhook/1"},
		"Webhook-Id": {"evt_0000000"}, "Webhook-Timestamp": {"1795474817"},
		"Webhook-Signature": {"v1,dJ+qJTnpv09QmXc2dm0i4lYkq1QWm0Oa3iBQxL4kp8c="}, "Authorization": {"[redacted]"},
	}
	const batch = 20000
	for start := 0; start < n; start += batch {
		err := s.db.Update(func(tx *bbolt.Tx) error {
			var ix indexEntries
			for i := start; i < min(start+batch, n); i++ {
				msg := i / 2 // two attempts per message
				ep := fmt.Sprintf("ep_%04d", msg%endpoints)
				at := end.Add(-span + time.Duration(float64(span)*float64(i)/float64(n)))
				a := &store.Attempt{
					ID: fmt.Sprintf("att_%08d", i), TenantID: "acme", MessageID: fmt.Sprintf("msg_%07d", msg),
					EndpointID: ep, EventID: fmt.Sprintf("evt_%07d", msg), Number: i%2 + 1,
					Trigger: store.TriggerScheduled, StartedAt: at, Duration: time.Duration(rng.ExpFloat64() * float64(80*time.Millisecond)),
					URL: "https://customer.example/hooks", RequestHeaders: headers,
				}
				switch r := rng.IntN(100); {
				case r < 90:
					a.StatusCode, a.ResponseBody = 200, []byte(`{"ok":true}`)
				case r < 98:
					a.StatusCode, a.ErrorClass, a.Error = 503, store.ErrorHTTPStatus, "HTTP 503"
					a.ResponseBody = []byte(`{"error":"unavailable"}`)
				default:
					a.ErrorClass, a.Error = store.ErrorTimeout, "context deadline exceeded"
				}
				enc, err := encodeAttempt(a)
				if err != nil {
					return err
				}
				if err := putAttempt(tx, &ix, encodedAttempt{a: a, meta: enc}); err != nil {
					return err
				}
				if err := recordStats(newQtx(tx), a); err != nil {
					return err
				}
				if i%2 == 1 {
					status := store.StatusSucceeded
					if msg%1000 == 0 { // one message in a thousand is exhausted
						status = store.StatusExhausted
					}
					if err := putRecord(tx.Bucket(bucketMessages), []byte(a.MessageID), &store.Message{
						ID: a.MessageID, TenantID: "acme", EndpointID: ep, EventID: a.EventID,
						Status: status, Attempts: 2, CreatedAt: at, UpdatedAt: at,
					}); err != nil {
						return err
					}
				}
			}
			if err := ix.write(tx, nil); err != nil {
				return err
			}
			return s.indexed(tx)
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return s, end
}
