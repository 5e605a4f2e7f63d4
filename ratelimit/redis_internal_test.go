package ratelimit

import (
	"encoding/binary"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestHashTagFollowsRedisCluster(t *testing.T) {
	tests := []struct{ key, want string }{
		{"ba:v3:{ip:203.0.113.7}", "ip:203.0.113.7"},
		{"ba:v3:{net:203.0.113.0/24}", "net:203.0.113.0/24"},
		{"foo{bar}{zap}", "bar"},     // only the first tag counts
		{"foo{}{bar}", "foo{}{bar}"}, // an empty tag hashes the whole key
		{"foo{bar", "foo{bar"},
		{"}foo{bar}", "bar"},
		{"untagged", "untagged"},
	}
	for _, tt := range tests {
		if got := hashTag(tt.key); got != tt.want {
			t.Errorf("hashTag(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
}

func TestPlanHitGroupsLanesByKeyAndKeysByTag(t *testing.T) {
	counters := []Counter{
		{Key: "{a}:1", Lane: "x", Window: time.Second},
		{Key: "{b}:1", Lane: "x", Window: 2 * time.Second},
		{Key: "{a}:2", Lane: "", Window: 3 * time.Second, Peek: true},
		{Key: "c", Lane: "y", Window: 4 * time.Second, Peek: true},
		{Key: "{a}:1", Lane: "z", Window: 5 * time.Second, Peek: true},
	}
	sha := hitScript.Hash()
	type want struct {
		idx  []int
		args []any
	}
	tests := []struct {
		name  string
		byTag bool
		want  []want
	}{
		{"one script", false, []want{
			// Keys in order of first appearance, each with its lanes'
			// fields in the caller's order, then their windows; a peek's
			// window goes negated.
			{[]int{0, 4, 1, 2, 3}, []any{"evalsha", sha, 4, "{a}:1", "{b}:1", "{a}:2", "c", int64(1234), 4,
				int64(2), "x", "z", int64(1000), int64(-5000),
				int64(1), "x", int64(2000),
				int64(1), "", int64(-3000),
				int64(1), "y", int64(-4000)}},
		}},
		{"one script per hash tag", true, []want{
			{[]int{0, 4, 2}, []any{"evalsha", sha, 2, "{a}:1", "{a}:2", int64(1234), 2,
				int64(2), "x", "z", int64(1000), int64(-5000),
				int64(1), "", int64(-3000)}},
			{[]int{1}, []any{"evalsha", sha, 1, "{b}:1", int64(1234), 1, int64(1), "x", int64(2000)}},
			{[]int{3}, []any{"evalsha", sha, 1, "c", int64(1234), 1, int64(1), "y", int64(-4000)}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			groups := planHit(counters, 1234, tt.byTag)
			if len(groups) != len(tt.want) {
				t.Fatalf("%d groups, want %d", len(groups), len(tt.want))
			}
			for i, w := range tt.want {
				if !slices.Equal(groups[i].idx, w.idx) || !slices.Equal(argValues(groups[i].args), w.args) {
					t.Errorf("group %d:\n idx %v args %v\nwant idx %v args %v", i, groups[i].idx, argValues(groups[i].args), w.idx, w.args)
				}
			}
		})
	}
}

// argValues returns a script call's arguments with the values that
// planHit passes by pointer in their place, as go-redis writes them.
func argValues(args []any) []any {
	vs := make([]any, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case *int64:
			vs[i] = *v
		case *string:
			vs[i] = *v
		default:
			vs[i] = v
		}
	}
	return vs
}

func TestPlanHitSendsALanesPartsAsOneField(t *testing.T) {
	counters := []Counter{
		{Key: "k", Lane: "h", Window: time.Minute, Part: 3, Peek: true},
		{Key: "k", Lane: "60s", Window: time.Minute},
		{Key: "k", Lane: "h", Window: time.Minute, Peek: true},
		{Key: "k", Lane: "g", Window: time.Second, Part: 1},
		{Key: "k", Lane: "rt", Window: time.Second, Part: 0},
	}
	groups := planHit(counters, 1234, false)
	if len(groups) != 1 {
		t.Fatalf("%d groups, want 1", len(groups))
	}
	// Lanes without parts first (a part 0 alone is one), then each lane
	// with parts, its window in ms times 65536 plus its parts' mask,
	// negated for a peek; the header counts 4 fields, 2 of them with
	// parts.
	wantArgs := []any{"evalsha", hitScript.Hash(), 1, "k", int64(1234), 1,
		int64(4 + 2<<16), "60s", "rt", "h", "g",
		int64(60000), int64(1000), -(int64(60000)<<16 | 0b1001), int64(1000)<<16 | 0b10}
	if got := argValues(groups[0].args); !slices.Equal(got, wantArgs) {
		t.Errorf("args %v\nwant %v", got, wantArgs)
	}
	// Each counter reads its field: 60s, rt, h (twice), g.
	fieldOf := map[int]int{}
	for j, i := range groups[0].idx {
		fieldOf[i] = groups[0].fieldAt[j]
	}
	if want := map[int]int{1: 0, 4: 1, 0: 2, 2: 2, 3: 3}; !maps.Equal(fieldOf, want) {
		t.Errorf("fields by counter %v, want %v", fieldOf, want)
	}
}

func TestParseReplyFollowsThePlan(t *testing.T) {
	counters := []Counter{
		{Key: "k1", Lane: "a", Window: time.Minute},
		{Key: "k2", Lane: "a", Window: time.Second},
		{Key: "k1", Lane: "b", Window: time.Minute, Peek: true},
		{Key: "k2", Lane: "h", Window: time.Minute, Part: 2, Peek: true},
		{Key: "k2", Lane: "h", Window: time.Minute, Peek: true},
		{Key: "k2", Lane: "h", Window: time.Minute, Part: 1, Peek: true},
	}
	// At 90.5 s the 60s lanes are in bucket 1 and the 1s lane in bucket 90.
	groups := planHit(counters, 90_500, false)
	obs := make([]Observation, len(counters))
	state := func(parts ...[3]uint32) string {
		var b []byte
		for _, p := range parts {
			for _, d := range p {
				b = binary.LittleEndian.AppendUint32(b, d)
			}
		}
		return string(b)
	}
	// Fields come by key, k1's a and b, then k2's a and its lane with
	// parts; part 0 is in k1's previous bucket, part 1 one late (in the
	// next bucket), part 2 is missing.
	k1 := []any{state([3]uint32{1, 2, 1}), state([3]uint32{1, 4, 3})}
	k2 := []any{state([3]uint32{90, 6, 5}), state([3]uint32{0, 7, 8}, [3]uint32{2, 9, 10})}
	reply := []any{k1, k2}
	if err := groups[0].parseReply(90_500, counters, obs, reply); err != nil {
		t.Fatal(err)
	}
	want := []Observation{
		{Prev: 1, Cur: 2, Elapsed: 30500 * time.Millisecond, Window: time.Minute},
		{Prev: 5, Cur: 6, Elapsed: 500 * time.Millisecond, Window: time.Second},
		{Prev: 3, Cur: 4, Elapsed: 30500 * time.Millisecond, Window: time.Minute},
		{Elapsed: 30500 * time.Millisecond, Window: time.Minute},
		{Prev: 7, Elapsed: 30500 * time.Millisecond, Window: time.Minute},
		{Cur: 10, Elapsed: 30500 * time.Millisecond, Window: time.Minute},
	}
	if !slices.Equal(obs, want) {
		t.Errorf("observations\n %+v\nwant %+v", obs, want)
	}
	k1[1] = nil
	if err := groups[0].parseReply(90_500, counters, obs, reply); err != nil || obs[2] != (Observation{Elapsed: 30500 * time.Millisecond, Window: time.Minute}) {
		t.Errorf("a field that held nothing: %+v, %v", obs[2], err)
	}
	if err := groups[0].parseReply(90_500, counters, obs, []any{k1, k2[:1]}); err == nil {
		t.Error("a reply of 3 fields for 4 was accepted")
	}
	if err := groups[0].parseReply(90_500, counters, obs, reply[:1]); err == nil {
		t.Error("a reply of one key for 2 was accepted")
	}
	if err := groups[0].parseReply(90_500, counters, obs, []any{[]any{int64(1), nil}, k2}); err == nil {
		t.Error("a reply of a number for a field was accepted")
	}
	if err := groups[0].parseReply(90_500, counters, obs, []any{"k1", k2}); err == nil {
		t.Error("a reply of a string for a key was accepted")
	}
}

// FuzzLaneCounts reads any bytes a field may hold (another writer's, a
// truncated value) as a part's state: never a panic, nothing for a part
// the value does not hold, and no count the part does not hold.
func FuzzLaneCounts(f *testing.F) {
	f.Add("", uint8(0), int64(90_500), int64(60_000))
	f.Add(strings.Repeat("\x00", 12), uint8(0), int64(0), int64(1))
	f.Add(strings.Repeat("\xff", 36), uint8(2), int64(-1), int64(1500))
	f.Fuzz(func(t *testing.T, state string, p uint8, nowMs, windowMs int64) {
		if windowMs <= 0 {
			return
		}
		p %= 16
		prev, cur := laneCounts(state, int(p), nowMs, windowMs)
		if len(state) < stateSize*(int(p)+1) {
			if prev != 0 || cur != 0 {
				t.Errorf("part %d of %d bytes read %d/%d, want 0/0", p, len(state), prev, cur)
			}
			return
		}
		st := state[stateSize*int(p):]
		held := []int64{0, int64(stateUint32(st[4:8])), int64(stateUint32(st[8:12]))}
		if !slices.Contains(held, prev) || !slices.Contains(held, cur) {
			t.Errorf("part %d read %d/%d, which it does not hold (%v)", p, prev, cur, held[1:])
		}
	})
}

// TestPlanHitAllocatesLittle: a plan's arguments are not each put in an
// interface (planHit), so a Check's plan costs six allocations whatever
// its number of counters: the groups, their positions, the arguments, the
// numbers and strings they point to, and the fields built.
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
	if n := testing.AllocsPerRun(100, func() { planHit(counters, 1_796_376_856_205, false) }); n > 6 {
		t.Errorf("planHit made %v allocations, want at most 6", n)
	}
}

// BenchmarkPlanHit measures building a Check's script call: a client's
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
			for b.Loop() {
				groups := planHit(bc.counters, 1_796_376_856_205, false)
				if len(groups) != 1 {
					b.Fatalf("%d groups", len(groups))
				}
			}
		})
	}
}
