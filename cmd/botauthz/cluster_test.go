package main

import (
	"context"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/botauthz/botauthz/internal/redistest"
	"github.com/botauthz/botauthz/rollout"
)

// TestRunsOnARedisCluster starts botauthz on a real three-master Redis
// Cluster: the counters, the live rollout state and challenge redemption
// all take the redis+cluster URL.
func TestRunsOnARedisCluster(t *testing.T) {
	cluster := redistest.StartCluster(t, 3)
	// A budget far above any cluster's answer: this test is about the
	// URL reaching every store, not about how fast a loaded CI machine's
	// fresh cluster answers its first script.
	a, _ := startApp(t, "-redis", cluster.URL(), "-redis-budget", "10s")
	ctx := context.Background()

	check := func() map[string]string {
		resp, err := a.authz.Check(context.Background(), &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
			Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
				SocketAddress: &corev3.SocketAddress{Address: "203.0.113.7"}}}},
			Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
				Method: "GET", Path: "/", Headers: map[string]string{"user-agent": "curl/8.5.0", "cookie": "session=abc"}}},
		}})
		if err != nil {
			t.Fatal(err)
		}
		h := map[string]string{}
		for _, o := range resp.GetOkResponse().GetHeaders() {
			h[o.GetHeader().GetKey()] = o.GetHeader().GetValue()
		}
		return h
	}
	// The default route counts ip, subnet and session: three hash tags,
	// spread over the masters.
	if h := check(); h["x-bot-degraded"] != "" || h["x-bot-mode"] != "shadow" {
		t.Fatalf("first Check on the cluster: %v", h)
	}
	if _, err := a.rollout.Apply(ctx, rollout.Change{Kind: rollout.ChangeKill, Kill: rollout.KillBypass, Actor: "test", Reason: "cluster test"}); err != nil {
		t.Fatalf("live change on the cluster: %v", err)
	}
	if h := check(); h["x-bot-mode"] != "bypass" {
		t.Errorf("after kill bypass: %v", h)
	}
}
