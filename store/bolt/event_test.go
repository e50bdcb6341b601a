package bolt

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hooksmith/webhook/store"
)

// everyEventField is an event with every stored field set, so a field added
// to store.Event without a place in the record fails the round trip.
func everyEventField(t *testing.T) *store.Event {
	t.Helper()
	ev := &store.Event{Key: "evk_1", TenantID: "acme", ID: "evt_1", Type: "order.created", ContentType: "application/json",
		Labels: map[string]string{"region": "eu", "env": "prod", "": "empty name"},
		// Any year, and the zone offset, are kept, as the JSON form kept them.
		OccurredAt: time.Date(1850, 1, 2, 3, 4, 5, 6, time.FixedZone("", -(3*3600+30*60))),
		CreatedAt:  time.Date(2026, 11, 24, 1, 2, 3, 4, time.UTC),
		Messages:   []store.MessageRef{{MessageID: "msg_1", EndpointID: "ep_2"}, {MessageID: "msg_2", EndpointID: "ep_1"}},
		Payload:    []byte(`{"id":1}`)}
	v := reflect.ValueOf(ev).Elem()
	for i := range v.NumField() {
		require.False(t, v.Field(i).IsZero(), "everyEventField leaves %s unset", v.Type().Field(i).Name)
	}
	return ev
}

// asEventV1 rewrites v, the record of an event without messages whose
// payload is n bytes long, as format 9 wrote it: no message count.
func asEventV1(v []byte, n int) []byte {
	out := append([]byte{eventV1}, v[1:len(v)-n-1]...)
	return append(out, v[len(v)-n:]...)
}

// withMessages replaces the message count of bare, the record of an event
// without messages or payload, with tail.
func withMessages(bare []byte, tail ...byte) []byte {
	return append(bytes.Clone(bare[:len(bare)-1]), tail...)
}

func TestEvent_round_trips(t *testing.T) {
	for name, ev := range map[string]*store.Event{
		"every field": everyEventField(t),
		"no labels, messages nor payload, zero times": {Key: "evk_2", TenantID: "acme", Payload: []byte{}},
	} {
		t.Run(name, func(t *testing.T) {
			v, err := encodeEvent(ev)
			require.NoError(t, err)
			require.Equal(t, byte(eventV2), v[0])
			require.True(t, holdsMessages(v))
			got, err := decodeEvent(v)
			require.NoError(t, err)
			require.Equal(t, ev, got)
			if !ev.OccurredAt.IsZero() {
				_, off := got.OccurredAt.Zone()
				require.Equal(t, -(3*3600 + 30*60), off)
			}
		})
	}
}

// Files written before format 9 hold a length, JSON metadata, then the
// payload; event_messages lists the messages.
func TestEvent_reads_the_JSON_form(t *testing.T) {
	ev := everyEventField(t)
	ev.Messages = nil
	meta, err := json.Marshal(ev)
	require.NoError(t, err)
	v := append(binary.BigEndian.AppendUint32(nil, uint32(len(meta))), meta...)
	v = append(v, ev.Payload...)
	require.False(t, holdsMessages(v))
	got, err := decodeEvent(v)
	require.NoError(t, err)
	require.True(t, got.OccurredAt.Equal(ev.OccurredAt) && got.CreatedAt.Equal(ev.CreatedAt))
	got.OccurredAt, got.CreatedAt = ev.OccurredAt, ev.CreatedAt
	require.Equal(t, ev, got)
}

// Format 9's binary records are format 10's without the messages.
func TestEvent_reads_the_form_without_messages(t *testing.T) {
	ev := everyEventField(t)
	ev.Messages = nil
	v, err := encodeEvent(ev)
	require.NoError(t, err)
	old := asEventV1(v, len(ev.Payload))
	require.Len(t, old, len(v)-1)
	require.False(t, holdsMessages(old))
	got, err := decodeEvent(old)
	require.NoError(t, err)
	require.Equal(t, ev, got)
}

func TestEvent_encode_refuses_messages_out_of_ID_order(t *testing.T) {
	for name, refs := range map[string][]store.MessageRef{
		"descending": {{MessageID: "msg_2", EndpointID: "ep_1"}, {MessageID: "msg_1", EndpointID: "ep_2"}},
		"twice":      {{MessageID: "msg_1", EndpointID: "ep_1"}, {MessageID: "msg_1", EndpointID: "ep_2"}},
	} {
		v, err := encodeEvent(&store.Event{Key: "evk_1", Messages: refs})
		require.Error(t, err, name)
		require.Nil(t, v, name)
	}
}

func TestEvent_refuses_a_record_it_cannot_read(t *testing.T) {
	bare, err := encodeEvent(&store.Event{Key: "evk_2"})
	require.NoError(t, err)
	ev := everyEventField(t)
	ev.Messages, ev.Payload = nil, nil
	timesEnd, err := encodeEvent(ev) // the times, then the message count
	require.NoError(t, err)
	for name, v := range map[string][]byte{
		"empty":                      {},
		"only the version":           {eventV1},
		"only the new version":       {eventV2},
		"a text past the end":        {eventV1, 9, 'k'},
		"a label count past the end": {eventV1, 0, 0, 0, 0, 0, 200},
		"cut inside a time":          timesEnd[:len(timesEnd)-1-3],
		// encodeEvent writes labels in name order, each name once.
		"labels out of order": {eventV1, 0, 0, 0, 0, 0, 2, 1, 'b', 0, 1, 'a', 0, 1, 0, 1, 0},
		"a label twice":       {eventV1, 0, 0, 0, 0, 0, 2, 1, 'a', 0, 1, 'a', 0, 1, 0, 1, 0},
		// encodeEvent writes messages in ID order, each ID once.
		"a message count past the end": withMessages(bare, 2),
		"a message cut short":          withMessages(bare, 1, 5, 'm'),
		"messages out of ID order":     withMessages(bare, 2, 1, 'b', 0, 1, 'a', 0),
		"a message twice":              withMessages(bare, 2, 1, 'a', 0, 1, 'a', 1, 'x'),
	} {
		ev, err := decodeEvent(v)
		require.ErrorIs(t, err, errCorrupt, name)
		require.Nil(t, ev, name)
	}
}

func BenchmarkEventRecord(b *testing.B) {
	ev := &store.Event{Key: "evk_0d4d6cympvjt0ezvy8hq9rcnec", TenantID: "acme", ID: "evt_0d4d6cympvjt0ezvy8hq9rcnec",
		Type: "order.created", ContentType: "application/json", Labels: map[string]string{"region": "eu"},
		OccurredAt: time.Now().UTC(), CreatedAt: time.Now().UTC(), Payload: make([]byte, 1024),
		Messages: []store.MessageRef{{MessageID: "msg_0d4d6cympvjt0ezvy8hq9rcnec", EndpointID: "ep_0d4d6cympvjt0ezvy8hq9rcnec"}}}
	v, err := encodeEvent(ev)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := encodeEvent(ev); err != nil {
				b.Fatal(err)
			}
		}
	})
	// The JSON form as format 8 wrote it: a length, the metadata, the payload.
	jsonForm := func() []byte {
		meta, err := json.Marshal(ev)
		if err != nil {
			b.Fatal(err)
		}
		v := make([]byte, 4, 4+len(meta)+len(ev.Payload))
		binary.BigEndian.PutUint32(v, uint32(len(meta)))
		return append(append(v, meta...), ev.Payload...)
	}
	b.Run("encode_json_form", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			jsonForm()
		}
	})
	old := jsonForm()
	for name, v := range map[string][]byte{"decode": v, "decode_json_form": old} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := decodeEvent(v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
