// Package breaker pauses endpoints that keep failing. After Threshold
// consecutive failed attempts an endpoint's circuit opens for a cool-down;
// then a single probe is let through: its success closes the circuit, its
// failure opens it again for twice as long, up to MaxCooldown. While open,
// the endpoint's messages simply wait, so the pause spends none of their
// attempts.
//
// Like ratelimit, admission is split: Admit looks, Claimed records that the
// probe went out.
package breaker

import (
	"sync"
	"time"
)

// Breaker tracks the endpoints that have failed recently. It is safe for
// concurrent use. A Threshold of 0 or less disables it.
type Breaker struct {
	Threshold   int
	Cooldown    time.Duration
	MaxCooldown time.Duration

	mu sync.Mutex
	m  map[string]*circuit
}

type circuit struct {
	failures  int
	open      bool
	openUntil time.Time
	cooldown  time.Duration
	probing   bool
	last      time.Time
}

// Change reports a circuit transition caused by Record.
type Change struct {
	Opened, Closed bool
	// Failures is the run of consecutive failures so far.
	Failures int
	// Until is when an opened circuit lets a probe through.
	Until time.Time
}

// New returns a breaker.
func New(threshold int, cooldown, maxCooldown time.Duration) *Breaker {
	return &Breaker{Threshold: threshold, Cooldown: cooldown, MaxCooldown: max(maxCooldown, cooldown), m: map[string]*circuit{}}
}

// Admit reports how many of want messages may go to the endpoint at now:
// all while closed; none until the cool-down ends while open (notBefore is
// then its end); after it, one probe, and none while that probe is out
// (notBefore zero: wait for its outcome). It changes nothing.
func (b *Breaker) Admit(id string, want int, now time.Time) (int, time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.m[id]
	switch {
	case c == nil || !c.open:
		return want, time.Time{}
	case now.Before(c.openUntil):
		return 0, c.openUntil
	case c.probing:
		return 0, time.Time{}
	default:
		return min(want, 1), time.Time{}
	}
}

// Claimed records that messages admitted at now went out, and reports
// whether the first of them is the probe: it is after the cool-down. A
// message admitted while the circuit was closed is no probe, even if the
// circuit has opened since.
func (b *Breaker) Claimed(id string, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if c := b.m[id]; c != nil && c.open && !c.probing && !now.Before(c.openUntil) {
		c.probing = true
		return true
	}
	return false
}

// Released records that a message went back unattempted, so a probe that
// was never made does not hold the circuit.
func (b *Breaker) Released(id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if c := b.m[id]; c != nil {
		c.probing = false
	}
}

// Record folds an attempt's outcome in and reports whether the circuit
// opened or closed.
func (b *Breaker) Record(id string, ok bool, now time.Time) Change {
	if b.Threshold <= 0 {
		return Change{}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.m[id]
	if ok {
		delete(b.m, id)
		if c != nil && c.open {
			return Change{Closed: true}
		}
		return Change{}
	}
	if c == nil {
		c = &circuit{}
		b.m[id] = c
	}
	c.failures++
	c.last = now
	switch {
	case c.open && c.probing:
		// The probe failed: open again, for longer.
		c.probing = false
		c.cooldown = min(c.cooldown*2, b.MaxCooldown)
		c.openUntil = now.Add(c.cooldown)
		return Change{Opened: true, Failures: c.failures, Until: c.openUntil}
	case !c.open && c.failures >= b.Threshold:
		c.open, c.cooldown = true, b.Cooldown
		c.openUntil = now.Add(c.cooldown)
		return Change{Opened: true, Failures: c.failures, Until: c.openUntil}
	}
	// A failure of a message sent before the circuit opened changes nothing.
	return Change{}
}

// Sweep forgets closed circuits whose last failure is older than idle, so
// an endpoint that failed once long ago costs nothing.
func (b *Breaker) Sweep(now time.Time, idle time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for id, c := range b.m {
		if !c.open && now.Sub(c.last) > idle {
			delete(b.m, id)
		}
	}
}

// Tracked reports whether the endpoint has failed since its last success
// (its circuit may be closed, open or probing).
func (b *Breaker) Tracked(id string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.m[id] != nil
}

// Open reports whether the endpoint's circuit is open.
func (b *Breaker) Open(id string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.m[id]
	return c != nil && c.open
}
