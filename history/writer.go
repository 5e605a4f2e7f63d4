package history

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"sync"
	"time"

	"github.com/botauthz/botauthz/ratelimit"
)

// Events are what happened to a request, as a Writer records them.
type Events uint8

// The events.
const (
	// Denied: the decision was deny.
	Denied Events = 1 << iota
	// RateLimited: the request exceeded a hard limit.
	RateLimited
	// ChallengeFailed: an answer to a challenge was refused for a reason
	// a person rarely causes (see package challenge).
	ChallengeFailed
	// SessionSeen: the request carried a session cookie: the session is
	// seen on the address's network, which may be a new network for the
	// session and a new session for the address.
	SessionSeen
)

// Observer is told how the Writer's records went, typically to count
// them. Its methods are called from the Writer's workers and from Record,
// concurrently.
type Observer interface {
	// HistoryWritten is called once per store call, with its error (nil
	// when it was written): a flush of the pending events, or a session's
	// sighting.
	HistoryWritten(err error)
	// HistoryDropped is called for each record dropped because the queue
	// was full.
	HistoryDropped()
}

// WriterOptions configure a Writer.
type WriterOptions struct {
	// Queue bounds the records waiting; a record that finds it full is
	// dropped and counted. Default 4096.
	Queue int
	// Flush is how long events wait to be written together. Default
	// 100ms.
	Flush time.Duration
	// Observer is told about every record; nil for none.
	Observer Observer
	// Logger receives the first error after a run of successes; nil
	// discards.
	Logger *slog.Logger
}

// Writer records what happened to requests in the history counters, after
// the decision: Record never blocks, and the store calls run on the
// Writer's own goroutine. Events wait up to WriterOptions.Flush to be
// written together in one store call, and the same event of the same
// identity (a client address or a session) within one flush counts once:
// a client breaking a limit a thousand times a second costs ten writes a
// second, not a thousand, and escalate_after counts its breaches up to ten
// a second. Close it to write what waits and stop.
type Writer struct {
	store    ratelimit.Store
	jobs     chan job
	quit     chan struct{}
	done     chan struct{}
	flush    time.Duration
	observer Observer
	log      *slog.Logger
	seen     *seenFilter
	close    sync.Once

	// pending is the events waiting for the next flush, by counter; only
	// the worker touches it, and the rest below.
	pending   map[pendingKey]time.Time
	pendingAt time.Time // the latest time among pending
	failed    bool      // the last write failed: log only the first of a run
	// lanes are the lanes of the window last recorded (usually the only
	// one), kept so that the counters a store holds share their names.
	lanes lanes
}

// pendingKey is one history counter to count once at the next flush.
type pendingKey struct {
	key, lane string
	window    time.Duration
	part      uint8
}

// job is one record.
type job struct {
	e      Entity
	ev     Events
	window time.Duration
	at     time.Time
}

