// Package ids makes prefixed, time-sortable, random identifiers such as
// "msg_01jd3k8w0c2v4n6r8t0x2z4b6d".
package ids

import (
	"crypto/rand"
	"encoding/binary"
	"sync/atomic"
	"time"
)

// crockford is Crockford's base32 alphabet in lower case; its byte order
// matches its value order, so IDs sort by creation time as strings.
const crockford = "0123456789abcdefghjkmnpqrstvwxyz"

// last is the previous timestamp handed out; New never repeats or goes back
// in time within a process, so IDs made in sequence sort in that sequence.
var last atomic.Int64

// New returns prefix + "_" + 26 base32 characters: 8 bytes of strictly
// increasing Unix nanoseconds then 8 random bytes.
func New(prefix string) string {
	var raw [16]byte
	binary.BigEndian.PutUint64(raw[:8], uint64(next(time.Now().UnixNano())))
	_, _ = rand.Read(raw[8:]) // crypto/rand.Read never fails on supported platforms
	return Encode(prefix, raw)
}

func next(now int64) int64 {
	for {
		prev := last.Load()
		t := max(now, prev+1)
		if last.CompareAndSwap(prev, t) {
			return t
		}
	}
}

// Encode renders 16 bytes as prefix_ plus 26 base32 characters.
func Encode(prefix string, raw [16]byte) string {
	out := make([]byte, 0, len(prefix)+1+26)
	out = append(out, prefix...)
	out = append(out, '_')
	hi := binary.BigEndian.Uint64(raw[:8])
	lo := binary.BigEndian.Uint64(raw[8:])
	// 128 bits as 26 5-bit groups, most significant first (the top group
	// holds the remaining 3 bits).
	for i := 25; i >= 0; i-- {
		shift := uint(i * 5)
		var v uint64
		switch {
		case shift >= 64:
			v = hi >> (shift - 64)
		case shift+5 > 64:
			v = lo>>shift | hi<<(64-shift)
		default:
			v = lo >> shift
		}
		out = append(out, crockford[v&31])
	}
	return string(out)
}
