package bolt

import (
	"encoding/json"
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

func TestMessageRecord_round_trips_every_field(t *testing.T) {
	m := everyField(t)
	got, err := decodeMessage(encodeMessage(m))
	require.NoError(t, err)
	require.Equal(t, m, got)

	final := &store.Message{ID: "msg_2", TenantID: "acme", EndpointID: "ep_1", Status: store.StatusSucceeded,
		CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt}
	got, err = decodeMessage(encodeMessage(final))
	require.NoError(t, err)
	require.Equal(t, final, got, "zero times and empty fields stay zero")
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
	enc := encodeMessage(everyField(t))
	for n := range len(enc) {
		_, err := decodeMessage(enc[:n])
		require.ErrorIs(t, err, errCorruptMessage, "cut to %d bytes", n)
	}
	_, err := decodeMessage(append(enc, 0))
	require.ErrorIs(t, err, errCorruptMessage, "trailing bytes")
	_, err = decodeMessage([]byte{messageV1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	require.ErrorIs(t, err, errCorruptMessage, "a length past the record")
}

func FuzzDecodeMessage(f *testing.F) {
	f.Add(encodeMessage(&store.Message{ID: "msg_1", Status: store.StatusPending}))
	f.Add([]byte{messageV1})
	f.Fuzz(func(t *testing.T, v []byte) {
		m, err := decodeMessage(v)
		if err != nil {
			return
		}
		// What decodes re-encodes to a record that decodes the same.
		again, err := decodeMessage(encodeMessage(m))
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
			_ = encodeMessage(m)
		}
	})
	b.Run("decode", func(b *testing.B) {
		v := encodeMessage(m)
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
