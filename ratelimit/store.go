package ratelimit

import (
	"context"
	"fmt"
	"time"
)

// Counter is one sliding-window counter to hit, or with Peek only to read.
//
// A counter is identified by its Key, its Lane and its Part. Key is the
// storage key of an identity (IdentityKey: a client IP, a subnet, a
// session), which carries the Redis Cluster hash tag; Lane names one
// counter of that identity (VelocityLane, NamedLane: "60s",
// "rt:login:60s", "h:600s"), or a few that are read together, as its
// parts. All the lanes of a key are stored together, so a store reads all
// the counters of an identity at the cost of about one.
// They are nonetheless fully independent counters: each has its own
// window, buckets, counts and expiry, and whether one is peeked or hit
// changes nothing for the others. Any string is a valid lane, the empty
// one included.
type Counter struct {
	Key    string
	Lane   string
	Window time.Duration // > 0, whole milliseconds
	// Peek reads the counter without counting. Its Observation is the one a
	// hit at the same time would get (same buckets, same clock-skew rules),
	// but nothing is incremented and nothing is created: peeking a counter
	// that does not exist leaves no trace in the store, not even an expiry,
	// and peeking one that does exist changes neither its counts nor its
	// expiry. That holds per lane: peeking a missing lane of an existing
	// key adds nothing to the key and leaves its expiry as it was, and
	// peeking a lane of a missing key does not create the key. Peeks let a
	// caller read counters that it counts elsewhere (with an ordinary hit,
	// later) in the same call, and so the same round trip, as the counters
	// it counts now.
	Peek bool
	// Part is which of its lane's parts the counter is: a lane holds up
	// to MaxParts counters, numbered from 0, and a counter that names no
	// part is its lane's part 0. Parts are counters of their own in every
	// respect, like lanes, but a store may keep a lane's parts together,
	// so that reading all of them costs about what reading one does: give
	// related counters that are read together (an identity's history) one
	// lane and parts of it, rather than a lane each. The parts of a lane
	// share its window, which must be the same in every call (NamedLane
	// puts the window in the lane's name), and in one Hit a lane's parts
	// are either all peeked or all counted.
	Part uint8
}

// MaxParts is the number of parts a lane can hold (Counter.Part).
const MaxParts = 16

// Store counts hits on sliding-window counters. Implementations must be safe
// for concurrent use.
//
// Every hit counts: a Store never denies, it only reports what it saw, and
// callers compare Observation.Estimate with their limits. Each counter has two
// buckets, the current and the previous one; a counter idle for two windows
// reads 0/0. A hit whose now lies one bucket behind the counter's newest
// bucket (clock skew between replicas) counts in that previous bucket; a
// hit older than both buckets counts nothing that a hit in time reads, and
// reads 0/0, except on a store that drops old buckets after the fact: the
// Redis store's Guard path (Redis.hitWithin) may, for the few milliseconds
// after the counter's newest bucket began, read what the older bucket held.
//
// A counter is a lane of a key (see Counter). The store keeps a key for as
// long as the longest-lived of its lanes needs: a lane whose buckets have
// all slid out of its window reads 0/0 even while the key lives on for its
// other lanes, and what it held is dropped by the store at the latest when
// the lane is next counted.
//
// A counter with Peek set is read exactly as a hit one would be, and not
// counted: a Hit may mix peeked and counted counters, and the peeked ones
// cost no extra round trip. A peek never creates a counter, a lane or a
// key, so it neither takes room in a bounded store nor evicts anything
// from one.
type Store interface {
	// Hit counts one request on every counter at time now, except those
	// with Peek set, and fills obs[i] with counter i's state before the hit
	// (for a peeked counter: its state at now). len(obs) >= len(counters).
	// Several counters may share a Key, as distinct lanes, and a Lane, as
	// distinct parts; the (Key, Lane, Part) of one call must be distinct,
	// peeked or not, and the counters of one lane must agree on Window
	// and on Peek. Buckets are floor(now_unix_ms / window_ms).
	Hit(ctx context.Context, now time.Time, counters []Counter, obs []Observation) error
	// Ping reports whether the store can serve Hit (for readiness).
	Ping(ctx context.Context) error
	// Close releases the store's resources.
	Close() error
}

// checkHit validates a Hit's arguments before anything is counted, so a bad
// counter never leaves the others half-counted.
func checkHit(counters []Counter, obs []Observation) error {
	if len(obs) < len(counters) {
		return fmt.Errorf("ratelimit: %d observations for %d counters", len(obs), len(counters))
	}
	parts := false
	for _, c := range counters {
		if c.Window <= 0 || c.Window%time.Millisecond != 0 {
			return fmt.Errorf("ratelimit: counter %q lane %q: window %v is not a positive whole number of milliseconds", c.Key, c.Lane, c.Window)
		}
		if c.Part >= MaxParts {
			return fmt.Errorf("ratelimit: counter %q lane %q: part %d is not below %d", c.Key, c.Lane, c.Part, MaxParts)
		}
		parts = parts || c.Part != 0
	}
	if !parts {
		return nil
	}
	// The rules of parts, checked on the pairs with a part other than 0.
	// A repeated (Key, Lane) without parts is left unchecked, with or
	// without parts elsewhere in the call: the contract forbids it, and
	// finding it would cost every Check a scan of all pairs.
	for i := range counters {
		c := &counters[i]
		for j := range i {
			d := &counters[j]
			if c.Part == 0 && d.Part == 0 || d.Lane != c.Lane || d.Key != c.Key {
				continue
			}
			switch {
			case d.Part == c.Part:
				return fmt.Errorf("ratelimit: counter %q lane %q part %d is given twice", c.Key, c.Lane, c.Part)
			case d.Window != c.Window:
				return fmt.Errorf("ratelimit: counter %q lane %q: its parts have windows %v and %v", c.Key, c.Lane, d.Window, c.Window)
			case d.Peek != c.Peek:
				return fmt.Errorf("ratelimit: counter %q lane %q: some of its parts are peeked and some counted", c.Key, c.Lane)
			}
		}
	}
	return nil
}

// bucketOf returns the bucket containing nowMs and how far into it nowMs is.
// Division floors (rather than truncating toward zero) so that buckets stay
// window-sized even for times before 1970.
func bucketOf(nowMs, windowMs int64) (bucket, elapsedMs int64) {
	bucket = nowMs / windowMs
	if nowMs%windowMs < 0 {
		bucket--
	}
	return bucket, nowMs - bucket*windowMs
}
