package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/botauthz/botauthz/internal/redistest"
)

// incrScript stands in for a Check's commands: a call that counts, so
// one sent twice shows in the count.
var incrScript = redis.NewScript(`return redis.call('INCR', KEYS[1])`)

// testReadTimeout outlasts any stall a test makes on purpose, so that only
// the test decides when a paused server answers.
const testReadTimeout = time.Minute

func newTestClient(t testing.TB, addr string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, ReadTimeout: testReadTimeout, DialerRetries: 1})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func newTestClusterClient(t testing.TB, cl *redistest.Cluster) *redis.ClusterClient {
	t.Helper()
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs(), ReadTimeout: testReadTimeout})
	t.Cleanup(func() { _ = c.Close() })
	// Learn the slot map now, not inside a test's first pipeline.
	if err := c.ForEachMaster(t.Context(), func(ctx context.Context, m *redis.Client) error {
		return m.Ping(ctx).Err()
	}); err != nil {
		t.Fatalf("PING every master: %v", err)
	}
	return c
}

// waitFor polls cond until it holds, failing the test after a deadline far
// beyond what the condition needs.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting for %s", what)
		}
		<-tick.C
	}
}

// asyncDo is a do call running in its own goroutine.
type asyncDo struct {
	cmds []redis.Cmder
	done chan error
}

func startDo(ctx context.Context, b *batcher, cmds ...redis.Cmder) *asyncDo {
	a := &asyncDo{cmds: cmds, done: make(chan error, 1)}
	go func() { a.done <- b.do(ctx, cmds) }()
	return a
}

// stall pauses srv and starts b.maxInFlight calls, each an INCR of its own
// key, that take every pipeline slot and cannot be answered until the
// caller resumes srv: every call started after stall returns queues.
func stall(t *testing.T, b *batcher, srv *redistest.Server, keyPrefix string) []*asyncDo {
	t.Helper()
	// A connection made now, so that the stalled calls wait for their
	// replies rather than for a handshake.
	if err := b.client.Ping(t.Context()).Err(); err != nil {
		t.Fatalf("PING: %v", err)
	}
	srv.Pause()
	first := make([]*asyncDo, b.maxInFlight)
	for i := range first {
		first[i] = startDo(t.Context(), b, redis.NewCmd(t.Context(), "incr", keyPrefix+strconv.Itoa(i)))
	}
	waitFor(t, "every pipeline slot taken", func() bool {
		return b.stats().inFlight == b.maxInFlight
	})
	return first
}

// waitQueued waits until n calls wait for a pipeline slot.
func waitQueued(t *testing.T, b *batcher, n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d queued calls", n), func() bool { return b.stats().queued == n })
}

// wantReply fails the test unless cmd succeeded with the integer want.
func wantReply(t *testing.T, cmd redis.Cmder, want int64) {
	t.Helper()
	got, err := cmd.(*redis.Cmd).Int64()
	if err != nil || got != want {
		t.Errorf("%v: got %d, %v; want %d", cmd.Args(), got, err, want)
	}
}

// getInt returns key's integer value, 0 if it does not exist.
func getInt(t *testing.T, c redis.UniversalClient, key string) int64 {
	t.Helper()
	n, err := c.Get(t.Context(), key).Int64()
	if errors.Is(err, redis.Nil) {
		return 0
	}
	if err != nil {
		t.Fatalf("GET %s: %v", key, err)
	}
	return n
}

