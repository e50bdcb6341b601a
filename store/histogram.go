package store

import (
	"encoding/binary"
	"errors"
	"math/bits"
	"time"
)

// Histogram counts durations in logarithmic buckets: exact below 32µs,
// then 16 buckets per power of two, so a quantile it reports is within
// about 3% of the true value. Its zero value is empty and ready to use.
type Histogram struct {
	counts []uint64 // by bucket index
	total  uint64
}

const (
	histExact = 32 // microsecond values below this have a bucket each
	histSub   = 16 // buckets per power of two above
	histShift = 4  // log2(histSub)
	histLog   = 5  // log2(histExact)
)

func histBucket(us uint64) int {
	if us < histExact {
		return int(us)
	}
	e := bits.Len64(us) - 1 // us is in [2^e, 2^(e+1))
	sub := (us >> (e - histShift)) & (histSub - 1)
	return histExact + (e-histLog)*histSub + int(sub)
}

// histMid is the middle of bucket i, in microseconds.
func histMid(i int) float64 {
	if i < histExact {
		return float64(i)
	}
	e := (i-histExact)/histSub + histLog
	sub := uint64((i - histExact) % histSub)
	lo := (histSub + sub) << (e - histShift)
	width := uint64(1) << (e - histShift)
	return float64(lo) + float64(width)/2
}

// Add counts one duration; negative durations count as zero.
func (h *Histogram) Add(d time.Duration) {
	us := uint64(max(d, 0) / time.Microsecond)
	i := histBucket(us)
	if i >= len(h.counts) {
		h.counts = append(h.counts, make([]uint64, i+1-len(h.counts))...)
	}
	h.counts[i]++
	h.total++
}

// Merge adds o's counts to h.
func (h *Histogram) Merge(o *Histogram) {
	if len(o.counts) > len(h.counts) {
		h.counts = append(h.counts, make([]uint64, len(o.counts)-len(h.counts))...)
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
}

// Count is how many durations were added.
func (h *Histogram) Count() uint64 { return h.total }

// Quantile returns the duration below which a fraction q (0 to 1) of the
// counted durations fall, at the middle of its bucket; 0 when empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	q = min(max(q, 0), 1)
	rank := uint64(q*float64(h.total) + 0.5)
	rank = min(max(rank, 1), h.total)
	var seen uint64
	for i, c := range h.counts {
		if seen += c; seen >= rank {
			return time.Duration(histMid(i) * float64(time.Microsecond))
		}
	}
	return 0
}

// MarshalBinary encodes the non-empty buckets as uvarint pairs.
func (h *Histogram) MarshalBinary() ([]byte, error) {
	return h.AppendBinary(nil)
}

// AppendBinary appends the encoding of MarshalBinary to b.
func (h *Histogram) AppendBinary(b []byte) ([]byte, error) {
	for i, c := range h.counts {
		if c > 0 {
			b = binary.AppendUvarint(b, uint64(i))
			b = binary.AppendUvarint(b, c)
		}
	}
	return b, nil
}

var errHistogram = errors.New("store: corrupt histogram")

// AppendAdd appends to b the encoding of enc, an encoded histogram, with
// d added. It edits the encoding rather than decoding it: a rollup
// updated once per delivery attempt would otherwise allocate a bucket
// slice each time.
func AppendAdd(b, enc []byte, d time.Duration) ([]byte, error) {
	want := uint64(histBucket(uint64(max(d, 0) / time.Microsecond)))
	added, prev := false, -1
	for len(enc) > 0 {
		i, n := binary.Uvarint(enc)
		if n <= 0 || i >= maxHistBucket || int(i) <= prev {
			return b, errHistogram // out of order too: not what AppendBinary writes
		}
		c, m := binary.Uvarint(enc[n:])
		if m <= 0 {
			return b, errHistogram
		}
		enc, prev = enc[n+m:], int(i)
		if !added && i >= want {
			if i > want {
				b = binary.AppendUvarint(binary.AppendUvarint(b, want), 1)
			} else {
				c++
			}
			added = true
		}
		b = binary.AppendUvarint(binary.AppendUvarint(b, i), c)
	}
	if !added {
		b = binary.AppendUvarint(binary.AppendUvarint(b, want), 1)
	}
	return b, nil
}

// maxHistBucket bounds decoded bucket indexes (durations up to 2^63 ns).
const maxHistBucket = histExact + (64-histLog)*histSub

// UnmarshalBinary replaces h with the decoded histogram.
func (h *Histogram) UnmarshalBinary(b []byte) error {
	*h = Histogram{}
	for len(b) > 0 {
		i, n := binary.Uvarint(b)
		if n <= 0 || i >= maxHistBucket {
			return errHistogram
		}
		b = b[n:]
		c, n := binary.Uvarint(b)
		if n <= 0 {
			return errHistogram
		}
		b = b[n:]
		if int(i) >= len(h.counts) {
			h.counts = append(h.counts, make([]uint64, int(i)+1-len(h.counts))...)
		}
		h.counts[i] += c
		h.total += c
	}
	return nil
}
