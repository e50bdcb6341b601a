package bolt

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/hooksmith/webhook/store"
)

// committer runs write functions from many goroutines in shared bbolt
// transactions: one fsync serves every write queued while the previous commit
// was in progress or while the transaction ran. Unlike bbolt's DB.Batch it
// never waits on a timer, so a lone write commits at once and only
// concurrent writes are grouped.
type committer struct {
	db       *bbolt.DB
	maxBatch int
	ops      chan *op
	done     chan struct{}

	// mu makes closing and queueing exclusive, so no op is queued after
	// run has drained the queue for the last time.
	mu     sync.RWMutex
	closed bool
	quit   chan struct{}

	commits, writes atomic.Uint64
	busy            atomic.Int64 // nanoseconds spent committing

	// tx is the transaction run is in, and q the scheduling view its
	// writes share (see qtx). Only run's goroutine, which runs the writes,
	// touches them.
	tx *bbolt.Tx
	q  *qtx
}

// op is one write. fn may run twice (in a failed group, then alone), so it
// must only write through tx and assign, never append to, captured results.
type op struct {
	ctx   context.Context
	fn    func(tx *bbolt.Tx) error
	errc  chan error
	state atomic.Int32 // opQueued, then opTaken by the committer or opWithdrawn by the caller
}

const (
	opQueued int32 = iota
	opTaken
	opWithdrawn
)

// rejection is an error an op returns after checks that wrote nothing, so
// the rest of its group can still commit.
type rejection struct{ err error }

func (r *rejection) Error() string { return r.err.Error() }
func (r *rejection) Unwrap() error { return r.err }

// reject marks err as a refusal made before any write.
func reject(err error) error { return &rejection{err: err} }

func newCommitter(db *bbolt.DB, maxBatch int) *committer {
	c := &committer{
		db:       db,
		maxBatch: maxBatch,
		ops:      make(chan *op, maxBatch),
		quit:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	go c.run()
	return c
}

// write queues fn and waits until it is durable or failed. A context that
// ends while fn waits in the queue withdraws it; once the committer has
// taken it, write waits for the outcome so fn never runs after write returns.
func (c *committer) write(ctx context.Context, fn func(tx *bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	o := &op{ctx: ctx, fn: fn, errc: make(chan error, 1)}
	if err := c.enqueue(ctx, o); err != nil {
		return err
	}
	select {
	case err := <-o.errc:
		return err
	case <-ctx.Done():
		if o.state.CompareAndSwap(opQueued, opWithdrawn) {
			return ctx.Err()
		}
		return <-o.errc
	}
}

func (c *committer) enqueue(ctx context.Context, o *op) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return store.ErrClosed
	}
	select {
	case c.ops <- o: // run drains the queue until quit closes, so this cannot block forever
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *committer) close() {
	c.mu.Lock()
	c.closed = true
	close(c.quit)
	c.mu.Unlock()
	<-c.done
}

func (c *committer) run() {
	defer close(c.done)
	live := make([]*op, 0, c.maxBatch)
	for {
		select {
		case o := <-c.ops:
			if !take(o) {
				continue
			}
			live = append(live[:0], o)
		case <-c.quit:
			c.failQueued()
			return
		}
		start := time.Now()
		live = c.commit(live)
		c.busy.Add(int64(time.Since(start)))
		clear(live)
	}
}

// commitYields bounds how often a commit yields to let writers join it.
const commitYields = 16

// take takes o from the queue for a commit, unless its caller withdrew it
// or its context has ended (which take answers).
func take(o *op) bool {
	if !o.state.CompareAndSwap(opQueued, opTaken) {
		return false
	}
	if err := o.ctx.Err(); err != nil {
		o.errc <- err
		return false
	}
	return true
}

// gather appends to live what is queued, up to maxBatch. The writers the
// last commit answered are still waking up: when nothing is queued, it
// yields so they can queue their next write, as long as each yield brings
// more and at most commitYields times per commit (yields counts them). A
// lone write does not wait: its first yield brings nothing.
func (c *committer) gather(live []*op, yields *int) []*op {
	n := len(live)
	if live = c.drain(live); len(live) > n || len(live) >= c.maxBatch || *yields >= commitYields {
		return live
	}
	*yields++
	runtime.Gosched()
	if live = c.drain(live); len(live) == n {
		*yields = commitYields
	}
	return live
}

// drain appends to live what is queued, without waiting, up to maxBatch.
func (c *committer) drain(live []*op) []*op {
	for len(live) < c.maxBatch {
		select {
		case o := <-c.ops:
			if take(o) {
				live = append(live, o)
			}
		default:
			return live
		}
	}
	return live
}

// failQueued answers what was queued before close; nothing is queued after.
func (c *committer) failQueued() {
	for {
		select {
		case o := <-c.ops:
			o.errc <- store.ErrClosed
		default:
			return
		}
	}
}

// errGroupFailed aborts a group transaction so each op can be rerun alone.
var errGroupFailed = errors.New("bolt: group failed")

// commit runs live, taken ops, in one transaction, which the ops queued
// meanwhile join (gather) rather than wait for its commit and then their
// own; it answers them all and returns live with those that joined.
func (c *committer) commit(live []*op) []*op {
	var results []error
	err := c.update(func(tx *bbolt.Tx) error {
		results = results[:0]
		yields := 0
		for i := 0; ; i++ {
			if i == len(live) {
				if live = c.gather(live, &yields); i == len(live) {
					return nil
				}
			}
			results = append(results, live[i].fn(tx))
			if results[i] != nil && !rejected(results[i]) {
				return errGroupFailed
			}
		}
	})
	if err == nil {
		c.commits.Add(1)
		c.writes.Add(uint64(len(live)))
		for i, o := range live {
			o.errc <- unreject(results[i])
		}
		return live
	}
	// Alone, each op gets its own error and cannot spoil the others.
	for _, o := range live {
		err := c.update(o.fn)
		if err == nil {
			c.commits.Add(1)
			c.writes.Add(1)
		}
		o.errc <- unreject(err)
	}
	return live
}

// unreject returns the error a rejection carries, or err itself. A nil
// err, what nearly every write returns, is answered before errors.As,
// whose target escapes: an allocation per write in the writer.
func unreject(err error) error {
	if err == nil {
		return nil
	}
	var r *rejection
	if errors.As(err, &r) {
		return r.err
	}
	return err
}

func rejected(err error) bool {
	var r *rejection
	return errors.As(err, &r)
}

// update runs fn in a write transaction whose writes share one qtx, and
// writes what they left in it before the commit.
func (c *committer) update(fn func(tx *bbolt.Tx) error) error {
	return c.db.Update(func(tx *bbolt.Tx) error {
		c.tx, c.q = tx, nil
		defer func() { c.tx, c.q = nil, nil }()
		if err := fn(tx); err != nil {
			return err
		}
		if c.q == nil {
			return nil
		}
		return c.q.write()
	})
}

// qtx returns the scheduling view of the committer's transaction tx. The
// writes a commit groups share it, so an endpoint's state is read and
// written once per commit however many of them touch it, and their index
// entries go to the log in a few records rather than one each. A rejected
// write leaves it as it found it, as it leaves the bucket (see reject),
// except for a state it rebuilt (getState), which is written anyway.
func (c *committer) qtx(tx *bbolt.Tx) *qtx {
	if c.tx != tx {
		return newQtx(tx)
	}
	if c.q == nil {
		c.q = newQtx(tx)
		c.q.shared = true
	}
	return c.q
}
