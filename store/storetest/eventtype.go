package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hooksmith/webhook/store"
)

// putEventTypes stores n event types named type.0000.. in a scrambled order
// and returns their names in name order.
func (f *fixture) putEventTypes(n int) []string {
	f.t.Helper()
	names := ids("type.%04d", 0, n)
	for k := range n {
		i := (k*7 + 3) % n // a permutation when n is not a multiple of 7
		require.NoError(f.t, f.s.EventTypePut(f.ctx, newEventType(names[i])))
	}
	return names
}

func (f *fixture) eventTypeNames(p store.ListParams) []string {
	f.t.Helper()
	list, err := f.s.EventTypeList(f.ctx, p)
	require.NoError(f.t, err, "EventTypeList(%+v)", p)
	var names []string
	for _, e := range list {
		names = append(names, e.Name)
	}
	return names
}

var eventTypeCases = []testCase{
	{"EventTypeGet/returns_every_field_EventTypePut_stored", func(t *testing.T, f *fixture) {
		paid := &store.EventType{
			Name:        "invoice.paid",
			Description: "An invoice was paid.",
			Archived:    true,
			CreatedAt:   t0.Add(123 * time.Microsecond),
			UpdatedAt:   t0.Add(time.Hour + 456*time.Microsecond),
		}
		voided := newEventType("invoice.voided")
		require.NoError(t, f.s.EventTypePut(f.ctx, paid))
		require.NoError(t, f.s.EventTypePut(f.ctx, voided))

		got, err := f.s.EventTypeGet(f.ctx, "invoice.paid")
		require.NoError(t, err)
		requireEventType(t, paid, got)
		got, err = f.s.EventTypeGet(f.ctx, "invoice.voided")
		require.NoError(t, err)
		requireEventType(t, voided, got)
	}},
	{"EventTypeGet/returns_ErrNotFound_for_a_missing_name", func(t *testing.T, f *fixture) {
		_, err := f.s.EventTypeGet(f.ctx, "invoice.paid")
		require.ErrorIs(t, err, store.ErrNotFound, "empty store")

		require.NoError(t, f.s.EventTypePut(f.ctx, newEventType("invoice.paid")))
		_, err = f.s.EventTypeGet(f.ctx, "invoice.pai")
		require.ErrorIs(t, err, store.ErrNotFound, "prefix of an existing name")
		_, err = f.s.EventTypeGet(f.ctx, "invoice.paid.extra")
		require.ErrorIs(t, err, store.ErrNotFound, "extension of an existing name")
	}},
	{"EventTypePut/replaces_an_existing_entry", func(t *testing.T, f *fixture) {
		v1 := &store.EventType{Name: "invoice.paid", Description: "v1", CreatedAt: t0, UpdatedAt: t0}
		v2 := &store.EventType{Name: "invoice.paid", Description: "v2", Archived: true, CreatedAt: t0, UpdatedAt: t0.Add(time.Minute)}
		v3 := &store.EventType{Name: "invoice.paid", CreatedAt: t0, UpdatedAt: t0.Add(2 * time.Minute)}
		require.NoError(t, f.s.EventTypePut(f.ctx, v1))
		require.NoError(t, f.s.EventTypePut(f.ctx, v2))

		got, err := f.s.EventTypeGet(f.ctx, "invoice.paid")
		require.NoError(t, err)
		requireEventType(t, v2, got)

		require.NoError(t, f.s.EventTypePut(f.ctx, v3))
		got, err = f.s.EventTypeGet(f.ctx, "invoice.paid")
		require.NoError(t, err)
		requireEventType(t, v3, got, "the description and archived flag are cleared, not merged")

		require.Equal(t, []string{"invoice.paid"}, f.eventTypeNames(store.ListParams{}), "replacing does not add an entry")
	}},
	{"EventTypeList/returns_entries_in_name_order", func(t *testing.T, f *fixture) {
		require.Empty(t, f.eventTypeNames(store.ListParams{}), "empty store")

		names := f.putEventTypes(20)
		list, err := f.s.EventTypeList(f.ctx, store.ListParams{Limit: 100})
		require.NoError(t, err)
		require.Len(t, list, 20)
		for i, e := range list {
			requireEventType(t, newEventType(names[i]), e, "entry %d", i)
		}
	}},
	{"EventTypeList/pages_visit_every_entry_exactly_once", func(t *testing.T, f *fixture) {
		names := f.putEventTypes(20)
		for _, limit := range []int{1, 3, 7, 20, 21} {
			got := pages(t, limit, 20, func(after string, limit int) []*store.EventType {
				list, err := f.s.EventTypeList(f.ctx, store.ListParams{After: after, Limit: limit})
				require.NoError(t, err)
				return list
			}, func(e *store.EventType) string { return e.Name })
			require.Equal(t, names, got, "limit %d", limit)
		}
	}},
	{"EventTypeList/starts_after_a_name_that_does_not_exist", func(t *testing.T, f *fixture) {
		names := f.putEventTypes(6)
		require.Equal(t, names[3:], f.eventTypeNames(store.ListParams{After: names[2] + "~"}))
		require.Equal(t, names, f.eventTypeNames(store.ListParams{After: "a"}))
		require.Empty(t, f.eventTypeNames(store.ListParams{After: names[5]}), "after the last entry")
		require.Empty(t, f.eventTypeNames(store.ListParams{After: "zzz"}), "after every entry")
	}},
	{"EventTypeList/limit_0_or_above_MaxPageSize_returns_a_full_page", func(t *testing.T, f *fixture) {
		names := f.putEventTypes(20)
		require.Equal(t, names, f.eventTypeNames(store.ListParams{}), "limit 0 means MaxPageSize")
		require.Equal(t, names, f.eventTypeNames(store.ListParams{Limit: store.MaxPageSize + 1}), "limits are clamped")
		require.Equal(t, names[5:], f.eventTypeNames(store.ListParams{After: names[4]}), "limit 0 with a cursor")
		require.Equal(t, names[:2], f.eventTypeNames(store.ListParams{Limit: 2}))
	}},
}
