package store

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestHistogram_quantiles_within_3_percent(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h Histogram
	var all []time.Duration
	for range 100000 {
		// Log-uniform from 1µs to 100s.
		d := time.Duration(math.Exp(rng.Float64()*math.Log(1e8))) * time.Microsecond
		h.Add(d)
		all = append(all, d)
	}
	slices.Sort(all)
	for _, q := range []float64{0.5, 0.95, 0.99, 0.999} {
		want := all[int(q*float64(len(all)))-1]
		got := h.Quantile(q)
		require.InEpsilon(t, float64(want), float64(got), 0.035, "q=%v want %v got %v", q, want, got)
	}
	require.EqualValues(t, 100000, h.Count())
}

func TestHistogram_small_values_are_exact_and_empty_is_zero(t *testing.T) {
	var h Histogram
	require.Zero(t, h.Quantile(0.5))
	for _, us := range []int{0, 1, 2, 3, 31} {
		h.Add(time.Duration(us) * time.Microsecond)
	}
	h.Add(-time.Second)
	require.Equal(t, time.Duration(0), h.Quantile(0.01))
	require.Equal(t, 31*time.Microsecond, h.Quantile(1))
	require.Equal(t, 2*time.Microsecond, h.Quantile(0.6))
}

func TestHistogram_merge_and_binary_round_trip(t *testing.T) {
	var a, b Histogram
	for i := range 1000 {
		a.Add(time.Duration(i) * time.Millisecond)
		b.Add(time.Duration(i) * time.Second)
	}
	enc, err := a.MarshalBinary()
	require.NoError(t, err)
	var back Histogram
	require.NoError(t, back.UnmarshalBinary(enc))
	require.Equal(t, a.Count(), back.Count())
	require.Equal(t, a.Quantile(0.9), back.Quantile(0.9))
	back.Merge(&b)
	require.EqualValues(t, 2000, back.Count())
	require.InEpsilon(t, float64(500*time.Second), float64(back.Quantile(0.75)), 0.035)

	for _, bad := range [][]byte{{0x80}, {0x01}, {0xff, 0xff, 0xff, 0xff, 0x7f, 0x01}} {
		require.Error(t, back.UnmarshalBinary(bad), "%x", bad)
	}
}

func TestAppendAdd_matches_decoding_adding_and_encoding(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var h Histogram
	enc, err := h.MarshalBinary()
	require.NoError(t, err)
	for i := range 2000 {
		d := time.Duration(math.Exp(rng.Float64()*math.Log(1e8))) * time.Microsecond
		if i%7 == 0 {
			d = time.Duration(rng.IntN(40)) * time.Microsecond // the exact buckets, and the first ones above
		}
		h.Add(d)
		prefix := []byte("kept")
		next, err := AppendAdd(prefix, enc, d)
		require.NoError(t, err)
		require.Equal(t, "kept", string(next[:4]))
		want, err := h.MarshalBinary()
		require.NoError(t, err)
		require.Equal(t, want, next[4:], "after %d adds", i+1)
		enc = next[4:]
	}
	var back Histogram
	require.NoError(t, back.UnmarshalBinary(enc))
	require.Equal(t, h.Count(), back.Count())
}

func TestAppendAdd_refuses_what_AppendBinary_does_not_write(t *testing.T) {
	for _, bad := range [][]byte{
		{0x80},                               // truncated index
		{0x01},                               // index without a count
		{0x05, 0x01, 0x03, 0x01},             // out of order
		{0x05, 0x01, 0x05, 0x01},             // repeated
		{0xff, 0xff, 0xff, 0xff, 0x7f, 0x01}, // index past the last bucket
	} {
		_, err := AppendAdd(nil, bad, time.Millisecond)
		require.ErrorIs(t, err, errHistogram, "%x", bad)
	}
}
