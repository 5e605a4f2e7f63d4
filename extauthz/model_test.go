package extauthz

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/botauthz/botauthz/policy"
	"github.com/botauthz/botauthz/ratelimit"
	"github.com/botauthz/botauthz/scoring"
)

// decisionObserver keeps a copy of the last decision.
type decisionObserver struct{ last Decision }

func (o *decisionObserver) ObserveCheck(_ context.Context, d *Decision, _ *Facts, _ time.Duration) {
	o.last = *d
}

// modelServer is a Server on the policy in yaml, with an observer of its
// decisions; m nil means the shipped model.
func modelServer(t *testing.T, yaml string, m *scoring.Model) (*Server, *decisionObserver) {
	t.Helper()
	p, err := policy.Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	obs := &decisionObserver{}
	s, err := New(Options{Policy: p, Model: m, Store: ratelimit.NewMemory(ratelimit.MemoryOptions{}), Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	return s, obs
}

func TestRoutesShareModelsByTuning(t *testing.T) {
	s, _ := modelServer(t, `
routes:
  strict: {score: {weights: {ua.other: -6}}}
  also_strict: {score: {weights: {ua.other: -6}}}
  stricter: {score: {weights: {ua.other: -8}}}
  plain: {mode: enforce}
`, nil)
	models := s.state.Load().models
	if len(models) != 5 {
		t.Fatalf("models for %d routes, want 5", len(models))
	}
	if models["default"] != s.model || models["plain"] != s.model {
		t.Error("routes without a tuning do not share the shipped model")
	}
	if models["strict"] != models["also_strict"] {
		t.Error("routes with equal tunings got a model each")
	}
	if models["strict"] == s.model || models["stricter"] == models["strict"] {
		t.Error("routes with their own tunings share a model they should not")
	}
	if got := s.Model(); got != models["default"] {
		t.Error("Model is not the default route's")
	}

	// A global tuning is the default route's, and every route's that adds
	// nothing to it.
	s, _ = modelServer(t, "client_ip: {behind_proxy: true}\nroutes: {plain: {mode: enforce}}\n", nil)
	models = s.state.Load().models
	if models["default"] == s.model || models["plain"] != models["default"] {
		t.Error("behind_proxy: the default route does not have the tuned model, or plain does not share it")
	}
}

// A route's tuning changes its scores, and only its own; the decision
// names the model either way.
func TestRouteTuningChangesItsScore(t *testing.T) {
	s, obs := modelServer(t, "routes:\n  app: {score: {weights: {ua.other: -12}}}\n", nil)
	shipped, err := scoring.Load()
	if err != nil {
		t.Fatal(err)
	}
	// An application's own user agent, with a browser's other headers.
	app := map[string]string{"user-agent": "ShopApp/4.2", "accept": "*/*", "accept-language": "en-US", "accept-encoding": "gzip, br"}
	score := func(route string, i int) int {
		t.Helper()
		h := upstreamHeaders(t, mustCheck(t, s, request("GET", "/", route, "203.0.113."+strconv.Itoa(i), app)))
		if !obs.last.Result.Features.Has(scoring.UAOther) {
			t.Fatalf("fixture: ua.other did not fire on %s: %v", route, obs.last.Result.Features)
		}
		if obs.last.Model != shipped.Version() {
			t.Errorf("%s: decision model %q, want the shipped name %q", route, obs.last.Model, shipped.Version())
		}
		n, err := strconv.Atoi(h[HeaderScore])
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	plain, tuned := score("", 1), score("app", 2)
	if tuned >= plain {
		t.Errorf("ua.other at -12 on app scores %d, the default route %d: want it lower", tuned, plain)
	}
	if tuned != 2 {
		t.Errorf("ua.other at -12 scores %d, want 2 (the model's lowest; 1 is declared automation's)", tuned)
	}
}

// A weight of 0 on a certainty rule's signal turns the rule off for that
// route: a declared library is scored by the model instead.
func TestRouteTuningTurnsACertaintyRuleOff(t *testing.T) {
	s, obs := modelServer(t, "routes:\n  partners: {score: {weights: {ua.library: 0}}}\n", nil)
	curl := map[string]string{"user-agent": "curl/8.5.0", "accept": "*/*", "accept-language": "en", "accept-encoding": "gzip"}
	h := upstreamHeaders(t, mustCheck(t, s, request("GET", "/", "", "203.0.113.1", curl)))
	if h[HeaderScore] != "1" || obs.last.Result.Certainty != scoring.Declared {
		t.Errorf("default route: score %s certainty %v, want 1 by the declared-automation rule", h[HeaderScore], obs.last.Result.Certainty)
	}
	h = upstreamHeaders(t, mustCheck(t, s, request("GET", "/", "partners", "203.0.113.2", curl)))
	if obs.last.Result.Certainty != scoring.NoCertainty || h[HeaderScore] == "1" {
		t.Errorf("partners: score %s certainty %v, want the model's score with no rule", h[HeaderScore], obs.last.Result.Certainty)
	}
}

// Envoy's attributes.request.http.protocol reaches the model, and
// behind_proxy keeps it from counting.
func TestProtocolReachesTheModel(t *testing.T) {
	cases := []struct {
		name, policy, protocol string
		fires                  bool
	}{
		{"a browser over HTTP/1.1 on TLS", "{}", "HTTP/1.1", true},
		{"a browser over HTTP/2", "{}", "HTTP/2", false},
		{"unknown protocol", "{}", "", false},
		{"behind a proxy, the protocol is the proxy's", "client_ip: {behind_proxy: true}", "HTTP/1.1", false},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, obs := modelServer(t, c.policy, nil)
			req := request("GET", "/", "", "203.0.113."+strconv.Itoa(i+1), chrome)
			req.Attributes.Request.Http.Scheme = "https"
			req.Attributes.Request.Http.Protocol = c.protocol
			mustCheck(t, s, req)
			if got := obs.last.Result.Features.Has(scoring.ProtocolHTTP1); got != c.fires {
				t.Errorf("protocol.http1 fired = %v, want %v (features %v)", got, c.fires, obs.last.Result.Features)
			}
		})
	}
}

// The header order Envoy sends in header_map reaches the model; the plain
// headers map has none, which never counts against a request.
func TestHeaderOrderReachesTheModel(t *testing.T) {
	m, err := scoring.LoadData(scoring.Data{HeaderOrder: []byte(`
source: test
families:
  chromium:
    navigations: 100
    before:
      user-agent: [accept]
`)})
	if err != nil {
		t.Fatal(err)
	}
	s, obs := modelServer(t, "{}", m)
	plain := request("GET", "/", "", "203.0.113.7", chrome)
	// A navigation's lines with first and second in that order.
	ordered := func(first, second string) []header {
		return []header{{":method", []byte("GET")}, {":path", []byte("/")}, {first, []byte(chrome[first])},
			{second, []byte(chrome[second])}, {"accept-encoding", []byte(chrome["accept-encoding"])},
			{"accept-language", []byte(chrome["accept-language"])}}
	}
	cases := []struct {
		name  string
		lines []header
		fires bool
	}{
		{"the plain headers map: order unknown", nil, false},
		{"a browser's order", ordered("user-agent", "accept"), false},
		{"reversed", ordered("accept", "user-agent"), true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := plain
			if c.lines != nil {
				req = rawRequest(plain, c.lines)
			}
			mustCheck(t, s, req)
			if got := obs.last.Result.Features.Has(scoring.OrderUnlikeBrowser); got != c.fires {
				t.Errorf("order.unlike_browser fired = %v, want %v (features %v)", got, c.fires, obs.last.Result.Features)
			}
		})
	}
}

