package policy

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/botauthz/botauthz/ratelimit"
	"github.com/botauthz/botauthz/scoring"
)

func TestDefaultPolicyIsShadowEverywhere(t *testing.T) {
	p := Default()
	r := p.Route("anything")
	if r.Name != DefaultRoute || r.Mode != ModeShadow {
		t.Fatalf("unknown route resolves to %q in %s, want default in shadow", r.Name, r.Mode)
	}
	if r.ChallengeBelow != 30 || r.DenyBelow != 2 {
		t.Errorf("default thresholds = challenge %d deny %d, want 30 and 2", r.ChallengeBelow, r.DenyBelow)
	}
	if p.SessionCookie != "session" || p.XFFTrustedHops != 0 || p.BehindProxy || p.LogFeatures {
		t.Errorf("defaults = cookie %q hops %d behind_proxy %v log features %v", p.SessionCookie, p.XFFTrustedHops, p.BehindProxy, p.LogFeatures)
	}
	// The defaults leave the shipped model as trained.
	if p.Tuning.Weights != nil || p.Tuning.BehindProxy || r.Tuning.Weights != nil || r.Tuning.BehindProxy {
		t.Errorf("default tuning = %+v, route %+v; want none", p.Tuning, r.Tuning)
	}
	for _, l := range r.Limits {
		if l.Max != 0 {
			t.Errorf("default route has a hard limit %+v; defaults must not block", l)
		}
	}
}

