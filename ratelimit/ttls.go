package ratelimit

import (
	"strings"
	"sync"
	"time"
)

// hashTTLs remembers, per hash, until when this store knows the hash has
// a TTL: the TTLs it set itself, with the Check's PEXPIRE NX and with the
// housekeeping's PEXPIRE and script. A Hit on a hash known to have a TTL
// sends no PEXPIRE NX: in steady traffic that is one command of four or
// five a Check spares, on both sides (BENCHMARKS.md, issue 17, thirteenth
// session).
//
// It is a hint, and nothing is lost when it is wrong. Only a hash gone
// before its TTL ran out (evicted, flushed, or missing on a new master
// after a failover) can make it wrong: the Hit's HINCRBY then creates the
// hash without a TTL, replies 1, and so calls for the housekeeping, whose
// PEXPIRE NX gives the hash its TTL. The store forgets everything when
// Redis fails a Hit, as it does when down or changing masters; a Hit its
// caller stopped waiting for (the Guard's budget, a cancelled request)
// says nothing of Redis's keys and forgets nothing.
//
// Times are the store's monotonic clock: a TTL runs on Redis's clock from
// when Redis ran the command, later than this store's clock read before
// sending it, so the bound holds whatever time a caller passes to Hit.
//
// It holds two generations of at most hashTTLsGen hashes each: a hash
// found only in the older generation moves to the newer, and when the
// newer is full the older is dropped. A store that sees more hashes than
// that within a TTL asks Redis for the rest, as it did without this.
type hashTTLs struct {
	epoch time.Time // the clock's zero; its monotonic reading is used

	mu       sync.Mutex
	cur, old map[string]int64 // hash → until when it has a TTL, ns since epoch
}

const (
	// hashTTLsGen bounds one generation: two hold about 6 MiB at most
	// (a key of about 30 bytes, its copy and the map's slot).
	hashTTLsGen = 32 << 10
	// hashTTLMargin is how much of a known TTL a Hit does not rely on: a
	// command may wait in a pipeline and on the wire before Redis runs it.
	hashTTLMargin = time.Second
)

func newHashTTLs() *hashTTLs { return &hashTTLs{epoch: time.Now()} }

// now returns the store's monotonic clock.
func (t *hashTTLs) now() int64 { return int64(time.Since(t.epoch)) }

// covers reports whether key is known to have a TTL for hashTTLMargin
// past now (a reading of t.now). A nil t covers nothing.
func (t *hashTTLs) covers(key string, now int64) bool {
	if t == nil {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	until, ok := t.cur[key]
	if !ok {
		if until, ok = t.old[key]; ok {
			t.putLocked(strings.Clone(key), until)
		}
	}
	return ok && until-now > int64(hashTTLMargin)
}

// extend records that key has a TTL of at least ttl from sent, the
// reading of t.now taken before the command that set it was sent.
func (t *hashTTLs) extend(key string, sent int64, ttl time.Duration) {
	if t == nil || ttl <= 0 {
		return
	}
	until := sent + int64(ttl)
	t.mu.Lock()
	defer t.mu.Unlock()
	if known, ok := t.cur[key]; ok {
		if until > known {
			t.cur[key] = until
		}
		return
	}
	if known, ok := t.old[key]; ok {
		until = max(until, known)
	}
	// The key may point into a caller's buffer, or hold a whole request
	// alive: the memory keeps a copy of its own.
	t.putLocked(strings.Clone(key), until)
}

// putLocked stores key in the newer generation, starting a new one when
// it is full. t.mu must be held.
func (t *hashTTLs) putLocked(key string, until int64) {
	if t.cur == nil || len(t.cur) >= hashTTLsGen {
		t.old, t.cur = t.cur, make(map[string]int64)
	}
	t.cur[key] = until
}

// forget drops everything known: after a failed Hit Redis may have lost
// keys (a restart, a failover to a replica that lagged).
func (t *hashTTLs) forget() {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cur, t.old = nil, nil
}
