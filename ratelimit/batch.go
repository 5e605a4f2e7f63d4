package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Defaults for batchOptions. In BenchmarkBatcher (2 shared cores, Redis on
// loopback) one and two pipelines in flight carried the same load within
// the noise, and four only made batches smaller. Two is the default because
// on a real network, where a round trip dwarfs the wake-up of the next
// leader, a call that arrives just after a pipeline left need not wait for
// that whole round trip unless the load keeps both slots busy.
const (
	defaultBatchInFlight = 2
	// A Check sends a few commands per hash it touches (about four
	// without a session, eight with one), so 256 holds the Checks of more
	// concurrent requests than arrive in one round trip under the
	// harness's load while bounding what one pipeline waits for.
	defaultBatchCommands = 256
)

// batchOptions configures newBatcher. Zero values select the defaults.
type batchOptions struct {
	// maxInFlight bounds the pipelines sent and not yet answered (default
	// 2). Callers that find every slot taken queue for the next pipeline.
	maxInFlight int
	// maxCommands bounds the commands of one pipeline (default 256). A
	// single call with more commands still goes, in a pipeline of its own.
	maxCommands int
}

// batcher sends the commands of concurrent callers in shared pipelines, so
// that under load many Checks share one Redis round trip, and one write and
// one read system call on each side, instead of paying one each.
//
// It is group commit with a leader and followers, and do needs no
// goroutine besides its callers': a caller that finds a pipeline slot free
// sends its commands at once on its own goroutine, so an idle batcher adds
// no latency: no timer, no linger. A caller that finds every slot taken
// queues and parks. When a
// pipeline is answered, its sender hands the slot to the oldest queued
// caller along with the queued calls that fit in one pipeline, wakes it to
// send them, wakes its own followers and returns. It never sends a second
// pipeline itself: its own request would wait a whole round trip for other
// callers' commands.
//
// No command is ever sent twice, because a HINCRBY that may have run must
// not count again: every command is marked NoRetry, which stops both the
// standalone client's retries (a caller-owned client may have MaxRetries
// above 0) and the cluster client's re-sending of a node's batch after a
// read timeout or a dropped connection. MOVED and ASK replies, which mean
// the command did not run, are still followed.
//
// A caller that must not wait longer than a budget uses doWithin instead.
// Its pipeline, when it is the one to send, is sent by a sender goroutine,
// so the caller can stop waiting at its budget without a goroutine of its
// own per call. A sender that has sent a pipeline waits a while for the
// next one before it exits (senderIdle): under load a few senders send
// every pipeline with the stack they have grown, since a goroutine started
// per pipeline grew its stack through go-redis's calls each time, and the
// profile showed that copying. A call whose caller stopped waiting still
// goes out if it was already in a pipeline (it may count); the pipeline's
// sender then returns it to the pool.
//
// A batcher is safe for concurrent use.
type batcher struct {
	client      redis.UniversalClient
	maxInFlight int
	maxCommands int

	calls sync.Pool // *batchCall
	pipes sync.Pool // redis.Pipeliner, empty; reusable after Exec

	// idle takes a detached leader to an idle sender, if one waits.
	idle chan *batchCall

	mu       sync.Mutex
	inFlight int          // guarded by mu: pipeline slots taken
	queue    []*batchCall // guarded by mu: callers waiting for a slot, oldest first

	pipelines, commands atomic.Uint64
	senders             atomic.Uint64 // sender goroutines started
}

// batchCall is one do call. Calls are pooled, so that a caller parks on a
// channel that was not allocated for it.
type batchCall struct {
	ctx  context.Context // the caller's; its values reach the client's hooks if it leads
	cmds []redis.Cmder   // the caller's commands, each wrapped in a noRetryCmd
	wrap []noRetryCmd    // the wrappers cmds points into

	queued bool // guarded by batcher.mu: waiting in batcher.queue

	// detached: the call came through doWithin, so a pipeline it leads is
	// sent by a sender goroutine (startSend) rather than by its caller.
	detached bool
	// answered: guarded by batcher.mu; its result is set and its wake
	// token sent or on its way, so its caller must take the token.
	answered bool
	// abandoned: guarded by batcher.mu; its caller stopped waiting, and
	// whoever finishes its pipeline releases it.
	abandoned bool

	// Set before wake: batch if the call is to lead (the calls to send,
	// itself first), else err, the result of the pipeline its commands went
	// in.
	batch []*batchCall
	err   error

	flat []redis.Cmder // the pipeline's commands while the call leads, kept for reuse
	wake chan struct{} // capacity 1; one token per queued wait: lead, or done
}

// noRetryCmd marks a command as never to be sent again. After a read
// timeout or a dropped connection, go-redis re-sends a pipeline unless one
// of its commands (on a cluster: of each node's part) says NoRetry, although
// its commands may already have run.
type noRetryCmd struct{ redis.Cmder }

// NoRetry implements redis.Cmder.
func (noRetryCmd) NoRetry() bool { return true }

// batchStats describes a batcher's work since it was created, and what it
// is doing now.
type batchStats struct {
	pipelines uint64 // pipelines sent
	commands  uint64 // callers' commands sent in them
	inFlight  int    // pipelines sent and not yet answered
	queued    int    // calls waiting for a pipeline
	senders   uint64 // sender goroutines started (doWithin's pipelines)
}

// newBatcher returns a batcher that sends pipelines through client, which
// may be a *redis.Client (standalone or Sentinel) or a *redis.ClusterClient
// (which splits each pipeline per node itself).
func newBatcher(client redis.UniversalClient, opts batchOptions) *batcher {
	if opts.maxInFlight <= 0 {
		opts.maxInFlight = defaultBatchInFlight
	}
	if opts.maxCommands <= 0 {
		opts.maxCommands = defaultBatchCommands
	}
	b := &batcher{
		client:      client,
		maxInFlight: opts.maxInFlight,
		maxCommands: opts.maxCommands,
	}
	b.idle = make(chan *batchCall)
	b.calls.New = func() any { return &batchCall{wake: make(chan struct{}, 1)} }
	b.pipes.New = func() any { return client.Pipeline() }
	return b
}

// do sends cmds, one caller's commands, in a pipeline shared with other
// callers' commands and returns when every one of them has its reply or its
// error. As with go-redis's Pipelined, a command's own error stays in the
// command (read cmd.Err()): an error Redis answered for one command, such
// as NOSCRIPT, affects no other command, nor do's result. do returns an
// error only if the commands were not answered as a whole: the connection
// failed, timed out or could not be had, and a command without its reply
// may or may not have run. Replies that arrived before a connection failed
// stay valid, so a caller whose commands were all answered gets nil.
//
// A caller whose ctx is done while it waits for a pipeline slot leaves the
// queue, sends nothing and gets ctx.Err(). Once its commands are sent it
// waits for their replies whatever ctx does: the connection's read timeout
// bounds that wait, and cancelling midway would cost the connection.
//
// The commands must read any reply without error other than Redis's own
// (*redis.Cmd does): go-redis gives up a connection, and the replies of the
// commands behind, when it cannot parse a reply.
func (b *batcher) do(ctx context.Context, cmds []redis.Cmder) error {
	if len(cmds) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	c := b.newCall(ctx, cmds)

	b.mu.Lock()
	// A free slot means an empty queue (dispatchLocked fills every free
	// slot while calls wait), so going first jumps no one.
	if b.inFlight < b.maxInFlight {
		b.inFlight++
		b.mu.Unlock()
		c.batch = append(c.batch, c)
		return b.lead(c)
	}
	c.queued = true
	b.queue = append(b.queue, c)
	b.mu.Unlock()

	select {
	case <-c.wake:
	case <-ctx.Done():
		b.mu.Lock()
		if c.queued {
			i := slices.Index(b.queue, c)
			b.queue = slices.Delete(b.queue, i, i+1)
			b.mu.Unlock()
			b.release(c)
			return ctx.Err()
		}
		b.mu.Unlock()
		// A pipeline took the call, possibly as its leader: it must go on.
		<-c.wake
	}
	if len(c.batch) > 0 {
		return b.lead(c)
	}
	err := c.err
	b.release(c)
	return err
}

// errNotSent wraps why doWithin stopped waiting when the call's commands
// were never sent: they did not run and never will.
var errNotSent = errors.New("redis pipeline: not sent")

// errStillRunning wraps why doWithin stopped waiting when the call's
// commands were in a pipeline: they may run, or have run, and count.
var errStillRunning = errors.New("redis pipeline: sent, reply not awaited")

// errStopped is the cause doWithin gives when stop fired.
var errStopped = errors.New("stopped waiting")

// newCall takes a pooled call for cmds.
func (b *batcher) newCall(ctx context.Context, cmds []redis.Cmder) *batchCall {
	c := b.calls.Get().(*batchCall)
	c.ctx = ctx
	for _, cmd := range cmds {
		c.wrap = append(c.wrap, noRetryCmd{cmd})
	}
	for i := range c.wrap {
		c.cmds = append(c.cmds, &c.wrap[i])
	}
	return c
}

// doWithin is do for a caller that waits only until stop delivers (its
// budget) or ctx is done, whichever comes first. Its result is do's, or,
// when it stopped waiting, an error wrapping errStopped or ctx's error and
// either errNotSent (the commands left the queue unsent) or
// errStillRunning (they were in a pipeline, which goes on without the
// caller). In the second case the caller must not read the commands'
// replies: the pipeline writes them later.
func (b *batcher) doWithin(ctx context.Context, cmds []redis.Cmder, stop <-chan time.Time) error {
	if len(cmds) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", errNotSent, err)
	}
	c := b.newCall(ctx, cmds)
	c.detached = true

	b.mu.Lock()
	if b.inFlight < b.maxInFlight {
		b.inFlight++
		c.batch = append(c.batch, c)
		b.mu.Unlock()
		b.startSend(c)
	} else {
		c.queued = true
		b.queue = append(b.queue, c)
		b.mu.Unlock()
	}

	var cause error
	select {
	case <-c.wake:
		err := c.err
		b.release(c)
		return err
	case <-stop:
		cause = errStopped
	case <-ctx.Done():
		cause = ctx.Err()
	}
	b.mu.Lock()
	switch {
	case c.queued:
		i := slices.Index(b.queue, c)
		b.queue = slices.Delete(b.queue, i, i+1)
		b.mu.Unlock()
		b.release(c)
		return fmt.Errorf("%w: %w", errNotSent, cause)
	case !c.answered:
		// The pipeline's sender now owns c and releases it.
		c.abandoned = true
		b.mu.Unlock()
		return fmt.Errorf("%w: %w", errStillRunning, cause)
	}
	b.mu.Unlock()
	// Answered as the wait ended: the token is there or coming.
	<-c.wake
	err := c.err
	b.release(c)
	return err
}

