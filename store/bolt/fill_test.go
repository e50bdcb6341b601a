package bolt_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bbolt "go.etcd.io/bbolt"

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
