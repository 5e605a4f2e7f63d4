package main

import (
	"runtime"
	"runtime/metrics"
	"testing"
	"time"
)

func TestGCPercentFor(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		live, headroom uint64
		base, want     int
	}{
		{5 * mib, 12 * mib, 100, 240},      // 12/5 = 2.4
		{5*mib + 1, 12 * mib, 100, 240},    // rounded up to a multiple of 10
		{3 * mib, 12 * mib, 100, 400},      // exact
		{12 * mib, 12 * mib, 100, 100},     // the default's headroom is as large
		{200 * mib, 12 * mib, 100, 100},    // a large heap keeps Go's pacing
		{1, 4096 * mib, 100, maxGCPercent}, // bounded
		{0, 12 * mib, 100, 100},            // nothing read yet
		{5 * mib, 12 * mib, -1, -1},        // collection off stays off
	} {
		if got := gcPercentFor(c.live, c.headroom, c.base); got != c.want {
			t.Errorf("gcPercentFor(%d, %d, %d) = %d, want %d", c.live, c.headroom, c.base, got, c.want)
		}
	}
}

// TestGCPacerFollowsTheLiveHeap: after a collection the GC percent in force
// puts the heap goal the headroom above the live heap, and stopping the
// pacer puts Go's default back.
func TestGCPacerFollowsTheLiveHeap(t *testing.T) {
	const headroom = 1 << 30
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}, {Name: "/gc/heap/live:bytes"}}
	read := func() (percent, live uint64) {
		metrics.Read(s)
		return s[0].Value.Uint64(), s[1].Value.Uint64()
	}
	stop := startGCPacer(headroom)
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		pct, live := read()
		// The live heap the pacer read may differ a little from this one.
		want := uint64(gcPercentFor(live, headroom, goDefaultGCPercent))
		if want > goDefaultGCPercent && pct >= want*9/10 && pct <= want*11/10 {
			break
		}
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("GC percent %d with %d bytes live; want about %d", pct, live, want)
		}
		runtime.Gosched()
	}
	stop()
	if pct, _ := read(); pct != goDefaultGCPercent {
		t.Errorf("after stop the GC percent is %d, want Go's default %d", pct, goDefaultGCPercent)
	}
	// A collection after stop changes nothing.
	runtime.GC()
	runtime.GC()
	if pct, _ := read(); pct != goDefaultGCPercent {
		t.Errorf("a collection after stop set the GC percent to %d", pct)
	}
}
