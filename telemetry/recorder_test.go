package telemetry

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/botauthz/botauthz/extauthz"
	"github.com/botauthz/botauthz/policy"
	"github.com/botauthz/botauthz/ratelimit"
	"github.com/botauthz/botauthz/rollout"
	"github.com/botauthz/botauthz/scoring"
)

// scoredDecision scores headers with the shipped model, so the decision
// carries real reasons and features, and decides as a route with the
// default thresholds would.
func scoredDecision(t testing.TB, route string, mode policy.Mode, headers map[string]string) *extauthz.Decision {
	t.Helper()
	p := policy.Default()
	m, err := scoring.Load()
	if err != nil {
		t.Fatal(err)
	}
	r := p.Route(route)
	d := &extauthz.Decision{Route: route, Mode: mode, ModeSource: rollout.SourcePolicy,
		ChallengeBelow: r.ChallengeBelow, DenyBelow: r.DenyBelow, PolicyVersion: "v7", Model: m.Version()}
	m.Score(&scoring.Request{Method: "GET", Scheme: "https", Protocol: "HTTP/2", Headers: headers}, &d.Result)
	d.Score, d.Band = d.Result.Score, d.Result.Band
	d.Action = r.Action(d.Score, false)
	d.Enforced = policy.ActionAllow
	if mode == policy.ModeEnforce {
		d.Enforced = d.Action
	}
	return d
}

