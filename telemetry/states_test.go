package telemetry

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/botauthz/botauthz/policy"
	"github.com/botauthz/botauthz/ratelimit"
	"github.com/botauthz/botauthz/rollout"
)

// TestStateSeriesCoverEveryState: the labelled state gauges list their
// states by hand (a label may differ from the state's String), so a state
// added to rollout or ratelimit fails here until it has its series.
func TestStateSeriesCoverEveryState(t *testing.T) {
	seen := map[rollout.Kill]int{}
	for _, k := range killStates {
		seen[k]++
	}
	for k := rollout.KillNone; k <= rollout.MaxKill; k++ {
		if seen[k] != 1 {
			t.Errorf("kill switch state %s is listed %d times in killStates, want once", k, seen[k])
		}
	}
	if len(seen) != int(rollout.MaxKill)+1 {
		t.Errorf("killStates lists %d states, rollout has %d", len(seen), rollout.MaxKill+1)
	}
	breakers := map[ratelimit.BreakerState]int{}
	labels := map[string]bool{}
	for _, b := range breakerStates {
		breakers[b.state]++
		if labels[b.label] {
			t.Errorf("breaker label %q used twice", b.label)
		}
		labels[b.label] = true
	}
	for s := ratelimit.BreakerClosed; s <= ratelimit.MaxBreakerState; s++ {
		if breakers[s] != 1 {
			t.Errorf("breaker state %s is listed %d times in breakerStates, want once", s, breakers[s])
		}
	}
	if len(breakers) != int(ratelimit.MaxBreakerState)+1 {
		t.Errorf("breakerStates lists %d states, ratelimit has %d", len(breakers), ratelimit.MaxBreakerState+1)
	}
}

// TestEveryActionAndModeIsALabel: the decision counter's label table is
// sized by policy.MaxAction and policy.MaxMode, so no action or mode is
// counted as "unknown".
func TestEveryActionAndModeIsALabel(t *testing.T) {
	p := newTestProvider(t)
	r, err := NewRecorder(RecorderOptions{MeterProvider: p.MeterProvider()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for a := range policy.EveryAction() {
		for m := range policy.EveryMode() {
			d := benchDecision("login", "lr-test")
			d.Action, d.Enforced, d.Mode = a, a, m
			r.ObserveCheck(ctx, d, benchFacts(), time.Millisecond)
		}
	}
	got := scrape(t, p.MetricsHandler()).values("botauthz_decisions_total")
	for a := range policy.EveryAction() {
		for m := range policy.EveryMode() {
			key := "action=" + a.String() + ",enforced_action=" + a.String() + ",mode=" + m.String() + ",model=lr-test,route=login"
			if got[key] != 1 {
				t.Errorf("botauthz_decisions_total{%s} = %v, want 1", key, got[key])
			}
		}
	}
	for k := range got {
		if strings.Contains(k, "unknown") {
			t.Errorf("a decision counted with an unknown label: %s", k)
		}
	}
}
