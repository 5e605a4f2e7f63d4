package main

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

const (
	// defaultGCHeadroomMiB is -gc-headroom-mib's default. Under the
	// harness's load in Redis mode (about 5 MB live) it halves the
	// collections, and the process's RSS stays within the 48 MiB that
	// issue 17 aims at (12 MiB went just past it).
	defaultGCHeadroomMiB = 10
	// maxGCHeadroomMiB bounds -gc-headroom-mib: past a few hundred MiB a
	// value is more likely a mistake (bytes or KiB) than a choice.
	maxGCHeadroomMiB = 4096
	// maxGCPercent bounds the percent the pacer sets, whatever the live
	// heap.
	maxGCPercent = 10000
)

// gcPacer keeps the garbage collector's heap goal at least headroom bytes
// above the live heap. Go's default (GOGC=100) sets the goal at twice the
// live heap, so a process whose live heap is small and whose allocation
// rate is high collects very often: botauthz over Redis holds about 5 MB
// live and allocates about 8 KB per Check, most of it in grpc's handling
// of the call, so at 10,000 Checks a second it ran fourteen collections a
// second, 9 µs of CPU per Check (BENCHMARKS.md, issue 17, ninth session).
// A floor under the headroom makes each collection cover more Checks; a
// large live heap (the in-memory store's counters) keeps Go's own pacing,
// since its default headroom, the live heap itself, is then the larger.
//
// It sets the GC percent after each collection from the live heap that
// collection found, which is what the percent applies to.
type gcPacer struct {
	headroom uint64
	base     int // the percent it starts from and puts back, and the least it sets
	sample   [1]metrics.Sample

	mu      sync.Mutex
	percent int  // guarded by mu: the percent set last
	stopped bool // guarded by mu
}

// gcCycle is garbage whose finalizer runs once a collection has found it
// unreachable: the pacer's hook at the end of each cycle. It holds a
// pointer, so that it is not batched with other small objects, whose
// finalizers may never run.
type gcCycle struct{ p *gcPacer }

// goDefaultGCPercent is GOGC's default, which the pacer starts from and
// puts back: it runs only where GOGC is not set.
const goDefaultGCPercent = 100

// startGCPacer starts a gcPacer of headroom bytes, in a process whose GOGC
// is not set. stop ends it and puts back Go's default.
func startGCPacer(headroom uint64) (stop func()) {
	p := &gcPacer{headroom: headroom, base: goDefaultGCPercent, percent: goDefaultGCPercent}
	p.sample[0].Name = "/gc/heap/live:bytes"
	p.arm()
	return p.stop
}

func (p *gcPacer) arm() {
	runtime.SetFinalizer(&gcCycle{p: p}, (*gcCycle).ended)
}

// ended runs on the finalizer goroutine after a collection.
func (c *gcCycle) ended() {
	p := c.p
	metrics.Read(p.sample[:])
	var live uint64
	if p.sample[0].Value.Kind() == metrics.KindUint64 {
		live = p.sample[0].Value.Uint64()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	if pct := gcPercentFor(live, p.headroom, p.base); pct != p.percent {
		debug.SetGCPercent(pct)
		p.percent = pct
	}
	p.arm()
}

func (p *gcPacer) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	p.stopped = true
	debug.SetGCPercent(p.base)
}

// gcPercentFor is the GC percent that puts the heap goal headroom bytes
// above a live heap of live bytes, or base if that gives more; rounded up
// to a multiple of 10, so that a live heap moving by a few bytes does not
// change it every cycle.
func gcPercentFor(live, headroom uint64, base int) int {
	if live == 0 || base < 0 {
		return base
	}
	pct := headroom * 100 / live
	if pct <= uint64(base) {
		return base
	}
	pct = (pct + 9) / 10 * 10
	return int(min(pct, maxGCPercent))
}
