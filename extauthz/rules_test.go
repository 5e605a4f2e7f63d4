package extauthz

import (
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/grpc/codes"

	"github.com/botauthz/botauthz/policy"
	"github.com/botauthz/botauthz/ratelimit"
	"github.com/botauthz/botauthz/rollout"
)

func rulesServer(t *testing.T) (*Server, *countingStore) {
	t.Helper()
	p, err := policy.Parse([]byte(testPolicy + `
rules:
  allow_cidrs: ["192.0.2.0/24"]
  deny_cidrs: ["198.51.100.0/24", "192.0.2.0/24"]
`))
	if err != nil {
		t.Fatal(err)
	}
	cs := &countingStore{Store: ratelimit.NewMemory(ratelimit.MemoryOptions{})}
	s, err := New(Options{Policy: p, Store: cs, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	return s, cs
}

func TestDenyRuleDecidesBeforeTheScore(t *testing.T) {
	s, cs := rulesServer(t)
	resp := mustCheck(t, s, request("GET", "/login", "login", "198.51.100.7", chrome))
	if resp.GetDeniedResponse().GetStatus().GetCode() != typev3.StatusCode_Forbidden {
		t.Fatalf("a denied network on an enforce route: %v, want 403 even for a browser", resp)
	}
	api := mustCheck(t, s, request("POST", "/login", "login", "198.51.100.7", curlAPI))
	if body := api.GetDeniedResponse().GetBody(); !contains(body, `"reason":"rule.deny_cidr"`) {
		t.Errorf("JSON body %q does not name the rule", body)
	}
	// In shadow the rule is recorded, not applied.
	h := upstreamHeaders(t, mustCheck(t, s, request("GET", "/", "", "198.51.100.7", chrome)))
	if h[HeaderAction] != "deny" || h[HeaderReasons] != "rule.deny_cidr" || h[HeaderMode] != "shadow" {
		t.Errorf("shadow route: %v", h)
	}
	if cs.calls.Load() != 0 {
		t.Errorf("rules touched the counter store %d times", cs.calls.Load())
	}
}

func TestAllowRuleSkipsCountingAndScoring(t *testing.T) {
	s, cs := rulesServer(t)
	// curl would be challenged on login; 192.0.2.0/24 is both allowed and
	// denied, and the allow list wins.
	h := upstreamHeaders(t, mustCheck(t, s, request("GET", "/login", "login", "192.0.2.50", curlNav)))
	if h[HeaderAction] != "allow" || h[HeaderReasons] != "rule.allow_cidr" || h[HeaderScore] != "0" {
		t.Errorf("allowed network: %v", h)
	}
	if cs.calls.Load() != 0 {
		t.Errorf("an allowed client was counted")
	}
}

func TestKillSwitchBeatsRules(t *testing.T) {
	s, _ := rulesServer(t)
	s.rollout = fixedView{&rollout.View{Live: rollout.State{Kill: rollout.KillBypass}}}
	h := upstreamHeaders(t, mustCheck(t, s, request("GET", "/login", "login", "198.51.100.7", chrome)))
	if h[HeaderMode] != "bypass" || h[HeaderAction] != "allow" {
		t.Errorf("kill bypass with a deny rule: %v", h)
	}
}

func TestDenyRuleStopsTCP(t *testing.T) {
	s, _ := rulesServer(t)
	s.rollout = fixedView{&rollout.View{Live: rollout.State{Default: &rollout.Setting{Mode: policy.ModeEnforce}}}}
	req := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
			SocketAddress: &corev3.SocketAddress{Address: "198.51.100.7"}}}},
	}}
	if resp := mustCheck(t, s, req); resp.GetStatus().GetCode() != int32(codes.PermissionDenied) || resp.GetHttpResponse() != nil {
		t.Errorf("TCP from a denied network on an enforce route: %v", resp)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
