package extauthz

import (
	"encoding/json"
	"maps"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/grpc/codes"

	"github.com/botauthz/botauthz/clearance"
	"github.com/botauthz/botauthz/policy"
	"github.com/botauthz/botauthz/ratelimit"
	"github.com/botauthz/botauthz/rollout"
	"github.com/botauthz/botauthz/scoring"
)

// proofPolicy has routes that require proof in enforce (checkout, with a
// hard limit) and in shadow (peek), and one that does not (open).
const proofPolicy = `
session_cookie: sid
routes:
  default:
    mode: shadow
  checkout:
    mode: enforce
    require_proof: true
    limits:
      - {key: route_ip, window: 60s, max: 2}
  peek:
    mode: shadow
    require_proof: true
  open:
    mode: enforce
`

// proofServer is a Server on proofPolicy that verifies clearances with
// signer and keeps the last decision.
func proofServer(t *testing.T, signer *clearance.Signer) (*Server, *decisionObserver) {
	t.Helper()
	p, err := policy.Parse([]byte(proofPolicy))
	if err != nil {
		t.Fatal(err)
	}
	obs := &decisionObserver{}
	s, err := New(Options{Policy: p, Store: ratelimit.NewMemory(ratelimit.MemoryOptions{}), Clearance: signer,
		Observer: obs, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	return s, obs
}

// with returns a copy of base with the given name-value pairs set.
func with(base map[string]string, kv ...string) map[string]string {
	h := maps.Clone(base)
	for i := 0; i+1 < len(kv); i += 2 {
		h[kv[i]] = kv[i+1]
	}
	return h
}

// clearanceCookie is a cookie header carrying a session and a clearance.
func clearanceCookie(value string) string {
	return "sid=s1; " + policy.Default().Challenge.CookieName + "=" + value
}

// wantProofRule checks that the decision was a challenge for lack of
// proof, with the request scored all the same.
func wantProofRule(t *testing.T, d Decision) {
	t.Helper()
	if d.Rule != policy.RuleRequireProof || d.Action != policy.ActionChallenge {
		t.Errorf("decision rule %q action %s, want rule.require_proof and challenge", d.Rule, d.Action)
	}
	if d.Score == 0 || d.Model == "" {
		t.Errorf("decision score %d model %q: a request challenged for proof is still scored", d.Score, d.Model)
	}
}

func TestRequireProofChallengesWithoutClearanceWhateverTheScore(t *testing.T) {
	s, obs := proofServer(t, signerWith(t, newKey(t, "k1")))

	t.Run("a browser navigation is redirected to the challenge", func(t *testing.T) {
		// The same request passes a route that does not require proof.
		if h := upstreamHeaders(t, mustCheck(t, s, request("GET", "/open", "open", "203.0.113.7", chrome))); h[HeaderAction] != "allow" {
			t.Fatalf("the browser on a route without require_proof: %v, want allowed", h)
		}
		human := obs.last.Score

		resp := mustCheck(t, s, request("GET", "/checkout/cart?step=2", "checkout", "203.0.113.7", chrome))
		if resp.GetDeniedResponse().GetStatus().GetCode() != typev3.StatusCode_Found {
			t.Fatalf("response %v, want a 302 to the challenge", resp)
		}
		loc, err := url.Parse(deniedHeader(resp, "location"))
		if err != nil || loc.Path != "/.botauthz/challenge" || loc.Query().Get("route") != "checkout" ||
			loc.Query().Get("return_to") != "/checkout/cart?step=2" {
			t.Errorf("location = %q", deniedHeader(resp, "location"))
		}
		if deniedHeader(resp, "cache-control") != "no-store" {
			t.Error("the challenge redirect may be cached")
		}
		wantProofRule(t, obs.last)
		if obs.last.Score != human || human < 30 {
			t.Errorf("score %d, want the browser's human score %d as on any route", obs.last.Score, human)
		}
		md := resp.GetDynamicMetadata().GetFields()
		if md["bot_action"].GetStringValue() != "challenge" || md["bot_enforced_action"].GetStringValue() != "challenge" ||
			md["bot_score"].GetNumberValue() != float64(human) {
			t.Errorf("dynamic metadata = %v", md)
		}
	})

	t.Run("other requests get the JSON challenge 403", func(t *testing.T) {
		for _, c := range []struct {
			name, method string
			headers      map[string]string
		}{
			{"fetch of JSON", "GET", with(chrome, "accept", "application/json")},
			{"POST of a form", "POST", chrome},
		} {
			t.Run(c.name, func(t *testing.T) {
				resp := mustCheck(t, s, request(c.method, "/checkout/pay", "checkout", "203.0.113.8", c.headers))
				if resp.GetDeniedResponse().GetStatus().GetCode() != typev3.StatusCode_Forbidden {
					t.Fatalf("response %v, want a 403", resp)
				}
				var body struct {
					Error        string `json:"error"`
					ChallengeURL string `json:"challenge_url"`
					RequestID    string `json:"request_id"`
				}
				if err := json.Unmarshal([]byte(resp.GetDeniedResponse().GetBody()), &body); err != nil {
					t.Fatal(err)
				}
				u, err := url.Parse(body.ChallengeURL)
				if body.Error != "challenge_required" || err != nil || u.Path != "/.botauthz/challenge" ||
					u.Query().Get("route") != "checkout" || u.Query().Get("return_to") != "/checkout/pay" || body.RequestID != "req-1" {
					t.Errorf("body = %s", resp.GetDeniedResponse().GetBody())
				}
				wantProofRule(t, obs.last)
			})
		}
	})

	t.Run("a score that would deny, and a hard limit, are challenged too", func(t *testing.T) {
		resp := mustCheck(t, s, request("GET", "/checkout", "checkout", "192.0.2.1", curlNav))
		if resp.GetDeniedResponse().GetStatus().GetCode() != typev3.StatusCode_Found {
			t.Errorf("curl on a route that requires proof: %v, want the challenge", resp)
		}
		wantProofRule(t, obs.last)
		if obs.last.Score != 1 || !strings.HasPrefix(topReason(&obs.last), "rule.require_proof") {
			t.Errorf("curl scored %d, top reason %q", obs.last.Score, topReason(&obs.last))
		}
		if r := obs.last.Result.Reasons(); len(r) == 0 || r[0].Code.String() != "ua.library" {
			t.Errorf("reasons %v, want the score's own, ua.library first", r)
		}
		for i := range 3 {
			resp = mustCheck(t, s, request("GET", "/checkout", "checkout", "192.0.2.2", chrome))
			if resp.GetDeniedResponse().GetStatus().GetCode() != typev3.StatusCode_Found {
				t.Errorf("request %d from one client: %v, want the challenge", i+1, resp)
			}
		}
		if obs.last.Limit == nil {
			t.Error("the third request was not over the hard limit: the test proves nothing")
		}
		wantProofRule(t, obs.last)
	})
}

func TestRequireProofEndsWithAValidClearance(t *testing.T) {
	key := newKey(t, "k1")
	signer := signerWith(t, key)
	s, obs := proofServer(t, signer)
	bind := func(ip, ua string) clearance.Binding { return clearance.BindingFor(netip.MustParseAddr(ip), ua) }
	ua := chrome["user-agent"]
	valid := signer.Issue(bind("203.0.113.7", ua), "pow", "checkout", testNow.Add(-time.Minute))

	t.Run("a valid clearance is scored as on any route", func(t *testing.T) {
		for i, path := range []string{"/checkout", "/checkout/cart"} {
			resp := mustCheck(t, s, request("GET", path, "checkout", "203.0.113."+strconv.Itoa(7+i*50), with(chrome, "cookie", clearanceCookie(valid))))
			h := upstreamHeaders(t, resp)
			if h[HeaderAction] != "allow" || !strings.Contains(h[HeaderReasons], "clearance.valid") || strings.Contains(h[HeaderReasons], "rule.") {
				t.Errorf("%s with a valid clearance: %v, want allowed on its score", path, h)
			}
			if obs.last.Rule != policy.NoRule || obs.last.Clearance != clearance.Valid {
				t.Errorf("decision rule %q clearance %s", obs.last.Rule, obs.last.Clearance)
			}
		}
		// And so is an API call: the clearance ends the JSON 403 too.
		if h := upstreamHeaders(t, mustCheck(t, s, request("POST", "/checkout/pay", "checkout", "203.0.113.9",
			with(chrome, "cookie", clearanceCookie(valid))))); h[HeaderAction] != "allow" {
			t.Errorf("POST with a valid clearance: %v", h)
		}
	})

	t.Run("a clearance marked automated is proof but lifts nothing", func(t *testing.T) {
		// challenge.evidence: mark let an automated browser through.
		marked := signer.Issue(bind("203.0.113.7", ua), "pow"+clearance.AutomatedSuffix, "checkout", testNow.Add(-time.Minute))
		h := upstreamHeaders(t, mustCheck(t, s, request("GET", "/checkout", "checkout", "203.0.113.7", with(chrome, "cookie", clearanceCookie(marked)))))
		if h[HeaderAction] != "allow" || strings.Contains(h[HeaderReasons], "clearance.valid") || strings.Contains(h[HeaderReasons], "rule.") {
			t.Errorf("with a marked clearance: %v, want allowed on its score without clearance.valid", h)
		}
		if obs.last.Clearance != clearance.Valid || !obs.last.ClearanceAutomated || obs.last.Result.Features.Has(scoring.ClearanceValid) {
			t.Errorf("decision clearance %s automated %v features %v", obs.last.Clearance, obs.last.ClearanceAutomated, obs.last.Result.Features)
		}
	})

	t.Run("a declared library with a valid clearance is denied as today", func(t *testing.T) {
		// A script can solve the proof of work; its declaration stands.
		v := signer.Issue(bind("203.0.113.20", "curl/8.5.0"), "pow", "checkout", testNow.Add(-time.Minute))
		resp := mustCheck(t, s, request("GET", "/checkout", "checkout", "203.0.113.20", with(curlNav, "cookie", clearanceCookie(v))))
		if resp.GetDeniedResponse().GetStatus().GetCode() != typev3.StatusCode_Forbidden || obs.last.Action != policy.ActionDeny ||
			obs.last.Rule != policy.NoRule {
			t.Errorf("curl with a valid clearance: %v (action %s, rule %q), want denied on its score", resp, obs.last.Action, obs.last.Rule)
		}
	})

	for _, c := range []struct {
		name  string
		value string
		ip    string
		ua    string
		want  clearance.Status
	}{
		{"an expired clearance", signer.Issue(bind("203.0.113.7", ua), "pow", "checkout", testNow.Add(-2*time.Hour)), "203.0.113.7", ua, clearance.Expired},
		{"a clearance from another network", valid, "198.51.100.7", ua, clearance.WrongNetwork},
		{"a clearance of another browser", valid, "203.0.113.7", ua + " Other", clearance.WrongAgent},
		{"a tampered clearance", tamper(valid), "203.0.113.7", ua, clearance.BadSignature},
		{"a clearance signed by an unknown key", signerWith(t, newKey(t, "k0")).Issue(bind("203.0.113.7", ua), "pow", "checkout", testNow.Add(-time.Minute)), "203.0.113.7", ua, clearance.UnknownKey},
	} {
		t.Run(c.name+" is challenged again", func(t *testing.T) {
			resp := mustCheck(t, s, request("GET", "/checkout", "checkout", c.ip, with(chrome, "user-agent", c.ua, "cookie", clearanceCookie(c.value))))
			if resp.GetStatus().GetCode() == int32(codes.OK) || resp.GetDeniedResponse().GetStatus().GetCode() != typev3.StatusCode_Found {
				t.Fatalf("response %v, want the challenge", resp)
			}
			if got := resp.GetDynamicMetadata().GetFields()["bot_clearance"].GetStringValue(); got != c.want.String() {
				t.Errorf("bot_clearance = %q, want %q", got, c.want)
			}
			wantProofRule(t, obs.last)
		})
	}

	t.Run("without a clearance signer nothing is valid", func(t *testing.T) {
		s, obs := proofServer(t, nil)
		resp := mustCheck(t, s, request("GET", "/checkout", "checkout", "203.0.113.7", with(chrome, "cookie", clearanceCookie(valid))))
		if resp.GetDeniedResponse().GetStatus().GetCode() != typev3.StatusCode_Found {
			t.Errorf("response %v, want the challenge", resp)
		}
		wantProofRule(t, obs.last)
	})
}

func TestRequireProofFollowsTheMode(t *testing.T) {
	t.Run("shadow allows and records the challenge", func(t *testing.T) {
		s, obs := proofServer(t, signerWith(t, newKey(t, "k1")))
		h := upstreamHeaders(t, mustCheck(t, s, request("GET", "/peek", "peek", "203.0.113.7", chrome)))
		if h[HeaderAction] != "challenge" || h[HeaderMode] != "shadow" || !strings.HasPrefix(h[HeaderReasons], "rule.require_proof") {
			t.Errorf("shadow route: %v, want allowed with action challenge for rule.require_proof", h)
		}
		if n, _ := strconv.Atoi(h[HeaderScore]); n < 30 {
			t.Errorf("%s = %q, want the browser's human score", HeaderScore, h[HeaderScore])
		}
		wantProofRule(t, obs.last)
		if obs.last.Enforced != policy.ActionAllow {
			t.Errorf("enforced %s in shadow", obs.last.Enforced)
		}
		// The score's own reasons follow the rule's.
		h = upstreamHeaders(t, mustCheck(t, s, request("GET", "/peek", "peek", "203.0.113.8", curlAPI)))
		if reasons := strings.Split(h[HeaderReasons], ","); len(reasons) > maxHeaderReasons || len(reasons) < 2 || reasons[0] != "rule.require_proof" || reasons[1] != "ua.library" || h[HeaderAction] != "challenge" || h[HeaderScore] != "1" {
			t.Errorf("curl on a shadow route requiring proof: %v", h)
		}
	})

	for _, c := range []struct {
		name string
		view *rollout.View
		mode string
		// action is the decided action; rule says whether require_proof decided.
		action string
		rule   bool
	}{
		{"kill shadow records it", &rollout.View{Live: rollout.State{Kill: rollout.KillShadow}}, "shadow", "challenge", true},
		{"kill bypass allows without scoring", &rollout.View{Live: rollout.State{Kill: rollout.KillBypass}}, "bypass", "allow", false},
		{"mode off allows without scoring", &rollout.View{Live: rollout.State{Routes: map[string]rollout.Setting{"checkout": {Mode: policy.ModeOff}}}}, "off", "allow", false},
		{"canary at 0% records it as shadow", &rollout.View{Live: rollout.State{Routes: map[string]rollout.Setting{"checkout": {Mode: policy.ModeCanary, Percent: 0}}}}, "shadow", "challenge", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, obs := proofServer(t, signerWith(t, newKey(t, "k1")))
			s.rollout = fixedView{c.view}
			h := upstreamHeaders(t, mustCheck(t, s, request("GET", "/checkout", "checkout", "203.0.113.7", chrome)))
			if h[HeaderMode] != c.mode || h[HeaderAction] != c.action || (obs.last.Rule == policy.RuleRequireProof) != c.rule {
				t.Errorf("headers %v, rule %q", h, obs.last.Rule)
			}
		})
	}

	t.Run("canary at 100% enforces it", func(t *testing.T) {
		s, obs := proofServer(t, signerWith(t, newKey(t, "k1")))
		s.rollout = fixedView{&rollout.View{Live: rollout.State{Routes: map[string]rollout.Setting{"peek": {Mode: policy.ModeCanary, Percent: 100}}}}}
		resp := mustCheck(t, s, request("GET", "/peek", "peek", "203.0.113.7", chrome))
		if resp.GetDeniedResponse().GetStatus().GetCode() != typev3.StatusCode_Found {
			t.Errorf("response %v, want the challenge", resp)
		}
		wantProofRule(t, obs.last)
	})
}

func TestRequireProofLeavesCIDRRulesAndTCPAlone(t *testing.T) {
	p, err := policy.Parse([]byte(proofPolicy + `
rules:
  allow_cidrs: ["192.0.2.0/24"]
  deny_cidrs: ["198.51.100.0/24"]
`))
	if err != nil {
		t.Fatal(err)
	}
	obs := &decisionObserver{}
	s, err := New(Options{Policy: p, Store: ratelimit.NewMemory(ratelimit.MemoryOptions{}), Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	// An allowed network is trusted before any proof is asked for.
	if h := upstreamHeaders(t, mustCheck(t, s, request("GET", "/checkout", "checkout", "192.0.2.5", chrome))); h[HeaderReasons] != "rule.allow_cidr" {
		t.Errorf("allowed network on a route requiring proof: %v", h)
	}
	// A denied one is denied, not challenged.
	if resp := mustCheck(t, s, request("GET", "/checkout", "checkout", "198.51.100.5", chrome)); resp.GetDeniedResponse().GetStatus().GetCode() != typev3.StatusCode_Forbidden ||
		obs.last.Rule != policy.RuleDenyCIDR {
		t.Errorf("denied network on a route requiring proof: %v", resp)
	}
	// Plain TCP has no page to show a challenge on: counted and allowed.
	req := request("GET", "/", "checkout", "203.0.113.7", nil)
	req.Attributes.Request = nil
	if resp := mustCheck(t, s, req); resp.GetStatus().GetCode() != int32(codes.OK) || obs.last.Rule != policy.NoRule {
		t.Errorf("TCP on a route requiring proof: %v, rule %q", resp, obs.last.Rule)
	}
}
