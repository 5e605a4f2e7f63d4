package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/codes"
)

func TestPolicyFileReloadsWithoutRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	write := func(s string) {
		t.Helper()
		// Write aside and rename over, as editors and ConfigMaps do.
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	write("version: v1\nroutes: {login: {mode: shadow}}\n")
	a, _ := startApp(t, "-config", path)

	curlOnLogin := func() bool {
		resp, err := a.authz.Check(context.Background(), &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
			Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
				SocketAddress: &corev3.SocketAddress{Address: "203.0.113.7"}}}},
			Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
				Method: "GET", Path: "/login", Headers: map[string]string{"user-agent": "curl/8.5.0", "accept": "text/html"}}},
			ContextExtensions: map[string]string{"route": "login"},
		}})
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetStatus().GetCode() != int32(codes.OK)
	}
	poll := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for !cond() {
			select {
			case <-deadline:
				t.Fatalf("%s: not within 10s", what)
			case <-tick.C:
			}
		}
	}
	readyPolicy := func() (int, string, string) {
		resp, err := http.Get("http://" + a.adminLn.Addr().String() + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct {
			Components map[string]struct{ Status, Detail string } `json:"components"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, body.Components["policy"].Status, body.Components["policy"].Detail
	}

	if curlOnLogin() {
		t.Fatal("login is in shadow: curl must pass")
	}
	write("version: v2\nroutes: {login: {mode: enforce}}\n")
	poll("the new policy enforcing login", curlOnLogin)

	write("version: v3\nroutes: {login: {mode: enforcing}}\n")
	poll("the refused reload showing in /readyz", func() bool {
		code, status, detail := readyPolicy()
		return code == http.StatusOK && status == "degraded" && strings.Contains(detail, "routes.login.mode")
	})
	if !curlOnLogin() || a.authz.Policy().Version != "v2" {
		t.Errorf("after a bad file: policy %q in force, want v2 still enforcing", a.authz.Policy().Version)
	}

	write("version: v4\nroutes: {login: {mode: shadow}}\n")
	poll("the fixed file applied", func() bool { return !curlOnLogin() })
	if _, status, _ := readyPolicy(); status != "ok" {
		t.Errorf("policy component %q after a good reload, want ok", status)
	}
}