func TestGoodPoliciesParse(t *testing.T) {
	files, _ := filepath.Glob("testdata/good/*.yaml")
	if len(files) == 0 {
		t.Fatal("no good fixtures")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			if _, err := Load(f); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestFullPolicyMergesOverDefaults(t *testing.T) {
	p, err := Load("testdata/good/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if p.Version != "2026-11-23.1" || p.SessionCookie != "sid" || p.XFFTrustedHops != 1 || !p.BehindProxy || !p.LogFeatures {
		t.Errorf("top level = %+v", p)
	}
	global := map[scoring.Code]float64{scoring.UAOther: -3.5, scoring.FetchMissing: 0}
	if !maps.Equal(p.Tuning.Weights, global) || !p.Tuning.BehindProxy {
		t.Errorf("global tuning = %+v, want %v behind a proxy", p.Tuning, global)
	}
	// A route's weights are merged over the global ones, key by key.
	loginWeights := map[scoring.Code]float64{scoring.UAOther: -5, scoring.FetchMissing: 0, scoring.ProtocolHTTP1: 0}
	if got := p.Route("login").Tuning; !maps.Equal(got.Weights, loginWeights) || !got.BehindProxy {
		t.Errorf("login tuning = %+v, want %v behind a proxy", got, loginWeights)
	}
	for _, name := range []string{"default", "api"} {
		if got := p.Route(name).Tuning; !maps.Equal(got.Weights, global) || !got.BehindProxy {
			t.Errorf("%s tuning = %+v, want the global one", name, got)
		}
	}

	login := p.Route("login")
	if login.Mode != ModeEnforce || login.ChallengeBelow != 40 || login.DenyBelow != 5 {
		t.Errorf("login = %+v", login)
	}
	want := []Limit{
		{Key: ratelimit.DimRouteIP, Window: time.Minute, Lane: "rt:login:60s", Max: 10, ScoreAbove: 5},
		{Key: ratelimit.DimIP, Window: 10 * time.Minute, Lane: "600s", Max: 300, ScoreAbove: 100},
	}
	if len(login.Limits) != len(want) {
		t.Fatalf("login limits = %+v", login.Limits)
	}
	for i := range want {
		if login.Limits[i] != want[i] {
			t.Errorf("login limit %d = %+v, want %+v", i, login.Limits[i], want[i])
		}
	}

	api := p.Route("api")
	if api.Mode != ModeOff || len(api.Limits) != 0 {
		t.Errorf("api = %+v, want off with an explicitly empty limit list", api)
	}
	// Omitted thresholds come from the file's default route, then the embedded one.
	if api.ChallengeBelow != 30 || api.DenyBelow != 2 {
		t.Errorf("api thresholds = %d/%d, want inherited 30/2", api.ChallengeBelow, api.DenyBelow)
	}
	if names := strings.Join(p.RouteNames(), ","); names != "api,default,login" {
		t.Errorf("routes = %s", names)
	}
}

func TestRouteInheritsLimitsFromFileDefault(t *testing.T) {
	p, err := Parse([]byte(`
routes:
  default:
    limits: [{key: subnet, window: 30s, max: 50}]
  search: {mode: enforce}
`))
	if err != nil {
		t.Fatal(err)
	}
	got := p.Route("search").Limits
	if len(got) != 1 || got[0].Key != ratelimit.DimSubnet || got[0].Max != 50 || got[0].Lane != "30s" {
		t.Errorf("search limits = %+v, want the file default's", got)
	}
}

func TestLimitLanesNameTheirRoute(t *testing.T) {
	p, err := Parse([]byte(`
routes:
  default:
    limits: [{key: route_ip, window: 1500ms, max: 50}, {key: session, window: 60s, max: 50}]
  search: {mode: enforce}
`))
	if err != nil {
		t.Fatal(err)
	}
	// An inherited route_ip limit counts per route: its lane names the
	// route that inherits it.
	for route, want := range map[string][]string{
		"default": {"rt:default:1500ms", "60s"},
		"search":  {"rt:search:1500ms", "60s"},
	} {
		limits := p.Route(route).Limits
		if len(limits) != len(want) {
			t.Fatalf("%s limits = %+v", route, limits)
		}
		for i, l := range limits {
			if l.Lane != want[i] {
				t.Errorf("%s limit %d lane = %q, want %q", route, i, l.Lane, want[i])
			}
		}
	}
}

func TestBadPoliciesNameTheKey(t *testing.T) {
	cases := map[string]string{
		"unknown-route-key.yaml":                 "routes.login.limts: unknown key",
		"unknown-top-key.yaml":                   "sesion_cookie: unknown key",
		"unknown-limit-key.yaml":                 "routes.login.limits[0].windw: unknown key",
		"bad-mode.yaml":                          `routes.login.mode: unknown mode "enforcing"`,
		"bad-window.yaml":                        "routes.login.limits[0].window",
		"bad-dimension.yaml":                     "routes.login.limits[0].key",
		"deny-above-challenge.yaml":              "routes.login.deny_below",
		"threshold-range.yaml":                   "routes.default.challenge_below",
		"unknown-weight.yaml":                    "score.weights.ua.curl: unknown signal",
		"certainty-weight.yaml":                  "line 4: score.weights.hints.mismatch: hints.mismatch is a certainty rule's signal: only 0 (off) is allowed",
		"score-base.yaml":                        "line 3: score.base: score.base was removed: the score is now the trained model's calibrated probability; move challenge_below/deny_below instead",
		"weight-range.yaml":                      "line 6: routes.login.score.weights.accept.missing: -20 out of range ±12",
		"points-weight.yaml":                     "line 5: score.weights.accept.missing: 10 for accept.missing: every feature but clearance.valid is a sign of automation",
		"duplicate-limit.yaml":                   "routes.login.limits[1]: duplicates",
		"limit-without-bound.yaml":               "routes.login.limits[0]: needs max",
		"route-name.yaml":                        "routes.Login Page",
		"routes-not-mapping.yaml":                "routes: must be a mapping",
		"wrong-type.yaml":                        "challenge_below",
		"canary-without-percent.yaml":            "routes.login.canary_percent: required with mode canary",
		"canary-percent-range.yaml":              "routes.login.canary_percent: 120 out of range",
		"bypass-mode.yaml":                       `routes.login.mode: unknown mode "bypass"`,
		"rollout-refresh.yaml":                   "rollout.refresh",
		"rollout-unknown-key.yaml":               "rollout.salt: unknown key",
		"challenge-unknown-provider.yaml":        "challenge.providers.recaptchav4: unknown provider",
		"challenge-provider-not-configured.yaml": `routes.signup.challenge.provider: "turnstile" is neither pow nor a provider configured`,
		"challenge-difficulty.yaml":              "routes.login.challenge.difficulty: 9 out of range",
		"challenge-host-cookie-insecure.yaml":    "challenge.cookie_name: browsers drop __Host-",
		"empty.yaml":                             "the file has no keys",
		"too-many-routes.yaml":                   "routes: 257 routes, at most 256",
	}
	files, _ := filepath.Glob("testdata/bad/*.yaml")
	if len(files) != len(cases) {
		t.Errorf("%d bad fixtures, %d cases: keep them in step", len(files), len(cases))
	}
	for name, want := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Load(filepath.Join("testdata/bad", name))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not contain %q", err, want)
			}
		})
	}
}

