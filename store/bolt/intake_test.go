package bolt_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bbolt "go.etcd.io/bbolt"

	"github.com/hooksmith/webhook/store"
	"github.com/hooksmith/webhook/store/bolt"
)

// A publish leaves its messages in the intake; claims queue them, a bounded
// number per claim. A backlog larger than one claim queues is still
// claimed whole, each message once and in publish order, and the first
// claim says to come back at once.
func TestIntake_a_backlog_larger_than_one_claim_queues_is_claimed_in_order(t *testing.T) {
	t.Parallel()
	s, err := bolt.Open(filepath.Join(t.TempDir(), "webhook.db"), &bolt.Options{NoSync: true})
	require.NoError(t, err)
	defer s.Close()
	msgs := seed(t, s, "acme", "ep_1", "evk_1", 5000)

	var got []string
	for calls := 0; len(got) < len(msgs); calls++ {
		require.Less(t, calls, 5, "claims made no progress")
		res, err := s.MessageClaim(ctx, store.MessageClaimParams{Now: t0, LeaseUntil: t0.Add(time.Minute), Limit: 10000})
		require.NoError(t, err)
		if calls == 0 {
			require.Less(t, len(res.Claims), len(msgs), "one claim queues a bounded number")
			require.False(t, res.NextDue.After(t0), "more wait in the intake: claim again now")
		}
		for _, c := range res.Claims {
			got = append(got, c.Message.ID)
		}
	}
	require.Len(t, got, len(msgs))
	for i, m := range msgs {
		require.Equal(t, m.ID, got[i], "claim %d", i)
	}
	res, err := s.MessageClaim(ctx, store.MessageClaimParams{Now: t0, LeaseUntil: t0.Add(time.Minute), Limit: 10})
	require.NoError(t, err)
	require.Empty(t, res.Claims)
}

func TestIntake_survives_a_reopen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "webhook.db")
	s, err := bolt.Open(path, nil)
	require.NoError(t, err)
	msgs := seed(t, s, "acme", "ep_1", "evk_1", 10)
	require.NoError(t, s.Close())

	s, err = bolt.Open(path, nil)
	require.NoError(t, err)
	defer s.Close()
	res, err := s.MessageClaim(ctx, store.MessageClaimParams{Now: t0, LeaseUntil: t0.Add(time.Minute), Limit: 100})
	require.NoError(t, err)
	require.Len(t, res.Claims, len(msgs))
}

// Version 3 files had no intake; Open adds it and marks the file 4.
func TestOpen_upgrades_a_version_3_file(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "v3.db")
	db, err := bbolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucket([]byte("meta"))
		if err != nil {
			return err
		}
		return b.Put([]byte("format"), []byte("3"))
	}))
	require.NoError(t, db.Close())
	s, err := bolt.Open(path, nil)
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.DB().View(func(tx *bbolt.Tx) error {
		require.Equal(t, "4", string(tx.Bucket([]byte("meta")).Get([]byte("format"))))
		require.NotNil(t, tx.Bucket([]byte("intake")))
		return nil
	}))
}