// testCountsEveryCallOnce runs many concurrent callers, each doing an INCR
// and a script INCR on keys of its own per call, and checks every reply and
// every final count: nothing lost, nothing counted twice, no reply given to
// the wrong caller.
func testCountsEveryCallOnce(t *testing.T, client redis.UniversalClient, keys []string) {
	const calls = 200
	b := newBatcher(client, batchOptions{})
	ctx := t.Context()
	if err := incrScript.Load(ctx, client).Err(); err != nil {
		t.Fatalf("SCRIPT LOAD: %v", err)
	}
	// Each caller's keys share a hash tag, so on a cluster they are on one
	// node; the tags spread callers over the nodes.
	incrKey := func(k string) string { return "{" + k + "}:incr" }
	evalKey := func(k string) string { return "{" + k + "}:eval" }
	var wg sync.WaitGroup
	for _, k := range keys {
		wg.Go(func() {
			for i := range int64(calls) {
				incr := redis.NewCmd(ctx, "incr", incrKey(k))
				eval := redis.NewCmd(ctx, "evalsha", incrScript.Hash(), 1, evalKey(k))
				if err := b.do(ctx, []redis.Cmder{incr, eval}); err != nil {
					t.Errorf("caller %s, call %d: %v", k, i, err)
					return
				}
				wantReply(t, incr, i+1)
				wantReply(t, eval, i+1)
			}
		})
	}
	wg.Wait()

	for _, k := range keys {
		for _, key := range []string{incrKey(k), evalKey(k)} {
			if got := getInt(t, client, key); got != calls {
				t.Errorf("%s = %d after %d calls", key, got, calls)
			}
		}
	}
	st := b.stats()
	if want := uint64(2 * calls * len(keys)); st.commands != want {
		t.Errorf("sent %d commands, want %d", st.commands, want)
	}
	if st.inFlight != 0 || st.queued != 0 {
		t.Errorf("after every call returned: %+v", st)
	}
	t.Logf("%d calls in %d pipelines, %.1f commands each", calls*len(keys), st.pipelines, float64(st.commands)/float64(st.pipelines))
}

// callerKeys returns n distinct key names.
func callerKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "caller" + strconv.Itoa(i)
	}
	return keys
}

func TestBatcherCountsEveryCallOnce(t *testing.T) {
	t.Run("standalone", func(t *testing.T) {
		srv := redistest.Start(t)
		testCountsEveryCallOnce(t, newTestClient(t, srv.Addr()), callerKeys(64))
	})
	t.Run("sentinel", func(t *testing.T) {
		sn := redistest.StartSentinel(t)
		client := redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName:    redistest.SentinelMaster,
			SentinelAddrs: sn.Addrs(),
			ReadTimeout:   testReadTimeout,
		})
		t.Cleanup(func() { _ = client.Close() })
		testCountsEveryCallOnce(t, client, callerKeys(64))
	})
	// The cluster case is in TestBatcherCluster, which shares its cluster.
}

func TestBatcherSendsAtOnceWhileASlotIsFree(t *testing.T) {
	srv := redistest.Start(t)
	client := newTestClient(t, srv.Addr())
	b := newBatcher(client, batchOptions{maxInFlight: 3})
	srv.Pause()
	// With the server paused nothing is answered: each call that took a
	// slot is a pipeline sent without waiting for the others.
	var calls []*asyncDo
	for i := range 3 {
		calls = append(calls, startDo(t.Context(), b, redis.NewCmd(t.Context(), "incr", "slot"+strconv.Itoa(i))))
		waitFor(t, fmt.Sprintf("%d pipelines in flight", i+1), func() bool {
			st := b.stats()
			return st.inFlight == i+1 && st.queued == 0
		})
	}
	calls = append(calls, startDo(t.Context(), b, redis.NewCmd(t.Context(), "incr", "slot3")))
	waitQueued(t, b, 1)
	srv.Resume()
	for _, c := range calls {
		if err := <-c.done; err != nil {
			t.Fatal(err)
		}
		wantReply(t, c.cmds[0], 1)
	}
	if st := b.stats(); st.pipelines != 4 || st.commands != 4 {
		t.Errorf("stats %+v, want 4 pipelines of 1 command", st)
	}
}

