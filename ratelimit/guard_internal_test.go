package ratelimit

import (
	"errors"
	"testing"
	"time"
)

// BenchmarkGuardRecord measures the breaker's bookkeeping alone, which every
// Hit that reaches the store pays once: the clock, the window's slot and,
// on failure, the run and the window's sum. Both rules are off so that the
// failures do not open the breaker.
func BenchmarkGuardRecord(b *testing.B) {
	fail := errors.New("fail")
	for _, bc := range []struct {
		name string
		err  error
	}{{"success", nil}, {"failure", fail}} {
		b.Run(bc.name, func(b *testing.B) {
			g := NewGuard(NewMemory(MemoryOptions{}), GuardOptions{FailureThreshold: 1 << 20, FailureRatio: 2})
			b.ReportAllocs()
			for b.Loop() {
				g.record(false, bc.err)
			}
		})
		b.Run(bc.name+"/parallel", func(b *testing.B) {
			g := NewGuard(NewMemory(MemoryOptions{}), GuardOptions{FailureThreshold: 1 << 20, FailureRatio: 2})
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					g.record(false, bc.err)
				}
			})
		})
	}
	b.Run("time.Now", func(b *testing.B) { // the floor: the clock read
		b.ReportAllocs()
		for b.Loop() {
			_ = time.Now()
		}
	})
}
