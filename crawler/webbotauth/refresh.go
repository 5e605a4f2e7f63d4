package webbotauth

import (
	"context"
	"math/rand/v2"
	"time"
)

// This file keeps every directory fresh: one goroutine per directory
// fetches at Start, then on a schedule.

// Start fetches every directory in the background and keeps them
// refreshed until ctx ends; the last good key set is kept when a refresh
// fails. It returns at once. A second call does nothing.
//
// A directory is re-fetched every Refresh, sooner when its Cache-Control
// max-age says so (never sooner than a minute), with ±10% jitter so
// verifiers do not synchronize (-01 Appendix C.4). A failed fetch is
// retried after 1s, doubling up to five minutes (Appendix C.5), or
// Refresh if shorter.
func (v *Verifier) Start(ctx context.Context) {
	if !v.started.CompareAndSwap(false, true) {
		v.log.Warn("webbotauth: Start called twice; ignored")
		return
	}
	for _, d := range v.dirs {
		go v.keepFresh(ctx, d)
	}
}

func (v *Verifier) keepFresh(ctx context.Context, d *directory) {
	for ctx.Err() == nil {
		wait := v.refreshOnce(ctx, d)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// refreshOnce fetches d once, publishes the keys on success, records the
// outcome and returns how long to wait before the next fetch.
func (v *Verifier) refreshOnce(ctx context.Context, d *directory) time.Duration {
	f, err := v.load(ctx, d)
	if ctx.Err() != nil {
		return 0 // shutting down; the caller sees ctx.Done
	}
	now := v.now()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.lastAttempt = now
	if err != nil {
		d.lastErr = err
		d.failures++
		wait := jitter(min(v.retryBase<<min(d.failures-1, 20), v.retryMax, v.refresh))
		d.nextFetch = now.Add(wait)
		v.log.Warn("webbotauth: directory fetch failed", "agent", d.agent, "url", d.source.String(),
			"err", err, "failures", d.failures, "retry_in", wait, "keeping_last_good_keys", d.keys.Load() != nil)
		return wait
	}
	old := d.keys.Swap(f.keys)
	d.lastErr = nil
	d.failures = 0
	wait := v.refresh
	if f.maxAge >= 0 {
		wait = min(wait, max(f.maxAge, v.minMaxAge))
	}
	wait = jitter(wait)
	d.nextFetch = now.Add(wait)
	if old == nil || !sameKeys(old, f.keys) {
		v.log.Info("webbotauth: directory keys loaded", "agent", d.agent, "url", d.source.String(),
			"keys", len(f.keys.ed), "unsupported_keys", len(f.keys.other), "signed", f.keys.proven,
			"skipped", f.skipped, "next_fetch_in", wait)
	}
	return wait
}

// jitter spreads d by ±10%.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return d
	}
	spread := int64(d) / 5
	if spread == 0 {
		return d
	}
	return d - time.Duration(spread/2) + time.Duration(rand.Int64N(spread+1))
}

// sameKeys reports whether two key sets hold the same key ids, for logging
// rotations only.
func sameKeys(a, b *keySet) bool {
	if len(a.ed) != len(b.ed) || len(a.other) != len(b.other) {
		return false
	}
	for id := range a.ed {
		if _, ok := b.ed[id]; !ok {
			return false
		}
	}
	return true
}
