package retry

import (
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
