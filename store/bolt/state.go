package bolt

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
)

// Endpoint states are read and rewritten by every claim and outcome, so
// they have a compact binary form instead of JSON (which cost about a tenth
// of the writer's time in the end-to-end benchmark):
//
//	stateV1 · uvarint-prefixed TenantID · flags (1 FIFO, 2 Blocked) ·
//	varint Leased · uvarint Unix nanoseconds of Hold, Ready,
//	Health.LastSuccessAt, LastFailureAt, FailingSince (0 for a zero time)
//
// Files written before format 7 hold JSON states, which start with '{' and
// are still read.
const stateV1 = 1

const (
	stateFIFO = 1 << iota
	stateBlocked
)

var errCorruptState = errors.New("bolt: corrupt endpoint state")

func (st *epState) times() [5]*time.Time {
	return [...]*time.Time{&st.Hold, &st.Ready, &st.Health.LastSuccessAt, &st.Health.LastFailureAt, &st.Health.FailingSince}
}

func encodeState(st *epState) ([]byte, error) {
	b := make([]byte, 0, 2+binary.MaxVarintLen64*7+len(st.TenantID))
	b = append(b, stateV1)
	b = binary.AppendUvarint(b, uint64(len(st.TenantID)))
	b = append(b, st.TenantID...)
	var flags byte
	if st.FIFO {
		flags |= stateFIFO
	}
	if st.Blocked {
		flags |= stateBlocked
	}
	b = append(b, flags)
	b = binary.AppendVarint(b, int64(st.Leased))
	for _, t := range st.times() {
		var err error
		if b, err = appendRecordTime(b, *t); err != nil {
			return nil, fmt.Errorf("%w (endpoint state)", err)
		}
	}
	return b, nil
}

func decodeState(v []byte) (*epState, error) {
	st := new(epState)
	if len(v) > 0 && v[0] == '{' {
		if err := json.Unmarshal(v, st); err != nil {
			return nil, err
		}
		return st, nil
	}
	if len(v) == 0 || v[0] != stateV1 {
		return nil, errCorruptState
	}
	p := v[1:]
	n, w := binary.Uvarint(p)
	if w <= 0 || n >= uint64(len(p)-w) { // the flags byte follows
		return nil, errCorruptState
	}
	st.TenantID, p = string(p[w:w+int(n)]), p[w+int(n):]
	flags := p[0]
	st.FIFO, st.Blocked = flags&stateFIFO != 0, flags&stateBlocked != 0
	leased, w := binary.Varint(p[1:])
	if flags&^(stateFIFO|stateBlocked) != 0 || w <= 0 || leased < math.MinInt32 || leased > math.MaxInt32 {
		return nil, errCorruptState
	}
	st.Leased, p = int(leased), p[1+w:]
	for _, t := range st.times() {
		var ok bool
		if *t, p, ok = readRecordTime(p); !ok {
			return nil, errCorruptState
		}
	}
	if len(p) != 0 {
		return nil, errCorruptState
	}
	return st, nil
}

// appendRecordTime appends t as uvarint Unix nanoseconds, 0 for the zero
// time; a time outside what that holds is refused rather than stored wrong.
func appendRecordTime(b []byte, t time.Time) ([]byte, error) {
	if t.IsZero() {
		return append(b, 0), nil
	}
	if !t.After(minRecordTime) || !t.Before(maxRecordTime) {
		return nil, fmt.Errorf("%w: time %s", errRecordRange, t.Format(time.RFC3339Nano))
	}
	return binary.AppendUvarint(b, uint64(t.UnixNano())), nil
}

// readRecordTime reads what appendRecordTime wrote from the start of p.
func readRecordTime(p []byte) (time.Time, []byte, bool) {
	n, w := binary.Uvarint(p)
	if w <= 0 || n > math.MaxInt64 {
		return time.Time{}, nil, false
	}
	if n == 0 {
		return time.Time{}, p[w:], true
	}
	return time.Unix(0, int64(n)).UTC(), p[w:], true
}