// testPolicy has a default route in shadow, an enforced login and an api in
// a 10% canary.
func testPolicy(t testing.TB) *policy.Policy {
	t.Helper()
	p, err := policy.Parse([]byte(`
version: v7
routes:
  login:
    mode: enforce
  api:
    mode: canary
    canary_percent: 10
`))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func newTestRecorder(t *testing.T, opts RecorderOptions) (*Recorder, *Provider) {
	t.Helper()
	p := newTestProvider(t)
	opts.MeterProvider = p.MeterProvider()
	r, err := NewRecorder(opts)
	if err != nil {
		t.Fatalf("NewRecorder: %v", err)
	}
	return r, p
}

func TestNewRecorderRefusesBadOptions(t *testing.T) {
	mp := newTestProvider(t).MeterProvider()
	tests := []struct {
		name string
		opts RecorderOptions
	}{
		{"no meter provider", RecorderOptions{}},
		{"negative allow sample", RecorderOptions{MeterProvider: mp, AllowSample: -0.1}},
		{"allow sample above one", RecorderOptions{MeterProvider: mp, AllowSample: 1.5}},
		{"NaN allow sample", RecorderOptions{MeterProvider: mp, AllowSample: math.NaN()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewRecorder(tt.opts); err == nil {
				t.Error("NewRecorder accepted the options")
			}
		})
	}
}

func TestRecorderCountsDecisionsWithTheirLabels(t *testing.T) {
	r, p := newTestRecorder(t, RecorderOptions{})
	type check struct {
		route            string
		action, enforced policy.Action
		mode             policy.Mode
		score            int
		degraded         bool
		elapsed          time.Duration
	}
	allow, challenge, deny, limit := policy.ActionAllow, policy.ActionChallenge, policy.ActionDeny, policy.ActionRateLimit
	checks := []check{
		{"login", allow, allow, policy.ModeEnforce, 95, false, 40 * time.Microsecond},
		{"login", allow, allow, policy.ModeEnforce, 90, false, 40 * time.Microsecond},
		{"login", challenge, challenge, policy.ModeEnforce, 20, false, 200 * time.Microsecond},
		{"login", deny, deny, policy.ModeEnforce, 1, true, 30 * time.Millisecond},
		{"login", limit, limit, policy.ModeEnforce, 60, false, 80 * time.Microsecond},
		{"default", deny, allow, policy.ModeShadow, 1, false, 2 * time.Millisecond},
		{"default", allow, allow, policy.ModeOff, 0, false, 10 * time.Microsecond},
		{"api", challenge, allow, policy.ModeShadow, 10, true, 300 * time.Millisecond},
		{"api", allow, allow, policy.ModeBypass, 0, false, 10 * time.Microsecond},
		{"api", 0, 0, 0, 0, false, 10 * time.Microsecond}, // a zero Decision
	}
	ctx := context.Background()
	for _, c := range checks {
		d := &extauthz.Decision{Route: c.route, Action: c.action, Enforced: c.enforced, Mode: c.mode, Score: c.score, Degraded: c.degraded, Model: "lr-1a2b3c4d"}
		if c.action == 0 {
			d.Model = "" // a zero Decision
		}
		r.ObserveCheck(ctx, d, benchFacts(), c.elapsed)
	}
	e := scrape(t, p.MetricsHandler())

	t.Run("decisions", func(t *testing.T) {
		want := map[string]float64{
			"action=allow,enforced_action=allow,mode=enforce,model=lr-1a2b3c4d,route=login":         2,
			"action=challenge,enforced_action=challenge,mode=enforce,model=lr-1a2b3c4d,route=login": 1,
			"action=deny,enforced_action=deny,mode=enforce,model=lr-1a2b3c4d,route=login":           1,
			"action=ratelimit,enforced_action=ratelimit,mode=enforce,model=lr-1a2b3c4d,route=login": 1,
			"action=deny,enforced_action=allow,mode=shadow,model=lr-1a2b3c4d,route=default":         1,
			"action=allow,enforced_action=allow,mode=off,model=lr-1a2b3c4d,route=default":           1,
			"action=challenge,enforced_action=allow,mode=shadow,model=lr-1a2b3c4d,route=api":        1,
			"action=allow,enforced_action=allow,mode=bypass,model=lr-1a2b3c4d,route=api":            1,
			"action=unknown,enforced_action=unknown,mode=unknown,model=unknown,route=api":           1,
		}
		if diff := mapDiff(e.values("botauthz_decisions_total"), want); diff != "" {
			t.Errorf("botauthz_decisions_total:%s", diff)
		}
	})
	t.Run("degraded decisions", func(t *testing.T) {
		want := map[string]float64{"route=login": 1, "route=api": 1}
		if diff := mapDiff(e.values("botauthz_degraded_decisions_total"), want); diff != "" {
			t.Errorf("botauthz_degraded_decisions_total:%s", diff)
		}
	})
	t.Run("score histogram counts scored decisions only", func(t *testing.T) {
		got := e.histograms("botauthz_score")
		want := map[string]histogram{
			// 95, 90, 20, 1, 60
			"route=login": {count: 5, sum: 266, buckets: map[float64]uint64{
				1: 1, 2: 1, 10: 1, 20: 2, 30: 2, 40: 2, 50: 2, 60: 3, 70: 3, 80: 3, 90: 4, 99: 5, math.Inf(1): 5}},
			"route=default": {count: 1, sum: 1, buckets: map[float64]uint64{
				1: 1, 2: 1, 10: 1, 20: 1, 30: 1, 40: 1, 50: 1, 60: 1, 70: 1, 80: 1, 90: 1, 99: 1, math.Inf(1): 1}},
			"route=api": {count: 1, sum: 10, buckets: map[float64]uint64{
				1: 0, 2: 0, 10: 1, 20: 1, 30: 1, 40: 1, 50: 1, 60: 1, 70: 1, 80: 1, 90: 1, 99: 1, math.Inf(1): 1}},
		}
		if len(got) != len(want) {
			t.Errorf("series: got %d, want %d: %v", len(got), len(want), got)
		}
		for k, w := range want {
			g := got[k]
			if g.count != w.count || g.sum != w.sum || fmt.Sprint(g.buckets) != fmt.Sprint(w.buckets) {
				t.Errorf("{%s}: got count %d sum %v buckets %v, want count %d sum %v buckets %v", k, g.count, g.sum, g.buckets, w.count, w.sum, w.buckets)
			}
		}
	})
	t.Run("latency histogram counts every decision", func(t *testing.T) {
		got := e.histograms("botauthz_check_duration_seconds")
		want := map[string]uint64{"route=login": 5, "route=default": 2, "route=api": 3}
		counts := map[string]uint64{}
		for k, h := range got {
			counts[k] = h.count
		}
		if diff := mapDiff(counts, want); diff != "" {
			t.Errorf("counts:%s", diff)
		}
		// login: 40µs, 40µs, 200µs, 30ms, 80µs.
		wantLogin := map[float64]uint64{
			0.00005: 2, 0.0001: 3, 0.00025: 4, 0.0005: 4, 0.001: 4, 0.0025: 4, 0.005: 4,
			0.01: 4, 0.025: 4, 0.05: 5, 0.1: 5, 0.25: 5, math.Inf(1): 5,
		}
		if g := got["route=login"].buckets; fmt.Sprint(g) != fmt.Sprint(wantLogin) {
			t.Errorf("login buckets: got %v, want %v", g, wantLogin)
		}
		// api's 300ms lands past the last bound.
		if g := got["route=api"].buckets; g[0.25] != 2 || g[math.Inf(1)] != 3 {
			t.Errorf("api buckets: got %v, want le=0.25 2 and +Inf 3", g)
		}
	})
}

func TestRecorderBoundsRouteLabels(t *testing.T) {
	r, p := newTestRecorder(t, RecorderOptions{})
	ctx := context.Background()
	d := &extauthz.Decision{Action: policy.ActionAllow, Enforced: policy.ActionAllow, Mode: policy.ModeEnforce}
	for i := range maxRoutes + 5 {
		d.Route = "r" + strconv.Itoa(i)
		r.ObserveCheck(ctx, d, benchFacts(), time.Microsecond)
	}
	got := e2(scrape(t, p.MetricsHandler()).values("botauthz_decisions_total"))
	if len(got) != maxRoutes+1 {
		t.Errorf("got %d route series, want %d", len(got), maxRoutes+1)
	}
	if n := got[otherRoute]; n != 5 {
		t.Errorf("route %q counted %v decisions, want 5", otherRoute, n)
	}
}

// A new model version (a new build's, reloaded in place in a test) starts
// its own series; the old one keeps its count.
func TestRecorderLabelsDecisionsByModel(t *testing.T) {
	r, p := newTestRecorder(t, RecorderOptions{})
	ctx := context.Background()
	d := &extauthz.Decision{Route: "login", Action: policy.ActionAllow, Enforced: policy.ActionAllow, Mode: policy.ModeEnforce}
	for _, model := range []string{"lr-00000001", "lr-00000001", "lr-00000002", "lr-00000001"} {
		d.Model = model
		r.ObserveCheck(ctx, d, benchFacts(), time.Microsecond)
	}
	want := map[string]float64{
		"action=allow,enforced_action=allow,mode=enforce,model=lr-00000001,route=login": 3,
		"action=allow,enforced_action=allow,mode=enforce,model=lr-00000002,route=login": 1,
	}
	if diff := mapDiff(scrape(t, p.MetricsHandler()).values("botauthz_decisions_total"), want); diff != "" {
		t.Errorf("botauthz_decisions_total:%s", diff)
	}
}

// e2 keys a decisions map by its route label alone.
func e2(values map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range values {
		for part := range strings.SplitSeq(k, ",") {
			if route, ok := strings.CutPrefix(part, "route="); ok {
				out[route] += v
			}
		}
	}
	return out
}

func TestObserveSourcesOnce(t *testing.T) {
	r, _ := newTestRecorder(t, RecorderOptions{})
	m := ratelimit.NewMemory(ratelimit.MemoryOptions{})
	g := ratelimit.NewGuard(m, ratelimit.GuardOptions{})
	// Never dialled: a store only counts its failures until it is used.
	rs := ratelimit.NewRedis(redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}))
	t.Cleanup(func() { _ = rs.Close() })
	view := func() *rollout.View { return &rollout.View{} }
	tests := []struct {
		name    string
		observe func() error
		wantErr bool
	}{
		{"guard", func() error { return r.ObserveGuard(g) }, false},
		{"guard again", func() error { return r.ObserveGuard(g) }, true},
		{"memory", func() error { return r.ObserveMemory(m) }, false},
		{"memory again", func() error { return r.ObserveMemory(m) }, true},
		{"redis", func() error { return r.ObserveRedis(rs) }, false},
		{"redis again", func() error { return r.ObserveRedis(rs) }, true},
		{"nil redis", func() error { return (&Recorder{}).ObserveRedis(nil) }, true},
		{"rollout", func() error { return r.ObserveRollout(view, policy.Default) }, false},
		{"rollout again", func() error { return r.ObserveRollout(view, policy.Default) }, true},
		{"nil guard", func() error { return (&Recorder{}).ObserveGuard(nil) }, true},
		{"nil memory", func() error { return (&Recorder{}).ObserveMemory(nil) }, true},
		{"nil view", func() error { return (&Recorder{}).ObserveRollout(nil, policy.Default) }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.observe(); (err != nil) != tt.wantErr {
				t.Errorf("err = %v, want error: %v", err, tt.wantErr)
			}
		})
	}
}

