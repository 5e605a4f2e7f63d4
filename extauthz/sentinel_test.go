package extauthz

import (
	"os"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/botauthz/botauthz/policy"
	"github.com/botauthz/botauthz/rollout"
	"github.com/botauthz/botauthz/scoring"
)

// TestEveryActionIsAnswered: an action added to policy fails here until it
// has a name, an enforced response of its own (the switch in respond would
// otherwise answer it as an allow), its x-bot-action header and metadata
// value, and a row in the README's "What a decision looks like".
func TestEveryActionIsAnswered(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, _ := strings.Cut(string(readme), "## What a decision looks like")
	table, _, _ = strings.Cut(table, "\n\n- ")
	names := map[string]bool{}
	wantStatus := map[policy.Action]codes.Code{
		policy.ActionAllow: codes.OK, policy.ActionChallenge: codes.PermissionDenied,
		policy.ActionDeny: codes.PermissionDenied, policy.ActionRateLimit: codes.ResourceExhausted,
	}
	for a := range policy.EveryAction() {
		name := a.String()
		if name == "" || name == "unknown" || names[name] {
			t.Errorf("action %d has no name of its own: %q", a, name)
		}
		names[name] = true
		if constants.action[a] == nil || constants.actionValue[a] == nil {
			t.Errorf("action %s has no fixed x-bot-action header or metadata value", name)
		}
		if !strings.Contains(table, "| `"+name+"` |") {
			t.Errorf("README.md's \"What a decision looks like\" has no row for action %s", name)
		}
		d := &Decision{Score: 50, Route: "login", Mode: policy.ModeEnforce, ModeSource: rollout.SourcePolicy, Action: a, Enforced: a}
		f := &Facts{HTTP: true, Method: "GET", Path: "/", Headers: map[string]string{"accept": "text/html"}}
		for _, forWire := range []bool{false, true} {
			resp := respond(d, f, nil, nil, forWire)
			want, known := wantStatus[a]
			got := codes.Code(resp.GetStatus().GetCode())
			switch {
			case !known:
				t.Errorf("action %s: no expected answer in this test; add it, and its response builder", name)
			case got != want:
				t.Errorf("action %s enforced: gRPC status %s, want %s", name, got, want)
			case a != policy.ActionAllow && resp.GetDeniedResponse() == nil:
				t.Errorf("action %s enforced: no denied response", name)
			case allows(d) != (got == codes.OK):
				// The handler writes an allow answer by hand (appendAllowed).
				t.Errorf("action %s enforced: allows is %v for a gRPC status %s", name, allows(d), got)
			}
		}
	}
	if len(names) != int(policy.MaxAction) {
		t.Errorf("%d actions named, MaxAction is %d", len(names), policy.MaxAction)
	}
}

// TestEveryEnumHasItsFixedValues: the tables of prebuilt headers and
// metadata values cover every mode, rule, band and source (a gap would cost
// an allocation per request, and a rule without its reason header would be
// unexplained).
func TestEveryEnumHasItsFixedValues(t *testing.T) {
	for m := range policy.EveryMode() {
		if constants.mode[m] == nil || constants.modeValue[m] == nil || m.String() == "unknown" {
			t.Errorf("mode %d (%s) lacks its fixed header, metadata value or name", m, m)
		}
	}
	for r := range policy.EveryRule() {
		if constants.ruleReasons[r] == nil || r.String() == "" {
			t.Errorf("rule %d (%q) lacks its x-bot-reasons header or reason code", r, r)
		}
	}
	for b := scoring.NotScored; b <= scoring.MaxBand; b++ {
		if constants.category[b] == nil || constants.categoryValue[b] == nil {
			t.Errorf("band %s lacks its fixed header or metadata value", b)
		}
	}
	for s := rollout.SourceKill; s <= rollout.MaxSource; s++ {
		if constants.sourceValue[s] == nil {
			t.Errorf("mode source %s lacks its metadata value", s)
		}
	}
	for _, size := range []int{int(policy.MaxAction), int(policy.MaxMode), int(policy.MaxRule), int(scoring.MaxBand), int(rollout.MaxSource)} {
		if size >= len(constants.action) {
			t.Errorf("an enum of %d values outgrew the fixed tables of %d", size+1, len(constants.action))
		}
	}
}
