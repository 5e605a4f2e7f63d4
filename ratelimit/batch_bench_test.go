package ratelimit

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/botauthz/botauthz/internal/redistest"
)

// BenchmarkBatcher compares ways for concurrent callers to send one script
// call each to a standalone Redis: each on its own (as Redis.Hit does
// without a batcher: Process standalone, a pipeline of its own on a
// cluster), through the batcher with 1, 2 or 4 pipelines in flight, and
// through two designs with dedicated sender goroutines (senderBatcher below
// and go-redis's AutoPipeliner). Besides ns/op and allocs/op it reports
// Redis's own CPU per call (redis-µs/op, from INFO cpu) and, where calls
// share pipelines, the commands per pipeline (cmds/pipeline). callers=1 is
// the idle case, where every call finds no pipeline in flight.
//
// unbatched-incr is a plain INCR per call: the Redis work of the floor
// botauthz is measured against.
func BenchmarkBatcher(b *testing.B) {
	srv := redistest.Start(b)
	client := redis.NewClient(benchOptions(srv.Addr()))
	b.Cleanup(func() { _ = client.Close() })
	admin := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	b.Cleanup(func() { _ = admin.Close() })

	modes := []benchMode{
		{"unbatched-incr", "incr", unbatched(client)},
		{"unbatched-process", "evalsha", unbatched(client)},
	}
	modes = append(modes, batchedModes(client)...)
	modes = append(modes,
		benchMode{"sender-goroutines=1", "evalsha", senders(client, 1)},
		benchMode{"sender-goroutines=2", "evalsha", senders(client, 2)},
		benchMode{"go-redis-autopipeline", "evalsha", func(b *testing.B) benchSender {
			// A client of its own: an AutoPipeliner is cached per client
			// and closes with it.
			c := redis.NewClient(client.Options())
			b.Cleanup(func() { _ = c.Close() })
			ap, err := c.AutoPipeline()
			if err != nil {
				b.Fatal(err)
			}
			return benchSender{send: ap.Process}
		}},
	)
	runBatcherBenchmarks(b, client, func(b *testing.B) time.Duration { return redisCPU(b, admin) }, modes)
}

// BenchmarkBatcherCluster is BenchmarkBatcher on a Redis Cluster of three
// masters, the callers' keys spread over all of them; redis-µs/op sums the
// masters' CPU.
func BenchmarkBatcherCluster(b *testing.B) {
	cl := redistest.StartCluster(b, 3)
	opts := benchOptions("")
	client := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs:         cl.Addrs(),
		PoolSize:      opts.PoolSize,
		PoolTimeout:   opts.PoolTimeout,
		ReadTimeout:   opts.ReadTimeout,
		WriteTimeout:  opts.WriteTimeout,
		DialerRetries: opts.DialerRetries,
		MaxRedirects:  3,
	})
	b.Cleanup(func() { _ = client.Close() })
	var admins []*redis.Client
	for _, addr := range cl.Addrs() {
		admin := redis.NewClient(&redis.Options{Addr: addr})
		b.Cleanup(func() { _ = admin.Close() })
		admins = append(admins, admin)
	}
	cpu := func(b *testing.B) time.Duration {
		var sum time.Duration
		for _, admin := range admins {
			sum += redisCPU(b, admin)
		}
		return sum
	}
	modes := []benchMode{{"unbatched-pipelined", "evalsha", func(*testing.B) benchSender {
		return benchSender{send: func(ctx context.Context, cmd redis.Cmder) error {
			_, err := client.Pipelined(ctx, func(p redis.Pipeliner) error { return p.Process(ctx, noRetryCmd{cmd}) })
			return err
		}}
	}}}
	runBatcherBenchmarks(b, client, cpu, append(modes, batchedModes(client)...))
}

// benchOptions are DialRedis's client options (spelled out: redis.go's
// constants may change), with a pool that holds a connection per caller.
func benchOptions(addr string) *redis.Options {
	return &redis.Options{
		Addr:          addr,
		PoolSize:      256,
		PoolTimeout:   50 * time.Millisecond,
		ReadTimeout:   500 * time.Millisecond,
		WriteTimeout:  500 * time.Millisecond,
		DialerRetries: 1,
		MaxRetries:    -1,
	}
}

// benchSender sends one caller's command. stats, if set, reports how many
// pipelines and commands it has sent.
type benchSender struct {
	send  func(ctx context.Context, cmd redis.Cmder) error
	stats func() (pipelines, cmds uint64)
}

// benchMode is one way of sending, benchmarked with one command per call.
type benchMode struct {
	name    string
	command string // "incr", or "evalsha" of incrScript
	sender  func(b *testing.B) benchSender
}

func unbatched(client redis.UniversalClient) func(*testing.B) benchSender {
	return func(*testing.B) benchSender { return benchSender{send: client.Process} }
}

func batchedModes(client redis.UniversalClient) []benchMode {
	var modes []benchMode
	for _, inFlight := range []int{1, 2, 4} {
		modes = append(modes, benchMode{"batched-inflight=" + strconv.Itoa(inFlight), "evalsha", func(*testing.B) benchSender {
			bt := newBatcher(client, batchOptions{maxInFlight: inFlight})
			return benchSender{
				send:  func(ctx context.Context, cmd redis.Cmder) error { return bt.do(ctx, []redis.Cmder{cmd}) },
				stats: func() (uint64, uint64) { st := bt.stats(); return st.pipelines, st.commands },
			}
		}})
	}
	return modes
}

func senders(client redis.UniversalClient, n int) func(*testing.B) benchSender {
	return func(b *testing.B) benchSender {
		s := newSenderBatcher(client, n, defaultBatchCommands)
		b.Cleanup(s.close)
		return benchSender{send: s.do, stats: s.stats}
	}
}

