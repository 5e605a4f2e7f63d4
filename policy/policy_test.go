package policy

import (
	"errors"
	"fmt"
	"io/fs"
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
	if p.SessionCookie != "session" || p.Base != 99 || p.XFFTrustedHops != 0 {
		t.Errorf("defaults = cookie %q base %d hops %d", p.SessionCookie, p.Base, p.XFFTrustedHops)
	}
	if p.Weights != scoring.DefaultWeights() {
		t.Errorf("default weights differ from the scoring model's defaults")
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
	if p.Version != "2026-11-23.1" || p.SessionCookie != "sid" || p.XFFTrustedHops != 1 || p.Base != 95 {
		t.Errorf("top level = %+v", p)
	}
	if p.Weights[scoring.UALibrary] != 70 || p.Weights[scoring.FetchMissing] != 0 {
		t.Errorf("weights not overridden: ua.library=%d fetch.missing=%d", p.Weights[scoring.UALibrary], p.Weights[scoring.FetchMissing])
	}
	if got, want := p.Weights[scoring.UAMissing], scoring.DefaultWeights()[scoring.UAMissing]; got != want {
		t.Errorf("unset weight ua.missing = %d, want default %d", got, want)
	}

	login := p.Route("login")
	if login.Mode != ModeEnforce || login.ChallengeBelow != 40 || login.DenyBelow != 5 {
		t.Errorf("login = %+v", login)
	}
	want := []Limit{
		{Key: ratelimit.DimRouteIP, Window: time.Minute, Max: 10, ScoreAbove: 5},
		{Key: ratelimit.DimIP, Window: 10 * time.Minute, Max: 300, ScoreAbove: 100},
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
	if len(got) != 1 || got[0].Key != ratelimit.DimSubnet || got[0].Max != 50 {
		t.Errorf("search limits = %+v, want the file default's", got)
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
