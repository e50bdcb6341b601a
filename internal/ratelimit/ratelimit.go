// Package ratelimit keeps one token bucket (golang.org/x/time/rate) per
// endpoint, created on first use and dropped once it has refilled, so only
// endpoints sending right now cost memory.
//
// Admission is split in two so it can run inside a store transaction that
// may be retried: Admit only looks, Take spends. Callers never wait on a
// limiter; Admit says when the next token will be there instead.
package ratelimit

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Registry maps endpoint IDs to limiters. It is safe for concurrent use.
type Registry struct {
	mu sync.Mutex
	m  map[string]*entry
}

type entry struct {
	lim *rate.Limiter
	// last is when Take last spent: a changed rate or burst applies from
	// then, so that Admit, which only looks, and Take agree on it.
	last time.Time
}

// New returns an empty registry.
func New() *Registry { return &Registry{m: map[string]*entry{}} }

// maxWait bounds notBefore for absurdly low limits, where the wait would
// overflow a time.Duration.
const maxWait = 100 * 365 * 24 * time.Hour

// Admit reports how many of want sends the limit (per second, with burst;
// a limit of 0 or less is unlimited) allows at now, and when fewer are
// allowed, when the next token is due: an Admit then admits at least one,
// once the n admitted now have been taken at now. It changes nothing.
func (r *Registry) Admit(id string, limit float64, burst, want int, now time.Time) (int, time.Time) {
	if limit <= 0 || want <= 0 {
		return max(want, 0), time.Time{}
	}
	burst = max(burst, 1)
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.m[id]
	tokens := float64(burst)
	if e != nil {
		tokens = e.tokensAt(limit, burst, now)
	}
	n := min(want, int(math.Floor(max(tokens, 0))))
	if n == want {
		return n, time.Time{}
	}
	missing := float64(n+1) - tokens
	wait := maxWait
	if w := math.Ceil(missing / limit * float64(time.Second)); w < float64(maxWait) {
		wait = time.Duration(w)
	}
	// Rounding can leave the token a hair short at wait: check with the
	// arithmetic the limiter will use then, both as it stands and after
	// Take(n) at now.
	due := func(wait time.Duration) bool {
		if e != nil && e.tokensAt(limit, burst, now.Add(wait)) < float64(min(n+1, burst)) {
			return false
		}
		return n == 0 || min(tokens-float64(n)+wait.Seconds()*limit, float64(burst)) >= 1
	}
	for step := time.Duration(1); wait < maxWait && !due(wait); step *= 2 {
		wait += step
	}
	return n, now.Add(wait)
}

// tokensAt is what the bucket holds at now under limit and burst, which
// apply from the last Take if they changed since, as Take applies them.
func (e *entry) tokensAt(limit float64, burst int, now time.Time) float64 {
	if e.lim.Limit() == rate.Limit(limit) && e.lim.Burst() == burst {
		return e.lim.TokensAt(now)
	}
	// As the limiter computes it: TokensAt(e.last) is its stored count.
	tokens := e.lim.TokensAt(e.last) + max(now.Sub(e.last), 0).Seconds()*limit
	return min(tokens, float64(burst))
}

// Take spends n tokens at now, creating the endpoint's limiter if needed.
func (r *Registry) Take(id string, limit float64, burst, n int, now time.Time) {
	if limit <= 0 || n <= 0 {
		return
	}
	burst = max(burst, 1)
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.m[id]
	if e == nil {
		e = &entry{lim: rate.NewLimiter(rate.Limit(limit), burst)}
		r.m[id] = e
	} else {
		// A changed rate or burst applies from the last Take, as Admit
		// counted it.
		if e.lim.Limit() != rate.Limit(limit) {
			e.lim.SetLimitAt(e.last, rate.Limit(limit))
		}
		if e.lim.Burst() != burst {
			e.lim.SetBurstAt(e.last, burst)
		}
	}
	// Never more than Admit allowed, so this reserves without a delay; a
	// deficit would only push the next Admit later.
	e.lim.ReserveN(now, min(n, burst))
	e.last = now
}

// Sweep drops the limiters that have refilled by now: a fresh one would
// behave the same, so nothing is lost.
func (r *Registry) Sweep(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, e := range r.m {
		if e.lim.TokensAt(now) >= float64(e.lim.Burst()) {
			delete(r.m, id)
		}
	}
}

// Len is the number of limiters held.
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.m)
}
