package extauthz

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/grpc/codes"

	"github.com/botauthz/botauthz/history"
	"github.com/botauthz/botauthz/policy"
	"github.com/botauthz/botauthz/ratelimit"
)

const historyPolicy = `
session_cookie: sid
history: {window: 10m, escalate_after: 2, session_networks: 2}
routes:
  default: {mode: enforce}
  api:
    mode: enforce
    limits:
      - {key: ip, window: 60s, max: 2}
  watch: {mode: shadow}
`

// historyServer is a Server on historyPolicy (or yaml) with a history
// writer over its memory store, and an observer of its decisions.
func historyServer(t *testing.T, yaml string) (*Server, *decisionObserver) {
	t.Helper()
	if yaml == "" {
		yaml = historyPolicy
	}
	p, err := policy.Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	store := ratelimit.NewMemory(ratelimit.MemoryOptions{})
	w, err := history.NewWriter(store, history.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	obs := &decisionObserver{}
	s, err := New(Options{Policy: p, Store: store, History: w, Observer: obs, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	return s, obs
}

// eventually polls cond until it holds, failing after a deadline: history
// is written after the decision, off the Check's path.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("%s: not within 10s", what)
		}
	}
}

// TestADeniedClientStartsLower: curl is denied; the same address posing as
// Chrome afterwards scores below the same Chrome from a stranger's address,
// with history.denied among its reasons.
func TestADeniedClientStartsLower(t *testing.T) {
	s, obs := historyServer(t, "")
	stranger := upstreamHeaders(t, mustCheck(t, s, request("GET", "/", "", "203.0.113.31", chrome)))
	if obs.last.History.Denied != 0 || !obs.last.History.Known {
		t.Fatalf("a stranger's history: %+v", obs.last.History)
	}
	if resp := mustCheck(t, s, request("GET", "/", "", "203.0.113.30", curlNav)); resp.GetDeniedResponse().GetStatus().GetCode() != typev3.StatusCode_Forbidden {
		t.Fatalf("curl: %v, want 403", resp)
	}
	var got map[string]string
	eventually(t, "the denial weighs on the next request", func() bool {
		got = upstreamHeaders(t, mustCheck(t, s, request("GET", "/", "", "203.0.113.30", chrome)))
		return strings.Contains(got[HeaderReasons], "history.denied")
	})
	before, _ := strconv.Atoi(stranger[HeaderScore])
	after, _ := strconv.Atoi(got[HeaderScore])
	if after >= before || after < 30 {
		t.Errorf("score after a denial %d, a stranger's %d: want lower, still allowed alone", after, before)
	}
}

// TestRepeatedBreachesEscalateToDeny: past max the client gets 429s; after
// escalate_after of them, the next breach is a 403 (rule.escalated), while
// another client's first breach is still a 429.
func TestRepeatedBreachesEscalateToDeny(t *testing.T) {
	s, obs := historyServer(t, "")
	api := func(ip string) int32 {
		resp := mustCheck(t, s, request("GET", "/v1/items", "api", ip, chrome))
		if resp.GetStatus().GetCode() == int32(codes.OK) {
			return 200
		}
		return int32(resp.GetDeniedResponse().GetStatus().GetCode())
	}
	for i := range 2 {
		if code := api("198.51.100.5"); code != 200 {
			t.Fatalf("request %d under the limit: %d", i+1, code)
		}
	}
	if code := api("198.51.100.5"); code != 429 {
		t.Fatalf("first breach: %d, want 429", code)
	}
	eventually(t, "breaches escalate", func() bool { return api("198.51.100.5") == 403 })
	if obs.last.Rule != policy.RuleEscalated || obs.last.Action != policy.ActionDeny || obs.last.History.RateLimited < 1.5 {
		t.Errorf("escalated decision: rule %v, action %v, history %+v", obs.last.Rule, obs.last.Action, obs.last.History)
	}
	for range 2 {
		api("198.51.100.6")
	}
	if code := api("198.51.100.6"); code != 429 {
		t.Errorf("another client's first breach: %d, want 429", code)
	}
}