// senderIdle is how long a sender waits for another pipeline before it
// exits. Under load the next pipeline comes within a round trip; an idle
// batcher keeps no goroutine for longer than this.
const senderIdle = time.Second

// startSend has c.batch, whose first call is c (detached), sent by an idle
// sender, or by a new one if none waits. It never blocks, so it may be
// called with b.mu held.
func (b *batcher) startSend(c *batchCall) {
	select {
	case b.idle <- c:
	default:
		go b.sender(c)
	}
}

// sender sends c.batch and delivers every call its result, then sends the
// pipelines that finish hands it (the next one, when its slot goes to a
// detached caller) or startSend does, until none comes for senderIdle.
func (b *batcher) sender(c *batchCall) {
	b.senders.Add(1)
	var idle *time.Timer
	for {
		b.exec(c)
		if next := b.finish(c.batch, nil, true); next != nil {
			c = next
			continue
		}
		if idle == nil {
			idle = time.NewTimer(senderIdle)
		} else {
			idle.Reset(senderIdle)
		}
		select {
		case c = <-b.idle:
		case <-idle.C:
			return
		}
	}
}

// lead sends c.batch, whose first call is c, as one pipeline on c's
// caller's goroutine; hands c's slot on; delivers the batch's other calls
// their results; and returns c's.
func (b *batcher) lead(c *batchCall) error {
	b.exec(c)
	b.finish(c.batch, c, false)
	err := transportErr(c.cmds)
	b.release(c)
	return err
}

