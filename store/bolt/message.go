package bolt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/hooksmith/webhook/store"
)

// Message records are written at publish, claim and every outcome, so they
// have a compact binary form instead of JSON: one allocation to encode,
// two to decode (the struct and one string its text fields share).
//
//	messageV1 · uvarint-prefixed ID, TenantID, EndpointID, EventID,
//	EventKey, Status, Trigger · uvarint Seq, Attempts, RetryBase,
//	LeaseToken · uvarint Unix nanoseconds of NextAttemptAt, CreatedAt,
//	UpdatedAt (0 for a zero time)
//
// A message with a negative or overlarge count, or a time outside 1970 to
// 2262 (what Unix nanoseconds hold), is refused rather than stored wrong.
//
// Files written before format 5 hold JSON records, which start with '{'
// and are still read.
const messageV1 = 1

var (
	errCorruptMessage = errors.New("bolt: corrupt message record")
	// errRecordRange refuses a count or time a binary record cannot hold.
	errRecordRange = errors.New("bolt: record field out of range")
)

// Times a record holds lie strictly between these.
var (
	minRecordTime = time.Unix(0, 0)
	maxRecordTime = time.Unix(0, math.MaxInt64)
)

func encodeMessage(m *store.Message) ([]byte, error) {
	for _, n := range [...]int{m.Attempts, m.RetryBase} {
		if n < 0 || n > maxCount {
			return nil, fmt.Errorf("%w: message %s: count %d", errRecordRange, m.ID, n)
		}
	}
	strs := [...]string{m.ID, m.TenantID, m.EndpointID, m.EventID, m.EventKey, string(m.Status), string(m.Trigger)}
	n := 1 + 7*binary.MaxVarintLen64
	for _, s := range strs {
		n += binary.MaxVarintLen64 + len(s)
	}
	b := make([]byte, 0, n)
	b = append(b, messageV1)
	for _, s := range strs {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	for _, u := range [...]uint64{m.Seq, uint64(m.Attempts), uint64(m.RetryBase), m.LeaseToken} {
		b = binary.AppendUvarint(b, u)
	}
	for _, t := range [...]time.Time{m.NextAttemptAt, m.CreatedAt, m.UpdatedAt} {
		var err error
		if b, err = appendRecordTime(b, t); err != nil {
			return nil, fmt.Errorf("%w (message %s)", err, m.ID)
		}
	}
	return b, nil
}

func decodeMessage(v []byte) (*store.Message, error) {
	if len(v) == 0 || v[0] != messageV1 {
		return nil, errCorruptMessage
	}
	p := v[1:]
	// The text fields are laid out first; one string holds them all.
	var bounds [7][2]int
	off := 0
	for i := range bounds {
		n, w := binary.Uvarint(p[off:])
		if w <= 0 || n > uint64(len(p)-off-w) {
			return nil, errCorruptMessage
		}
		bounds[i] = [2]int{off + w, off + w + int(n)}
		off += w + int(n)
	}
	text := string(p[:off])
	str := func(i int) string { return text[bounds[i][0]:bounds[i][1]] }
	m := &store.Message{ID: str(0), TenantID: str(1), EndpointID: str(2), EventID: str(3), EventKey: str(4),
		Status: store.MessageStatus(str(5)), Trigger: store.Trigger(str(6))}
	p = p[off:]
	var nums [4]uint64
	for i := range nums {
		n, w := binary.Uvarint(p)
		if w <= 0 {
			return nil, errCorruptMessage
		}
		nums[i], p = n, p[w:]
	}
	var times [3]time.Time
	for i := range times {
		var ok bool
		if times[i], p, ok = readRecordTime(p); !ok {
			return nil, errCorruptMessage
		}
	}
	if len(p) != 0 || nums[1] > maxCount || nums[2] > maxCount {
		return nil, errCorruptMessage
	}
	m.Seq, m.Attempts, m.RetryBase, m.LeaseToken = nums[0], int(nums[1]), int(nums[2]), nums[3]
	m.NextAttemptAt, m.CreatedAt, m.UpdatedAt = times[0], times[1], times[2]
	return m, nil
}

// maxCount bounds Attempts and RetryBase, so a decoded count fits an int
// on every platform.
const maxCount = math.MaxInt32
