package ratelimit

import (
	"errors"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// cmdArgs returns each command's arguments with the values that planHit
// passes by pointer in their place, as go-redis writes them.
func cmdArgs(cmds []redis.Cmder) [][]any {
	all := make([][]any, len(cmds))
	for j, c := range cmds {
		for _, a := range c.Args() {
			switch v := a.(type) {
			case *int64:
				a = *v
			case *string:
				a = *v
			}
			all[j] = append(all[j], a)
		}
	}
	return all
}

func TestPlanHitSendsEachHashItsCommands(t *testing.T) {
	counters := []Counter{
		{Key: "k1", Lane: "x", Window: time.Second},
		{Key: "k2", Lane: "x", Window: 2 * time.Second},
		{Key: "k1", Lane: "", Window: 3 * time.Second, Peek: true},
		{Key: "k3", Lane: "{y", Window: 4 * time.Second, Peek: true},
		{Key: "k1", Lane: "z", Window: 5 * time.Second},
		{Key: "k1", Lane: "h", Window: time.Minute, Part: 3, Peek: true},
		{Key: "k2", Lane: "h", Window: time.Minute, Part: 2},
		{Key: "k2", Lane: "h", Window: time.Minute},
	}
	// At 61.234 s: bucket 61 of 1 s, 30 of 2 s, 20 of 3 s, 15 of 4 s, 12
	// of 5 s, 1 of a minute. The TTL covers the longest need of the hash's
	// counted lanes: bucket b of window w until (b+2)*w.
	plan := planHit(counters, 61_234, nil, 0, nil)
	want := [][]any{
		{"hincrby", "k1", "x@61", 1},
		{"hincrby", "k1", "z@12", 1},
		{"hmget", "k1", "x@60", "@20", "@19", "z@11", "h@1#3", "h@0#3"},
		{"pexpire", "k1", int64(70_000 - 61_234), "nx"},
		{"hincrby", "k2", "x@30", 1},
		{"hincrby", "k2", "h@1#2", 1},
		{"hincrby", "k2", "h@1", 1},
		{"hmget", "k2", "x@29", "h@0#2", "h@0"},
		{"pexpire", "k2", int64(180_000 - 61_234), "nx"},
		// A lane that begins with '{' is escaped (placement.go).
		{"hmget", "k3", "{!{y@15", "{!{y@14"},
	}
	if got := cmdArgs(plan.cmds); !reflect.DeepEqual(got, want) {
		t.Errorf("commands\n %v\nwant %v", got, want)
	}
	wantReads := []laneRead{
		{incr: 0, get: 2, prev: 0, cur: -1, hash: 0},
		{incr: 4, get: 7, prev: 0, cur: -1, hash: 1},
		{incr: -1, get: 2, prev: 2, cur: 1, hash: 0},
		{incr: -1, get: 9, prev: 1, cur: 0, hash: 2},
		{incr: 1, get: 2, prev: 3, cur: -1, hash: 0},
		{incr: -1, get: 2, prev: 5, cur: 4, hash: 0},
		{incr: 5, get: 7, prev: 1, cur: -1, hash: 1},
		{incr: 6, get: 7, prev: 2, cur: -1, hash: 1},
	}
	if !slices.Equal(plan.reads, wantReads) {
		t.Errorf("reads\n %+v\nwant %+v", plan.reads, wantReads)
	}
}

func TestPlanHitPutsAClientInItsNetworksHash(t *testing.T) {
	ip, net := IdentityKey(DimIP, "203.0.113.7"), IdentityKey(DimSubnet, "203.0.113.0/24")
	plan := planHit([]Counter{
		{Key: ip, Lane: "60s", Window: time.Minute},
		{Key: net, Lane: "60s", Window: time.Minute},
		{Key: ip, Lane: "h", Window: time.Minute, Peek: true},
	}, 60_000, nil, 0, nil)
	want := [][]any{
		{"hincrby", net, "{7}60s@1", 1},
		{"hincrby", net, "60s@1", 1},
		{"hmget", net, "{7}60s@0", "60s@0", "{7}h@1", "{7}h@0"},
		{"pexpire", net, int64(120_000), "nx"},
	}
	if got := cmdArgs(plan.cmds); !reflect.DeepEqual(got, want) {
		t.Errorf("commands\n %v\nwant %v", got, want)
	}
	if len(plan.hashes) != 1 || !plan.hashes[0].shared {
		t.Errorf("hashes %+v, want the network's, shared", plan.hashes)
	}
}

// answer sets the replies of a plan's commands: ints for its HINCRBYs, in
// order, and the HMGET replies, in order.
func answer(plan hitPlan, incrs []int64, gets ...[]any) {
	for _, c := range plan.cmds {
		cmd := c.(*redis.Cmd)
		switch c.Name() {
		case "hincrby":
			cmd.SetVal(incrs[0])
			incrs = incrs[1:]
		case "hmget":
			cmd.SetVal(gets[0])
			gets = gets[1:]
		}
	}
}

func TestParseRepliesFollowsThePlan(t *testing.T) {
	counters := []Counter{
		{Key: "k1", Lane: "a", Window: time.Minute},
		{Key: "k2", Lane: "a", Window: time.Second},
		{Key: "k1", Lane: "b", Window: time.Minute, Peek: true},
		{Key: "k2", Lane: "h", Window: time.Minute, Part: 2, Peek: true},
	}
	plan := planHit(counters, 90_500, nil, 0, nil)
	obs := make([]Observation, len(counters))
	answer(plan, []int64{3, 1}, []any{"1", "4", nil}, []any{nil, "7", "8"})
	if err := plan.parseReplies(90_500, counters, obs); err != nil {
		t.Fatal(err)
	}
	want := []Observation{
		{Prev: 1, Cur: 2, Elapsed: 30500 * time.Millisecond, Window: time.Minute},
		{Elapsed: 500 * time.Millisecond, Window: time.Second},
		{Cur: 4, Elapsed: 30500 * time.Millisecond, Window: time.Minute},
		{Prev: 8, Cur: 7, Elapsed: 30500 * time.Millisecond, Window: time.Minute},
	}
	if !slices.Equal(obs, want) {
		t.Errorf("observations\n %+v\nwant %+v", obs, want)
	}
	// Counts past 2^32 - 1 read as that, as the Memory store's stop there.
	answer(plan, []int64{1 << 40, 1}, []any{"99999999999", nil, nil}, []any{nil, nil, nil})
	if err := plan.parseReplies(90_500, counters, obs); err != nil || obs[0].Cur != maxCount || obs[0].Prev != maxCount {
		t.Errorf("huge counts: %+v, %v", obs[0], err)
	}
	for name, bad := range map[string]func(){
		"a short HMGET reply":      func() { answer(plan, []int64{3, 1}, []any{"1", "4"}, []any{nil, "7", "8"}) },
		"a field holding no count": func() { answer(plan, []int64{3, 1}, []any{"1", "x", nil}, []any{nil, "7", "8"}) },
		"a number for a field":     func() { answer(plan, []int64{3, 1}, []any{"1", int64(4), nil}, []any{nil, "7", "8"}) },
		"no number for a HINCRBY": func() {
			answer(plan, []int64{3, 1}, []any{"1", "4", nil}, []any{nil, "7", "8"})
			plan.cmds[0].(*redis.Cmd).SetVal("three")
		},
		"an error for an HMGET": func() {
			answer(plan, []int64{3, 1}, []any{"1", "4", nil}, []any{nil, "7", "8"})
			plan.cmds[1].(*redis.Cmd).SetErr(errors.New("WRONGTYPE"))
		},
	} {
		bad()
		if err := plan.parseReplies(90_500, counters, obs); err == nil {
			t.Errorf("%s was accepted", name)
		}
	}
}

func TestHousekeepingOnlyForBucketsStarted(t *testing.T) {
	counters := []Counter{
		{Key: "k1", Lane: "a", Window: time.Minute},
		{Key: "k1", Lane: "h", Window: 10 * time.Minute, Part: 3},
		{Key: "k1", Lane: "h", Window: 10 * time.Minute, Part: 1},
		{Key: "k1", Lane: "b", Window: time.Second},
		{Key: "k2", Lane: "a", Window: time.Second},
		{Key: "k3", Lane: "a", Window: time.Second, Peek: true},
	}
	plan := planHit(counters, 90_500, nil, 0, nil)
	// a, h's parts and k2's a started their buckets; b did not. h's part 1
	// counted in its previous bucket, so h is not fresh.
	answer(plan, []int64{1, 1, 1, 7, 1}, []any{nil, nil, "4", nil}, []any{nil}, []any{nil, nil})
	got := plan.housekeeping(90_500, counters)
	want := []houseHash{
		// The TTL covers h's bucket 0 of 10 minutes: (0+2)*600 s.
		{key: "k1", ttl: 1_200_000 - 90_500, lanes: []houseLane{
			{lane: "a", b: 1, mask: 1, fresh: true},
			{lane: "h", b: 0, mask: 0b1010},
		}},
		{key: "k2", ttl: 92_000 - 90_500, lanes: []houseLane{{lane: "a", b: 90, mask: 1, fresh: true}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("housekeeping\n %+v\nwant %+v", got, want)
	}
	sha := houseScript.Hash()
	var rounds [][]any
	for i := range got {
		r := firstRound(&got[i])
		for _, c := range r.commands(nil) {
			rounds = append(rounds, c.Args())
		}
	}
	wantRounds := [][]any{
		// A fresh lane's marker is set where there is none; the other lane
		// goes to the script, which sees to the TTL too.
		{"hsetnx", "k1", "a@", "1:1"},
		{"evalsha", sha, 1, "k1", int64(1_200_000 - 90_500), "0", "h", int64(0), int64(0b1010)},
		{"hsetnx", "k2", "a@", "90:1"},
		{"pexpire", "k2", int64(92_000 - 90_500), "nx"},
		{"pexpire", "k2", int64(92_000 - 90_500), "gt"},
	}
	if !reflect.DeepEqual(rounds, wantRounds) {
		t.Errorf("first round\n %v\nwant %v", rounds, wantRounds)
	}
	// k2 created by this Hit: its own PEXPIRE NX answered 1.
	plan.cmds[plan.hashes[1].expire].(*redis.Cmd).SetVal(int64(1))
	got = plan.housekeeping(90_500, counters)
	r := firstRound(&got[1])
	if cmds := r.commands(nil); !got[1].created || len(cmds) != 1 || cmds[0].Name() != "hsetnx" {
		t.Errorf("a hash the Hit created: created %v, first round %v; want its HSETNX alone", got[1].created, cmds)
	}
	answer(plan, []int64{2, 5, 3, 7, 9}, []any{nil, nil, nil, nil}, []any{nil}, []any{nil, nil})
	if h := plan.housekeeping(90_500, counters); len(h) != 0 {
		t.Errorf("%d housekeeping calls with no bucket started", len(h))
	}
}

// TestSecondRoundTakesWhatTheFirstLeft: a fresh lane whose HSETNX found a
// marker, or whose hash's TTL was refused, goes to the script; a network's
// hash past 64 fields without its mark gets it, once however many Hits
// found it unmarked; and a hash seen marked is remembered.
func TestSecondRoundTakesWhatTheFirstLeft(t *testing.T) {
	sha := houseScript.Hash()
	script := []any{"evalsha", sha, 1, "n", int64(5000), "1", "x", int64(3), int64(1)}
	mark := []any{"hset", "n", "{#}", strings.Repeat("#", networkMarkLen)}
	refused := errors.New("ERR GT and NX options at the same time are not compatible")
	const now = 90_000
	for _, tc := range []struct {
		name      string
		setnx     int64
		expire    error
		size      int64
		marked    int64
		known     bool // another Hit's housekeeping is marking it
		want      [][]any
		wantKnown bool
	}{
		{"a new lane in a small hash", 1, nil, 12, 0, false, nil, false},
		{"a marker already there", 0, nil, 12, 0, false, [][]any{script}, false},
		{"PEXPIRE refused", 1, refused, 12, 0, false, [][]any{script}, false},
		{"a large hash without its mark", 1, nil, 65, 0, false, [][]any{mark}, true},
		{"a large hash another Hit marks", 1, nil, 65, 0, true, nil, true},
		{"a large hash with its mark", 1, nil, 65, 1, false, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var marks networkMarks
			if tc.known {
				marks.add("n", now-1)
			}
			h := houseHash{key: "n", shared: true, ttl: 5000, lanes: []houseLane{{lane: "x", b: 3, mask: 1, fresh: true}}}
			r := firstRound(&h)
			if len(r.hash) != 4 {
				t.Fatalf("%d commands for a network's hash, want PEXPIRE NX and GT, HLEN and HEXISTS", len(r.hash))
			}
			r.setnx[0].SetVal(tc.setnx)
			r.hash[0].SetVal(int64(1))
			r.hash[0].SetErr(tc.expire)
			r.hash[1].SetVal(int64(0))
			r.hash[2].SetVal(tc.size)
			r.hash[3].SetVal(tc.marked)
			next, err := r.secondRound(&h, &marks, now, nil)
			if err != nil {
				t.Fatal(err)
			}
			var got [][]any
			for _, c := range next {
				got = append(got, c.Args())
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("second round %v, want %v", got, tc.want)
			}
			if known := marks.known("n", now); known != tc.wantKnown {
				t.Errorf("known marked afterwards: %v, want %v", known, tc.wantKnown)
			}
		})
	}
	// A hash known marked is not asked about.
	h := houseHash{key: "n", shared: true, ttl: 5000, marked: true, lanes: []houseLane{{lane: "x", b: 3, mask: 1, fresh: true}}}
	if r := firstRound(&h); len(r.hash) != 2 {
		t.Errorf("%d hash commands for a network's hash known marked, want PEXPIRE NX and GT", len(r.hash))
	}
}

// TestNetworkMarksForget: a hash seen marked is trusted for a window, and
// the memory starts over at networkMarksMax hashes.
func TestNetworkMarksForget(t *testing.T) {
	var m networkMarks
	if m.known("n", 0) || !m.add("n", 0) || m.add("n", 1) {
		t.Fatal("a first add must report the hash new, a second not")
	}
	if !m.known("n", networkMarkTrust-1) || m.known("n", networkMarkTrust) {
		t.Error("a hash seen marked must be trusted for exactly networkMarkTrust")
	}
	if !m.known("n", -1) {
		t.Error("a hash seen marked by a Hit of a later time must be trusted: concurrent Hits' times come in any order")
	}
	if m.known("n", -networkMarkTrust) {
		t.Error("a hash seen marked a window later than now must not be trusted (a clock stepped back)")
	}
	if !m.add("n", networkMarkTrust) {
		t.Error("a hash seen marked too long ago must be new again")
	}
	for i := range networkMarksMax {
		m.add(strconv.Itoa(i), 0)
	}
	if len(m.seen) > networkMarksMax {
		t.Errorf("%d hashes remembered, want at most %d", len(m.seen), networkMarksMax)
	}
}

// FuzzCountAt reads any value a field may hold (another writer's, a
// truncated one) as a count: never a panic, and a count only for a value
// that is one.
func FuzzCountAt(f *testing.F) {
	for _, s := range []string{"", "0", "17", "-3", "99999999999999999999", "1e3", " 1", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		n, err := countAt([]any{v}, 0)
		want, werr := strconv.ParseInt(v, 10, 64)
		if (err == nil) != (werr == nil) || err == nil && n != want {
			t.Errorf("countAt(%q) = %d, %v; want %d, %v", v, n, err, want, werr)
		}
	})
}

// TestPlanHitAllocatesLittle: a plan's arguments are not each put in an
// interface (planHit), so a Check's plan costs, besides a command each,
// a few allocations whatever its number of counters: the room, the reads,
// the hashes, the commands, the arguments, the strings and numbers they
// point to, and the names built; in the room of an earlier plan, as the
// store builds it, only the names.
func TestPlanHitAllocatesLittle(t *testing.T) {
	history := NamedLane("h", 10*time.Minute)
	ip := IdentityKey(DimIP, "203.0.113.7")
	counters := []Counter{
		{Key: ip, Lane: "60s", Window: time.Minute},
		{Key: IdentityKey(DimSubnet, "203.0.113.0/24"), Lane: "60s", Window: time.Minute},
		{Key: IdentityKey(DimSession, "435e55013db290c2"), Lane: "60s", Window: time.Minute},
	}
	for p := range uint8(5) {
		counters = append(counters, Counter{Key: ip, Lane: history, Window: 10 * time.Minute, Peek: true, Part: p})
	}
	// 3 HINCRBYs, 2 HMGETs, 2 PEXPIREs.
	const cmds = 7
	if n := testing.AllocsPerRun(100, func() { planHit(counters, 1_796_376_856_205, nil, 0, nil) }); n > cmds+8 {
		t.Errorf("planHit made %v allocations, want at most %d", n, cmds+8)
	}
	plan := planHit(counters, 1_796_376_856_205, nil, 0, nil)
	buf := plan.release()
	if n := testing.AllocsPerRun(100, func() {
		plan := planHit(counters, 1_796_376_856_205, nil, 0, buf)
		buf = plan.release()
	}); n > cmds+1 {
		t.Errorf("planHit in an earlier plan's arrays made %v allocations, want at most %d", n, cmds+1)
	}
}

// TestPlanHitInAnEarlierPlansArrays: a plan built in the arrays of a
// larger plan, and one built in those of a smaller, send what a plan built
// afresh sends and read the replies where it does.
func TestPlanHitInAnEarlierPlansArrays(t *testing.T) {
	ip, sid := IdentityKey(DimIP, "203.0.113.7"), IdentityKey(DimSession, "435e55013db290c2")
	large := []Counter{
		{Key: ip, Lane: "60s", Window: time.Minute},
		{Key: IdentityKey(DimSubnet, "203.0.113.0/24"), Lane: "60s", Window: time.Minute},
		{Key: sid, Lane: "60s", Window: time.Minute},
		{Key: ip, Lane: "h", Window: 10 * time.Minute, Peek: true, Part: 1},
		{Key: sid, Lane: "h", Window: 10 * time.Minute, Peek: true},
	}
	small := []Counter{{Key: "k", Lane: "a", Window: time.Second}, {Key: "k", Lane: "b", Window: time.Second, Peek: true}}
	var buf *planBuf
	for _, counters := range [][]Counter{large, small, large} {
		fresh := planHit(counters, 90_500, nil, 0, nil)
		plan := planHit(counters, 90_500, nil, 0, buf)
		if got, want := cmdArgs(plan.cmds), cmdArgs(fresh.cmds); !reflect.DeepEqual(got, want) {
			t.Errorf("%d counters in earlier arrays: commands %v, want %v", len(counters), got, want)
		}
		if !slices.Equal(plan.reads, fresh.reads) || !slices.Equal(plan.hashes, fresh.hashes) {
			t.Errorf("%d counters in earlier arrays: reads %+v, hashes %+v; want %+v, %+v",
				len(counters), plan.reads, plan.hashes, fresh.reads, fresh.hashes)
		}
		buf = plan.release()
	}
}

// BenchmarkPlanHit measures building a Check's commands, in the arrays
// of the plan before as the store does (hitPlan.release): a client's
// and its network's 60s lanes and the client's history parts peeked,
// and with a session its lanes and history too (as a Check sends them).
func BenchmarkPlanHit(b *testing.B) {
	history := NamedLane("h", 10*time.Minute)
	ip := IdentityKey(DimIP, "203.0.113.7")
	sid := IdentityKey(DimSession, "435e55013db290c2")
	peek := func(key string, part uint8) Counter {
		return Counter{Key: key, Lane: history, Window: 10 * time.Minute, Peek: true, Part: part}
	}
	noSession := []Counter{
		{Key: ip, Lane: "60s", Window: time.Minute},
		{Key: IdentityKey(DimSubnet, "203.0.113.0/24"), Lane: "60s", Window: time.Minute},
		peek(ip, 0), peek(ip, 1), peek(ip, 2),
	}
	session := append(slices.Clone(noSession),
		Counter{Key: sid, Lane: "60s", Window: time.Minute},
		Counter{Key: sid, Lane: NamedLane("seen.203.0.113.0/24", 20*time.Minute), Window: 20 * time.Minute},
		peek(ip, 3), peek(ip, 4), peek(sid, 0), peek(sid, 1), peek(sid, 2), peek(sid, 3))
	for _, bc := range []struct {
		name     string
		counters []Counter
	}{{"no-session", noSession}, {"session", session}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			// In the arrays of the plan before, as the store builds them.
			var buf *planBuf
			for b.Loop() {
				plan := planHit(bc.counters, 1_796_376_856_205, nil, 0, buf)
				buf = plan.release()
			}
		})
	}
}

// commandCalls returns the calls of each command in c's INFO
// commandstats, by command name.
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
