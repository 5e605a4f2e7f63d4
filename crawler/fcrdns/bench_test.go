package fcrdns

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

// newWarmResolver returns a Resolver whose cache already holds n confirmed
// addresses (10.x.y.z → crawl-10-x-y-z.googlebot.com), filled through the
// cache's own insertion path so the benchmark needs no DNS server. The cache
// is twice n: shards fill unevenly, and no address may be evicted.
func newWarmResolver(tb testing.TB, n int) (*Resolver, []netip.Addr) {
	tb.Helper()
	r := New(Options{CacheSize: 2 * n})
	tb.Cleanup(r.Close)
	expires := time.Now().Add(time.Hour)
	addrs := make([]netip.Addr, n)
	for i := range addrs {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		addrs[i] = a
		s := r.cache.shard(a)
		s.mu.Lock()
		slot, ok := s.victim(time.Now())
		if !ok {
			s.mu.Unlock()
			tb.Fatalf("no slot for %s", a)
		}
		s.put(slot, a, entry{state: stateDone, names: []string{"crawl-" + strings.ReplaceAll(a.String(), ".", "-") + ".googlebot.com"}, expires: expires})
		s.mu.Unlock()
	}
	for _, a := range addrs {
		if v, _ := r.Verify(a, benchSuffixes); v != Verified {
			tb.Fatalf("warm cache: Verify(%s) = %v, want verified", a, v)
		}
	}
	return r, addrs
}

var benchSuffixes = []string{"googlebot.com", "google.com", "googleusercontent.com"}

// TestVerifyHitDoesNotAllocate: the Check path's cost contract.
func TestVerifyHitDoesNotAllocate(t *testing.T) {
	r, addrs := newWarmResolver(t, 1024)
	for _, tt := range []struct {
		name     string
		suffixes []string
		want     Verdict
	}{
		{"verified", benchSuffixes, Verified},
		{"failed", []string{"yandex.ru", "yandex.net", "yandex.com"}, Failed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			mapped := netip.AddrFrom16(addrs[7].As16())
			var v Verdict
			allocs := testing.AllocsPerRun(1000, func() {
				v, _ = r.Verify(addrs[7], tt.suffixes)
				v, _ = r.Verify(mapped, tt.suffixes)
			})
			if v != tt.want {
				t.Fatalf("verdict = %v, want %v", v, tt.want)
			}
			if allocs != 0 {
				t.Errorf("cache hit allocates %v times per call, want 0", allocs)
			}
		})
	}
}

// BenchmarkVerifyHit: one hot address, one goroutine.
func BenchmarkVerifyHit(b *testing.B) {
	r, addrs := newWarmResolver(b, 1024)
	b.ReportAllocs()
	for b.Loop() {
		if v, _ := r.Verify(addrs[7], benchSuffixes); v != Verified {
			b.Fatalf("verdict = %v", v)
		}
	}
}

// BenchmarkVerifyHitMany: a full default-sized cache, addresses spread over
// it, one goroutine.
func BenchmarkVerifyHitMany(b *testing.B) {
	r, addrs := newWarmResolver(b, defaultCacheSize)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if v, _ := r.Verify(addrs[i&(len(addrs)-1)], benchSuffixes); v != Verified {
			b.Fatalf("verdict = %v", v)
		}
		i += 7919
	}
}

// BenchmarkVerifyHitParallel: many goroutines on a full cache, as under
// concurrent Checks.
func BenchmarkVerifyHitParallel(b *testing.B) {
	r, addrs := newWarmResolver(b, defaultCacheSize)
	b.ReportAllocs()
	b.ResetTimer() // the warm-up above is not the hit path
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if v, _ := r.Verify(addrs[i&(len(addrs)-1)], benchSuffixes); v != Verified {
				b.Errorf("verdict = %v", v)
				return
			}
			i += 7919
		}
	})
}

// BenchmarkVerifyHitParallelOneAddr: many goroutines on one address, the
// worst case for the shard lock.
func BenchmarkVerifyHitParallelOneAddr(b *testing.B) {
	r, addrs := newWarmResolver(b, 1024)
	b.ReportAllocs()
	b.ResetTimer() // the warm-up above is not the hit path
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if v, _ := r.Verify(addrs[7], benchSuffixes); v != Verified {
				b.Errorf("verdict = %v", v)
				return
			}
		}
	})
}
