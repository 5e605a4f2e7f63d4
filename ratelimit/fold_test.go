package ratelimit

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/botauthz/botauthz/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// foldHit is a Hit running on a goroutine of its own.
type foldHit struct {
	counters []Counter
	obs      []Observation
	done     chan error
}

// queueHits starts a Hit for each counter set, one after another, each
// only once the previous one waits for a pipeline slot, so that they queue
// in this order behind a stalled batcher.
func queueHits(t *testing.T, r *Redis, now time.Time, sets ...[]Counter) []*foldHit {
	t.Helper()
	queued := r.batch.stats().queued
	hits := make([]*foldHit, len(sets))
	for i, cs := range sets {
		h := &foldHit{counters: cs, obs: make([]Observation, len(cs)), done: make(chan error, 1)}
		go func() { h.done <- r.Hit(context.Background(), now, h.counters, h.obs) }()
		hits[i] = h
		waitQueued(t, r.batch, queued+i+1)
	}
	return hits
}

// foldStore is a Redis store on srv with a client that waits out a stall.
func foldStore(t *testing.T, srv *redistest.Server) *Redis {
	t.Helper()
	r := NewRedis(newTestClient(t, srv.Addr()))
	if err := r.LoadScript(t.Context()); err != nil {
		t.Fatal(err)
	}
	return r
}

// clientHit counts client 10.9.0.i's own lane and its network's, and peeks
// the client's history lane.
func clientHit(i int) []Counter {
	return []Counter{
		{Key: IdentityKey(DimIP, "10.9.0."+strconv.Itoa(i)), Lane: "60s", Window: time.Minute},
		{Key: IdentityKey(DimSubnet, "10.9.0.0/24"), Lane: "60s", Window: time.Minute},
		{Key: IdentityKey(DimIP, "10.9.0."+strconv.Itoa(i)), Lane: "h", Window: 10 * time.Minute, Part: 2, Peek: true},
	}
}

// peekNetwork returns what the network's lane and client i's lane hold.
func peekNetwork(t *testing.T, r *Redis, now time.Time, i int) (network, client Observation) {
	t.Helper()
	cs := clientHit(i)[:2]
	for j := range cs {
		cs[j].Peek = true
	}
	obs := make([]Observation, 2)
	if err := r.Hit(t.Context(), now, cs, obs); err != nil {
		t.Fatalf("peek: %v", err)
	}
	return obs[1], obs[0]
}

