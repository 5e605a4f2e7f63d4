package ratelimit

import (
	"context"
	"fmt"
	"time"
)

// Counter is one sliding-window counter to hit.
type Counter struct {
	Key    string
	Window time.Duration // > 0, whole milliseconds
}

// Store counts hits on sliding-window counters. Implementations must be safe
// for concurrent use.
//
// Every hit counts: a Store never denies, it only reports what it saw, and
// callers compare Observation.Estimate with their limits. Each counter has two
// buckets, the current and the previous one; a counter idle for two windows
// reads 0/0. A hit whose now lies one bucket behind the counter's newest
// bucket (clock skew between replicas) counts in that previous bucket.
type Store interface {
	// Hit counts one request on every counter at time now and fills obs[i]
	// with counter i's state before the hit. len(obs) >= len(counters); keys
	// are distinct. Buckets are floor(now_unix_ms / window_ms).
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
			return fmt.Errorf("ratelimit: counter %q: window %v is not a positive whole number of milliseconds", c.Key, c.Window)
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
