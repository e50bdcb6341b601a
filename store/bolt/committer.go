package bolt

import (
	"context"
	"errors"
	"sync/atomic"

	bbolt "go.etcd.io/bbolt"

	"github.com/hooksmith/webhook/store"
)

// committer runs write functions from many goroutines in shared bbolt
// transactions: one fsync serves every write queued while the previous commit
// was in progress. Unlike bbolt's DB.Batch it never waits on a timer, so a
// lone write commits at once and only concurrent writes are grouped.
type committer struct {
	db       *bbolt.DB
	maxBatch int
	ops      chan *op
	quit     chan struct{}
	done     chan struct{}

	commits, writes atomic.Uint64
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
	select {
	case c.ops <- o:
	case <-c.quit:
		return store.ErrClosed
	case <-ctx.Done():
		return ctx.Err()
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

func (c *committer) close() {
	close(c.quit)
	<-c.done
}

func (c *committer) run() {
	defer close(c.done)
	batch := make([]*op, 0, c.maxBatch)
	for {
		select {
		case o := <-c.ops:
			batch = append(batch[:0], o)
		case <-c.quit:
			c.failQueued()
			return
		}
	fill:
		for len(batch) < c.maxBatch {
			select {
			case o := <-c.ops:
				batch = append(batch, o)
			default:
				break fill
			}
		}
		c.commit(batch)
		clear(batch)
	}
}

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

func (c *committer) commit(batch []*op) {
	live := batch[:0:0]
	for _, o := range batch {
		if !o.state.CompareAndSwap(opQueued, opTaken) {
			continue // withdrawn by its caller
		}
		if err := o.ctx.Err(); err != nil {
			o.errc <- err
			continue
		}
		live = append(live, o)
	}
	if len(live) == 0 {
		return
	}
	if len(live) > 1 {
		err := c.db.Update(func(tx *bbolt.Tx) error {
			for _, o := range live {
				if err := o.fn(tx); err != nil {
					return errGroupFailed
				}
			}
			return nil
		})
		if err == nil {
			c.commits.Add(1)
			c.writes.Add(uint64(len(live)))
			for _, o := range live {
				o.errc <- nil
			}
			return
		}
	}
	// Alone, each op gets its own error and cannot spoil the others.
	for _, o := range live {
		err := c.db.Update(o.fn)
		if err == nil {
			c.commits.Add(1)
			c.writes.Add(1)
		}
		o.errc <- err
	}
}
