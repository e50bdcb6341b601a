// Package retry computes when a failed message is tried again.
package retry

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultSchedule is the delay before each attempt: the first immediately,
// then 5s, 5m, 30m, 2h, 5h, 10h and 10h (about 27.6 hours in all).
var DefaultSchedule = []time.Duration{
	0, 5 * time.Second, 5 * time.Minute, 30 * time.Minute,
	2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour,
}

// JitterFraction spreads each delay uniformly over ±20% so that messages
// failing together do not retry together.
const JitterFraction = 0.2

// Next returns the delay before the attempt that follows attempt number done
// (1-based), and false when the schedule is exhausted.
func Next(schedule []time.Duration, done int) (time.Duration, bool) {
	if done < 0 || done >= len(schedule) {
		return 0, false
	}
	return Jitter(schedule[done]), true
}

// Jitter returns d moved by a uniform random amount within ±JitterFraction.
func Jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	span := float64(d) * JitterFraction
	return d + time.Duration((rand.Float64()*2-1)*span)
}

// After reads a Retry-After header, in seconds or as an HTTP date, as a
// delay from now. A date in the past is a delay of zero.
func After(h http.Header, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		return time.Duration(min(secs, int64(maxAfter/time.Second))) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return min(max(t.Sub(now), 0), maxAfter), true
}

// maxAfter keeps absurd Retry-After values from overflowing; callers clamp
// to their own, smaller maximum.
const maxAfter = 365 * 24 * time.Hour

// ClientError reports a 4xx status that retrying will not fix: every 4xx
// but 408 Request Timeout and 429 Too Many Requests.
func ClientError(status int) bool {
	return status >= 400 && status < 500 && status != http.StatusRequestTimeout && status != http.StatusTooManyRequests
}
