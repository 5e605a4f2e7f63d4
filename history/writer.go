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
	// SessionNewNetwork: the Check counted the session's sighting on the
	// address's network (Entity.Sighting), and the network was new to the
	// session: the session came from one network more, and is a session
	// new to the address.
	SessionNewNetwork
	// SessionCameBack: the Check counted the session's sighting, and the
	// session had been seen on that network before: a returning session of
	// the address.
	SessionCameBack
)

// sightingEvents are the events a Check's sighting gives (Reading.Sighting).
const sightingEvents = SessionNewNetwork | SessionCameBack

// Observer is told how the Writer's records went, typically to count
// them. Its methods are called from the Writer's workers and from Record,
// concurrently.
type Observer interface {
	// HistoryWritten is called once per store call of a flush of the
	// pending events, with its error (nil when it was written).
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
// a second. A sighting's events (a network new to a session, a session new
// to or back at an address) count each, up to maxSightingRepeats a flush:
// their thresholds are a few events, which a flush must not fold into one.
// Close it to write what waits and stop.
//
// The Writer also decides which Checks count a session's sighting
// (DueSighting): the Check does, in its own store call, and records what
// that call said.
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
	pending   map[pendingKey]pendingHits
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

// pendingHits is a pending counter's hits: n of them, the latest at at.
type pendingHits struct {
	at time.Time
	n  uint8
}

// maxSightingRepeats bounds how often one counter of a sighting counts in
// one flush: each count is a store call more, and the thresholds a
// sighting feeds (session_networks, a handful of new sessions) are
// reached well below it.
const maxSightingRepeats = 8

// job is one record.
type job struct {
	e      Entity
	ev     Events
	held   Held
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
		flush: opts.Flush, observer: opts.Observer, log: opts.Logger, seen: newSeenFilter(),
		pending: make(map[pendingKey]pendingHits)}
	go w.run()
	return w, nil
}

// Record queues ev for e, counted at time at in counters of the given
// window. It never blocks: when the queue is full the record is dropped
// and counted. A nil Writer records nothing.
func (w *Writer) Record(e Entity, ev Events, window time.Duration, at time.Time) {
	w.RecordHeld(e, ev, Held{}, window, at)
}

