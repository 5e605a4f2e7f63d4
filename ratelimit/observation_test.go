package ratelimit_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/botauthz/botauthz/ratelimit"
)

func TestEstimate(t *testing.T) {
	tests := []struct {
		name string
		obs  ratelimit.Observation
		want float64
	}{
		{"Cloudflare's example plus this hit", ratelimit.Observation{Prev: 42, Cur: 18, Elapsed: 15 * time.Second, Window: time.Minute}, 49.5 + 1},
		{"empty counter is this hit alone", ratelimit.Observation{Window: time.Minute}, 1},
		{"at the bucket start all of prev counts", ratelimit.Observation{Prev: 10, Cur: 0, Window: time.Minute}, 11},
		{"prev slides out linearly", ratelimit.Observation{Prev: 10, Cur: 2, Elapsed: 45 * time.Second, Window: time.Minute}, 2.5 + 2 + 1},
		{"elapsed beyond the window is clamped", ratelimit.Observation{Prev: 10, Cur: 2, Elapsed: 2 * time.Minute, Window: time.Minute}, 3},
		{"no window counts cur only", ratelimit.Observation{Prev: 10, Cur: 2}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.obs.Estimate(); got != tt.want {
				t.Errorf("%+v.Estimate() = %v, want %v", tt.obs, got, tt.want)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	const w = time.Minute
	tests := []struct {
		name  string
		obs   ratelimit.Observation
		limit int64
		want  time.Duration
	}{
		{"already under the limit", ratelimit.Observation{Prev: 0, Cur: 3, Window: w}, 10, 0},
		{"exactly at the limit next request", ratelimit.Observation{Prev: 0, Cur: 3, Elapsed: 10 * time.Second, Window: w}, 5, 0},
		// 60*(60-t)/60 + 1 + 1 <= 31 at t = 31s.
		{"within the current bucket", ratelimit.Observation{Prev: 60, Cur: 0, Window: w}, 31, 31 * time.Second},
		// Next bucket 30s in: 10*30/60 + 0 + 1 = 6.
		{"needing the next bucket", ratelimit.Observation{Prev: 0, Cur: 9, Elapsed: 30 * time.Second, Window: w}, 6, time.Minute},
		// Prev is already zero, so only the move of cur+1=6 into prev helps: 6*40/60+1 = 5 at 20s into the next bucket.
		{"prev zero", ratelimit.Observation{Prev: 0, Cur: 5, Elapsed: 10 * time.Second, Window: w}, 5, 70 * time.Second},
		// At the bucket edge the estimate is cur+1+1 = 5.
		{"exactly at the bucket edge", ratelimit.Observation{Prev: 100, Cur: 3, Elapsed: 20 * time.Second, Window: w}, 5, 40 * time.Second},
		// 3*(1000-t)/1000 + 2 <= 3 at t = 666.67ms.
		{"rounds up to a whole millisecond", ratelimit.Observation{Prev: 3, Cur: 0, Window: time.Second}, 3, 667 * time.Millisecond},
		{"limit one waits until the counter drained", ratelimit.Observation{Prev: 5, Cur: 5, Elapsed: 15 * time.Second, Window: w}, 1, 105 * time.Second},
		{"limit zero can never pass: until drained", ratelimit.Observation{Prev: 5, Cur: 5, Elapsed: 15 * time.Second, Window: w}, 0, 105 * time.Second},
		{"negative limit: until drained", ratelimit.Observation{Window: w}, -3, 2 * w},
		{"huge limit does not overflow", ratelimit.Observation{Prev: 1, Cur: 1, Window: w}, 1 << 62, 0},
		{"huge prev does not overflow", ratelimit.Observation{Prev: 1 << 62, Cur: 0, Window: w}, 1 << 40, w},
		{"no window", ratelimit.Observation{Prev: 5, Cur: 5}, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.obs.RetryAfter(tt.limit); got != tt.want {
				t.Errorf("%+v.RetryAfter(%d) = %v, want %v", tt.obs, tt.limit, got, tt.want)
			}
		})
	}
}

// estimateAt is the Estimate a single request sees t after o was observed,
// with o's hit counted and nothing else: the model RetryAfter promises.
func estimateAt(o ratelimit.Observation, t time.Duration) float64 {
	w := o.Window
	switch e := o.Elapsed + t; {
	case e < w:
		return ratelimit.Observation{Prev: o.Prev, Cur: o.Cur + 1, Elapsed: e, Window: w}.Estimate()
	case e < 2*w:
		return ratelimit.Observation{Prev: o.Cur + 1, Elapsed: e - w, Window: w}.Estimate()
	default:
		return ratelimit.Observation{Elapsed: e % w, Window: w}.Estimate()
	}
}

func TestRetryAfterIsTheFirstMillisecondUnderTheLimit(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		w := time.Duration(1+rng.Int64N(3_600_000)) * time.Millisecond
		o := ratelimit.Observation{
			Prev:    rng.Int64N(1000),
			Cur:     rng.Int64N(1000),
			Elapsed: time.Duration(rng.Int64N(w.Milliseconds())) * time.Millisecond,
			Window:  w,
		}
		limit := rng.Int64N(2500) - 10
		got := o.RetryAfter(limit)
		if got < 0 || got > 2*w || got%time.Millisecond != 0 {
			t.Fatalf("%+v.RetryAfter(%d) = %v, want a whole ms in [0, 2*Window]", o, limit, got)
		}
		if limit < 1 {
			if want := 2*w - o.Elapsed; got != want {
				t.Fatalf("%+v.RetryAfter(%d) = %v, want the time until drained, %v", o, limit, got, want)
			}
			continue
		}
		if est := estimateAt(o, got); est > float64(limit) {
			t.Fatalf("%+v.RetryAfter(%d) = %v, but a request then estimates %v", o, limit, got, est)
		}
		if got > 0 {
			if est := estimateAt(o, got-time.Millisecond); est <= float64(limit) {
				t.Fatalf("%+v.RetryAfter(%d) = %v, but 1ms earlier a request already estimates %v", o, limit, got, est)
			}
		}
	}
}
