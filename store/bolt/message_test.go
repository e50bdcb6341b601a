package bolt

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bbolt "go.etcd.io/bbolt"

	"github.com/hooksmith/webhook/store"
)

// everyField is a message with every field set, so a field added to
// store.Message without a place in the record fails the round trip.
func everyField(t *testing.T) *store.Message {
	t.Helper()
	m := &store.Message{ID: "msg_1", TenantID: "acme", EndpointID: "ep_1", EventID: "evt_1", EventKey: "evk_1",
		Status: store.StatusDelivering, Seq: 1 << 40, Attempts: 7, RetryBase: 3, Trigger: store.TriggerReplay,
		NextAttemptAt: time.Date(2026, 11, 24, 3, 0, 0, 123456789, time.UTC), LeaseToken: 1<<63 + 5,
		CreatedAt: time.Date(2026, 11, 23, 1, 2, 3, 4, time.UTC), UpdatedAt: time.Date(2026, 11, 24, 2, 0, 0, 0, time.UTC)}
	v := reflect.ValueOf(m).Elem()
	for i := range v.NumField() {
		require.False(t, v.Field(i).IsZero(), "everyField leaves %s unset", v.Type().Field(i).Name)
	}
	return m
}

// encoded is encodeMessage for a message it must accept.
func encoded(t testing.TB, m *store.Message) []byte {
	t.Helper()
	v, err := encodeMessage(m)
	require.NoError(t, err)
	return v
}

func TestMessageRecord_round_trips_every_field(t *testing.T) {
	m := everyField(t)
	got, err := decodeMessage(encoded(t, m))
	require.NoError(t, err)
	require.Equal(t, m, got)

	final := &store.Message{ID: "msg_2", TenantID: "acme", EndpointID: "ep_1", Status: store.StatusSucceeded,
		CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt}
	got, err = decodeMessage(encoded(t, final))
	require.NoError(t, err)
	require.Equal(t, final, got, "zero times and empty fields stay zero")

	edge := &store.Message{ID: "msg_3", Attempts: maxCount, RetryBase: maxCount,
		CreatedAt: time.Unix(0, 1).UTC(), UpdatedAt: time.Unix(0, math.MaxInt64-1).UTC()}
	got, err = decodeMessage(encoded(t, edge))
	require.NoError(t, err)
	require.Equal(t, edge, got, "the largest count and the first and last times kept")
}

// What the record cannot hold is refused, not stored as something else
// (JSON kept such values; the dispatcher never writes them).
func TestMessageRecord_refuses_what_it_cannot_hold(t *testing.T) {
	cases := map[string]*store.Message{
		"negative attempts":   {ID: "m", Attempts: -1},
		"negative retry base": {ID: "m", RetryBase: -1},
		"the epoch":           {ID: "m", CreatedAt: time.Unix(0, 0)},
		"before 1970":         {ID: "m", UpdatedAt: time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC)},
		"after 2262":          {ID: "m", NextAttemptAt: time.Date(2263, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	if big := int64(maxCount) + 1; int64(int(big)) == big { // an int past int32 exists on 64-bit platforms only
		cases["count past int32"] = &store.Message{ID: "m", Attempts: int(big)}
	}
	for name, m := range cases {
		_, err := encodeMessage(m)
		require.ErrorIs(t, err, errRecordRange, name)
	}
}

// A file written before format 5 holds JSON message records; they are
// still read, and the next write of the message stores the binary form.
func TestMessageRecord_reads_JSON_written_by_format_4(t *testing.T) {
	m := everyField(t)
	old, err := json.Marshal(m)
	require.NoError(t, err)
	db, err := bbolt.Open(t.TempDir()+"/f.db", 0o600, nil)
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucket(bucketMessages)
		require.NoError(t, err)
		require.NoError(t, b.Put([]byte(m.ID), old))
		var got *store.Message
		require.NoError(t, getRecord(b, []byte(m.ID), &got))
		require.Equal(t, m, got)
		require.NoError(t, putRecord(b, []byte(m.ID), got))
		require.Equal(t, byte(messageV1), b.Get([]byte(m.ID))[0])
		got = nil
		require.NoError(t, getRecord(b, []byte(m.ID), &got))
		require.Equal(t, m, got)
		return nil
	}))
}

func TestMessageRecord_refuses_truncated_and_garbage_records(t *testing.T) {
	enc := encoded(t, everyField(t))
	for n := range len(enc) {
		_, err := decodeMessage(enc[:n])
		require.ErrorIs(t, err, errCorruptMessage, "cut to %d bytes", n)
	}
	_, err := decodeMessage(append(enc, 0))
	require.ErrorIs(t, err, errCorruptMessage, "trailing bytes")
	_, err = decodeMessage([]byte{messageV1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	require.ErrorIs(t, err, errCorruptMessage, "a length past the record")
	over := encoded(t, &store.Message{ID: "m", Attempts: 7})
	i := bytes.IndexByte(over[1:], 7) + 1 // the only 7: Attempts, after seven empty-or-short strings and Seq
	over = append(append(bytes.Clone(over[:i]), binary.AppendUvarint(nil, maxCount+1)...), over[i+1:]...)
	_, err = decodeMessage(over)
	require.ErrorIs(t, err, errCorruptMessage, "a count past int32")
}

func FuzzDecodeMessage(f *testing.F) {
	f.Add(encoded(f, &store.Message{ID: "msg_1", Status: store.StatusPending}))
	f.Add([]byte{messageV1})
	f.Fuzz(func(t *testing.T, v []byte) {
		m, err := decodeMessage(v)
		if err != nil {
			return
		}
		// What decodes re-encodes to a record that decodes the same.
		again, err := decodeMessage(encoded(t, m))
		require.NoError(t, err)
		require.Equal(t, m, again)
	})
}

func BenchmarkMessageRecord(b *testing.B) {
	m := &store.Message{ID: "msg_0d4d6cymj3000k4b3a8w8r91b7", TenantID: "acme", EndpointID: "ep_0d4d6cymj3emrraypgj4aw0tcs",
		EventID: "evt_0d4d6cympvjt0ezvy8hq9rcnec", EventKey: "evk_0d4d6cympvjt0ezvy8hq9rcnec", Status: store.StatusDelivering,
		Seq: 123456, Attempts: 1, NextAttemptAt: time.Now().UTC(), LeaseToken: 42, CreatedAt: time.Now().UTC(), UpdatedAt: time.Now().UTC()}
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := encodeMessage(m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode", func(b *testing.B) {
		v := encoded(b, m)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeMessage(v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json_encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json_decode", func(b *testing.B) {
		v, _ := json.Marshal(m)
		b.ReportAllocs()
		for b.Loop() {
			var x store.Message
			if err := json.Unmarshal(v, &x); err != nil {
				b.Fatal(err)
			}
		}
	})
}
