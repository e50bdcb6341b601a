package retry

import (
	"net/http"
	"testing"
	"time"
)

func TestNext_follows_schedule_with_bounded_jitter(t *testing.T) {
	t.Parallel()
	for done := 1; done < len(DefaultSchedule); done++ {
		base := DefaultSchedule[done]
		lo, hi := time.Duration(float64(base)*0.8), time.Duration(float64(base)*1.2)
		for range 200 {
			d, ok := Next(DefaultSchedule, done)
			if !ok {
				t.Fatalf("attempt %d: schedule reported exhausted", done)
			}
			if d < lo || d > hi {
				t.Fatalf("attempt %d: delay %v outside [%v, %v]", done, d, lo, hi)
			}
		}
	}
}

func TestNext_reports_exhaustion_after_last_attempt(t *testing.T) {
	t.Parallel()
	if _, ok := Next(DefaultSchedule, len(DefaultSchedule)); ok {
		t.Fatal("expected exhaustion after the last scheduled attempt")
	}
	if d := Jitter(0); d != 0 {
		t.Fatalf("zero delay jittered to %v", d)
	}
}

func TestAfter_reads_seconds_and_dates(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"0":                             0,
		"120":                           2 * time.Minute,
		"Mon, 23 Nov 2026 12:05:00 GMT": 5 * time.Minute,
		"Mon, 23 Nov 2026 11:00:00 GMT": 0, // in the past
		"99999999999999":                maxAfter,
	} {
		got, ok := After(http.Header{"Retry-After": {v}}, now)
		if !ok || got != want {
			t.Fatalf("Retry-After %q: got %v, %t; want %v", v, got, ok, want)
		}
	}
	for _, v := range []string{"", "-5", "soon", "1.5"} {
		if _, ok := After(http.Header{"Retry-After": {v}}, now); ok {
			t.Fatalf("Retry-After %q was accepted", v)
		}
	}
}

func TestClientError(t *testing.T) {
	t.Parallel()
	for status, want := range map[int]bool{400: true, 404: true, 410: true, 408: false, 429: false, 500: false, 302: false} {
		if ClientError(status) != want {
			t.Fatalf("ClientError(%d) = %t", status, !want)
		}
	}
}