// TestASessionFromManyNetworks: one session cookie from a third network
// (session_networks: 2) carries session.many_networks.
func TestASessionFromManyNetworks(t *testing.T) {
	s, obs := historyServer(t, "")
	cookie := with(chrome, "cookie", "sid=shared-token")
	for _, ip := range []string{"203.0.113.40", "198.51.100.40"} {
		mustCheck(t, s, request("GET", "/", "", ip, cookie))
	}
	eventually(t, "a third network fires session.many_networks", func() bool {
		h := upstreamHeaders(t, mustCheck(t, s, request("GET", "/", "", "192.0.2.40", cookie)))
		return strings.Contains(h[HeaderReasons], "session.many_networks")
	})
	if obs.last.History.SessionNetworks < 2.5 {
		t.Errorf("networks %v, want 3", obs.last.History.SessionNetworks)
	}
	// The same cookie's owner at home, on the first network, is as
	// suspect: the token is what is shared.
	h := upstreamHeaders(t, mustCheck(t, s, request("GET", "/", "", "203.0.113.40", cookie)))
	if !strings.Contains(h[HeaderReasons], "session.many_networks") {
		t.Errorf("first network: reasons %q", h[HeaderReasons])
	}
}

// TestCookiesNotKept: an address whose every request carries a new
// session cookie fires session.not_kept.
func TestCookiesNotKept(t *testing.T) {
	s, _ := historyServer(t, "")
	n := 0
	eventually(t, "rotating cookies fire session.not_kept", func() bool {
		n++
		h := upstreamHeaders(t, mustCheck(t, s, request("GET", "/", "", "203.0.113.50", with(chrome, "cookie", "sid=fresh-"+strconv.Itoa(n)))))
		return strings.Contains(h[HeaderReasons], "session.not_kept")
	})
	for range 10 {
		h := upstreamHeaders(t, mustCheck(t, s, request("GET", "/", "", "203.0.113.51", with(chrome, "cookie", "sid=kept"))))
		if strings.Contains(h[HeaderReasons], "session.") {
			t.Fatalf("a client keeping its cookie: reasons %q", h[HeaderReasons])
		}
	}
}

// TestShadowRecordsTheDecision: in shadow nothing is enforced, but the
// decided denial is history, so shadow shows what enforcement would do.
func TestShadowRecordsTheDecision(t *testing.T) {
	s, obs := historyServer(t, "")
	if resp := mustCheck(t, s, request("GET", "/", "watch", "203.0.113.60", curlNav)); resp.GetStatus().GetCode() != int32(codes.OK) {
		t.Fatalf("shadow: %v", resp)
	}
	eventually(t, "the shadow denial is recorded", func() bool {
		mustCheck(t, s, request("GET", "/", "watch", "203.0.113.60", chrome))
		return obs.last.History.Denied >= 1
	})
}

