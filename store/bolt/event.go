package bolt

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hooksmith/webhook/store"
)

// Event records are read by every claim, so, like messages, they have a
// compact binary form rather than JSON metadata: one allocation to encode;
// to decode, the struct, one string its text fields and labels share, the
// labels map if it has labels, one string and a slice for its messages if
// it has any, and the payload.
//
//	eventV2 · uvarint-prefixed Key, TenantID, ID, Type, ContentType ·
//	uvarint label count, then each label's uvarint-prefixed name and
//	value, in name order · OccurredAt and CreatedAt, each a one-byte length
//	then time.Time's binary form (any year, its zone offset kept) · uvarint
//	message count, then each message's uvarint-prefixed ID and endpoint ID,
//	in message ID order · the payload, to the end
//
// The record holds the event's messages so that a publish writes one
// record per event, not one more entry per message in event_messages, and
// a claim reads them without a seek there; a message added later
// (MessageInsert) rewrites the record. Records written by format 9 are
// eventV1, the same without the messages, which event_messages holds;
// before that, a 4-byte big-endian length, the JSON metadata, then the
// payload. Both are still read. That length's first byte is under 0x80,
// as bbolt values are under 2 GiB, so it is never a version byte.
const (
	eventV1 = 0x81
	eventV2 = 0x82
)

var errCorrupt = errors.New("bolt: corrupt event record")

// eventTexts are the text fields of an event record, in record order.
func eventTexts(ev *store.Event) [5]*string {
	return [5]*string{&ev.Key, &ev.TenantID, &ev.ID, &ev.Type, &ev.ContentType}
}

// encodeEvent writes the event with its Messages, which must be in
// strictly increasing message ID order (sortRefs).
func encodeEvent(ev *store.Event) ([]byte, error) { return appendEvent(nil, ev) }

// appendEvent appends encodeEvent's record to dst.
func appendEvent(dst []byte, ev *store.Event) ([]byte, error) {
	if !refsSorted(ev.Messages) {
		return nil, fmt.Errorf("bolt: event %s: messages not in ID order", ev.Key)
	}
	texts := eventTexts(ev)
	n := 1 + 2*binary.MaxVarintLen64 + 2*(1+16) + len(ev.Payload)
	for _, s := range texts {
		n += binary.MaxVarintLen64 + len(*s)
	}
	for _, r := range ev.Messages {
		n += 2*binary.MaxVarintLen64 + len(r.MessageID) + len(r.EndpointID)
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
	b := append(slices.Grow(dst, n), eventV2)
	for _, s := range texts {
		b = appendText(b, *s)
	}
	b = binary.AppendUvarint(b, uint64(len(names)))
	for _, k := range names {
		b = appendText(appendText(b, k), ev.Labels[k])
	}
	for _, t := range [...]time.Time{ev.OccurredAt, ev.CreatedAt} {
		var err error
		if b, err = appendTimeBinary(b, t); err != nil {
			return nil, fmt.Errorf("bolt: event %s: %w", ev.Key, err)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(ev.Messages)))
	for _, r := range ev.Messages {
		b = appendText(appendText(b, r.MessageID), r.EndpointID)
	}
	return append(b, ev.Payload...), nil
}

// sortRefs puts refs in message ID order, as records and Event.Messages
// keep them.
func sortRefs(refs []store.MessageRef) {
	slices.SortFunc(refs, func(a, b store.MessageRef) int { return strings.Compare(a.MessageID, b.MessageID) })
}

// refsSorted reports whether refs are in strictly increasing message ID
// order, each ID once.
func refsSorted(refs []store.MessageRef) bool {
	for i := 1; i < len(refs); i++ {
		if refs[i-1].MessageID >= refs[i].MessageID {
			return false
		}
	}
	return true
}

func appendText(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func decodeEvent(v []byte) (*store.Event, error) {
	switch {
	case v == nil:
		return nil, store.ErrNotFound
	case len(v) > 0 && (v[0] == eventV1 || v[0] == eventV2):
		return decodeEventBinary(v[1:], v[0] == eventV2)
	}
	return decodeEventJSON(v)
}

// holdsMessages reports whether the record v lists its event's messages;
// older records leave them to event_messages.
func holdsMessages(v []byte) bool { return len(v) > 0 && v[0] == eventV2 }

func decodeEventBinary(p []byte, withMessages bool) (*store.Event, error) {
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
	if withMessages {
		var ok bool
		if ev.Messages, ok = r.refs(); !ok {
			return nil, errCorrupt
		}
	}
	ev.Payload = bytes.Clone(p[r.off:])
	return ev, nil
}

// refs reads a message count then each message's ID and endpoint ID, which
// must be in the order encodeEvent writes; nil if there are none.
func (r *recordReader) refs() ([]store.MessageRef, bool) {
	count := r.uvarint()
	if r.bad || count > uint64(len(r.p)-r.off)/2 {
		return nil, false
	}
	if count == 0 {
		return nil, true
	}
	start := r.off
	var onStack [32][2]int
	bounds := onStack[:0]
	for range 2 * count {
		bounds = append(bounds, r.text())
	}
	if r.bad {
		return nil, false
	}
	// One string holds the IDs.
	text := string(r.p[start:r.off])
	refs := make([]store.MessageRef, count)
	for i := range refs {
		id, ep := bounds[2*i], bounds[2*i+1]
		refs[i] = store.MessageRef{MessageID: text[id[0]-start : id[1]-start], EndpointID: text[ep[0]-start : ep[1]-start]}
	}
	return refs, refsSorted(refs)
}

// recordReader reads the fields of a binary record in turn; after the
// first that does not fit, bad is set and the rest read as zero.
type recordReader struct {
	p   []byte
	off int
	bad bool
}

// appendTimeBinary writes what recordReader.time reads: a one-byte length
// then time.Time's binary form.
func appendTimeBinary(b []byte, t time.Time) ([]byte, error) {
	at := len(b)
	b, err := t.AppendBinary(append(b, 0))
	if err != nil {
		return nil, err
	}
	b[at] = byte(len(b) - at - 1)
	return b, nil
}

func (r *recordReader) varint() int64   { return readNumber(r, binary.Varint) }
func (r *recordReader) uvarint() uint64 { return readNumber(r, binary.Uvarint) }

// readNumber reads one number with read, binary.Varint or Uvarint.
func readNumber[T int64 | uint64](r *recordReader, read func([]byte) (T, int)) T {
	if r.bad {
		return 0
	}
	n, w := read(r.p[r.off:])
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
