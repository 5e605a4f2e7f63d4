package extauthz

import (
	"strconv"
	"testing"

	"google.golang.org/grpc/codes"

	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"

	"github.com/botauthz/botauthz/policy"
	"github.com/botauthz/botauthz/ratelimit"
	"github.com/botauthz/botauthz/rollout"
)

// fixedView is a Rollout that always answers with one View.
type fixedView struct{ v *rollout.View }

func (f fixedView) View() *rollout.View { return f.v }

func newRolloutServer(t *testing.T, store ratelimit.Store, v *rollout.View) *Server {
	t.Helper()
	s := newTestServer(t, store)
	s.rollout = fixedView{v}
	return s
}

func TestKillBypassSkipsScoringAndStore(t *testing.T) {
	cs := &countingStore{Store: ratelimit.NewMemory(ratelimit.MemoryOptions{})}
	s := newRolloutServer(t, cs, &rollout.View{Live: rollout.State{Kill: rollout.KillBypass}})
	resp := mustCheck(t, s, request("GET", "/login", "login", "203.0.113.7", map[string]string{"x-bot-score": "99"}))
	h := upstreamHeaders(t, resp)
	if h[HeaderMode] != "bypass" || h[HeaderScore] != "0" || h[HeaderAction] != "allow" {
		t.Errorf("bypass headers = %v", h)
	}
	if cs.calls.Load() != 0 {
		t.Errorf("bypass touched the store %d times", cs.calls.Load())
	}
	if src := resp.GetDynamicMetadata().GetFields()["bot_mode_source"].GetStringValue(); src != "kill" {
		t.Errorf("bot_mode_source = %q, want kill", src)
	}
}

func TestKillShadowStillScoresButEnforcesNothing(t *testing.T) {
	s := newRolloutServer(t, nil, &rollout.View{Live: rollout.State{Kill: rollout.KillShadow}})
	h := upstreamHeaders(t, mustCheck(t, s, request("GET", "/login", "login", "203.0.113.7", fakerNav)))
	if h[HeaderMode] != "shadow" || h[HeaderAction] != "challenge" {
		t.Errorf("curl on an enforce route under kill shadow: %v, want allowed with action challenge in shadow", h)
	}
}

func TestLiveOverrideEnforcesAShadowRoute(t *testing.T) {
	s := newRolloutServer(t, nil, &rollout.View{Live: rollout.State{Routes: map[string]rollout.Setting{"default": {Mode: policy.ModeEnforce}}}})
	resp := mustCheck(t, s, request("GET", "/", "", "203.0.113.7", fakerNav))
	if resp.GetDeniedResponse().GetStatus().GetCode() != typev3.StatusCode_Found {
		t.Errorf("curl on default with a live enforce override: %v, want a challenge", resp)
	}
}

func TestCanaryEnforcesAStableShare(t *testing.T) {
	const percent = 30
	v := &rollout.View{Live: rollout.State{Routes: map[string]rollout.Setting{"default": {Mode: policy.ModeCanary, Percent: percent}}}}
	s := newRolloutServer(t, nil, v)
	canary := rollout.NewCanary(s.Policy().Rollout.CanarySalt)
	enforced := 0
	const clients = 400
	for i := range clients {
		ip := "198.51." + strconv.Itoa(i/250) + "." + strconv.Itoa(i%250)
		resp := mustCheck(t, s, request("GET", "/", "", ip, fakerNav))
		in := resp.GetStatus().GetCode() != int32(codes.OK)
		if in != canary.Enforced(ip, percent) {
			t.Fatalf("client %s: enforced=%v, but the canary hash says %v", ip, in, !in)
		}
		if in {
			enforced++
			if got := resp.GetDynamicMetadata().GetFields()["bot_mode"].GetStringValue(); got != "canary" {
				t.Errorf("enforced client %s reports mode %q, want canary", ip, got)
			}
		} else if h := upstreamHeaders(t, resp); h[HeaderMode] != "shadow" || h[HeaderAction] != "challenge" {
			t.Errorf("client %s outside the canary: %v, want shadow with the decided action", ip, h)
		}
	}
	if enforced == 0 || enforced == clients {
		t.Errorf("%d of %d clients enforced at %d%%", enforced, clients, percent)
	}
}

func TestCanaryFollowsTheSessionAcrossAddresses(t *testing.T) {
	v := &rollout.View{Live: rollout.State{Default: &rollout.Setting{Mode: policy.ModeCanary, Percent: 50}}}
	s := newRolloutServer(t, nil, v)
	canary := rollout.NewCanary(s.Policy().Rollout.CanarySalt)
	for i := range 20 {
		session := "user-" + strconv.Itoa(i)
		want := canary.Enforced(session, 50)
		for _, ip := range []string{"203.0.113.1", "198.51.100.2", "2001:db8::1"} {
			hdr := map[string]string{"cookie": "sid=" + session}
			for k, v := range fakerNav {
				hdr[k] = v
			}
			resp := mustCheck(t, s, request("GET", "/", "", ip, hdr))
			if got := resp.GetStatus().GetCode() != int32(codes.OK); got != want {
				t.Fatalf("session %s from %s: enforced=%v, want %v", session, ip, got, want)
			}
		}
	}
}
