package ratelimit_test

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/botauthz/botauthz/internal/redistest"
	"github.com/botauthz/botauthz/ratelimit"
)

// BenchmarkGuardRedisNewClients is BenchmarkGuardRedisHitConcurrent with an
// address Redis has never held on every Check, 256 to a /24: in real
// traffic most addresses are seen once or a few times, and a first
// sighting starts its lanes' buckets, whose housekeeping is measured with
// the Check (Close waits for it). Redis's CPU per Check comes from INFO
// cpu.
func BenchmarkGuardRedisNewClients(b *testing.B) {
	srv := redistest.Start(b)
	admin := adminClient(b, srv)
	history := ratelimit.NamedLane("h", 10*time.Minute)
	s := ratelimit.NewGuard(dialStore(b, srv), ratelimit.GuardOptions{Budget: time.Second})
	var next atomic.Uint64
	b.SetParallelism(16) // 32 callers on 2 cores, as the load harness
	before, redisBefore := processCPU(b), redisCPU(b, admin)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		obs := make([]ratelimit.Observation, 5)
		check := make([]ratelimit.Counter, 5)
		for pb.Next() {
			i := next.Add(1)
			net := "10." + strconv.FormatUint(i>>16&255, 10) + "." + strconv.FormatUint(i>>8&255, 10)
			k := ratelimit.IdentityKey(ratelimit.DimIP, net+"."+strconv.FormatUint(i&255, 10))
			check[0] = ratelimit.Counter{Key: k, Lane: "60s", Window: time.Minute}
			for p := range uint8(3) {
				check[1+p] = ratelimit.Counter{Key: k, Lane: history, Window: 10 * time.Minute, Peek: true, Part: p}
			}
			check[4] = ratelimit.Counter{Key: ratelimit.IdentityKey(ratelimit.DimSubnet, net+".0/24"), Lane: "60s", Window: time.Minute}
			if err := s.Hit(b.Context(), time.Now(), check, obs); err != nil {
				b.Error(err)
				return
			}
		}
	})
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(processCPU(b)-before)/float64(b.N)/1e3, "cpu-µs/op")
	b.ReportMetric(float64(redisCPU(b, admin)-redisBefore)/float64(b.N)/1e3, "redis-cpu-µs/op")
}
