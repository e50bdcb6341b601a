package bolt_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bbolt "go.etcd.io/bbolt"

	"github.com/hooksmith/webhook/internal/ids"
	"github.com/hooksmith/webhook/store"
	"github.com/hooksmith/webhook/store/bolt"
)

// Records whose keys only grow are packed into their pages: bbolt's
// default split leaves such pages half empty, so every commit would write
// about twice the pages its records need.
func TestAppended_records_fill_their_pages(t *testing.T) {
	t.Parallel()
	s, err := bolt.Open(filepath.Join(t.TempDir(), "webhook.db"), &bolt.Options{NoSync: true})
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.EndpointCreate(ctx, benchEndpoint(0)))
	for range 2000 {
		_, err := s.EventInsert(ctx, benchEvent("ep_00", time.Now().UTC()))
		require.NoError(t, err)
	}
	db := s.DB()
	require.NoError(t, db.View(func(tx *bbolt.Tx) error {
		for _, b := range []struct {
			name string
			min  float64
		}{{"intake", 0.85}, {"messages", 0.75}} {
			st := tx.Bucket([]byte(b.name)).Stats()
			fill := float64(st.LeafInuse) / float64(st.LeafPageN*db.Info().PageSize)
			t.Logf("%s: %d leaf pages, %.0f%% full", b.name, st.LeafPageN, 100*fill)
			require.Greater(t, fill, b.min, "%s pages are %.0f%% full", b.name, 100*fill)
		}
		return nil
	}))
}

// The indexes whose entries arrive in key order under their tenant,
// endpoint or message are packed too, though each indexer pass adds to
// every tenant's part of them, in the middle of the bucket. Split at half,
// their pages were 49 to 53% full here; packed, each part still ends in a
// page being filled, a larger share of so small a file than of a real one.
func TestIndexes_in_time_order_fill_their_pages(t *testing.T) {
	t.Parallel()
	s := openTestWith(t, &bolt.Options{NoSync: true, IndexInterval: -1})
	const tenants, perRound = 8, 6
	for i := range tenants {
		ep := benchEndpoint(i)
		ep.TenantID = fmt.Sprintf("tenant-%d", i)
		require.NoError(t, s.EndpointCreate(ctx, ep))
	}
	for round := range 40 {
		now := t0.Add(time.Duration(round) * time.Second)
		for range perRound {
			for i := range tenants {
				p := benchEvent(fmt.Sprintf("ep_%02d", i), now)
				p.Event.TenantID, p.Messages[0].TenantID = fmt.Sprintf("tenant-%d", i), fmt.Sprintf("tenant-%d", i)
				_, err := s.EventInsert(ctx, p)
				require.NoError(t, err)
			}
		}
		res, err := s.MessageClaim(ctx, store.MessageClaimParams{Now: now, LeaseUntil: now.Add(time.Minute), Limit: tenants * perRound})
		require.NoError(t, err)
		require.Len(t, res.Claims, tenants*perRound)
		for _, c := range res.Claims {
			require.NoError(t, complete(s, c.Message, ids.New("att"), now))
		}
		s.DB() // one indexer pass: a few entries for each tenant and endpoint
	}
	db := s.DB()
	require.NoError(t, db.View(func(tx *bbolt.Tx) error {
		for _, name := range []string{"tenant_events", "endpoint_messages", "attempts_by_tenant", "attempts_by_class",
			"attempts_by_endpoint", "attempts_by_message"} {
			st := tx.Bucket([]byte(name)).Stats()
			require.Equal(t, 40*tenants*perRound, st.KeyN, name)
			fill := float64(st.LeafInuse) / float64(st.LeafPageN*db.Info().PageSize)
			t.Logf("%s: %d leaf pages, %.0f%% full", name, st.LeafPageN, 100*fill)
			require.Greater(t, fill, 0.65, "%s pages are %.0f%% full", name, 100*fill)
		}
		return nil
	}))
}