func TestFileWithoutKeysIsRefusedButParseNilIsTheDefaults(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{"empty": "", "blank": "  \n\n", "comments": "# mode: enforce\n"} {
		path := filepath.Join(dir, name+".yaml")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "no keys") {
			t.Errorf("%s file: err %v, want it refused for having no keys", name, err)
		}
	}
	if p, err := Parse(nil); err != nil || p.Route("x").Mode != ModeShadow {
		t.Errorf("Parse(nil) = %v, %v; want the embedded defaults", p, err)
	}
}

func TestFileSizeLimit(t *testing.T) {
	dir := t.TempDir()
	// A valid policy padded with comments to exactly n bytes.
	padded := func(n int) string {
		head := "routes: {login: {mode: enforce}}\n"
		line := "# " + strings.Repeat("x", 77) + "\n"
		var b strings.Builder
		b.WriteString(head)
		for b.Len()+len(line) <= n {
			b.WriteString(line)
		}
		b.WriteString("#" + strings.Repeat("x", n-b.Len()-2) + "\n")
		return b.String()
	}
	at, over := filepath.Join(dir, "at.yaml"), filepath.Join(dir, "over.yaml")
	for path, n := range map[string]int{at: MaxFileSize, over: MaxFileSize + 1} {
		if err := os.WriteFile(path, []byte(padded(n)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Load(at); err != nil {
		t.Errorf("a file of exactly MaxFileSize: %v", err)
	}
	if _, err := Load(over); err == nil || !strings.Contains(err.Error(), "larger than the limit of 1048576 bytes") {
		t.Errorf("a file one byte over MaxFileSize: err %v, want a refusal naming the limit", err)
	}
	// A file that never ends is refused after MaxFileSize+1 bytes, not read
	// until memory runs out.
	if _, err := os.Stat("/dev/zero"); err == nil {
		if _, err := Load("/dev/zero"); err == nil || !strings.Contains(err.Error(), "larger than the limit") {
			t.Errorf("/dev/zero: err %v, want the size refusal", err)
		}
	}
}

func TestRouteLimit(t *testing.T) {
	routes := func(n int) []byte {
		var b strings.Builder
		b.WriteString("routes:\n")
		for i := range n {
			fmt.Fprintf(&b, "  r%d: {mode: enforce}\n", i)
		}
		return []byte(b.String())
	}
	if p, err := Parse(routes(MaxRoutes)); err != nil || len(p.Routes) != MaxRoutes+1 {
		t.Errorf("MaxRoutes routes: %v", err)
	}
	_, err := Parse(routes(MaxRoutes + 1))
	if err == nil || !strings.Contains(err.Error(), "line 1: routes: 257 routes, at most 256") {
		t.Errorf("MaxRoutes+1 routes: err %v, want a refusal naming the limit", err)
	}
}

func TestUnknownKeyErrorCarriesLine(t *testing.T) {
	_, err := Parse([]byte("routes:\n  login:\n    mode: enforce\n    limts: []\n"))
	if err == nil || !strings.Contains(err.Error(), "line 4") {
		t.Errorf("error %v, want it to point at line 4", err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error %v, want a not-exist error", err)
	}
}

func TestActionOrder(t *testing.T) {
	r := &Route{ChallengeBelow: 30, DenyBelow: 2}
	cases := []struct {
		name    string
		score   int
		limited bool
		want    Action
	}{
		{"score 1 is denied", 1, false, ActionDeny},
		{"deny wins over a hard limit", 1, true, ActionDeny},
		{"score 2 is challenged", 2, false, ActionChallenge},
		{"score 29 is challenged", 29, false, ActionChallenge},
		{"challenge wins over a hard limit", 10, true, ActionChallenge},
		{"a human over a hard limit is rate limited", 30, true, ActionRateLimit},
		{"score 30 is allowed", 30, false, ActionAllow},
		{"score 99 is allowed", 99, false, ActionAllow},
		{"an unscored request is never denied", 0, false, ActionAllow},
		{"an unscored request can still be rate limited", 0, true, ActionRateLimit},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := r.Action(c.score, c.limited); got != c.want {
				t.Errorf("Action(%d, %v) = %s, want %s", c.score, c.limited, got, c.want)
			}
		})
	}
}

func TestCanaryPolicy(t *testing.T) {
	p, err := Load("testdata/good/canary.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if r := p.Route("login"); r.Mode != ModeCanary || r.CanaryPercent != 12.5 {
		t.Errorf("login = %+v", r)
	}
	want := Rollout{CanarySalt: "shop-2026", OverrideFile: "/etc/botauthz/override/override.yaml", Refresh: 2 * time.Second}
	if p.Rollout != want {
		t.Errorf("rollout = %+v, want %+v", p.Rollout, want)
	}
	if d := Default().Rollout; d.CanarySalt == "" || d.Refresh != 5*time.Second || d.OverrideFile != "" {
		t.Errorf("default rollout = %+v", d)
	}
}

func TestChallengePolicy(t *testing.T) {
	p, err := Load("testdata/good/challenge.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c := p.Challenge
	if c.CookieName != "__Host-botauthz" || c.CookieTTL != 30*time.Minute || c.TTL != 2*time.Minute || c.InsecureCookie {
		t.Errorf("challenge = %+v", c)
	}
	if c.Providers["turnstile"].SecretEnv != "BOTAUTHZ_TURNSTILE_SECRET" {
		t.Errorf("providers = %+v", c.Providers)
	}
	if got := p.Route("signup").Challenge; got != (RouteChallenge{Provider: "turnstile", Difficulty: 4}) {
		t.Errorf("signup challenge = %+v, want turnstile with the default difficulty", got)
	}
	if got := p.Route("login").Challenge; got != (RouteChallenge{Provider: "pow", Difficulty: 5}) {
		t.Errorf("login challenge = %+v", got)
	}
	if d := Default().Challenge; d.CookieName != "botauthz_clearance" || d.CookieTTL != time.Hour || d.TTL != 5*time.Minute {
		t.Errorf("default challenge = %+v", d)
	}
}

func TestModeRoundTrip(t *testing.T) {
	if _, err := ParseMode("bypass"); err == nil {
		t.Error("bypass is the kill switch's; a policy must not name it")
	}
	for _, m := range []Mode{ModeOff, ModeShadow, ModeCanary, ModeEnforce} {
		got, err := ParseMode(m.String())
		if err != nil || got != m {
			t.Errorf("ParseMode(%q) = %v, %v", m.String(), got, err)
		}
	}
	if _, err := ParseMode("Enforce"); err == nil {
		t.Error("mode names are case-sensitive; Enforce was accepted")
	}
}

func TestScoreWeights(t *testing.T) {
	cases := []struct {
		name, yaml string
		// err is a part of the error; empty when the file is good.
		err string
	}{
		{"a feature in log-odds", "score: {weights: {accept.missing: -2.25}}", ""},
		{"a feature at the bound", "score: {weights: {ua.other: -12}}", ""},
		{"a feature towards human", "score: {weights: {clearance.valid: 8}}", ""},
		{"a feature off", "score: {weights: {protocol.http1: 0}}", ""},
		{"a certainty rule's signal off", "score: {weights: {ua.library: 0, hints.missing: 0}}", ""},
		{"a whole number is a number", "score: {weights: {accept.missing: -3}}", ""},
		{"past the bound", "score: {weights: {ua.other: 12.5}}", "line 1: score.weights.ua.other: 12.5 out of range ±12"},
		{"old points", "score:\n  weights:\n    accept_language.missing: 15\n", "line 3: score.weights.accept_language.missing: 15 out of range ±12"},
		{"NaN", "score: {weights: {ua.other: .nan}}", "score.weights.ua.other: NaN out of range"},
		{"infinity", "score: {weights: {ua.other: -.inf}}", "score.weights.ua.other: -Inf out of range"},
		{"not a number", "score: {weights: {ua.other: high}}", `score.weights.ua.other: "high" is not a number`},
		{"a certainty rule's signal weighed", "score: {weights: {ua.library: -4}}", "score.weights.ua.library: ua.library is a certainty rule's signal: only 0 (off) is allowed"},
		{"a route's certainty rule's signal weighed", "routes:\n  login:\n    score: {weights: {hints.mismatch: 1}}\n", "line 3: routes.login.score.weights.hints.mismatch: hints.mismatch is a certainty rule's signal"},
		{"a route's unknown signal", "routes: {login: {score: {weights: {ua.curl: 0}}}}", "routes.login.score.weights.ua.curl: unknown signal"},
		{"a route's base", "routes:\n  login:\n    score: {base: 80}\n", "line 3: routes.login.score.base: score.base was removed"},
		{"a bad weight in the default route", "routes: {default: {score: {weights: {ua.other: 40}}}}", "routes.default.score.weights.ua.other: 40 out of range"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.yaml))
			switch {
			case c.err == "" && err != nil:
				t.Errorf("refused: %v", err)
			case c.err != "" && err == nil:
				t.Errorf("accepted, want an error containing %q", c.err)
			case c.err != "" && !strings.Contains(err.Error(), c.err):
				t.Errorf("error %q does not contain %q", err, c.err)
			}
			var e *Error
			if err != nil && !errors.As(err, &e) {
				t.Errorf("error %v is not a *policy.Error", err)
			}
		})
	}
}