// fakeStore is a ratelimit.Store whose every Hit fails: at once, or,
// while slow is set, only once the test ends.
type fakeStore struct {
	slow    atomic.Bool
	release chan struct{}
}

func newFakeStore(t *testing.T) *fakeStore {
	s := &fakeStore{release: make(chan struct{})}
	// Let the calls the Guard gave up on finish with the test.
	t.Cleanup(func() { close(s.release) })
	return s
}

func (s *fakeStore) Hit(context.Context, time.Time, []ratelimit.Counter, []ratelimit.Observation) error {
	if s.slow.Load() {
		<-s.release
	}
	return errors.New("store down")
}
func (s *fakeStore) Ping(context.Context) error { return nil }
func (s *fakeStore) Close() error               { return nil }

// fakeClock is the Guard's clock, advanced by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestRecorderObservesGuard(t *testing.T) {
	counters := []ratelimit.Counter{{Key: "k", Window: time.Minute}}
	hit := func(ctx context.Context, g *ratelimit.Guard) {
		obs := make([]ratelimit.Observation, 1)
		if err := g.Hit(ctx, time.Now(), counters, obs); err == nil {
			t.Fatal("Hit on a failing store succeeded")
		}
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	bg := context.Background()

	tests := []struct {
		name string
		opts ratelimit.GuardOptions
		run  func(g *ratelimit.Guard, clock *fakeClock, s *fakeStore)
		want map[string]map[string]float64
	}{
		{
			name: "closed before any call",
			run:  func(*ratelimit.Guard, *fakeClock, *fakeStore) {},
			want: map[string]map[string]float64{
				"botauthz_store_breaker_state":  breakerStatesWant("closed"),
				"botauthz_store_calls_total":    {"": 0},
				"botauthz_store_degraded_total": {"": 0},
				"botauthz_store_failures_total": {"reason=budget": 0, "reason=breaker": 0, "reason=overloaded": 0},
			},
		},
		{
			name: "a store error opens the breaker and the next call is rejected",
			opts: ratelimit.GuardOptions{FailureThreshold: 1},
			run: func(g *ratelimit.Guard, _ *fakeClock, _ *fakeStore) {
				hit(bg, g)
				hit(bg, g)
			},
			want: map[string]map[string]float64{
				"botauthz_store_breaker_state":  breakerStatesWant("open"),
				"botauthz_store_calls_total":    {"": 2},
				"botauthz_store_degraded_total": {"": 2},
				"botauthz_store_failures_total": {"reason=budget": 0, "reason=breaker": 1, "reason=overloaded": 0},
			},
		},
		{
			name: "a probe in flight is half-open",
			opts: ratelimit.GuardOptions{FailureThreshold: 1, Budget: time.Hour, Cooldown: time.Second},
			run: func(g *ratelimit.Guard, clock *fakeClock, s *fakeStore) {
				hit(bg, g) // opens the breaker
				clock.Advance(2 * time.Second)
				s.slow.Store(true)
				// The probe is let through; its caller gives up before the
				// store answers, which leaves the breaker half-open.
				hit(cancelled, g)
			},
			want: map[string]map[string]float64{
				"botauthz_store_breaker_state":  breakerStatesWant("half_open"),
				"botauthz_store_calls_total":    {"": 2},
				"botauthz_store_degraded_total": {"": 2},
				"botauthz_store_failures_total": {"reason=budget": 0, "reason=breaker": 0, "reason=overloaded": 0},
			},
		},
		{
			name: "a store slower than the budget",
			opts: ratelimit.GuardOptions{Budget: time.Nanosecond},
			run: func(g *ratelimit.Guard, _ *fakeClock, s *fakeStore) {
				s.slow.Store(true)
				hit(bg, g)
			},
			want: map[string]map[string]float64{
				"botauthz_store_breaker_state":  breakerStatesWant("closed"),
				"botauthz_store_calls_total":    {"": 1},
				"botauthz_store_degraded_total": {"": 1},
				"botauthz_store_failures_total": {"reason=budget": 1, "reason=breaker": 0, "reason=overloaded": 0},
			},
		},
		{
			name: "too many calls in flight",
			opts: ratelimit.GuardOptions{MaxInFlight: 1, Budget: time.Hour},
			run: func(g *ratelimit.Guard, _ *fakeClock, s *fakeStore) {
				s.slow.Store(true)
				hit(cancelled, g) // given up on, still in flight
				hit(bg, g)
			},
			want: map[string]map[string]float64{
				"botauthz_store_breaker_state":  breakerStatesWant("closed"),
				"botauthz_store_calls_total":    {"": 2},
				"botauthz_store_degraded_total": {"": 2},
				"botauthz_store_failures_total": {"reason=budget": 0, "reason=breaker": 0, "reason=overloaded": 1},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, p := newTestRecorder(t, RecorderOptions{})
			clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
			tt.opts.Now = clock.Now
			store := newFakeStore(t)
			g := ratelimit.NewGuard(store, tt.opts)
			if err := r.ObserveGuard(g); err != nil {
				t.Fatal(err)
			}
			tt.run(g, clock, store)
			e := scrape(t, p.MetricsHandler())
			for name, want := range tt.want {
				if diff := mapDiff(e.values(name), want); diff != "" {
					t.Errorf("%s:%s", name, diff)
				}
			}
		})
	}
}

