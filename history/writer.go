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
	// HistoryWritten is called once per record written, with the store's
	// error (nil when it was written).
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
	// Workers write concurrently. Default 2.
	Workers int
	// Observer is told about every record; nil for none.
	Observer Observer
	// Logger receives the first error after a run of successes; nil
	// discards.
	Logger *slog.Logger
}

// Writer records what happened to requests in the history counters, after
// the decision: Record never blocks, and the store calls run on the
// Writer's own goroutines. Close it to stop them.
type Writer struct {
	store    ratelimit.Store
	jobs     chan job
	quit     chan struct{}
	wg       sync.WaitGroup
	observer Observer
	log      *slog.Logger
	seen     *seenFilter
	close    sync.Once

	mu     sync.Mutex
	failed bool // the last write failed: log only the first of a run
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
	if opts.Workers <= 0 {
		opts.Workers = 2
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	w := &Writer{store: store, jobs: make(chan job, opts.Queue), quit: make(chan struct{}),
		observer: opts.Observer, log: opts.Logger, seen: newSeenFilter(seenFilterSize)}
	w.wg.Add(opts.Workers)
	for range opts.Workers {
		go w.run()
	}
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

// Close writes what is queued and stops the workers. Records after Close
// are queued and never written.
func (w *Writer) Close() error {
	w.close.Do(func() { close(w.quit) })
	w.wg.Wait()
	return nil
}

func (w *Writer) run() {
	defer w.wg.Done()
	for {
		select {
		case j := <-w.jobs:
			w.write(j)
		case <-w.quit:
			for {
				select {
				case j := <-w.jobs:
					w.write(j)
				default:
					return
				}
			}
		}
	}
}

// write writes one record: its events' counters in one store call, and,
// when the session was seen on a network the session had not been seen on
// within the window, that network and that new session in a second. The
// store is the one the Checks use, guarded by its own time budget.
func (w *Writer) write(j job) {
	ctx := context.Background()
	var ks keySet
	for _, k := range [...]struct {
		ev   Events
		name string
	}{{Denied, nameDenied}, {RateLimited, nameRateLimited}, {ChallengeFailed, nameChallengeFailed}} {
		if j.ev&k.ev != 0 {
			ks.add(ratelimit.DimIP, j.e.Client, k.name, "", j.window)
			ks.add(ratelimit.DimSession, j.e.Session, k.name, "", j.window)
		}
	}
	// A network is remembered for a session over two windows, so a visitor
	// who pauses for a window and comes back from the same network is not
	// counted as coming from a new one.
	seenWindow := 2 * j.window
	seen := -1
	if j.ev&SessionSeen != 0 && w.seen.due(j.e.Session, j.e.Subnet, seenWindow, j.at) {
		seen = ks.n
		ks.add(ratelimit.DimSession, j.e.Session, nameSeenPrefix, j.e.Subnet, seenWindow)
	}
	if ks.n == 0 {
		return
	}
	var obs [maxWriteCounters]ratelimit.Observation
	cs := ks.counters()
	err := w.store.Hit(ctx, j.at, cs, obs[:len(cs)])
	if err == nil && seen >= 0 && obs[seen].Estimate()-1 < oneEvent {
		// Not seen on this network within the window: a network more for
		// the session, and a new session for the address.
		ks = keySet{}
		ks.add(ratelimit.DimSession, j.e.Session, nameNetworks, "", j.window)
		ks.add(ratelimit.DimIP, j.e.Client, nameNewSessions, "", j.window)
		cs = ks.counters()
		err = w.store.Hit(ctx, j.at, cs, obs[:len(cs)])
	}
	if err != nil && seen >= 0 {
		w.seen.forget(j.e.Session, j.e.Subnet)
	}
	w.report(err)
}

// maxWriteCounters bounds one write: three events for an address and a
// session, and a network seen.
const maxWriteCounters = 7

// keySet gathers a write's counters, so that their keys share one
// allocation.
type keySet struct {
	n    int
	spec [maxWriteCounters]keySpec
}

type keySpec struct {
	dim              ratelimit.Dimension
	id, name, suffix string
	window           time.Duration
}

// add adds a counter of identity id, unless id is unknown.
func (k *keySet) add(dim ratelimit.Dimension, id, name, suffix string, window time.Duration) {
	if id != "" {
		k.spec[k.n] = keySpec{dim, id, name, suffix, window}
		k.n++
	}
}

// counters builds the counters, their keys in one string.
func (k *keySet) counters() []ratelimit.Counter {
	var buf [1024]byte
	b := buf[:0]
	var ends [maxWriteCounters]int
	for i, s := range k.spec[:k.n] {
		b = ratelimit.AppendNamedKey(b, s.dim, s.id, s.name+s.suffix, s.window)
		ends[i] = len(b)
	}
	keys := string(b)
	cs := make([]ratelimit.Counter, k.n)
	start := 0
	for i, s := range k.spec[:k.n] {
		cs[i] = ratelimit.Counter{Key: keys[start:ends[i]], Window: s.window}
		start = ends[i]
	}
	return cs
}

func (w *Writer) report(err error) {
	if w.observer != nil {
		w.observer.HistoryWritten(err)
	}
	w.mu.Lock()
	first := err != nil && !w.failed
	w.failed = err != nil
	w.mu.Unlock()
	if first {
		w.log.Warn("history: writing to the counter store failed; history is incomplete until it recovers", "err", fmt.Errorf("history: %w", err))
	}
}

// seenFilterSize is the seen filter's slots: 16,384 sessions' networks,
// 256 KiB.
const seenFilterSize = 1 << 14

// seenFilter remembers which (session, network) pairs this replica wrote
// lately, so an active session costs a store write about once a window
// rather than once a request. It is direct-mapped: a collision costs one
// write more, never one less, since the store's counter decides whether a
// network is new.
type seenFilter struct {
	seed  maphash.Seed
	mu    sync.Mutex
	slots []seenSlot
}

type seenSlot struct {
	hash  uint64
	until int64 // Unix nanoseconds
}

func newSeenFilter(n int) *seenFilter {
	return &seenFilter{seed: maphash.MakeSeed(), slots: make([]seenSlot, n)}
}

func (f *seenFilter) hash(session, subnet string) uint64 {
	var h maphash.Hash
	h.SetSeed(f.seed)
	h.WriteString(session)
	h.WriteByte(0)
	h.WriteString(subnet)
	return h.Sum64()
}

// due reports whether the pair is to be written now, and if so remembers
// it for half a window.
func (f *seenFilter) due(session, subnet string, window time.Duration, at time.Time) bool {
	h := f.hash(session, subnet)
	s := &f.slots[h%uint64(len(f.slots))]
	now := at.UnixNano()
	f.mu.Lock()
	defer f.mu.Unlock()
	if s.hash == h && now < s.until {
		return false
	}
	*s = seenSlot{hash: h, until: now + int64(window/2)}
	return true
}

// forget drops the pair, so a failed write is tried again next time.
func (f *seenFilter) forget(session, subnet string) {
	h := f.hash(session, subnet)
	s := &f.slots[h%uint64(len(f.slots))]
	f.mu.Lock()
	if s.hash == h {
		*s = seenSlot{}
	}
	f.mu.Unlock()
}