// NewWriter returns a running Writer over store: pass the same store the
// Checks read, with a Guard around a remote one, whose time budget bounds
// each write.
func NewWriter(store ratelimit.Store, opts WriterOptions) (*Writer, error) {
	if store == nil {
		return nil, errors.New("history: a store is required")
	}
	if opts.Queue <= 0 {
		opts.Queue = 4096
	}
	if opts.Flush <= 0 {
		opts.Flush = 100 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	w := &Writer{store: store, jobs: make(chan job, opts.Queue), quit: make(chan struct{}), done: make(chan struct{}),
		flush: opts.Flush, observer: opts.Observer, log: opts.Logger, seen: newSeenFilter(seenFilterSize),
		pending: make(map[pendingKey]time.Time)}
	go w.run()
	return w, nil
}

// Record queues ev for e, counted at time at in counters of the given
// window. It never blocks: when the queue is full the record is dropped
// and counted. A nil Writer records nothing.
func (w *Writer) Record(e Entity, ev Events, window time.Duration, at time.Time) {
	if w == nil || ev == 0 || window <= 0 || e.Client == "" && e.Session == "" {
		return
	}
	if ev == SessionSeen && (e.Session == "" || e.Subnet == "") {
		return
	}
	select {
	case w.jobs <- job{e: e, ev: ev, window: window, at: at}:
	default:
		if w.observer != nil {
			w.observer.HistoryDropped()
		}
	}
}

// Close writes what is queued and waiting and stops the worker. Records
// after Close are queued and never written.
func (w *Writer) Close() error {
	w.close.Do(func() { close(w.quit) })
	<-w.done
	return nil
}

func (w *Writer) run() {
	defer close(w.done)
	tick := time.NewTicker(w.flush)
	defer tick.Stop()
	for {
		select {
		case j := <-w.jobs:
			w.take(j)
		case <-tick.C:
			w.writePending()
		case <-w.quit:
			for {
				select {
				case j := <-w.jobs:
					w.take(j)
				default:
					w.writePending()
					return
				}
			}
		}
	}
}

// take adds a record's events to the pending ones, and writes a session
// sighting at once: whether the network is new to the session is the
// store's answer to that write.
func (w *Writer) take(j job) {
	if len(w.pending) > 0 && absDuration(j.at.Sub(w.pendingAt)) > w.flush {
		// One store call counts at one time: events recorded further
		// apart than a flush (a clock that jumped, a test's clock) are
		// not written as if they were simultaneous.
		w.writePending()
	}
	ln := w.lanesFor(j.window)
	var clientKey, sessionKey string
	if j.e.Client != "" {
		clientKey = j.e.clientKey()
	}
	if j.e.Session != "" {
		sessionKey = j.e.sessionKey()
	}
	for _, k := range [...]struct {
		ev   Events
		part uint8
	}{{Denied, partDenied}, {RateLimited, partRateLimited}, {ChallengeFailed, partChallengeFailed}} {
		if j.ev&k.ev == 0 {
			continue
		}
		if clientKey != "" {
			w.pend(pendingKey{clientKey, ln.name, j.window, k.part}, j.at)
		}
		if sessionKey != "" {
			w.pend(pendingKey{sessionKey, ln.name, j.window, k.part}, j.at)
		}
	}
	if j.ev&SessionSeen != 0 {
		w.sighting(j, clientKey, sessionKey, ln)
	}
}

// lanesFor returns the lanes of window's counters, built once per window
// in a row.
func (w *Writer) lanesFor(window time.Duration) *lanes {
	if w.lanes.window != window {
		w.lanes = lanesFor(window)
	}
	return &w.lanes
}

func (w *Writer) pend(k pendingKey, at time.Time) {
	if prev, ok := w.pending[k]; !ok || at.After(prev) {
		w.pending[k] = at
	}
	w.pendingAt = later(w.pendingAt, at)
}

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// maxBatch bounds the counters of one store call: one script runs them
// all, and Redis serves nothing else meanwhile, so every Check that
// arrives then waits for it. A history counter is mostly a key of its own
// that no Check just touched, the dearest kind for Redis: under the
// harness's load 128 of them held Redis for 1-3 ms a call, as long as a
// folded pipeline of dozens of Checks or longer. 32 keeps a flush's calls
// near a Check pipeline's length (Redis calls over 300 µs halved, those
// over 1 ms fewer by half: BENCHMARKS.md, issue 17, seventh session); the
// flush takes more round trips, which under load share the Checks'
// pipelines.
const maxBatch = 32

// writePending counts every pending counter once, in batches of maxBatch,
// at the latest time any of them was recorded.
func (w *Writer) writePending() {
	var counters [maxBatch]ratelimit.Counter
	var obs [maxBatch]ratelimit.Observation
	for len(w.pending) > 0 {
		cs := counters[:0]
		var at time.Time
		for k, t := range w.pending {
			if len(cs) == maxBatch {
				break
			}
			cs = append(cs, ratelimit.Counter{Key: k.key, Lane: k.lane, Window: k.window, Part: k.part})
			at = later(at, t)
			delete(w.pending, k)
		}
		if len(w.pending) == 0 {
			w.pendingAt = time.Time{}
		}
		w.report(w.store.Hit(context.Background(), at, cs, obs[:len(cs)]))
	}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// sighting writes that the session was seen on the address's network, when
// the seen filter says this replica has not lately: the session's
// counter of that network says whether the network is new to the session
// (a network more, and a session new to the address) or the session came
// back (a returning session of the address). clientKey and sessionKey are
// the identities' keys, clientKey empty without an address; ln the lanes
// of j.window.
func (w *Writer) sighting(j job, clientKey, sessionKey string, ln *lanes) {
	// A network is remembered for a session over two windows, so a visitor
	// who pauses for a window and comes back from the same network is not
	// counted as coming from a new one.
	seenWindow := 2 * j.window
	if !w.seen.due(j.e.Session, j.e.Subnet, j.window, j.at) {
		return
	}
	ctx := context.Background()
	var cs [2]ratelimit.Counter
	var obs [2]ratelimit.Observation
	cs[0] = ratelimit.Counter{Key: sessionKey, Lane: ratelimit.NamedLane(nameSeenPrefix+j.e.Subnet, seenWindow), Window: seenWindow}
	err := w.store.Hit(ctx, j.at, cs[:1], obs[:1])
	if err == nil {
		n := 0
		if obs[0].Estimate()-1 < oneEvent {
			cs[n] = ratelimit.Counter{Key: sessionKey, Lane: ln.name, Window: j.window, Part: partNetworks}
			n++
			if clientKey != "" {
				cs[n] = ratelimit.Counter{Key: clientKey, Lane: ln.name, Window: j.window, Part: partNewSessions}
				n++
			}
		} else if clientKey != "" {
			cs[n] = ratelimit.Counter{Key: clientKey, Lane: ln.name, Window: j.window, Part: partReturningSessions}
			n++
		}
		err = w.store.Hit(ctx, j.at, cs[:n], obs[:n])
	}
	if err != nil {
		w.seen.forget(j.e.Session, j.e.Subnet)
	}
	w.report(err)
}

func (w *Writer) report(err error) {
	if w.observer != nil {
		w.observer.HistoryWritten(err)
	}
	first := err != nil && !w.failed
	w.failed = err != nil
	if first {
		w.log.Warn("history: writing to the counter store failed; history is incomplete until it recovers", "err", fmt.Errorf("history: %w", err))
	}
}

// seenFilterSize is the seen filter's slots: 16,384 sessions' networks,
// 384 KiB.
const seenFilterSize = 1 << 14

// seenFilter remembers which (session, network) pairs this replica wrote
// lately, so an active session costs two store writes a window (its
// first sighting, and the second, which tells that it came back) rather
// than one a request. It is direct-mapped and touched by the writer's one
// goroutine: a collision costs a write more, never one less, since the
// store's counter decides whether a network is new.
type seenFilter struct {
	seed  maphash.Seed
	slots []seenSlot
}

type seenSlot struct {
	hash      uint64
	until     int64 // Unix nanoseconds
	sightings uint8
}

func newSeenFilter(n int) *seenFilter {
	return &seenFilter{seed: maphash.MakeSeed(), slots: make([]seenSlot, n)}
}

func (f *seenFilter) slot(session, subnet string) (*seenSlot, uint64) {
	var h maphash.Hash
	h.SetSeed(f.seed)
	h.WriteString(session)
	h.WriteByte(0)
	h.WriteString(subnet)
	sum := h.Sum64()
	return &f.slots[sum%uint64(len(f.slots))], sum
}

// due reports whether the pair's sighting is to be written now: its first
// and its second within a window are, the rest are not.
func (f *seenFilter) due(session, subnet string, window time.Duration, at time.Time) bool {
	s, h := f.slot(session, subnet)
	now := at.UnixNano()
	switch {
	case s.hash != h || now >= s.until:
		*s = seenSlot{hash: h, until: now + int64(window), sightings: 1}
		return true
	case s.sightings < 2:
		s.sightings++
		return true
	}
	return false
}

// forget drops the pair, so a failed write is tried again next time.
func (f *seenFilter) forget(session, subnet string) {
	if s, h := f.slot(session, subnet); s.hash == h {
		*s = seenSlot{}
	}
}
