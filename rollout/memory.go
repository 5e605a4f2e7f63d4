package rollout

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrStoreClosed is returned by a Store's methods after Close.
var ErrStoreClosed = errors.New("rollout: store closed")

// maxPendingStates bounds the states queued for one slow subscriber of a
// MemoryStore. Every state is a full snapshot, so dropping the oldest
// undelivered ones loses nothing a subscriber needs: it still sees the newest
// state, and the versions it sees still increase.
const maxPendingStates = 1024

// MemoryStore is a Store for a single process: the state lives in memory and
// is shared by nothing else. It is what botauthz uses without Redis, and the
// reference the Redis store is tested against.
type MemoryStore struct {
	mu     sync.Mutex
	state  State
	audit  auditRing
	subs   map[*memorySub]struct{}
	closed bool
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty MemoryStore that keeps the newest auditCap
// audit entries (DefaultAuditCap when auditCap <= 0).
func NewMemoryStore(auditCap int) *MemoryStore {
	if auditCap <= 0 {
		auditCap = DefaultAuditCap
	}
	return &MemoryStore{
		audit: auditRing{buf: make([]AuditEntry, auditCap)},
		subs:  map[*memorySub]struct{}{},
	}
}

// Load returns a copy of the current state.
func (m *MemoryStore) Load(ctx context.Context) (State, error) {
	if err := ctx.Err(); err != nil {
		return State{}, fmt.Errorf("rollout: load state: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return State{}, ErrStoreClosed
	}
	return m.state.Clone(), nil
}

// Update applies c to the current state, records the audit entry and queues
// the new state for every subscriber. It never waits for a subscriber.
func (m *MemoryStore) Update(ctx context.Context, c Change, now time.Time) (AuditEntry, error) {
	if err := ctx.Err(); err != nil {
		return AuditEntry{}, fmt.Errorf("rollout: update: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return AuditEntry{}, ErrStoreClosed
	}
	next, err := c.Apply(m.state, now)
	if err != nil {
		return AuditEntry{}, fmt.Errorf("rollout: update: %w", err)
	}
	entry := newAuditEntry(c, m.state, next, now)
	m.state = next
	m.audit.push(entry)
	// Queuing under m.mu gives every subscriber the states in the order they
	// were stored.
	for s := range m.subs {
		s.enqueue(next.Clone())
	}
	return cloneEntry(entry), nil
}

// Restore stores a copy of s and queues it for every subscriber if the store
// holds no state yet, and reports whether it did. A MemoryStore never loses
// its state, so this only matters before the first Update.
func (m *MemoryStore) Restore(ctx context.Context, s State) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("rollout: restore: %w", err)
	}
	if err := checkRestore(s); err != nil {
		return false, fmt.Errorf("rollout: restore: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false, ErrStoreClosed
	}
	if m.state.Version != 0 {
		return false, nil
	}
	m.state = s.Clone()
	for sub := range m.subs {
		sub.enqueue(s.Clone())
	}
	return true, nil
}

// Audit returns up to limit entries, newest first; limit <= 0 returns all
// that are kept.
func (m *MemoryStore) Audit(ctx context.Context, limit int) ([]AuditEntry, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("rollout: read audit: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrStoreClosed
	}
	return m.audit.newest(limit), nil
}

// Subscribe calls fn, in order, with every state stored after the
// subscription became active (ready is closed then). fn runs on the calling
// goroutine, never under the store's lock, so a slow fn delays only its own
// deliveries. It returns nil when ctx is done and ErrStoreClosed when the
// store is closed.
func (m *MemoryStore) Subscribe(ctx context.Context, ready chan<- struct{}, fn func(State)) error {
	s := &memorySub{wake: make(chan struct{}, 1), closed: make(chan struct{})}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrStoreClosed
	}
	m.subs[s] = struct{}{}
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.subs, s)
		m.mu.Unlock()
	}()
	close(ready)

	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.closed:
			return ErrStoreClosed
		case <-s.wake:
			for _, st := range s.take() {
				if ctx.Err() != nil {
					return nil
				}
				fn(st)
			}
		}
	}
}

// Close ends every subscription; later calls fail with ErrStoreClosed.
func (m *MemoryStore) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	for s := range m.subs {
		close(s.closed)
	}
	return nil
}

// memorySub is one subscription's queue: Update appends without blocking and
// the subscriber drains it.
type memorySub struct {
	wake   chan struct{} // capacity 1: "the queue is not empty"
	closed chan struct{} // closed by MemoryStore.Close

	mu      sync.Mutex
	pending []State
}

func (s *memorySub) enqueue(st State) {
	s.mu.Lock()
	if len(s.pending) >= maxPendingStates {
		s.pending = append(s.pending[:0], s.pending[1:]...)
	}
	s.pending = append(s.pending, st)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default: // already signalled; the subscriber will drain everything
	}
}

func (s *memorySub) take() []State {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pending
	s.pending = nil
	return p
}

// auditRing keeps the newest len(buf) entries.
type auditRing struct {
	buf  []AuditEntry
	next int // where the next entry goes
	n    int // entries kept
}

func (r *auditRing) push(e AuditEntry) {
	r.buf[r.next] = e
	r.next = (r.next + 1) % len(r.buf)
	r.n = min(r.n+1, len(r.buf))
}

// newest returns up to limit copies, newest first; limit <= 0 means all.
func (r *auditRing) newest(limit int) []AuditEntry {
	n := r.n
	if limit > 0 {
		n = min(n, limit)
	}
	out := make([]AuditEntry, 0, n)
	for i := 1; i <= n; i++ {
		out = append(out, cloneEntry(r.buf[(r.next-i+len(r.buf))%len(r.buf)]))
	}
	return out
}

func newAuditEntry(c Change, before, after State, now time.Time) AuditEntry {
	return AuditEntry{
		Time:   now.UTC(),
		Actor:  c.Actor,
		Reason: c.Reason,
		Change: c.String(),
		Before: before,
		After:  after,
	}
}

// cloneEntry copies the entry's states, so that callers cannot change the
// maps the store keeps.
func cloneEntry(e AuditEntry) AuditEntry {
	e.Before = e.Before.Clone()
	e.After = e.After.Clone()
	return e
}