// RecordHeld is Record for a caller that read e's history first (a
// Check): an event held is not counted for the identity that holds it
// (Config.Held).
func (w *Writer) RecordHeld(e Entity, ev Events, held Held, window time.Duration, at time.Time) {
	if w == nil || ev == 0 || window <= 0 || e.Client == "" && e.Session == "" {
		return
	}
	// An identity that is not there holds everything; an event both hold
	// is not worth a record.
	clientHeld, sessionHeld := held.Client, held.Session
	if e.Client == "" {
		clientHeld = ^Events(0)
	}
	if e.Session == "" {
		sessionHeld = ^Events(0)
	}
	if ev &^= clientHeld & sessionHeld &^ sightingEvents; ev == 0 {
		return
	}
	if ev&sightingEvents != 0 && (e.Session == "" || e.Subnet == "") {
		ev &^= sightingEvents
		if ev == 0 {
			return
		}
	}
	select {
	case w.jobs <- job{e: e, ev: ev, held: held, window: window, at: at}:
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

// take adds a record's events to the pending ones.
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
	for part, ev := range countedEvents {
		if j.ev&ev == 0 {
			continue
		}
		if clientKey != "" && j.held.Client&ev == 0 {
			w.pend(pendingKey{clientKey, ln.name, j.window, uint8(part)}, j.at, 1)
		}
		if sessionKey != "" && j.held.Session&ev == 0 {
			w.pend(pendingKey{sessionKey, ln.name, j.window, uint8(part)}, j.at, 1)
		}
	}
	switch {
	case j.ev&SessionNewNetwork != 0:
		w.pend(pendingKey{sessionKey, ln.name, j.window, partNetworks}, j.at, maxSightingRepeats)
		if clientKey != "" {
			w.pend(pendingKey{clientKey, ln.name, j.window, partNewSessions}, j.at, maxSightingRepeats)
		}
	case j.ev&SessionCameBack != 0 && clientKey != "":
		w.pend(pendingKey{clientKey, ln.name, j.window, partReturningSessions}, j.at, maxSightingRepeats)
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

// pend adds a hit of k at at to the pending ones, up to most hits of k
// a flush.
func (w *Writer) pend(k pendingKey, at time.Time, most uint8) {
	p := w.pending[k]
	p.at = later(p.at, at)
	if p.n < most {
		p.n++
	}
	w.pending[k] = p
	w.pendingAt = later(w.pendingAt, at)
}

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// maxBatch bounds the counters of one store call: Redis runs the commands
// it reads together from one connection (up to its 16 KB read buffer) one
// after another before it serves another client, so every Check that
// arrives then waits for them. A history counter is mostly a key of its
// own that no Check just touched, the dearest kind for Redis: under the
// harness's load 128 of them held Redis for 1-3 ms a call (then one Lua
// script), as long as a pipeline of dozens of Checks or longer. 32 keeps
// a flush's calls near a Check pipeline's length (Redis calls over 300 µs
// halved, those over 1 ms fewer by half: BENCHMARKS.md, issue 17, seventh
// session); the flush takes more round trips, which under load share the
// Checks' pipelines.
const maxBatch = 32

// writePending counts every pending counter as often as it is pending, in
// batches of maxBatch that each count a counter at most once (a store call
// takes a counter once), at the latest time any of them was recorded.
func (w *Writer) writePending() {
	var counters [maxBatch]ratelimit.Counter
	var obs [maxBatch]ratelimit.Observation
	for len(w.pending) > 0 {
		cs := counters[:0]
		var at time.Time
		for k, p := range w.pending {
			if len(cs) == maxBatch {
				break
			}
			cs = append(cs, ratelimit.Counter{Key: k.key, Lane: k.lane, Window: k.window, Part: k.part})
			at = later(at, p.at)
			if p.n > 1 {
				p.n--
				w.pending[k] = p
			} else {
				delete(w.pending, k)
			}
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

// DueSighting reports whether a Check of e's session from e.Subnet, at at,
// is to count the session's sighting on that network (Entity.Sighting):
// the first and the second Check of the pair within window are, so that a
// store learns of a session new to a network and of one that came back,
// and the rest are not, so that an active session costs two counted lanes
// a window rather than one a Check. The filter is this replica's; a
// collision in it costs a sighting more, never one less, since the store's
// counter decides whether a network is new. A nil Writer, or an e without
// a session or a network, has none due. Safe for concurrent use.
func (w *Writer) DueSighting(e *Entity, window time.Duration, at time.Time) bool {
	if w == nil || e.Session == "" || e.Subnet == "" || window <= 0 {
		return false
	}
	return w.seen.due(e.Session, e.Subnet, window, at)
}

// SightingFailed tells the filter that a Check could not count e's
// sighting (its store call failed), so the next Check of the pair counts
// it.
func (w *Writer) SightingFailed(e *Entity) {
	if w == nil || e.Session == "" || e.Subnet == "" {
		return
	}
	w.seen.forget(e.Session, e.Subnet)
}

// seenFilterSize is the seen filter's slots: 16,384 sessions' networks,
// 384 KiB.
const seenFilterSize = 1 << 14

// seenShards is how many locks the seen filter's slots are split under:
// Checks on both cores rarely wait for one another.
const seenShards = 64

// seenFilter remembers which (session, network) pairs this replica counted
// lately. It is direct-mapped, its slots under seenShards locks, so that
// Checks consult it concurrently.
type seenFilter struct {
	seed   maphash.Seed
	shards [seenShards]seenShard
}

type seenShard struct {
	mu    sync.Mutex
	slots [seenFilterSize / seenShards]seenSlot
}

type seenSlot struct {
	hash      uint64
	until     int64 // Unix nanoseconds
	sightings uint8
}

func newSeenFilter() *seenFilter {
	return &seenFilter{seed: maphash.MakeSeed()}
}

// slot returns the pair's slot, locked, and its hash; the caller unlocks
// the shard's mutex.
func (f *seenFilter) slot(session, subnet string) (*seenSlot, *sync.Mutex, uint64) {
	var h maphash.Hash
	h.SetSeed(f.seed)
	h.WriteString(session)
	h.WriteByte(0)
	h.WriteString(subnet)
	sum := h.Sum64()
	sh := &f.shards[sum>>58] // the top six bits pick the shard
	sh.mu.Lock()
	return &sh.slots[sum%uint64(len(sh.slots))], &sh.mu, sum
}

// due reports whether the pair's sighting is to be counted now: its first
// and its second within a window are, the rest are not.
func (f *seenFilter) due(session, subnet string, window time.Duration, at time.Time) bool {
	s, mu, h := f.slot(session, subnet)
	defer mu.Unlock()
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

// forget drops the pair, so a sighting not counted is tried again next
// time.
func (f *seenFilter) forget(session, subnet string) {
	s, mu, h := f.slot(session, subnet)
	if s.hash == h {
		*s = seenSlot{}
	}
	mu.Unlock()
}
