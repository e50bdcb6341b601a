package webhook

import (
	"fmt"
	"log/slog"
	"time"
)

// Hooks lets the host observe delivery, in the style of
// net/http/httptrace.ClientTrace: set the functions you need, nil ones are
// skipped.
//
// Hooks run on one goroutine of their own, in the order the events
// happened, never while the dispatcher holds a lock, so a hook may call the
// Dispatcher. Delivery never waits for them: calls queue (up to
// HookQueueSize), and while the queue is full new calls are dropped, counted
// by Dispatcher.DroppedHooks and logged. A hook that panics is logged and
// the next one runs. Keep hooks fast, or hand their work to a goroutine.
// Calls queued when the dispatcher stops still run; Stop and Close do not
// wait for them.
type Hooks struct {
	// AttemptFinished follows every HTTP attempt.
	AttemptFinished func(AttemptInfo)
	// MessageExhausted follows the last failed attempt of a message.
	MessageExhausted func(MessageInfo)
	// EndpointDisabled follows the dispatcher disabling an endpoint on its
	// own (410 Gone, or no success for Config.AutoDisableAfter); not a
	// Tenant.DisableEndpoint call.
	EndpointDisabled func(EndpointInfo)
	// CircuitOpened follows an endpoint's circuit breaker opening, or
	// opening again after a failed probe.
	CircuitOpened func(CircuitInfo)
	// CircuitClosed follows a successful probe.
	CircuitClosed func(CircuitInfo)
}

// HookQueueSize is how many hook calls may wait before new ones are dropped.
const HookQueueSize = 4096

// AttemptInfo describes a finished attempt.
type AttemptInfo struct {
	TenantID, EndpointID, EventID, MessageID string
	// Attempt is the attempt's number, from 1.
	Attempt int
	// StatusCode is the response status; 0 when no response came.
	StatusCode int
	Duration   time.Duration
	ErrorClass ErrorClass
	// Next is the message's state after the attempt: succeeded, failing
	// (with NextAttemptAt) or exhausted.
	Next          MessageStatus
	NextAttemptAt time.Time
}

// MessageInfo names a message.
type MessageInfo struct {
	TenantID, EndpointID, EventID, MessageID string
	Attempts                                 int
}

// EndpointInfo names an endpoint and why it changed.
type EndpointInfo struct {
	TenantID, EndpointID string
	Reason               string
}

// CircuitInfo describes a circuit breaker transition.
type CircuitInfo struct {
	TenantID, EndpointID string
	// Failures is the run of consecutive failed attempts (0 on close).
	Failures int
	// Until is when an opened circuit lets a probe through.
	Until time.Time
}

// emit queues a hook call; it never blocks.
func (d *Dispatcher) emit(call func(h *Hooks)) {
	if d.cfg.Hooks == nil {
		return
	}
	select {
	case d.hooks <- call:
	default:
		if n := d.droppedHooks.Add(1); n&(n-1) == 0 { // log at 1, 2, 4, 8, ... drops
			d.log.Warn("webhook: hooks are too slow; calls dropped", slog.Uint64("dropped", n))
		}
	}
}

// DroppedHooks counts hook calls dropped because the queue was full.
func (d *Dispatcher) DroppedHooks() uint64 { return d.droppedHooks.Load() }

func (d *Dispatcher) runHooks(calls <-chan func(*Hooks)) {
	for call := range calls {
		d.callHook(call)
	}
}

func (d *Dispatcher) callHook(call func(*Hooks)) {
	defer func() {
		if r := recover(); r != nil {
			d.log.Error("webhook: a hook panicked", slog.String("panic", fmt.Sprint(r)))
		}
	}()
	call(d.cfg.Hooks)
}
