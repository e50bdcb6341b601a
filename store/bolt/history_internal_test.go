package bolt

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bbolt "go.etcd.io/bbolt"

	"github.com/hooksmith/webhook/store"
)

// recordStats edits a rollup's encoding instead of decoding it; what it
// writes must decode to the counts and latencies added, and an hour whose
// record is corrupt starts again from the attempt being recorded.
func TestRecordStats_counts_and_restarts_a_corrupt_hour(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "stats.db"), &Options{IndexInterval: -1})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	hour := time.Date(2026, 11, 24, 13, 0, 0, 0, time.UTC)
	attempt := func(status int, d time.Duration) *store.Attempt {
		a := &store.Attempt{TenantID: "acme", EndpointID: "ep_1", StatusCode: status, Duration: d, StartedAt: hour.Add(d)}
		if status == 0 {
			a.ErrorClass = store.ErrorTimeout
		}
		return a
	}
	key := append(tenantPrefix("ep_1"), timeKey(hour, "")...)
	record := func(as ...*store.Attempt) rollup {
		t.Helper()
		var r rollup
		require.NoError(t, s.DB().Update(func(tx *bbolt.Tx) error {
			for _, a := range as {
				if err := recordStats(newQtx(tx), a); err != nil {
					return err
				}
			}
			var err error
			r, err = decodeRollup(tx.Bucket(bucketStats).Get(key))
			return err
		}))
		return r
	}

	var want store.Histogram
	var as []*store.Attempt
	for i, d := range []time.Duration{3 * time.Millisecond, 40 * time.Microsecond, 3 * time.Millisecond, 2 * time.Second, 10 * time.Microsecond} {
		status := 200
		if i == 1 {
			status = 503
		} else if i == 3 {
			status = 0
		}
		as = append(as, attempt(status, d))
		want.Add(d)
	}
	r := record(as...)
	require.Equal(t, [3]uint64{5, 3, 2}, [3]uint64{r.attempts, r.successes, r.failures})
	wantEnc, _ := want.MarshalBinary()
	gotEnc, _ := r.latency.MarshalBinary()
	require.Equal(t, wantEnc, gotEnc)

	require.NoError(t, s.DB().Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketStats).Put(key, []byte{0x05, 0x01, 0x00, 0x03, 0x01, 0x02, 0x01}) // histogram out of order
	}))
	r = record(attempt(200, time.Millisecond))
	require.Equal(t, [3]uint64{1, 1, 0}, [3]uint64{r.attempts, r.successes, r.failures})
	require.EqualValues(t, 1, r.latency.Count())
	require.Equal(t, 1008*time.Microsecond, r.latency.Quantile(1))
}