func TestRouteTuningMergesKeyByKey(t *testing.T) {
	p, err := Parse([]byte(`
client_ip: {behind_proxy: true}
score:
  weights: {ua.other: -2, accept.missing: -1}
routes:
  default:
    score: {weights: {accept.missing: -4}}
  login:
    score: {weights: {ua.other: 0, hints.mismatch: 0}}
  search: {mode: enforce}
`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[scoring.Code]float64{
		// The file's default route is merged over the global weights, and
		// every named route takes what it omits from the default route.
		"default": {scoring.UAOther: -2, scoring.AcceptMissing: -4},
		"login":   {scoring.UAOther: 0, scoring.AcceptMissing: -4, scoring.HintsMismatch: 0},
		"search":  {scoring.UAOther: -2, scoring.AcceptMissing: -4},
	}
	for name, w := range want {
		got := p.Route(name).Tuning
		if !maps.Equal(got.Weights, w) || !got.BehindProxy {
			t.Errorf("%s tuning = %+v, want %v behind a proxy", name, got, w)
		}
	}
	if g := map[scoring.Code]float64{scoring.UAOther: -2, scoring.AcceptMissing: -1}; !maps.Equal(p.Tuning.Weights, g) {
		t.Errorf("global tuning = %v, want %v", p.Tuning.Weights, g)
	}
}

func TestRouteWithoutWeightsSharesTheGlobalTuning(t *testing.T) {
	p, err := Parse([]byte("client_ip: {behind_proxy: true}\nroutes: {login: {mode: enforce}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"default", "login"} {
		if got := p.Route(name).Tuning; got.Weights != nil || !got.BehindProxy {
			t.Errorf("%s tuning = %+v, want no weights behind a proxy", name, got)
		}
	}
}

// Every tuning a policy accepts builds a model: -check-config and a reload
// must not pass a file whose model then fails to build.
func TestTuningsBuildModels(t *testing.T) {
	m, err := scoring.Load()
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("testdata/good/*.yaml")
	for _, f := range files {
		p, err := Load(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range p.RouteNames() {
			if _, err := m.With(p.Routes[name].Tuning); err != nil {
				t.Errorf("%s: route %s: %v", f, name, err)
			}
		}
	}
	// Every feature at its bound and off; every certainty rule's signal off.
	for _, c := range scoring.Codes() {
		values := []float64{0}
		switch {
		case c == scoring.ClearanceValid:
			values = append(values, scoring.MaxWeight)
		case scoring.IsFeature(c):
			values = append(values, -scoring.MaxWeight)
		}
		for _, v := range values {
			p, err := Parse(fmt.Appendf(nil, "score: {weights: {%s: %g}}", c, v))
			if err != nil {
				t.Errorf("%s: %g: %v", c, v, err)
				continue
			}
			if _, err := m.With(p.Route("x").Tuning); err != nil {
				t.Errorf("%s: %g: the policy accepts it, the model does not: %v", c, v, err)
			}
		}
	}
}
