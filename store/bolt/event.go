package bolt

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hooksmith/webhook/store"
)

// Event records are read by every claim, so, like messages, they have a
// compact binary form rather than JSON metadata: one allocation to encode;
// to decode, the struct, one string its text fields share, the labels map
// if it has labels, and the payload.
//
//	eventV1 · uvarint-prefixed Key, TenantID, ID, Type, ContentType ·
//	uvarint label count, then each label's uvarint-prefixed name and
//	value, in name order · OccurredAt and CreatedAt, each a one-byte length
//	then time.Time's binary form (any year, its zone offset kept) · the
//	payload, to the end
//
// Files written before format 9 hold a 4-byte big-endian length, the JSON
// metadata, then the payload, and are still read. That length's first
// byte is under 0x80, as bbolt values are under 2 GiB, so it is never
// eventV1.
const eventV1 = 0x81

var errCorrupt = errors.New("bolt: corrupt event record")

// eventTexts are the text fields of an event record, in record order.
func eventTexts(ev *store.Event) [5]*string {
	return [5]*string{&ev.Key, &ev.TenantID, &ev.ID, &ev.Type, &ev.ContentType}
}

func encodeEvent(ev *store.Event) ([]byte, error) {
	texts := eventTexts(ev)
	n := 1 + binary.MaxVarintLen64 + 2*(1+16) + len(ev.Payload)
	for _, s := range texts {
		n += binary.MaxVarintLen64 + len(*s)
	}
	var names []string
	if len(ev.Labels) > 0 {
		var onStack [32]string
		names = onStack[:0]
		for k, v := range ev.Labels {
			names = append(names, k)
			n += 2*binary.MaxVarintLen64 + len(k) + len(v)
		}
		slices.Sort(names)
	}
	b := make([]byte, 0, n)
	b = append(b, eventV1)
	for _, s := range texts {
		b = appendText(b, *s)
	}
	b = binary.AppendUvarint(b, uint64(len(names)))
	for _, k := range names {
		b = appendText(appendText(b, k), ev.Labels[k])
	}
	for _, t := range [...]time.Time{ev.OccurredAt, ev.CreatedAt} {
		at := len(b)
		var err error
		if b, err = t.AppendBinary(append(b, 0)); err != nil {
			return nil, fmt.Errorf("bolt: event %s: %w", ev.Key, err)
		}
		b[at] = byte(len(b) - at - 1)
	}
	return append(b, ev.Payload...), nil
}

func appendText(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func decodeEvent(v []byte) (*store.Event, error) {
	switch {
	case v == nil:
		return nil, store.ErrNotFound
	case len(v) > 0 && v[0] == eventV1:
		return decodeEventV1(v[1:])
	}
	return decodeEventJSON(v)
}

func decodeEventV1(p []byte) (*store.Event, error) {
	r := recordReader{p: p}
	var texts [5][2]int
	for i := range texts {
		texts[i] = r.text()
	}
	count := r.uvarint()
	if r.bad || count > uint64(len(p)-r.off)/2 {
		return nil, errCorrupt
	}
	var onStack [64][2]int
	labels := onStack[:0]
	for range 2 * count {
		labels = append(labels, r.text())
	}
	if r.bad {
		return nil, errCorrupt
	}
	// One string holds the text fields and labels.
	text := string(p[:r.off])
	ev := &store.Event{}
	for i, dst := range eventTexts(ev) {
		*dst = text[texts[i][0]:texts[i][1]]
	}
	if count > 0 {
		ev.Labels = make(map[string]string, count)
		prev := ""
		for i := 0; i < len(labels); i += 2 {
			name := text[labels[i][0]:labels[i][1]]
			if i > 0 && name <= prev {
				return nil, errCorrupt // not in name order: not what encodeEvent writes
			}
			ev.Labels[name], prev = text[labels[i+1][0]:labels[i+1][1]], name
		}
	}
	for _, dst := range [...]*time.Time{&ev.OccurredAt, &ev.CreatedAt} {
		var ok bool
		if *dst, ok = r.time(); !ok {
			return nil, errCorrupt
		}
	}
	ev.Payload = bytes.Clone(p[r.off:])
	return ev, nil
}

// recordReader reads the fields of a binary record in turn; after the
// first that does not fit, bad is set and the rest read as zero.
type recordReader struct {
	p   []byte
	off int
	bad bool
}

func (r *recordReader) uvarint() uint64 {
	if r.bad {
		return 0
	}
	n, w := binary.Uvarint(r.p[r.off:])
	if w <= 0 {
		r.bad = true
		return 0
	}
	r.off += w
	return n
}

// text returns the bounds in p of a uvarint-prefixed string.
func (r *recordReader) text() [2]int {
	n := r.uvarint()
	if r.bad || n > uint64(len(r.p)-r.off) {
		r.bad = true
		return [2]int{}
	}
	lo := r.off
	r.off += int(n)
	return [2]int{lo, r.off}
}

// time reads a one-byte length then time.Time's binary form, which must
// be the form AppendBinary writes for that time.
func (r *recordReader) time() (time.Time, bool) {
	if r.bad || r.off >= len(r.p) || int(r.p[r.off]) > len(r.p)-r.off-1 {
		r.bad = true
		return time.Time{}, false
	}
	raw := r.p[r.off+1 : r.off+1+int(r.p[r.off])]
	r.off += 1 + len(raw)
	var t time.Time
	var again [16]byte
	if t.UnmarshalBinary(raw) != nil {
		r.bad = true
		return time.Time{}, false
	}
	if b, err := t.AppendBinary(again[:0]); err != nil || !bytes.Equal(b, raw) {
		r.bad = true
		return time.Time{}, false
	}
	return t, true
}

// decodeEventJSON reads the record format 8 and earlier wrote.
func decodeEventJSON(v []byte) (*store.Event, error) {
	if len(v) < 4 {
		return nil, errCorrupt
	}
	n := binary.BigEndian.Uint32(v)
	if uint64(n) > uint64(len(v)-4) {
		return nil, errCorrupt
	}
	var ev store.Event
	if err := json.Unmarshal(v[4:4+n], &ev); err != nil {
		return nil, fmt.Errorf("%w: %v", errCorrupt, err)
	}
	ev.Payload = bytes.Clone(v[4+n:])
	return &ev, nil
}