func TestRedisFoldsQueuedHitsIntoOneScriptCall(t *testing.T) {
	srv := redistest.Start(t)
	r := foldStore(t, srv)
	admin := newTestClient(t, srv.Addr())
	now := time.Now()
	// A key that holds a string, not a hash: a Hit that counts it fails,
	// and must fail alone.
	bad := IdentityKey(DimSession, "not-a-hash")
	if err := admin.Set(t.Context(), bad, "x", 0).Err(); err != nil {
		t.Fatal(err)
	}

	first := stall(t, r.batch, srv, "fold:stall:")
	const n = 12
	var sets [][]Counter
	for i := range n {
		if i == n/2 {
			sets = append(sets, []Counter{{Key: bad, Lane: "60s", Window: time.Minute}})
		}
		sets = append(sets, clientHit(i))
	}
	hits := queueHits(t, r, now, sets...)
	srv.Resume()
	for _, a := range first {
		if err := <-a.done; err != nil {
			t.Fatalf("stalled call: %v", err)
		}
	}

	seen := 0
	for i, h := range hits {
		err := <-h.done
		if h.counters[0].Key == bad {
			if err == nil || !strings.Contains(err.Error(), "WRONGTYPE") {
				t.Errorf("Hit %d on a string key: %v, want WRONGTYPE", i, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Hit %d: %v", i, err)
			continue
		}
		// Each Hit saw its own client's lane empty and the network's
		// lane as the Hits before it in the queue left it: the segments
		// ran in order, each once, the failed one between them too.
		if got := h.obs[0]; got.Cur != 0 || got.Prev != 0 {
			t.Errorf("Hit %d: its client's lane read %+v, want empty", i, got)
		}
		if got := h.obs[1].Cur; got != int64(seen) {
			t.Errorf("Hit %d: the network's lane read %d, want %d", i, got, seen)
		}
		seen++
	}
	if st := r.batch.stats(); st.commands != uint64(len(first)+len(sets)) || st.sent != uint64(len(first)+1) {
		t.Errorf("%d commands sent as %d, want %d as %d: the queued Hits were not folded into one call",
			st.commands, st.sent, len(first)+len(sets), len(first)+1)
	}
	network, _ := peekNetwork(t, r, now, 0)
	if network.Cur != n {
		t.Errorf("the network's lane holds %d hits, want %d", network.Cur, n)
	}
	for i := range n {
		if _, client := peekNetwork(t, r, now, i); client.Cur != 1 {
			t.Errorf("client %d's lane holds %d hits, want 1", i, client.Cur)
		}
	}
}

func TestRedisFoldedHitsAfterNoScriptCountOnce(t *testing.T) {
	srv := redistest.Start(t)
	r := foldStore(t, srv)
	admin := newTestClient(t, srv.Addr())
	now := time.Now()
	if err := admin.ScriptFlush(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	first := stall(t, r.batch, srv, "fold:stall:")
	const n = 5
	sets := make([][]Counter, n)
	for i := range sets {
		sets[i] = clientHit(i)
	}
	hits := queueHits(t, r, now, sets...)
	srv.Resume()
	for _, a := range first {
		if err := <-a.done; err != nil {
			t.Fatalf("stalled call: %v", err)
		}
	}
	for i, h := range hits {
		if err := <-h.done; err != nil {
			t.Errorf("Hit %d: %v", i, err)
		}
	}
	// The folded call got NOSCRIPT and ran nothing; each Hit loaded the
	// script and sent itself again, once. The re-sends may fold again
	// among themselves, as they reach the batcher together or not.
	if st := r.batch.stats(); st.commands != uint64(len(first)+2*n) {
		t.Errorf("%d commands from callers, want %d: each Hit sent once folded and once after NOSCRIPT",
			st.commands, len(first)+2*n)
	}
	network, _ := peekNetwork(t, r, now, 0)
	if network.Cur != n {
		t.Errorf("the network's lane holds %d hits, want %d", network.Cur, n)
	}
	// The folded call, the re-sends in one to n calls, and the peek.
	if got := commandCalls(t, admin)["evalsha"]; got < 3 || got > n+2 {
		t.Errorf("%d EVALSHA calls, want 3 to %d: the folded one, the re-sends, the peek", got, n+2)
	}
}

func TestHitFoldLeavesOtherCommandsAndLoneCallsAlone(t *testing.T) {
	ctx := t.Context()
	f := hitFold{sha: hitScript.Hash(), max: 2}
	hit := func(key string) redis.Cmder {
		// Wrapped as the batcher wraps its callers' commands.
		return &noRetryCmd{redis.NewCmd(ctx, "evalsha", f.sha, 1, key, int64(1), 1, 1, "60s", int64(60000))}
	}
	other := &noRetryCmd{redis.NewCmd(ctx, "evalsha", "0000000000000000000000000000000000000000", 1, "k")}
	incr := &noRetryCmd{redis.NewCmd(ctx, "incr", "k")}
	cmds := []redis.Cmder{hit("a"), other, hit("b"), incr, hit("c")}
	sent := f.combine(ctx, cmds, nil)
	// a and b fold into one call of two (max), sent when it is full; c
	// goes alone, as it came, the others as they are.
	if len(sent) != 4 || sent[0] != other || sent[2] != incr || sent[3] != cmds[4] {
		t.Fatalf("sent %v", sent)
	}
	folded := sent[1].(noRetryCmd).Cmder.(*foldedHits)
	want := []any{"evalsha", f.sha, 2, "a", "b", int64(1), 1, 1, "60s", int64(60000), int64(1), 1, 1, "60s", int64(60000)}
	if got := folded.Args(); !slices.Equal(got, want) {
		t.Errorf("folded call %v, want %v", got, want)
	}

	// Its reply splits by segment; a reply of the wrong length fails both.
	folded.SetVal([]any{[]any{"x"}, redis.Nil})
	f.split(sent)
	for i, c := range cmds[:3:3] {
		if c == other {
			continue
		}
		h := c.(*noRetryCmd).Cmder.(*redis.Cmd)
		v, err := h.Slice()
		if err != nil || len(v) != 1 {
			t.Errorf("hit %d: %v, %v", i, v, err)
		}
	}
	folded.SetVal([]any{[]any{"x"}})
	f.split(sent)
	if err := cmds[0].Err(); err == nil || isRedisError(err) {
		t.Errorf("a folded call that returned 1 segment for 2 Hits: %v, want a failure to read the reply", err)
	}
}

// commandCalls returns, per command, how many times c's server has run it
// (INFO commandstats), commands run by scripts included.
func commandCalls(t testing.TB, c *redis.Client) map[string]int64 {
	t.Helper()
	info, err := c.Info(t.Context(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	calls := make(map[string]int64)
	for l := range strings.Lines(info) {
		name, rest, ok := strings.Cut(strings.TrimSpace(l), ":calls=")
		if !ok {
			continue
		}
		n, _, _ := strings.Cut(rest, ",")
		v, err := strconv.ParseInt(n, 10, 64)
		if err != nil {
			t.Fatalf("INFO commandstats line %q: %v", l, err)
		}
		calls[strings.TrimPrefix(name, "cmdstat_")] = v
	}
	return calls
}
