package rollout_test

import (
	"fmt"
	"testing"

	"github.com/botauthz/botauthz/policy"
	"github.com/botauthz/botauthz/rollout"
)

// Each row adds the next stronger layer; the strongest one present decides.
// kill bypass > kill shadow > file route > file default > live route > live
// default > policy.
func TestViewResolvePrecedence(t *testing.T) {
	login := &policy.Route{Name: "login", Mode: policy.ModeShadow}
	canary := func(p float64) *rollout.Setting { return &rollout.Setting{Mode: policy.ModeCanary, Percent: p} }
	mode := func(m policy.Mode) *rollout.Setting { return &rollout.Setting{Mode: m} }
	routes := func(s *rollout.Setting) map[string]rollout.Setting { return map[string]rollout.Setting{"login": *s} }

	for _, tc := range []struct {
		name string
		view rollout.View
		want rollout.Applied
	}{
		{"policy only", rollout.View{},
			rollout.Applied{Mode: policy.ModeShadow, Source: rollout.SourcePolicy}},
		{"other route's override does not apply", rollout.View{Live: rollout.State{Routes: map[string]rollout.Setting{"api": {Mode: policy.ModeOff}}}},
			rollout.Applied{Mode: policy.ModeShadow, Source: rollout.SourcePolicy}},
		{"live default over policy", rollout.View{Live: rollout.State{Default: mode(policy.ModeEnforce)}},
			rollout.Applied{Mode: policy.ModeEnforce, Source: rollout.SourceLiveDefault}},
		{"live route over live default", rollout.View{Live: rollout.State{Default: mode(policy.ModeEnforce), Routes: routes(canary(10))}},
			rollout.Applied{Mode: policy.ModeCanary, Percent: 10, Source: rollout.SourceLiveRoute}},
		{"file default over live route", rollout.View{
			Live: rollout.State{Default: mode(policy.ModeEnforce), Routes: routes(canary(10))},
			File: &rollout.State{Default: mode(policy.ModeOff)}},
			rollout.Applied{Mode: policy.ModeOff, Source: rollout.SourceFileDefault}},
		{"file route over file default", rollout.View{
			Live: rollout.State{Default: mode(policy.ModeEnforce), Routes: routes(canary(10))},
			File: &rollout.State{Default: mode(policy.ModeOff), Routes: routes(canary(25))}},
			rollout.Applied{Mode: policy.ModeCanary, Percent: 25, Source: rollout.SourceFileRoute}},
		{"empty file changes nothing", rollout.View{Live: rollout.State{Routes: routes(canary(10))}, File: &rollout.State{}},
			rollout.Applied{Mode: policy.ModeCanary, Percent: 10, Source: rollout.SourceLiveRoute}},
		{"live kill shadow over file route", rollout.View{
			Live: rollout.State{Kill: rollout.KillShadow, Routes: routes(canary(10))},
			File: &rollout.State{Routes: routes(mode(policy.ModeEnforce))}},
			rollout.Applied{Mode: policy.ModeShadow, Source: rollout.SourceKill}},
		{"file kill shadow over file route", rollout.View{
			File: &rollout.State{Kill: rollout.KillShadow, Routes: routes(mode(policy.ModeEnforce))}},
			rollout.Applied{Mode: policy.ModeShadow, Source: rollout.SourceKill}},
		{"kill bypass over kill shadow", rollout.View{
			Live: rollout.State{Kill: rollout.KillShadow},
			File: &rollout.State{Kill: rollout.KillBypass, Routes: routes(mode(policy.ModeEnforce))}},
			rollout.Applied{Mode: policy.ModeBypass, Source: rollout.SourceKill}},
		{"live kill bypass", rollout.View{
			Live: rollout.State{Kill: rollout.KillBypass},
			File: &rollout.State{Routes: routes(mode(policy.ModeEnforce))}},
			rollout.Applied{Mode: policy.ModeBypass, Source: rollout.SourceKill}},
		// The kill switch in force is the stronger of the two layers, so
		// neither can weaken an emergency stop set in the other.
		{"file kill shadow does not weaken live kill bypass", rollout.View{
			Live: rollout.State{Kill: rollout.KillBypass},
			File: &rollout.State{Kill: rollout.KillShadow}},
			rollout.Applied{Mode: policy.ModeBypass, Source: rollout.SourceKill}},
		{"file kill bypass strengthens live kill shadow", rollout.View{
			Live: rollout.State{Kill: rollout.KillShadow},
			File: &rollout.State{Kill: rollout.KillBypass}},
			rollout.Applied{Mode: policy.ModeBypass, Source: rollout.SourceKill}},
		{"file kill none leaves live kill shadow", rollout.View{
			Live: rollout.State{Kill: rollout.KillShadow},
			File: &rollout.State{Kill: rollout.KillNone}},
			rollout.Applied{Mode: policy.ModeShadow, Source: rollout.SourceKill}},
		{"file without kill leaves live kill shadow", rollout.View{
			Live: rollout.State{Kill: rollout.KillShadow},
			File: &rollout.State{Routes: routes(mode(policy.ModeEnforce))}},
			rollout.Applied{Mode: policy.ModeShadow, Source: rollout.SourceKill}},
		{"no file leaves live kill shadow", rollout.View{
			Live: rollout.State{Kill: rollout.KillShadow, Routes: routes(mode(policy.ModeEnforce))}},
			rollout.Applied{Mode: policy.ModeShadow, Source: rollout.SourceKill}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.view.Resolve(login); got != tc.want {
				t.Errorf("Resolve = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// Every combination: the file can strengthen the live kill switch, never
// weaken it.
func TestViewKillIsTheStrongerLayer(t *testing.T) {
	kills := []rollout.Kill{rollout.KillNone, rollout.KillShadow, rollout.KillBypass}
	for _, live := range kills {
		t.Run(fmt.Sprintf("no file, live %v", live), func(t *testing.T) {
			v := rollout.View{Live: rollout.State{Kill: live}}
			if got := v.Kill(); got != live {
				t.Errorf("Kill = %v, want %v", got, live)
			}
		})
		for _, file := range kills {
			t.Run(fmt.Sprintf("file %v, live %v", file, live), func(t *testing.T) {
				v := rollout.View{Live: rollout.State{Kill: live}, File: &rollout.State{Kill: file}}
				want := live
				if file > live {
					want = file
				}
				if got := v.Kill(); got != want {
					t.Errorf("Kill = %v, want %v", got, want)
				}
			})
		}
	}
}

func TestCanaryShareIsClose(t *testing.T) {
	c := rollout.NewCanary("salt-1")
	const n = 10000
	in := 0
	for i := range n {
		if c.Enforced(fmt.Sprintf("client-%d", i), 10) {
			in++
		}
	}
	share := float64(in) / n * 100
	if share < 8.5 || share > 11.5 {
		t.Errorf("Enforced at 10%% for %.2f%% of %d clients, want 10 ± 1.5", share, n)
	}
}

func TestCanaryRaisingThePercentOnlyAddsClients(t *testing.T) {
	c := rollout.NewCanary("salt-1")
	added := 0
	for i := range 10000 {
		key := fmt.Sprintf("client-%d", i)
		at10, at20 := c.Enforced(key, 10), c.Enforced(key, 20)
		if at10 && !at20 {
			t.Fatalf("%s enforced at 10%% but not at 20%%", key)
		}
		if at20 && !at10 {
			added++
		}
	}
	if added == 0 {
		t.Error("raising 10% to 20% added nobody")
	}
}

func TestCanaryAgreesAcrossReplicasAndSaltReshuffles(t *testing.T) {
	a, b, other := rollout.NewCanary("salt-1"), rollout.NewCanary("salt-1"), rollout.NewCanary("salt-2")
	differ := 0
	for i := range 1000 {
		key := fmt.Sprintf("client-%d", i)
		if a.Bucket(key) != b.Bucket(key) {
			t.Fatalf("two Canary values with one salt disagree on %s", key)
		}
		if a.Enforced(key, 50) != other.Enforced(key, 50) {
			differ++
		}
	}
	// Independent halves disagree for about half the keys.
	if differ < 350 || differ > 650 {
		t.Errorf("another salt changed the 50%% canary for %d of 1000 clients, want about 500", differ)
	}
}

func TestCanaryBucketRangeAndEdges(t *testing.T) {
	c := rollout.NewCanary("s")
	for i := range 10000 {
		key := fmt.Sprintf("k%d", i)
		if b := c.Bucket(key); b < 0 || b >= 100 {
			t.Fatalf("Bucket(%q) = %v, outside [0, 100)", key, b)
		}
		if c.Enforced(key, 0) || !c.Enforced(key, 100) {
			t.Fatalf("%q: 0%% must enforce for nobody and 100%% for everybody", key)
		}
	}
	if c.Bucket("") < 0 || c.Bucket(string(make([]byte, 1000))) >= 100 {
		t.Error("empty or long key out of range")
	}
	// The separator keeps salt "a" + key "bc" apart from salt "ab" + "c".
	if rollout.NewCanary("a").Bucket("bc") == rollout.NewCanary("ab").Bucket("c") {
		t.Error("salt and key run together")
	}
}

func TestCanaryBucketDoesNotAllocate(t *testing.T) {
	c := rollout.NewCanary("a-salt-of-ordinary-length")
	key := "session-5f2d1c0e9b8a7f6e5d4c3b2a19081726"
	var sink float64
	allocs := testing.AllocsPerRun(1000, func() { sink += c.Bucket(key) })
	if allocs != 0 {
		t.Errorf("Bucket allocates %v times per call, want 0", allocs)
	}
	_ = sink
}

func BenchmarkViewResolve(b *testing.B) {
	v := &rollout.View{
		Live: rollout.State{
			Default: &rollout.Setting{Mode: policy.ModeShadow},
			Routes: map[string]rollout.Setting{
				"login": {Mode: policy.ModeCanary, Percent: 5}, "api": {Mode: policy.ModeEnforce}, "search": {Mode: policy.ModeOff},
			},
		},
		File: &rollout.State{Routes: map[string]rollout.Setting{"admin": {Mode: policy.ModeEnforce}}},
	}
	route := &policy.Route{Name: "login", Mode: policy.ModeShadow}
	var sink rollout.Applied
	for b.Loop() {
		sink = v.Resolve(route)
	}
	_ = sink
}

func BenchmarkCanaryBucket(b *testing.B) {
	c := rollout.NewCanary("a-salt-of-ordinary-length")
	key := "session-5f2d1c0e9b8a7f6e5d4c3b2a19081726"
	var sink float64
	for b.Loop() {
		sink += c.Bucket(key)
	}
	_ = sink
}