func TestRecorderObservesMemory(t *testing.T) {
	r, p := newTestRecorder(t, RecorderOptions{})
	// One shard of 8 keys: the ninth and tenth keys evict.
	m := ratelimit.NewMemory(ratelimit.MemoryOptions{MaxKeys: 8, Shards: 1})
	if err := r.ObserveMemory(m); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for i := range 10 {
		obs := make([]ratelimit.Observation, 1)
		if err := m.Hit(context.Background(), now, []ratelimit.Counter{{Key: "k" + strconv.Itoa(i), Window: time.Minute}}, obs); err != nil {
			t.Fatal(err)
		}
	}
	if m.Evictions() == 0 {
		t.Fatal("no evictions: the test no longer exercises them")
	}
	e := scrape(t, p.MetricsHandler())
	want := map[string]map[string]float64{
		"botauthz_store_keys":            {"": float64(m.Len())},
		"botauthz_store_evictions_total": {"": float64(m.Evictions())},
	}
	for name, w := range want {
		if diff := mapDiff(e.values(name), w); diff != "" {
			t.Errorf("%s:%s", name, diff)
		}
	}
}

// startController starts a rollout Controller on an in-memory store and
// stops it when the test ends.
func startController(t *testing.T) *rollout.Controller {
	t.Helper()
	c := rollout.NewController(rollout.ControllerOptions{Store: rollout.NewMemoryStore(0)})
	ctx, cancel := context.WithCancel(context.Background())
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		c.Wait()
	})
	return c
}