func TestDecisionCarriesTheLogFeaturesSetting(t *testing.T) {
	for _, on := range []bool{false, true} {
		s, obs := modelServer(t, "decision_log: {features: "+strconv.FormatBool(on)+"}", nil)
		mustCheck(t, s, request("GET", "/", "", "203.0.113.7", curlAPI))
		if obs.last.LogFeatures != on {
			t.Errorf("decision_log.features %v: Decision.LogFeatures = %v", on, obs.last.LogFeatures)
		}
		if obs.last.Model == "" {
			t.Error("the decision names no model")
		}
	}
}

// A policy reload rebuilds the routes' models: the next Check scores with
// the new tuning.
func TestSetPolicyRetunes(t *testing.T) {
	s, obs := modelServer(t, "{}", nil)
	app := map[string]string{"user-agent": "ShopApp/4.2", "accept": "*/*", "accept-language": "en-US", "accept-encoding": "gzip, br"}
	mustCheck(t, s, request("GET", "/", "", "203.0.113.7", app))
	before := obs.last.Score
	p, err := policy.Parse([]byte("score: {weights: {ua.other: -12}}"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetPolicy(p); err != nil {
		t.Fatal(err)
	}
	mustCheck(t, s, request("GET", "/", "", "203.0.113.8", app))
	if after := obs.last.Score; after >= before || after != 2 {
		t.Errorf("score %d before the reload, %d after; want 2, the model's lowest, after", before, after)
	}
}

// The JA4 header reaches the model only when the policy trusts Envoy to
// overwrite it: a client can send the header itself.
func TestTLSFingerprintIsReadOnlyWhenTrusted(t *testing.T) {
	const python = "t13d1812h1_85036bcba153_b26ce05bbdd6" // CPython's ssl over OpenSSL 3
	cases := []struct {
		name, policy, header, value string
		mismatch                    bool
	}{
		{"trusted: a Chrome user agent over Python's TLS", "tls: {trusted: true}", "x-botauthz-ja4", python, true},
		{"untrusted (the default): the header is ignored", "{}", "x-botauthz-ja4", python, false},
		{"trusted, another header name", "tls: {trusted: true, ja4_header: x-ja4}", "x-ja4", python, true},
		{"trusted, the wrong header", "tls: {trusted: true, ja4_header: x-ja4}", "x-botauthz-ja4", python, false},
		{"trusted, Chrome's own stack", "tls: {trusted: true}", "x-botauthz-ja4", "t13d1516h2_8daaf6152771_02713d6af862", false},
		{"trusted, a fingerprint not in the data", "tls: {trusted: true}", "x-botauthz-ja4", "t13d1516h2_000000000000_02713d6af862", false},
		{"trusted, not a JA4 at all", "tls: {trusted: true}", "x-botauthz-ja4", "chrome please", false},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, obs := modelServer(t, c.policy, nil)
			h := map[string]string{c.header: c.value}
			for k, v := range chrome {
				h[k] = v
			}
			req := request("GET", "/", "", "203.0.113."+strconv.Itoa(i+1), h)
			req.Attributes.Request.Http.Scheme = "https"
			req.Attributes.Request.Http.Protocol = "HTTP/2"
			mustCheck(t, s, req)
			if got := obs.last.Result.Features.Has(scoring.TLSMismatch); got != c.mismatch {
				t.Errorf("tls.mismatch fired = %v, want %v (features %v)", got, c.mismatch, obs.last.Result.Features)
			}
		})
	}
}