// TestHistoryOff: history.enabled false reads and writes no history counter.
func TestHistoryOff(t *testing.T) {
	cs := &countingStore{Store: ratelimit.NewMemory(ratelimit.MemoryOptions{})}
	p, err := policy.Parse([]byte("session_cookie: sid\nhistory: {enabled: false}\nroutes: {default: {mode: enforce}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	w, err := history.NewWriter(cs, history.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Policy: p, Store: cs, History: w})
	if err != nil {
		t.Fatal(err)
	}
	mustCheck(t, s, request("GET", "/", "", "203.0.113.70", with(curlNav, "cookie", "sid=x")))
	w.Close()
	got, _ := cs.keys.Load().([]string)
	for _, k := range got {
		if strings.Contains(k, " h:") || strings.Contains(k, " h.") {
			t.Errorf("history off, yet %s was touched", k)
		}
	}
	if calls := cs.calls.Load(); calls != 1 {
		t.Errorf("%d store calls, want the Check's one", calls)
	}
}

// TestSightingInTheCheck: a Check that carries a session counts its
// sighting on the client's network in its own store call, the only one it
// makes; a sighting whose call failed is counted by the next Check.
func TestSightingInTheCheck(t *testing.T) {
	cs := &countingStore{Store: ratelimit.NewMemory(ratelimit.MemoryOptions{})}
	p, err := policy.Parse([]byte(historyPolicy))
	if err != nil {
		t.Fatal(err)
	}
	// No flush during the test: the writer's calls would race with the
	// store's err being switched.
	w, err := history.NewWriter(cs, history.WriterOptions{Flush: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	obs := &decisionObserver{}
	s, err := New(Options{Policy: p, Store: cs, History: w, Observer: obs, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	req := request("GET", "/", "", "203.0.113.80", with(chrome, "cookie", "sid=sighted"))
	cs.err = errors.New("store down")
	mustCheck(t, s, req)
	if !obs.last.Degraded || obs.last.History.Sighting != 0 {
		t.Fatalf("store down: degraded %v, sighting %v", obs.last.Degraded, obs.last.History.Sighting)
	}
	cs.err = nil
	var got []history.Events
	for i := range 3 {
		before := cs.calls.Load()
		mustCheck(t, s, req)
		if n := cs.calls.Load() - before; n != 1 {
			t.Errorf("Check %d: %d store calls, want 1", i, n)
		}
		keys, _ := cs.keys.Load().([]string)
		sighted := slices.ContainsFunc(keys, func(k string) bool { return strings.Contains(k, " h.seen.203.0.113.0/24") })
		if sighted != (i < 2) {
			t.Errorf("Check %d: counters %q; the sighting counted %v, want %v", i, keys, sighted, i < 2)
		}
		got = append(got, obs.last.History.Sighting)
	}
	if want := []history.Events{history.SessionNewNetwork, history.SessionCameBack, 0}; !slices.Equal(got, want) {
		t.Errorf("sightings %v, want %v: the failed one counted again, then twice a window", got, want)
	}
}

// historyWrites is a store that keeps the history counters written (not
// peeked), as key, lane and part.
type historyWrites struct {
	ratelimit.Store
	mu      sync.Mutex
	written []string
}

func (h *historyWrites) Hit(ctx context.Context, now time.Time, cs []ratelimit.Counter, obs []ratelimit.Observation) error {
	h.mu.Lock()
	for _, c := range cs {
		if !c.Peek && strings.HasPrefix(c.Lane, "h:") {
			h.written = append(h.written, c.Key+" "+c.Lane+" "+strconv.Itoa(int(c.Part)))
		}
	}
	h.mu.Unlock()
	return h.Store.Hit(ctx, now, cs, obs)
}

// TestDenialsHeldAreNotWrittenAgain: a client whose denials the Check read
// at their bound is denied without a history write; a first offender's
// denial is written.
func TestDenialsHeldAreNotWrittenAgain(t *testing.T) {
	hw := &historyWrites{Store: ratelimit.NewMemory(ratelimit.MemoryOptions{})}
	p, err := policy.Parse([]byte(historyPolicy))
	if err != nil {
		t.Fatal(err)
	}
	// Two denials of 203.0.113.90 already counted in this bucket.
	for range 2 {
		w, err := history.NewWriter(hw.Store, history.WriterOptions{})
		if err != nil {
			t.Fatal(err)
		}
		w.Record(history.Entity{Client: "203.0.113.90"}, history.Denied, 10*time.Minute, testNow)
		w.Close()
	}
	w, err := history.NewWriter(hw, history.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	obs := &decisionObserver{}
	s, err := New(Options{Policy: p, Store: hw, History: w, Observer: obs, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	for _, ip := range []string{"203.0.113.90", "203.0.113.91"} {
		if resp := mustCheck(t, s, request("GET", "/", "", ip, curlNav)); resp.GetStatus().GetCode() == int32(codes.OK) {
			t.Fatalf("%s: curl allowed", ip)
		}
	}
	w.Close()
	held, first := ratelimit.IdentityKey(ratelimit.DimIP, "203.0.113.90"), ratelimit.IdentityKey(ratelimit.DimIP, "203.0.113.91")
	want := []string{first + " h:600s 0"}
	if !slices.Equal(hw.written, want) {
		t.Errorf("history written %q, want %q alone (%s holds two denials)", hw.written, want, held)
	}
}