func TestBatcherSendsQueuedCallsTogether(t *testing.T) {
	tests := []struct {
		name        string
		maxCommands int
		sizes       []int // commands per queued call, in queue order
		pipelines   uint64
	}{
		{"all in one pipeline", 0, []int{1, 2, 1, 3, 1, 1, 2, 1, 1, 1}, 1},
		// 4 commands per pipeline: {1,1,1,1} {1,1,1,1} {1,1} .
		{"split by maxCommands", 4, []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, 3},
		// A call above the limit goes alone: {1,2} {6} {3} {1,1}.
		{"an oversized call alone", 4, []int{1, 2, 6, 3, 1, 1}, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := redistest.Start(t)
			client := newTestClient(t, srv.Addr())
			if err := client.Ping(t.Context()).Err(); err != nil {
				t.Fatal(err)
			}
			b := newBatcher(client, batchOptions{maxInFlight: 1, maxCommands: tt.maxCommands})
			first := stall(t, b, srv, "first")
			var queued []*asyncDo
			total := 0
			for i, n := range tt.sizes {
				cmds := make([]redis.Cmder, n)
				for j := range cmds {
					cmds[j] = redis.NewCmd(t.Context(), "incr", fmt.Sprintf("queued%d:%d", i, j))
				}
				queued = append(queued, startDo(t.Context(), b, cmds...))
				// One at a time, so the queue's order is known.
				waitQueued(t, b, i+1)
				total += n
			}
			srv.Resume()

			for _, c := range append(first, queued...) {
				if err := <-c.done; err != nil {
					t.Fatal(err)
				}
				for _, cmd := range c.cmds {
					wantReply(t, cmd, 1)
				}
			}
			st := b.stats()
			if want := 1 + tt.pipelines; st.pipelines != want {
				t.Errorf("%d pipelines, want %d: the stalled one and %d for the queued calls", st.pipelines, want, tt.pipelines)
			}
			if want := uint64(1 + total); st.commands != want {
				t.Errorf("%d commands sent, want %d", st.commands, want)
			}
		})
	}
}

