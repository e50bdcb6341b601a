package storetest

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hooksmith/webhook/store"
)

// Benchmark measures the hot paths of a Store. newStore returns a fresh,
// empty store for each sub-benchmark run and registers its cleanup with
// b.Cleanup.
func Benchmark(b *testing.B, newStore func(b *testing.B) store.Store) {
	payload := make([]byte, 1024)
	for i := range payload {
		payload[i] = byte('a' + i%26)
	}

	// setup returns a store holding tenant A's endpoint ep_0001.
	setup := func(b *testing.B) store.Store {
		b.Helper()
		s := newStore(b)
		if err := s.EndpointCreate(b.Context(), newEndpoint(tenantA, "ep_0001")); err != nil {
			b.Fatal(err)
		}
		return s
	}
	// event returns the i-th benchmark event with one message due at due.
	event := func(i int64, n int, due time.Time) store.EventInsertParams {
		ev, msgs := newEvent(tenantA, fmt.Sprintf("evt_%012d", i), fmt.Sprintf("evk_%012d", i), t0)
		ev.Payload = payload
		for j := range n {
			id := fmt.Sprintf("msg_%012d_%04d", i, j)
			_, m := newEvent(tenantA, ev.ID, ev.Key, t0, msg{id: id, endpoint: "ep_0001", due: due})
			ev.Messages = append(ev.Messages, store.MessageRef{MessageID: id, EndpointID: "ep_0001"})
			msgs = append(msgs, m...)
		}
		return store.EventInsertParams{Event: ev, Messages: msgs, IdempotencyWindow: window, Now: t0}
	}

	b.Run("EventInsert", func(b *testing.B) {
		s := setup(b)
		ctx := b.Context()
		b.ReportAllocs()
		b.SetBytes(int64(len(payload)))
		b.ResetTimer()
		for i := range b.N {
			if _, err := s.EventInsert(ctx, event(int64(i), 1, t0.Add(24*time.Hour))); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("EventInsertParallel", func(b *testing.B) {
		s := setup(b)
		ctx := b.Context()
		var seq atomic.Int64
		b.ReportAllocs()
		b.SetBytes(int64(len(payload)))
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.EventInsert(ctx, event(seq.Add(1), 1, t0.Add(24*time.Hour))); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})

	b.Run("ClaimComplete", func(b *testing.B) {
		s := setup(b)
		ctx := b.Context()
		const batch = 500
		for i := 0; i < b.N; i += batch {
			if _, err := s.EventInsert(ctx, event(int64(i), min(batch, b.N-i), t0)); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			res, err := s.MessageClaim(ctx, store.MessageClaimParams{Now: t0, LeaseUntil: t0.Add(time.Minute), Limit: 1})
			if err != nil {
				b.Fatal(err)
			}
			if len(res.Claims) != 1 {
				b.Fatalf("op %d: claimed %d messages, want 1", i, len(res.Claims))
			}
			c := res.Claims[0]
			err = s.MessageComplete(ctx, store.MessageCompleteParams{
				MessageID:  c.Message.ID,
				LeaseToken: c.Message.LeaseToken,
				Attempt:    newAttempt(fmt.Sprintf("att_%012d", i), c, 1, t0),
				Status:     store.StatusSucceeded,
				Now:        t0,
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}
