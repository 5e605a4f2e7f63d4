package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/codes"
)

func TestPolicyFileReloadsWithoutRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	write := func(s string) { t.Helper(); writeAside(t, path, s) }
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
	readyPolicy := func() (int, string, string) { return readyPolicy(t, a) }

	if curlOnLogin() {
		t.Fatal("login is in shadow: curl must pass")
	}
	write("version: v2\nroutes: {login: {mode: enforce}}\n")
	poll(t, "the new policy enforcing login", curlOnLogin)

	// Truncated in place (": > policy.yaml", or cp caught between its
	// truncate and its write): refused, enforcement stays on.
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	poll(t, "the empty file's refusal showing in /readyz", func() bool {
		code, status, detail := readyPolicy()
		return code == http.StatusOK && status == "degraded" && strings.Contains(detail, "no keys")
	})
	if !curlOnLogin() || a.authz.Policy().Version != "v2" {
		t.Errorf("after an empty file: policy %q in force, want v2 still enforcing", a.authz.Policy().Version)
	}

	write("version: v3\nroutes: {login: {mode: enforcing}}\n")
	poll(t, "the refused reload showing in /readyz", func() bool {
		code, status, detail := readyPolicy()
		return code == http.StatusOK && status == "degraded" && strings.Contains(detail, "routes.login.mode")
	})
	if !curlOnLogin() || a.authz.Policy().Version != "v2" {
		t.Errorf("after a bad file: policy %q in force, want v2 still enforcing", a.authz.Policy().Version)
	}

	write("version: v4\nroutes: {login: {mode: shadow}}\n")
	poll(t, "the fixed file applied", func() bool { return !curlOnLogin() })
	if _, status, _ := readyPolicy(); status != "ok" {
		t.Errorf("policy component %q after a good reload, want ok", status)
	}
}

// SIGTERM must stop the process whatever a reload is doing: here a SIGHUP
// asked for one while a writer keeps changing the file, so it never settles.
// Waiting for it would never end.
func TestShutdownDoesNotWaitForAReload(t *testing.T) {
	// The test catches SIGHUP as well, so that one sent before serve
	// registers for it cannot kill the test binary.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGHUP)
	defer signal.Stop(sig)

	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, []byte("version: v1\nroutes: {login: {mode: enforce}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a, stop := startApp(t, "-config", path, "-shutdown-timeout", "1s")
	// serve registers for SIGHUP before serving: once /readyz answers, it
	// gets the signal.
	poll(t, "/readyz answering", func() bool { code, _, _ := readyPolicy(t, a); return code == http.StatusOK })

	writing, stopWriting := context.WithCancel(context.Background())
	written := make(chan struct{})
	go func() {
		defer close(written)
		tick := time.NewTicker(50 * time.Millisecond) // the writer's pace, far below the settle period
		defer tick.Stop()
		for i := 0; ; i++ {
			_ = os.WriteFile(path, fmt.Appendf(nil, "version: w%d\nroutes: {login: {mode: enforce}}\n", i), 0o600)
			select {
			case <-writing.Done():
				return
			case <-tick.C:
			}
		}
	}()
	defer func() { stopWriting(); <-written }()
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	<-sig

	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	select {
	case err := <-stopped:
		if err != nil {
			t.Errorf("serve = %v, want a clean stop", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not return within 10s of SIGTERM: it waits for a reload that never settles")
	}
}

// poll checks cond until it holds, failing the test after 10s.
func poll(t *testing.T, what string, cond func() bool) {
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

// readyPolicy returns /readyz's status code and its policy component.
func readyPolicy(t *testing.T, a *app) (code int, status, detail string) {
	t.Helper()
	return readyComponent(t, a, "policy")
}

// readyComponent returns /readyz's status code and one of its components.
func readyComponent(t *testing.T, a *app, name string) (code int, status, detail string) {
	t.Helper()
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
	return resp.StatusCode, body.Components[name].Status, body.Components[name].Detail
}

// writeAside replaces the file at path with s the way editors and
// ConfigMap updates do: written aside, then renamed over.
func writeAside(t *testing.T, path, s string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}