// exec sends the commands of c.batch as one pipeline and waits for it.
func (b *batcher) exec(c *batchCall) {
	for _, m := range c.batch {
		c.flat = append(c.flat, m.cmds...)
	}
	pipe := b.pipes.Get().(redis.Pipeliner)
	// Queueing only appends; Exec's error is the first failed command's,
	// which each call judges for itself below.
	_ = pipe.BatchProcess(c.ctx, c.flat...)
	// One caller's cancellation must not fail the others' commands.
	_, _ = pipe.Exec(context.WithoutCancel(c.ctx))
	b.pipes.Put(pipe)
	b.pipelines.Add(1)
	b.commands.Add(uint64(len(c.flat)))
	clear(c.flat)
	c.flat = c.flat[:0]
}

// finish hands an answered pipeline's slot on and delivers each call of
// its batch its result: it wakes the calls whose callers wait and releases
// those whose callers stopped waiting. self, if not nil, is the leading
// caller's own call, which it neither wakes nor releases.
//
// batch is the first call's (batch[0].batch), so that call is woken or
// released last: once it is, its caller may release it, which clears
// batch.
//
// With take (finish called by a sender), a pipeline that the freed slot
// gives to a detached leader is returned for the sender to send next, on
// the stack it has grown, rather than handed to another goroutine.
func (b *batcher) finish(batch []*batchCall, self *batchCall, take bool) (next *batchCall) {
	for _, m := range batch {
		if m != self {
			m.err = transportErr(m.cmds)
		}
	}
	// Which calls were abandoned, read under the lock: a call woken may be
	// released and reused at once, so none is looked at after its token.
	var dropBuf [4]uint64
	drop := dropBuf[:]
	if n := (len(batch) + 63) / 64; n > len(dropBuf) {
		drop = make([]uint64, n)
	}
	// The next pipeline first: the calls queued meanwhile have waited
	// longest, while waking this one's followers only lets them return.
	b.mu.Lock()
	b.inFlight--
	if take {
		b.dispatchLocked(&next)
	} else {
		b.dispatchLocked(nil)
	}
	for i, m := range batch {
		switch {
		case m == self:
		case m.abandoned:
			drop[i/64] |= 1 << (i % 64)
		default:
			m.answered = true
		}
	}
	b.mu.Unlock()

	for i := len(batch) - 1; i >= 0; i-- {
		m := batch[i]
		switch {
		case m == self:
		case drop[i/64]&(1<<(i%64)) != 0:
			b.release(m)
		default:
			m.wake <- struct{}{}
		}
	}
	return next
}