func TestBatcherKeepsCommandErrorsToTheirCommand(t *testing.T) {
	srv := redistest.Start(t)
	client := newTestClient(t, srv.Addr())
	ctx := t.Context()
	if err := client.Set(ctx, "text", "not a number", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := incrScript.Load(ctx, client).Err(); err != nil {
		t.Fatal(err)
	}
	b := newBatcher(client, batchOptions{maxInFlight: 1})
	first := stall(t, b, srv, "first")

	good := func(key string) *redis.Cmd { return redis.NewCmd(ctx, "evalsha", incrScript.Hash(), 1, key) }
	noScript := redis.NewCmd(ctx, "evalsha", "0000000000000000000000000000000000000000", 1, "k")
	notInt := redis.NewCmd(ctx, "incr", "text")
	scriptErr := redis.NewCmd(ctx, "eval", "return redis.error_reply('BOOM from the script')", 0)
	calls := [][]redis.Cmder{
		{good("g1")},
		{noScript},
		{good("g2"), notInt, good("g3")}, // a caller's good commands around its bad one
		{scriptErr},
		{good("g4")},
	}
	var queued []*asyncDo
	for i, cmds := range calls {
		queued = append(queued, startDo(ctx, b, cmds...))
		waitQueued(t, b, i+1)
	}
	srv.Resume()
	for _, c := range append(first, queued...) {
		if err := <-c.done; err != nil {
			t.Errorf("do: %v, want nil: commands' own errors stay in them", err)
		}
	}
	if st := b.stats(); st.pipelines != 2 {
		t.Fatalf("%d pipelines, want 2: the queued calls did not share one", st.pipelines)
	}

	for _, key := range []string{"g1", "g2", "g3", "g4"} {
		if got := getInt(t, client, key); got != 1 {
			t.Errorf("%s = %d, want 1", key, got)
		}
	}
	wantReply(t, calls[0][0], 1)
	wantReply(t, calls[2][0], 1)
	wantReply(t, calls[2][2], 1)
	wantReply(t, calls[4][0], 1)
	for _, tt := range []struct {
		cmd    redis.Cmder
		prefix string
	}{
		{noScript, "NOSCRIPT"},
		{notInt, "ERR value is not an integer"},
		{scriptErr, "BOOM"},
	} {
		if err := tt.cmd.Err(); err == nil || !strings.HasPrefix(err.Error(), tt.prefix) {
			t.Errorf("%v: error %v, want %s...", tt.cmd.Args(), err, tt.prefix)
		}
	}
}

func TestBatcherQueuedCallerWhoseContextEndsSendsNothing(t *testing.T) {
	srv := redistest.Start(t)
	client := newTestClient(t, srv.Addr())
	b := newBatcher(client, batchOptions{maxInFlight: 1})

	done, cancel := context.WithCancel(t.Context())
	cancel()
	if err := b.do(done, []redis.Cmder{redis.NewCmd(t.Context(), "incr", "cancelled-before")}); !errors.Is(err, context.Canceled) {
		t.Errorf("do with a done context: %v, want context.Canceled", err)
	}

	first := stall(t, b, srv, "first")
	before := startDo(t.Context(), b, redis.NewCmd(t.Context(), "incr", "kept-before"))
	waitQueued(t, b, 1)
	ctx, cancel := context.WithCancel(t.Context())
	leaver := startDo(ctx, b, redis.NewCmd(ctx, "incr", "cancelled-while-queued"))
	waitQueued(t, b, 2)
	after := startDo(t.Context(), b, redis.NewCmd(t.Context(), "incr", "kept-after"))
	waitQueued(t, b, 3)

	cancel()
	// The server is still paused: the call returns without waiting for it.
	if err := <-leaver.done; !errors.Is(err, context.Canceled) {
		t.Errorf("queued call after cancel: %v, want context.Canceled", err)
	}
	if st := b.stats(); st.queued != 2 {
		t.Errorf("%d calls queued after one left, want 2", st.queued)
	}
	srv.Resume()
	for _, c := range append(first, before, after) {
		if err := <-c.done; err != nil {
			t.Fatal(err)
		}
		wantReply(t, c.cmds[0], 1)
	}
	for key, want := range map[string]int64{"cancelled-before": 0, "cancelled-while-queued": 0, "kept-before": 1, "kept-after": 1} {
		if got := getInt(t, client, key); got != want {
			t.Errorf("%s = %d, want %d", key, got, want)
		}
	}
	if st := b.stats(); st.pipelines != 2 || st.commands != 3 {
		t.Errorf("stats %+v, want 2 pipelines with 3 commands: the cancelled calls sent nothing", st)
	}
}

// batcherGoroutines returns the stacks of goroutines inside the batcher.
func batcherGoroutines() []string {
	var sb strings.Builder
	_ = pprof.Lookup("goroutine").WriteTo(&sb, 2)
	var stuck []string
	for g := range strings.SplitSeq(sb.String(), "\n\n") {
		if strings.Contains(g, "ratelimit.(*batcher)") {
			stuck = append(stuck, g)
		}
	}
	return stuck
}

func TestBatcherFailsEveryCallerWhenRedisIsDown(t *testing.T) {
	wantAllFailed := func(t *testing.T, b *batcher, calls []*asyncDo) {
		t.Helper()
		for _, c := range calls {
			err := <-c.done
			if err == nil {
				t.Fatal("do succeeded with Redis down")
			}
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("do: %v, want the connection's error", err)
			}
			for _, cmd := range c.cmds {
				if cmd.Err() == nil {
					t.Fatalf("%v has no error", cmd.Args())
				}
			}
		}
		if st := b.stats(); st.inFlight != 0 || st.queued != 0 {
			t.Errorf("after every call returned: %+v", st)
		}
		if stuck := batcherGoroutines(); len(stuck) > 0 {
			t.Errorf("%d goroutines left in the batcher:\n%s", len(stuck), strings.Join(stuck, "\n\n"))
		}
	}

	t.Run("stopped", func(t *testing.T) {
		srv := redistest.Start(t)
		// DialRedis's failure behaviour: one dial attempt, a short wait for
		// a pooled connection, a read timeout that ends the wait if
		// another process takes the freed port and never answers.
		client := redis.NewClient(&redis.Options{
			Addr:          srv.Addr(),
			DialerRetries: 1,
			PoolTimeout:   50 * time.Millisecond,
			ReadTimeout:   500 * time.Millisecond,
			MaxRetries:    -1,
		})
		t.Cleanup(func() { _ = client.Close() })
		b := newBatcher(client, batchOptions{})
		srv.Stop()
		var calls []*asyncDo
		for i := range 64 {
			for j := range 20 {
				calls = append(calls, startDo(t.Context(), b, redis.NewCmd(t.Context(), "incr", fmt.Sprintf("down%d:%d", i, j))))
			}
		}
		wantAllFailed(t, b, calls)
	})

	t.Run("dies with a pipeline in flight", func(t *testing.T) {
		srv := redistest.Start(t)
		client := newTestClient(t, srv.Addr())
		if err := client.Ping(t.Context()).Err(); err != nil {
			t.Fatal(err)
		}
		b := newBatcher(client, batchOptions{maxInFlight: 1})
		calls := stall(t, b, srv, "first")
		for i := range 32 {
			calls = append(calls, startDo(t.Context(), b, redis.NewCmd(t.Context(), "incr", "queued"+strconv.Itoa(i))))
		}
		waitQueued(t, b, 32)
		srv.Stop()
		wantAllFailed(t, b, calls)
	})
}

