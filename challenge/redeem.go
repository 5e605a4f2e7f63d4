package challenge

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redeemer records challenge redemptions, so that one solved challenge clears
// one visitor once: without it, a solved token could be replayed by every bot
// behind the same /24 with the same user agent until it expired.
type Redeemer interface {
	// Redeem marks the challenge id as redeemed for ttl and reports whether
	// this was its first redemption. An error means the store could not
	// tell; the Handler then decides without it.
	Redeem(ctx context.Context, id string, ttl time.Duration) (first bool, err error)
}

// DefaultMemoryEntries is the bound NewMemoryRedeemer uses for a maxEntries
// below 1. At a few hundred bytes an entry it keeps the store in the tens of
// megabytes.
const DefaultMemoryEntries = 100_000

// MemoryRedeemer is a Redeemer local to one process: replicas do not see
// each other's redemptions. It holds at most maxEntries ids; expired ones are
// swept on every call, and when it is still full the id closest to expiry is
// forgotten to make room, since refusing new redemptions would lock out
// people who solved their challenge. It is safe for concurrent use.
type MemoryRedeemer struct {
	max int
	// now is the clock; tests replace it.
	now func() time.Time

	mu      sync.Mutex
	expires map[string]time.Time
	queue   expiryQueue
}

// NewMemoryRedeemer returns an empty MemoryRedeemer holding at most
// maxEntries ids (DefaultMemoryEntries when maxEntries < 1).
func NewMemoryRedeemer(maxEntries int) *MemoryRedeemer {
	if maxEntries < 1 {
		maxEntries = DefaultMemoryEntries
	}
	return &MemoryRedeemer{max: maxEntries, now: time.Now, expires: make(map[string]time.Time)}
}

// Redeem implements Redeemer. Its only error is a ttl that is not positive.
func (m *MemoryRedeemer) Redeem(_ context.Context, id string, ttl time.Duration) (bool, error) {
	if ttl <= 0 {
		return false, fmt.Errorf("redeem challenge in memory: ttl %v is not positive", ttl)
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweep(now)
	if _, seen := m.expires[id]; seen {
		return false, nil
	}
	if len(m.expires) >= m.max {
		e := heap.Pop(&m.queue).(expiryEntry)
		delete(m.expires, e.id)
	}
	exp := now.Add(ttl)
	m.expires[id] = exp
	heap.Push(&m.queue, expiryEntry{id: id, exp: exp})
	return true, nil
}

// sweep forgets every id expired at now. Each id is in the queue exactly
// once, so the cost is amortised over the calls that added them.
func (m *MemoryRedeemer) sweep(now time.Time) {
	for len(m.queue) > 0 && !m.queue[0].exp.After(now) {
		e := heap.Pop(&m.queue).(expiryEntry)
		delete(m.expires, e.id)
	}
}

// len returns how many ids are remembered, expired or not.
func (m *MemoryRedeemer) len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.expires)
}

type expiryEntry struct {
	id  string
	exp time.Time
}

// expiryQueue is a min-heap of entries by expiry.
type expiryQueue []expiryEntry

func (q expiryQueue) Len() int           { return len(q) }
func (q expiryQueue) Less(i, j int) bool { return q[i].exp.Before(q[j].exp) }
func (q expiryQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *expiryQueue) Push(x any)        { *q = append(*q, x.(expiryEntry)) }
func (q *expiryQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	old[len(old)-1] = expiryEntry{} // drop the id string for the GC
	*q = old[:len(old)-1]
	return e
}

// redeemKeyPrefix namespaces redemptions among botauthz's Redis keys. The
// hash tag puts them all in one cluster slot: they are few (one per solved
// challenge) and never need to move with any other key.
const redeemKeyPrefix = "ba:v1:{challenge}:"

// RedisRedeemer is a Redeemer shared by every replica using the same Redis:
// a challenge redeemed on one is refused on all others. It is safe for
// concurrent use.
type RedisRedeemer struct {
	client redis.UniversalClient
}

// NewRedisRedeemer returns a RedisRedeemer on client. Each redemption is one
// SET ba:v1:{challenge}:<id> 1 NX PX <ttl>, so the key vanishes once the
// challenge could no longer be redeemed anyway. Bound the wait with the
// client's timeouts and the context.
func NewRedisRedeemer(client redis.UniversalClient) *RedisRedeemer {
	return &RedisRedeemer{client: client}
}

// Redeem implements Redeemer.
func (r *RedisRedeemer) Redeem(ctx context.Context, id string, ttl time.Duration) (bool, error) {
	if ttl <= 0 {
		return false, fmt.Errorf("redeem challenge in redis: ttl %v is not positive", ttl)
	}
	// PX takes whole milliseconds; round up so the key never outlives its
	// token by less than asked.
	ms := int64((ttl + time.Millisecond - 1) / time.Millisecond)
	err := r.client.Do(ctx, "SET", redeemKeyPrefix+id, "1", "NX", "PX", ms).Err()
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, redis.Nil):
		// NX refused: the key exists, the challenge was redeemed before.
		return false, nil
	}
	return false, fmt.Errorf("redeem challenge in redis: %w", err)
}