// dispatchLocked fills free pipeline slots with queued calls: for each, it
// takes the oldest calls whose commands fit in one pipeline and wakes the
// first of them to send it, or, if the first is detached, has a sender
// send it: the first such pipeline goes to *take when take is not nil
// (the calling sender sends it next), the others to startSend.
func (b *batcher) dispatchLocked(take **batchCall) {
	for len(b.queue) > 0 && b.inFlight < b.maxInFlight {
		n, cmds := 0, 0
		for _, m := range b.queue {
			if n > 0 && cmds+len(m.cmds) > b.maxCommands {
				break
			}
			n++
			cmds += len(m.cmds)
			m.queued = false
		}
		leader := b.queue[0]
		leader.batch = append(leader.batch, b.queue[:n]...)
		b.queue = slices.Delete(b.queue, 0, n)
		b.inFlight++
		switch {
		case leader.detached && take != nil && *take == nil:
			*take = leader
		case leader.detached:
			b.startSend(leader)
		default:
			leader.wake <- struct{}{} // never blocks: the leader waits for exactly this token
		}
	}
}

// transportErr returns the first error of cmds that is not Redis's answer
// to the command itself, wrapped, or nil. An error Redis answered is the
// command's own business; any other (connection, timeout, pool) means the
// command was not answered and may or may not have run.
func transportErr(cmds []redis.Cmder) error {
	for _, cmd := range cmds {
		if err := cmd.Err(); err != nil && !isRedisError(err) {
			return fmt.Errorf("redis pipeline: %w", err)
		}
	}
	return nil
}

// isRedisError reports whether err is a reply from Redis (including
// redis.Nil) rather than a failure to get one.
func isRedisError(err error) bool {
	var re redis.Error
	return errors.As(err, &re)
}

// release clears c and puts it back in the pool. Its wake channel is empty:
// every token sent was received.
func (b *batcher) release(c *batchCall) {
	clear(c.wrap)
	clear(c.cmds)
	clear(c.batch)
	*c = batchCall{wrap: c.wrap[:0], cmds: c.cmds[:0], batch: c.batch[:0], flat: c.flat, wake: c.wake}
	b.calls.Put(c)
}

// stats returns the batcher's counters and current state.
func (b *batcher) stats() batchStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return batchStats{
		pipelines: b.pipelines.Load(),
		commands:  b.commands.Load(),
		inFlight:  b.inFlight,
		queued:    len(b.queue),
		senders:   b.senders.Load(),
	}
}
