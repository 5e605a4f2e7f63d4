package ratelimit

import (
	"context"
	"fmt"
	"time"
)

// Counter is one sliding-window counter to hit, or with Peek only to read.
//
// A counter is identified by its Key and its Lane. Key is the storage key
// of an identity (IdentityKey: a client IP, a subnet, a session), which
// carries the Redis Cluster hash tag; Lane names one counter of that
// identity (VelocityLane, NamedLane: "60s", "rt:login:60s",
// "h.denied:600s"). All the lanes of a key are stored together, so a
// store reads all the counters of an identity at the cost of about one.
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
}

// Store counts hits on sliding-window counters. Implementations must be safe
// for concurrent use.
//
// Every hit counts: a Store never denies, it only reports what it saw, and
// callers compare Observation.Estimate with their limits. Each counter has two
// buckets, the current and the previous one; a counter idle for two windows
// reads 0/0. A hit whose now lies one bucket behind the counter's newest
// bucket (clock skew between replicas) counts in that previous bucket; a
// hit older than both buckets counts nothing and reads 0/0.
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
	// Several counters may share a Key, as distinct lanes; the (Key, Lane)
	// pairs of one call must be distinct, peeked or not. Buckets are
	// floor(now_unix_ms / window_ms).
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
	for _, c := range counters {
		if c.Window <= 0 || c.Window%time.Millisecond != 0 {
			return fmt.Errorf("ratelimit: counter %q lane %q: window %v is not a positive whole number of milliseconds", c.Key, c.Lane, c.Window)
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
