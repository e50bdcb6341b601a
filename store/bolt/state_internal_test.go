package bolt

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hooksmith/webhook/store"
)

func fullState() *epState {
	at := time.Date(2026, 11, 24, 5, 0, 0, 123, time.UTC)
	return &epState{TenantID: "acme", FIFO: true, Leased: 7, Hold: at.Add(time.Second), Blocked: true, Ready: at.Add(2 * time.Second),
		Health: store.EndpointHealth{LastSuccessAt: at, LastFailureAt: at.Add(time.Minute), FailingSince: at.Add(time.Minute)}}
}

func TestState_round_trips(t *testing.T) {
	for name, st := range map[string]*epState{"every field": fullState(), "zero": {}, "tenant only": {TenantID: "t"}} {
		v, err := encodeState(st)
		require.NoError(t, err, name)
		got, err := decodeState(v)
		require.NoError(t, err, name)
		require.Equal(t, st, got, name)
	}
}

// Files written before format 7 hold JSON states.
func TestState_reads_the_JSON_form(t *testing.T) {
	want := fullState()
	v, err := json.Marshal(want)
	require.NoError(t, err)
	got, err := decodeState(v)
	require.NoError(t, err)
	require.Equal(t, want, got)
	_, err = decodeState([]byte("{not json"))
	require.Error(t, err)
}

func TestState_refuses_what_it_cannot_hold_or_read(t *testing.T) {
	st := fullState()
	st.Hold = time.Date(1969, 1, 1, 0, 0, 0, 0, time.UTC)
	_, err := encodeState(st)
	require.ErrorIs(t, err, errRecordRange)

	v, err := encodeState(fullState())
	require.NoError(t, err)
	for n := range len(v) {
		_, err := decodeState(v[:n])
		require.ErrorIs(t, err, errCorruptState, "cut to %d bytes", n)
	}
	_, err = decodeState(append(v, 0))
	require.ErrorIs(t, err, errCorruptState, "trailing bytes")
	// v is version, tenant length, "acme", flags, then the rest.
	withFlags := func(f byte) []byte { return append([]byte{stateV1, 1, 'a', f}, v[2+len("acme")+1:]...) }
	_, err = decodeState(withFlags(stateFIFO | stateBlocked))
	require.NoError(t, err)
	_, err = decodeState(withFlags(4))
	require.ErrorIs(t, err, errCorruptState, "an unknown flag")
	_, err = decodeState(append([]byte{stateV1 + 1}, v[1:]...))
	require.ErrorIs(t, err, errCorruptState, "an unknown version")
	_, err = decodeState([]byte{stateV1, 0x80})
	require.ErrorIs(t, err, errCorruptState, "a broken length")
}

func FuzzDecodeState(f *testing.F) {
	good, err := encodeState(fullState())
	require.NoError(f, err)
	f.Add(good)
	f.Add([]byte{stateV1, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte(`{"tenant_id":"acme","leased":2}`))
	f.Fuzz(func(t *testing.T, v []byte) {
		st, err := decodeState(v)
		if err != nil || (len(v) > 0 && v[0] == '{') {
			return
		}
		// What decodes must encode, and read back the same.
		again, err := encodeState(st)
		require.NoError(t, err)
		got, err := decodeState(again)
		require.NoError(t, err)
		require.Equal(t, st, got)
	})
}
