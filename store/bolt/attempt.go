package bolt

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hooksmith/webhook/store"
)

// Attempt records are written by every outcome, so, like messages and
// events, they have a compact binary form rather than JSON, which took 6%
// of the CPU of an end-to-end run to encode: one allocation to
// encode; to decode, the struct, one string its text fields and headers
// share, one slice for their values, and a map per header set.
//
//	attemptV1 · uvarint-prefixed ID, TenantID, MessageID, EndpointID,
//	EventID, Trigger, URL, ErrorClass, Error · the request headers, then
//	the response headers: each a uvarint name count, then per name, in
//	strictly increasing order, the uvarint-prefixed name, a uvarint value
//	count and each uvarint-prefixed value · varint Number, StatusCode and
//	Duration · a flags byte (1: ResponseTruncated) · StartedAt, a one-byte
//	length then time.Time's binary form (any year, its zone offset kept)
//
// The response body is stored apart (attempt_bodies). Records written
// before format 11 are JSON, which starts with '{', and are still read.
// Headers without names, and a name without values, read back as nil.
const attemptV1 = 0x83

var errCorruptAttempt = errors.New("bolt: corrupt attempt record")

// attemptTexts are the text fields of an attempt record, in record order.
func attemptTexts(a *store.Attempt) [9]*string {
	return [9]*string{&a.ID, &a.TenantID, &a.MessageID, &a.EndpointID, &a.EventID,
		(*string)(&a.Trigger), &a.URL, (*string)(&a.ErrorClass), &a.Error}
}

// encodeAttempt writes everything but the response body.
func encodeAttempt(a *store.Attempt) ([]byte, error) { return appendAttempt(nil, a) }

// appendAttempt appends encodeAttempt's record to dst.
func appendAttempt(dst []byte, a *store.Attempt) ([]byte, error) {
	texts := attemptTexts(a)
	n := 1 + 3*binary.MaxVarintLen64 + 1 + 1 + 16
	for _, s := range texts {
		n += binary.MaxVarintLen64 + len(*s)
	}
	b := append(slices.Grow(dst, n), attemptV1)
	for _, s := range texts {
		b = appendText(b, *s)
	}
	b = appendHeaders(appendHeaders(b, a.RequestHeaders), a.ResponseHeaders)
	for _, v := range [...]int64{int64(a.Number), int64(a.StatusCode), int64(a.Duration)} {
		b = binary.AppendVarint(b, v)
	}
	var flags byte
	if a.ResponseTruncated {
		flags = 1
	}
	b, err := appendTimeBinary(append(b, flags), a.StartedAt)
	if err != nil {
		return nil, fmt.Errorf("bolt: attempt %s: %w", a.ID, err)
	}
	return b, nil
}

// appendHeaders appends h as an attempt record holds it: names in order.
// Its frame is apart from appendAttempt's, so the worker calling it needs
// less stack: each collection shrinks the stacks of idle workers, and with
// both frames in one, regrowing them on outcomes took half this encoding's
// time.
func appendHeaders(b []byte, h map[string][]string) []byte {
	var onStack [16]string
	names := onStack[:0]
	for k := range h {
		names = append(names, k)
	}
	slices.Sort(names)
	b = binary.AppendUvarint(b, uint64(len(names)))
	for _, k := range names {
		b = binary.AppendUvarint(appendText(b, k), uint64(len(h[k])))
		for _, v := range h[k] {
			b = appendText(b, v)
		}
	}
	return b
}

func decodeAttempt(v []byte) (*store.Attempt, error) {
	if len(v) > 0 && v[0] == attemptV1 {
		return decodeAttemptBinary(v[1:])
	}
	var a store.Attempt
	if err := json.Unmarshal(v, &a); err != nil {
		return nil, fmt.Errorf("%w: %v", errCorruptAttempt, err)
	}
	return &a, nil
}

// headerBounds is where one header lies in a record: the bounds of its
// name, and the range of its values in the record's value bounds.
type headerBounds struct {
	name        [2]int
	first, last int
}

func decodeAttemptBinary(p []byte) (*store.Attempt, error) {
	r := recordReader{p: p}
	var texts [9][2]int
	for i := range texts {
		texts[i] = r.text()
	}
	var (
		namesOnStack  [32]headerBounds
		valuesOnStack [32][2]int
	)
	names, values := namesOnStack[:0], valuesOnStack[:0]
	var counts [2]int // names per header set
	for i := range counts {
		count := r.uvarint()
		if r.bad || count > uint64(len(p)-r.off)/2 {
			return nil, errCorruptAttempt
		}
		counts[i] = int(count)
		for range count {
			name := r.text()
			nv := r.uvarint()
			if r.bad || nv > uint64(len(p)-r.off) {
				return nil, errCorruptAttempt
			}
			first := len(values)
			for range nv {
				values = append(values, r.text())
			}
			if r.bad {
				return nil, errCorruptAttempt
			}
			names = append(names, headerBounds{name: name, first: first, last: len(values)})
		}
	}
	// One string holds the text fields and headers.
	text := string(p[:r.off])
	a := &store.Attempt{}
	for i, dst := range attemptTexts(a) {
		*dst = text[texts[i][0]:texts[i][1]]
	}
	all := make([]string, len(values))
	for i, b := range values {
		all[i] = text[b[0]:b[1]]
	}
	for i, dst := range [2]*map[string][]string{&a.RequestHeaders, &a.ResponseHeaders} {
		set := names[:counts[i]]
		names = names[counts[i]:]
		if len(set) == 0 {
			continue
		}
		h := make(map[string][]string, len(set))
		prev := ""
		for j, hb := range set {
			name := text[hb.name[0]:hb.name[1]]
			if j > 0 && name <= prev {
				return nil, errCorruptAttempt // not in name order: not what encodeAttempt writes
			}
			prev = name
			if hb.first < hb.last {
				h[name] = all[hb.first:hb.last:hb.last]
			} else {
				h[name] = nil
			}
		}
		*dst = h
	}
	nums := [3]int64{r.varint(), r.varint(), r.varint()}
	if r.bad || int64(int(nums[0])) != nums[0] || int64(int(nums[1])) != nums[1] {
		return nil, errCorruptAttempt // cut short, or past this platform's int
	}
	a.Number, a.StatusCode, a.Duration = int(nums[0]), int(nums[1]), time.Duration(nums[2])
	if r.off >= len(p) || p[r.off] > 1 {
		return nil, errCorruptAttempt
	}
	a.ResponseTruncated = p[r.off] == 1
	r.off++
	var ok bool
	if a.StartedAt, ok = r.time(); !ok || r.off != len(p) {
		return nil, errCorruptAttempt
	}
	return a, nil
}