func TestRecorderObservesRollout(t *testing.T) {
	r, p := newTestRecorder(t, RecorderOptions{})
	c := startController(t)
	pol := testPolicy(t)
	if err := r.ObserveRollout(c.View, func() *policy.Policy { return pol }); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	apply := func(ch rollout.Change) {
		t.Helper()
		ch.Actor, ch.Reason = "test", "test"
		if _, err := c.Apply(ctx, ch); err != nil {
			t.Fatalf("Apply %s: %v", ch, err)
		}
	}

	// Steps run in order: each builds on the live state the one before left.
	steps := []struct {
		name     string
		change   *rollout.Change
		kill     string
		modes    map[string]float64
		canaries map[string]float64
	}{
		{
			name: "policy modes",
			kill: "none",
			modes: map[string]float64{
				"mode=canary,route=api,source=policy":     1,
				"mode=shadow,route=default,source=policy": 1,
				"mode=enforce,route=login,source=policy":  1,
			},
			canaries: map[string]float64{"route=api": 10, "route=default": 0, "route=login": 0},
		},
		{
			name:   "kill switch shadow",
			change: &rollout.Change{Kind: rollout.ChangeKill, Kill: rollout.KillShadow},
			kill:   "shadow",
			modes: map[string]float64{
				"mode=shadow,route=api,source=kill":     1,
				"mode=shadow,route=default,source=kill": 1,
				"mode=shadow,route=login,source=kill":   1,
			},
			canaries: map[string]float64{"route=api": 0, "route=default": 0, "route=login": 0},
		},
		{
			name:   "kill switch bypass",
			change: &rollout.Change{Kind: rollout.ChangeKill, Kill: rollout.KillBypass},
			kill:   "bypass",
			modes: map[string]float64{
				"mode=bypass,route=api,source=kill":     1,
				"mode=bypass,route=default,source=kill": 1,
				"mode=bypass,route=login,source=kill":   1,
			},
			canaries: map[string]float64{"route=api": 0, "route=default": 0, "route=login": 0},
		},
		{
			name:   "kill switch cleared",
			kill:   "none",
			change: &rollout.Change{Kind: rollout.ChangeKill, Kill: rollout.KillNone},
			modes: map[string]float64{
				"mode=canary,route=api,source=policy":     1,
				"mode=shadow,route=default,source=policy": 1,
				"mode=enforce,route=login,source=policy":  1,
			},
			canaries: map[string]float64{"route=api": 10, "route=default": 0, "route=login": 0},
		},
		{
			name:   "live canary override on login",
			kill:   "none",
			change: &rollout.Change{Kind: rollout.ChangeMode, Route: "login", Setting: &rollout.Setting{Mode: policy.ModeCanary, Percent: 5}},
			modes: map[string]float64{
				"mode=canary,route=api,source=policy":     1,
				"mode=shadow,route=default,source=policy": 1,
				"mode=canary,route=login,source=live":     1,
			},
			canaries: map[string]float64{"route=api": 10, "route=default": 0, "route=login": 5},
		},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if s.change != nil {
				apply(*s.change)
			}
			e := scrape(t, p.MetricsHandler())
			if diff := mapDiff(e.values("botauthz_kill_switch"), killStatesWant(s.kill)); diff != "" {
				t.Errorf("botauthz_kill_switch:%s", diff)
			}
			if diff := mapDiff(e.values("botauthz_route_mode"), s.modes); diff != "" {
				t.Errorf("botauthz_route_mode:%s", diff)
			}
			if diff := mapDiff(e.values("botauthz_route_canary_percent"), s.canaries); diff != "" {
				t.Errorf("botauthz_route_canary_percent:%s", diff)
			}
		})
	}
}

// breakerStatesWant is botauthz_store_breaker_state's series with the
// breaker in state: exactly one of them 1.
func breakerStatesWant(state string) map[string]float64 {
	return oneHot(state, "closed", "half_open", "open")
}

// killStatesWant is botauthz_kill_switch's series with the kill switch in
// state: exactly one of them 1.
func killStatesWant(state string) map[string]float64 {
	return oneHot(state, "none", "shadow", "bypass")
}

// oneHot is a state gauge's series by labelKey: 1 for the state in force,
// 0 for the others.
func oneHot(state string, states ...string) map[string]float64 {
	out := map[string]float64{}
	for _, s := range states {
		out["state="+s] = 0
	}
	out["state="+state] = 1
	return out
}