// runBatcherBenchmarks runs every mode with 1, 32 and 64 concurrent
// callers, each on a key of its own, and reports cpu's growth per call.
func runBatcherBenchmarks(b *testing.B, client redis.UniversalClient, cpu func(*testing.B) time.Duration, modes []benchMode) {
	if err := incrScript.Load(b.Context(), client).Err(); err != nil {
		b.Fatal(err)
	}
	sha := incrScript.Hash()
	for _, callers := range []int{1, 32, 64} {
		for _, m := range modes {
			b.Run(fmt.Sprintf("%s/callers=%d", m.name, callers), func(b *testing.B) {
				s := m.sender(b)
				stats := s.stats
				if stats == nil {
					stats = func() (uint64, uint64) { return 0, 0 }
				}
				// call sends one command on key and reports whether it
				// succeeded.
				call := func(ctx context.Context, key string) bool {
					var cmd *redis.Cmd
					if m.command == "incr" {
						cmd = redis.NewCmd(ctx, "incr", key)
					} else {
						cmd = redis.NewCmd(ctx, "evalsha", sha, 1, key)
					}
					err := s.send(ctx, cmd)
					if err == nil {
						err = cmd.Err()
					}
					if err != nil {
						b.Error(err)
						return false
					}
					return true
				}
				var ids atomic.Int64
				b.SetParallelism(max(1, callers/runtime.GOMAXPROCS(0)))
				b.ReportAllocs()
				cpu0 := cpu(b)
				p0, c0 := stats()
				b.ResetTimer()
				if callers == 1 {
					for i := 0; i < b.N && call(context.Background(), "bench:0"); i++ {
					}
				} else {
					b.RunParallel(func(pb *testing.PB) {
						key := "bench:" + strconv.FormatInt(ids.Add(1), 10)
						for pb.Next() && call(context.Background(), key) {
						}
					})
				}
				b.StopTimer()
				b.ReportMetric(float64((cpu(b)-cpu0).Nanoseconds())/1e3/float64(b.N), "redis-µs/op")
				if p, c := stats(); p > p0 {
					b.ReportMetric(float64(c-c0)/float64(p-p0), "cmds/pipeline")
				}
			})
		}
	}
}

// redisCPU returns the CPU time the server has used, user and system.
func redisCPU(b *testing.B, c *redis.Client) time.Duration {
	b.Helper()
	info, err := c.Info(context.Background(), "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	var total time.Duration
	for l := range strings.Lines(info) {
		name, v, ok := strings.Cut(strings.TrimSpace(l), ":")
		if !ok || (name != "used_cpu_sys" && name != "used_cpu_user") {
			continue
		}
		d, err := time.ParseDuration(v + "s")
		if err != nil {
			b.Fatalf("INFO cpu %s: %v", l, err)
		}
		total += d
	}
	return total
}

// senderBatcher is the design batcher was measured against: callers queue
// their commands and park; sender goroutines each take everything queued
// (up to maxCommands), send it as one pipeline and wake its callers. A
// lone caller pays two goroutine hops, to the sender and back.
type senderBatcher struct {
	client      redis.UniversalClient
	maxCommands int
	kick        chan struct{} // capacity 1: something was queued
	quit        chan struct{}
	wg          sync.WaitGroup
	calls       sync.Pool // *senderCall

	mu    sync.Mutex
	queue []*senderCall // guarded by mu

	pipelines, commands atomic.Uint64
}

type senderCall struct {
	cmd  noRetryCmd
	done chan struct{}
}

func newSenderBatcher(client redis.UniversalClient, senders, maxCommands int) *senderBatcher {
	s := &senderBatcher{client: client, maxCommands: maxCommands, kick: make(chan struct{}, 1), quit: make(chan struct{})}
	s.calls.New = func() any { return &senderCall{done: make(chan struct{}, 1)} }
	for range senders {
		s.wg.Go(s.run)
	}
	return s
}

func (s *senderBatcher) do(_ context.Context, cmd redis.Cmder) error {
	c := s.calls.Get().(*senderCall)
	c.cmd = noRetryCmd{cmd}
	s.mu.Lock()
	s.queue = append(s.queue, c)
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default: // a sender is already due to look
	}
	<-c.done
	c.cmd = noRetryCmd{}
	s.calls.Put(c)
	return transportErr([]redis.Cmder{cmd})
}

func (s *senderBatcher) run() {
	var batch []*senderCall
	var cmds []redis.Cmder
	pipe := s.client.Pipeline()
	for {
		select {
		case <-s.kick:
		case <-s.quit:
			return
		}
		for {
			s.mu.Lock()
			n := min(len(s.queue), s.maxCommands)
			batch = append(batch[:0], s.queue[:n]...)
			s.queue = append(s.queue[:0], s.queue[n:]...)
			more := len(s.queue) > 0
			s.mu.Unlock()
			if n == 0 {
				break
			}
			if more {
				// Let another sender take the rest meanwhile.
				select {
				case s.kick <- struct{}{}:
				default:
				}
			}
			cmds = cmds[:0]
			for _, c := range batch {
				cmds = append(cmds, &c.cmd)
			}
			_ = pipe.BatchProcess(context.Background(), cmds...)
			_, _ = pipe.Exec(context.Background())
			s.pipelines.Add(1)
			s.commands.Add(uint64(len(cmds)))
			for _, c := range batch {
				c.done <- struct{}{}
			}
		}
	}
}

func (s *senderBatcher) stats() (uint64, uint64) { return s.pipelines.Load(), s.commands.Load() }

func (s *senderBatcher) close() {
	close(s.quit)
	s.wg.Wait()
}