// warmConns leaves n connections to client's server in its pool, so that
// a re-sent pipeline would find one ready: a fresh connection cannot reach
// a paused server, whose handshake waits.
func warmConns(t *testing.T, client *redis.Client, n int) {
	t.Helper()
	conns := make([]*redis.Conn, n)
	for i := range conns {
		conns[i] = client.Conn()
		if err := conns[i].Ping(t.Context()).Err(); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range conns {
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestBatcherNeverResendsATimedOutPipeline(t *testing.T) {
	srv := redistest.Start(t)
	// A caller-owned client with go-redis's default retries: only the
	// batcher's marks keep the pipeline from going out again.
	client := redis.NewClient(&redis.Options{Addr: srv.Addr(), ReadTimeout: 200 * time.Millisecond, MinRetryBackoff: -1})
	t.Cleanup(func() { _ = client.Close() })
	warmConns(t, client, 4)
	b := newBatcher(client, batchOptions{})

	srv.Pause()
	err := b.do(t.Context(), []redis.Cmder{redis.NewCmd(t.Context(), "incr", "once"), redis.NewCmd(t.Context(), "incr", "once")})
	srv.Resume()
	if err == nil {
		t.Fatal("do with a paused server succeeded")
	}
	// The pipeline may have run once the server resumed, but only once.
	if got := getInt(t, newTestClient(t, srv.Addr()), "once"); got > 2 {
		t.Errorf("once = %d after one timed-out pipeline of 2 INCRs, want at most 2: it was sent again", got)
	}
}

func TestBatcherCluster(t *testing.T) {
	const masters = 3
	cl := redistest.StartCluster(t, masters)
	client := newTestClusterClient(t, cl)
	ctx := t.Context()

	// masterOf returns the address of the master serving key.
	masterOf := func(t *testing.T, key string) string {
		t.Helper()
		m, err := client.MasterForKey(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		return m.Options().Addr
	}
	// onEveryMaster returns n callers' keys, 0..n-1, and checks that their
	// hash tags cover every master.
	onEveryMaster := func(t *testing.T, n int) []string {
		t.Helper()
		keys := callerKeys(n)
		seen := make(map[string]bool)
		for _, k := range keys {
			seen[masterOf(t, "{"+k+"}")] = true
		}
		if len(seen) != masters {
			t.Fatalf("%d callers' keys reach %d of %d masters", n, len(seen), masters)
		}
		return keys
	}
	nodeOf := func(t *testing.T, addr string) *redistest.Server {
		t.Helper()
		for _, n := range cl.Nodes() {
			if n.Addr() == addr {
				return n
			}
		}
		t.Fatalf("no node has address %s", addr)
		return nil
	}

	t.Run("counts every call once on every master", func(t *testing.T) {
		testCountsEveryCallOnce(t, client, onEveryMaster(t, 64))
	})

	t.Run("queued calls share one pipeline across masters", func(t *testing.T) {
		keys := onEveryMaster(t, 12)
		b := newBatcher(client, batchOptions{maxInFlight: 1})
		// Hold the slot with a call to one master only; the queued calls
		// go to all three.
		stallKey := "{stall}"
		node := nodeOf(t, masterOf(t, stallKey+"0"))
		first := stall(t, b, node, stallKey)
		var queued []*asyncDo
		for i, k := range keys {
			queued = append(queued, startDo(ctx, b, redis.NewCmd(ctx, "incr", "{"+k+"}:shared")))
			waitQueued(t, b, i+1)
		}
		node.Resume()
		for _, c := range append(first, queued...) {
			if err := <-c.done; err != nil {
				t.Fatal(err)
			}
			wantReply(t, c.cmds[0], 1)
		}
		if st := b.stats(); st.pipelines != 2 || st.commands != uint64(1+len(keys)) {
			t.Errorf("stats %+v, want 2 pipelines, %d commands", st, 1+len(keys))
		}
	})

	t.Run("one caller's error stays its own", func(t *testing.T) {
		b := newBatcher(client, batchOptions{})
		keys := onEveryMaster(t, 6)
		var cmds []redis.Cmder
		for _, k := range keys {
			cmds = append(cmds, redis.NewCmd(ctx, "evalsha", incrScript.Hash(), 1, "{"+k+"}:noscript-neighbour"))
		}
		bad := redis.NewCmd(ctx, "evalsha", "0000000000000000000000000000000000000000", 1, "{"+keys[0]+"}:x")
		cmds = append(cmds, bad)
		if err := incrScript.Load(ctx, client).Err(); err != nil {
			t.Fatal(err)
		}
		if err := b.do(ctx, cmds); err != nil {
			t.Fatalf("do: %v", err)
		}
		for _, cmd := range cmds[:len(keys)] {
			wantReply(t, cmd, 1)
		}
		if err := bad.Err(); err == nil || !strings.HasPrefix(err.Error(), "NOSCRIPT") {
			t.Errorf("unknown script: %v, want NOSCRIPT", err)
		}
	})

	// Last: it pauses a master long enough for a read timeout.
	t.Run("a timed-out pipeline is not sent again", func(t *testing.T) {
		tc := redis.NewClusterClient(&redis.ClusterOptions{
			Addrs:        cl.Addrs(),
			ReadTimeout:  200 * time.Millisecond,
			MaxRedirects: 3, // the cluster pipeline's re-send budget
		})
		t.Cleanup(func() { _ = tc.Close() })
		keys := onEveryMaster(t, 12)
		paused := masterOf(t, "{"+keys[0]+"}")
		// Connections ready on the paused master, so that a re-send would
		// go out and show.
		err := tc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
			if m.Options().Addr == paused {
				warmConns(t, m, 4)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		b := newBatcher(tc, batchOptions{})
		var cmds []redis.Cmder
		for _, k := range keys {
			cmds = append(cmds, redis.NewCmd(ctx, "incr", "{"+k+"}:timeout"))
		}
		node := nodeOf(t, paused)
		node.Pause()
		err = b.do(ctx, cmds)
		node.Resume()
		if err == nil {
			t.Fatal("do with a paused master succeeded")
		}
		for i, k := range keys {
			got := getInt(t, client, "{"+k+"}:timeout")
			switch {
			case masterOf(t, "{"+k+"}") == paused && got > 1:
				t.Errorf("key %d on the paused master = %d, want at most 1: it was sent again", i, got)
			case masterOf(t, "{"+k+"}") != paused:
				if got != 1 {
					t.Errorf("key %d on a live master = %d, want 1", i, got)
				}
				wantReply(t, cmds[i], 1)
			}
		}
	})
}

// TestBatcherWithinStopsWaitingAndCountsOnce stalls Redis with one
// pipeline slot, then lets doWithin callers stop waiting: the one whose
// commands were on the wire is told so (errStillRunning) and still counts
// once Redis answers, the one still queued is told nothing was sent
// (errNotSent) and never counts, and a detached call dispatched from the
// queue is sent by a goroutine of its own and answered.
func TestBatcherWithinStopsWaitingAndCountsOnce(t *testing.T) {
	srv := redistest.Start(t)
	client := newTestClient(t, srv.Addr())
	b := newBatcher(client, batchOptions{maxInFlight: 1})
	if err := client.Ping(t.Context()).Err(); err != nil {
		t.Fatalf("PING: %v", err)
	}
	srv.Pause()
	t.Cleanup(srv.Resume)

	within := func(key string, stop <-chan time.Time) chan error {
		done := make(chan error, 1)
		go func() { done <- b.doWithin(t.Context(), []redis.Cmder{redis.NewCmd(t.Context(), "incr", key)}, stop) }()
		return done
	}
	sentStop := make(chan time.Time, 1)
	sent := within("sent", sentStop)
	waitFor(t, "the first call's pipeline in flight", func() bool { return b.stats().inFlight == 1 })
	queuedStop := make(chan time.Time, 1)
	queued := within("queued", queuedStop)
	waitQueued(t, b, 1)
	// The detached call first, so it leads the next pipeline: a goroutine
	// sends it, and wakes the do caller that follows it.
	dispatched := within("dispatched", nil)
	waitQueued(t, b, 2)
	kept := startDo(t.Context(), b, redis.NewCmd(t.Context(), "incr", "kept"))
	waitQueued(t, b, 3)

	sentStop <- time.Now()
	if err := <-sent; !errors.Is(err, errStillRunning) || !errors.Is(err, errStopped) {
		t.Errorf("call on the wire, stopped: %v, want errStillRunning and errStopped", err)
	}
	queuedStop <- time.Now()
	if err := <-queued; !errors.Is(err, errNotSent) || !errors.Is(err, errStopped) {
		t.Errorf("queued call, stopped: %v, want errNotSent and errStopped", err)
	}
	if st := b.stats(); st.queued != 2 || st.inFlight != 1 {
		t.Errorf("stats %+v, want the stalled pipeline and 2 calls queued", st)
	}
	if st := b.stats(); st.pipelines != 0 {
		t.Errorf("stats %+v, want no pipeline answered while Redis is paused", st)
	}

	srv.Resume()
	if err := <-dispatched; err != nil {
		t.Fatalf("doWithin queued behind: %v", err)
	}
	if err := <-kept.done; err != nil {
		t.Fatalf("do queued behind: %v", err)
	}
	wantReply(t, kept.cmds[0], 1)
	waitFor(t, "every pipeline answered", func() bool { st := b.stats(); return st.inFlight == 0 && st.queued == 0 })
	for key, want := range map[string]int64{"sent": 1, "queued": 0, "kept": 1, "dispatched": 1} {
		if got := getInt(t, client, key); got != want {
			t.Errorf("%s = %d, want %d", key, got, want)
		}
	}
	if st := b.stats(); st.pipelines != 2 || st.commands != 3 {
		t.Errorf("stats %+v, want 2 pipelines of 3 commands: the stalled one, then the two queued calls together", st)
	}
	waitFor(t, "no goroutine left in the batcher", func() bool { return len(batcherGoroutines()) == 0 })
}

// TestBatcherWithinCountsEveryCallOnce runs do and doWithin callers
// together, a third of the doWithin calls told to stop waiting at once:
// every call counts exactly once unless it was never sent, every answered
// call gets its own reply, and nothing stays queued or in flight.
func TestBatcherWithinCountsEveryCallOnce(t *testing.T) {
	srv := redistest.Start(t)
	client := newTestClient(t, srv.Addr())
	b := newBatcher(client, batchOptions{})
	const callers, calls = 24, 150
	var counted [callers]atomic.Int64
	var wg sync.WaitGroup
	for k := range callers {
		key := "within" + strconv.Itoa(k)
		wg.Go(func() {
			for i := range calls {
				cmd := redis.NewCmd(t.Context(), "incr", key)
				var err error
				switch {
				case k%2 == 0:
					err = b.do(t.Context(), []redis.Cmder{cmd})
				case i%3 == 0:
					stop := make(chan time.Time, 1)
					stop <- time.Now()
					err = b.doWithin(t.Context(), []redis.Cmder{cmd}, stop)
				default:
					err = b.doWithin(t.Context(), []redis.Cmder{cmd}, nil)
				}
				switch {
				case err == nil:
					if _, rerr := cmd.Int64(); rerr != nil {
						t.Errorf("%s call %d: answered without a reply: %v", key, i, rerr)
					}
					counted[k].Add(1)
				case errors.Is(err, errStillRunning):
					counted[k].Add(1)
				case !errors.Is(err, errNotSent):
					t.Errorf("%s call %d: %v", key, i, err)
				}
			}
		})
	}
	wg.Wait()
	waitFor(t, "every pipeline answered", func() bool { st := b.stats(); return st.inFlight == 0 && st.queued == 0 })
	for k := range callers {
		key := "within" + strconv.Itoa(k)
		if got, want := getInt(t, client, key), counted[k].Load(); got != want {
			t.Errorf("%s = %d, want %d: a call counted twice or was lost", key, got, want)
		}
	}
}

// TestBatcherSenderSendsTheNextPipelineItself: when a detached caller's
// pipeline is answered and detached callers wait, its sender sends their
// pipelines in turn, on the stack it has grown, instead of starting a
// goroutine for each; it leaves once no pipeline comes for senderIdle.
func TestBatcherSenderSendsTheNextPipelineItself(t *testing.T) {
	srv := redistest.Start(t)
	client := newTestClient(t, srv.Addr())
	// One command per pipeline, so that every queued call is a pipeline.
	b := newBatcher(client, batchOptions{maxInFlight: 1, maxCommands: 1})
	if err := client.Ping(t.Context()).Err(); err != nil {
		t.Fatalf("PING: %v", err)
	}
	srv.Pause()
	t.Cleanup(srv.Resume)

	const calls = 6
	done := make(chan error, calls)
	for i := range calls {
		go func() {
			done <- b.doWithin(t.Context(), []redis.Cmder{redis.NewCmd(t.Context(), "incr", "k"+strconv.Itoa(i))}, nil)
		}()
		if i == 0 {
			waitFor(t, "the first pipeline in flight", func() bool { return b.stats().inFlight == 1 })
		} else {
			waitQueued(t, b, i)
		}
	}
	srv.Resume()
	for range calls {
		if err := <-done; err != nil {
			t.Fatalf("doWithin: %v", err)
		}
	}
	if st := b.stats(); st.pipelines != calls || st.senders != 1 {
		t.Errorf("stats %+v, want %d pipelines sent by 1 sender", st, calls)
	}
	for i := range calls {
		if got := getInt(t, client, "k"+strconv.Itoa(i)); got != 1 {
			t.Errorf("k%d = %d, want 1", i, got)
		}
	}
	waitFor(t, "the idle sender gone", func() bool { return len(batcherGoroutines()) == 0 })
}
