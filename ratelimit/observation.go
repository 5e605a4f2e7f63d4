package ratelimit

import (
	"math"
	"math/bits"
	"time"
)

// Observation is a counter's state just before this hit.
//
// For a peeked counter (Counter.Peek) it is the counter's state at the
// Hit's now, which nothing was added to. Estimate and RetryAfter still
// reckon with one request at now, as for a hit: the sliding-window count of
// a peeked counter is Estimate() - 1.
type Observation struct {
	Prev, Cur int64         // counts of the previous and current bucket, before this hit
	Elapsed   time.Duration // time since the current bucket began (now mod window)
	Window    time.Duration
}

// Estimate is the sliding-window-counter estimate INCLUDING this hit:
//
//	Prev*(Window-Elapsed)/Window + Cur + 1   (Cloudflare's formula)
//
// It assumes the previous bucket's requests were spread evenly, so the part
// of it still inside the sliding window counts pro rata. A non-positive Window
// yields Cur+1; Elapsed is clamped to [0, Window].
func (o Observation) Estimate() float64 {
	if o.Window <= 0 {
		return float64(o.Cur) + 1
	}
	e := min(max(o.Elapsed, 0), o.Window)
	// Multiply before dividing: the product is exact for realistic counts and
	// windows, so an estimate that is exactly a limit compares equal to it.
	return float64(o.Prev)*float64(o.Window-e)/float64(o.Window) + float64(o.Cur) + 1
}

// RetryAfter is the smallest wait t >= 0 (rounded UP to a whole millisecond)
// such that one request arriving at now+t, with no other hits in between, has
// Estimate() <= limit. This hit counts (so Cur+1 is in the current bucket).
//
// If no wait can bring the estimate to limit (limit <= 0; every request
// estimates at least 1), it returns the time until the counter has drained,
// 2*Window-Elapsed. The result is never negative and never above 2*Window.
// Negative counts are treated as 0 and Elapsed is clamped to [0, Window).
func (o Observation) RetryAfter(limit int64) time.Duration {
	w := o.Window
	if w <= 0 {
		return 0
	}
	e := min(max(o.Elapsed, 0), w-1)
	prev := uint64(max(o.Prev, 0))
	cur := uint64(max(o.Cur, 0)) + 1 // this hit is in the current bucket
	drained := 2*w - e               // from then on nothing counted now remains

	var t time.Duration
	switch {
	case limit < 1:
		t = drained
	case uint64(limit) >= cur+1:
		// Still in this bucket the estimate is prev*(w-e-t)/w + cur + 1; it
		// reaches limit once prev's remaining share is <= r.
		r := uint64(limit) - cur - 1
		if prev == 0 {
			return 0
		}
		t = w - e - mulDivDuration(r, w, prev)
	default:
		// Even with prev fully slid out (at t = w-e the estimate is cur+1) it
		// is over limit, so wait into the next bucket, where cur becomes the
		// previous bucket: cur*(2w-e-t)/w + 0 + 1 <= limit.
		q := uint64(limit) - 1
		t = max(drained-mulDivDuration(q, w, cur), w-e)
	}
	// floor() inside mulDivDuration and ceil() here together give the exact
	// smallest whole millisecond: a wait of a whole ms m satisfies the bound
	// iff m >= t for the integer-nanosecond t computed above.
	return min(ceilMillisecond(max(t, 0)), 2*w)
}

// mulDivDuration returns floor(a*d/c) for d > 0 and c > 0, saturating at the
// largest Duration; the 128-bit product keeps huge limits from overflowing.
func mulDivDuration(a uint64, d time.Duration, c uint64) time.Duration {
	hi, lo := bits.Mul64(a, uint64(d))
	if hi >= c {
		return math.MaxInt64
	}
	q, _ := bits.Div64(hi, lo, c)
	if q > math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(q)
}

func ceilMillisecond(d time.Duration) time.Duration {
	if r := d % time.Millisecond; r != 0 {
		return d - r + time.Millisecond
	}
	return d
}
