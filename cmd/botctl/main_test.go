package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/botauthz/botauthz/admin"
	"github.com/botauthz/botauthz/buildinfo"
	"github.com/botauthz/botauthz/policy"
	"github.com/botauthz/botauthz/rollout"
)

const (
	rwSecret = "rw-secret-0123456789"
	roSecret = "ro-secret-0123456789"
)

// server is the real admin handler over a real controller and memory store.
type server struct {
	url   string
	store *rollout.MemoryStore
}

func newServer(t *testing.T) *server {
	t.Helper()
	p, err := policy.Parse([]byte(`
routes:
  login:
    mode: enforce
  search:
    mode: canary
    canary_percent: 5
`))
	if err != nil {
		t.Fatal(err)
	}
	store := rollout.NewMemoryStore(0)
	ctl := rollout.NewController(rollout.ControllerOptions{Store: store})
	ctx, cancel := context.WithCancel(context.Background())
	if err := ctl.Start(ctx); err != nil {
		cancel()
		t.Fatal(err)
	}
	srv := httptest.NewServer(admin.NewHandler(admin.Options{
		Rollout: ctl,
		Policy:  func() *policy.Policy { return p },
		Tokens: []admin.Token{
			{Name: "ops", Secret: rwSecret, Write: true},
			{Name: "dash", Secret: roSecret},
		},
	}))
	t.Cleanup(func() {
		srv.Close()
		cancel()
		ctl.Wait()
		_ = store.Close()
	})
	return &server{url: srv.URL, store: store}
}

// env is the environment botctl sees; BOTCTL_ADDR and BOTCTL_TOKEN point
// at the test server unless a test overrides them.
type env map[string]string

func (s *server) env() env {
	return env{"BOTCTL_ADDR": s.url, "BOTCTL_TOKEN": rwSecret, "USER": "alice"}
}

type result struct {
	code           int
	stdout, stderr string
}

func botctl(t *testing.T, e env, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr, func(k string) string { return e[k] })
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// mustRun runs botctl and fails the test unless it exits 0.
func mustRun(t *testing.T, e env, args ...string) string {
	t.Helper()
	r := botctl(t, e, args...)
	if r.code != exitOK {
		t.Fatalf("botctl %q: exit %d\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// tableRow returns the whitespace-separated fields of the first table
// line whose first field is first.
func tableRow(t *testing.T, out, first string) []string {
	t.Helper()
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		if len(f) > 0 && f[0] == first {
			return f
		}
	}
	t.Fatalf("no row %q in:\n%s", first, out)
	return nil
}

func TestStatus(t *testing.T) {
	s := newServer(t)
	out := mustRun(t, s.env(), "status")
	wantRows := [][]string{
		{"ROUTE", "MODE", "PERCENT", "SOURCE"},
		{"default", "shadow", "-", "policy"},
		{"login", "enforce", "-", "policy"},
		{"search", "canary", "5%", "policy"},
	}
	for _, want := range wantRows {
		if got := tableRow(t, out, want[0]); !slices.Equal(got, want) {
			t.Errorf("row %q, want %q", got, want)
		}
	}
	for _, want := range []string{"Kill switch:    none (live)", "Live state:     never changed", "Override file:  none"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}

	for _, args := range [][]string{{"-o", "json", "status"}, {"status", "-o", "json"}} {
		out := mustRun(t, s.env(), args...)
		var st admin.StateResponse
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatalf("botctl %q: %v\n%s", args, err, out)
		}
		if len(st.Routes) != 3 || st.Routes[2] != (admin.RouteState{Route: "search", Mode: "canary", Percent: 5, Source: "policy"}) {
			t.Errorf("botctl %q: routes %+v", args, st.Routes)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	s := newServer(t)
	e := s.env()

	out := mustRun(t, e, "mode", "login", "canary", "10", "--reason", "ramp up")
	if !strings.HasPrefix(out, "applied mode login canary 10% by ops (alice) at ") {
		t.Errorf("mode output %q", out)
	}
	if got := tableRow(t, mustRun(t, e, "status"), "login"); !slices.Equal(got, []string{"login", "canary", "10%", "live"}) {
		t.Errorf("login after mode: %q", got)
	}

	mustRun(t, e, "mode", "--default", "canary", "2.5%", "--reason", "everyone a little")
	st := mustRun(t, e, "status")
	if got := tableRow(t, st, "default"); !slices.Equal(got, []string{"default", "canary", "2.5%", "live-default"}) {
		t.Errorf("default after mode --default: %q", got)
	}
	if !strings.Contains(st, "Live default:   canary 2.5%") {
		t.Errorf("status lacks the live default:\n%s", st)
	}

	mustRun(t, e, "kill", "bypass", "--reason", "incident 42")
	st = mustRun(t, e, "status")
	if !strings.Contains(st, "Kill switch:    bypass (live)") {
		t.Errorf("status after kill:\n%s", st)
	}
	if got := tableRow(t, st, "search"); !slices.Equal(got, []string{"search", "bypass", "-", "kill"}) {
		t.Errorf("search after kill: %q", got)
	}

	// JSON output of a write is the audit entry.
	out = mustRun(t, e, "unkill", "--reason", "incident over", "-o", "json")
	var entry rollout.AuditEntry
	if err := json.Unmarshal([]byte(out), &entry); err != nil {
		t.Fatalf("unkill -o json: %v\n%s", err, out)
	}
	if entry.Change != "kill none" || entry.Before.Kill != rollout.KillBypass || entry.After.Kill != rollout.KillNone {
		t.Errorf("unkill entry %+v", entry)
	}

	mustRun(t, e, "mode", "login", "inherit", "--reason", "done")
	if got := tableRow(t, mustRun(t, e, "status"), "login"); !slices.Equal(got, []string{"login", "canary", "2.5%", "live-default"}) {
		t.Errorf("login after inherit: %q", got)
	}

	out = mustRun(t, e, "audit", "-n", "2")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "TIME") ||
		strings.Join(strings.Fields(lines[1])[1:], " ") != "ops (alice) mode login inherit done" ||
		strings.Join(strings.Fields(lines[2])[1:], " ") != "ops (alice) kill none incident over" {
		t.Errorf("audit -n 2:\n%s", out)
	}

	out = mustRun(t, e, "audit", "-o", "json")
	var a admin.AuditResponse
	if err := json.Unmarshal([]byte(out), &a); err != nil {
		t.Fatalf("audit -o json: %v\n%s", err, out)
	}
	var changes []string
	for _, e := range a.Entries {
		changes = append(changes, e.Change)
	}
	want := []string{"mode login inherit", "kill none", "kill bypass", "mode default canary 2.5%", "mode login canary 10%"}
	if !slices.Equal(changes, want) {
		t.Errorf("audit changes %q, want %q", changes, want)
	}
}

func TestExitCodes(t *testing.T) {
	s := newServer(t)
	closed := closedAddr(t)
	tests := []struct {
		name       string
		env        env
		args       []string
		want       int
		wantStderr string
	}{
		{name: "ok", args: []string{"status"}, want: exitOK},
		{name: "server down", env: env{"BOTCTL_ADDR": closed}, args: []string{"status"}, want: exitFailed, wantStderr: "request failed"},
		{name: "server down on write", args: []string{"-addr", closed, "kill", "shadow", "--reason", "r"}, want: exitFailed, wantStderr: "connection refused"},
		{name: "no command", args: nil, want: exitUsage, wantStderr: "missing command"},
		{name: "unknown command", args: []string{"restart"}, want: exitUsage, wantStderr: `unknown command "restart"`},
		{name: "unknown flag", args: []string{"status", "-verbose"}, want: exitUsage, wantStderr: "-verbose"},
		{name: "bad output", args: []string{"status", "-o", "yaml"}, want: exitUsage, wantStderr: "want table or json"},
		{name: "bad timeout", args: []string{"-timeout", "0s", "status"}, want: exitUsage, wantStderr: "timeout"},
		{name: "status with arguments", args: []string{"status", "login"}, want: exitUsage},
		{name: "mode missing reason", args: []string{"mode", "login", "enforce"}, want: exitUsage, wantStderr: "--reason is required"},
		{name: "mode blank reason", args: []string{"mode", "login", "enforce", "--reason", " "}, want: exitUsage, wantStderr: "--reason is required"},
		{name: "kill missing reason", args: []string{"kill", "bypass"}, want: exitUsage, wantStderr: "--reason is required"},
		{name: "unkill missing reason", args: []string{"unkill"}, want: exitUsage, wantStderr: "--reason is required"},
		{name: "bad percent", args: []string{"mode", "login", "canary", "101", "--reason", "r"}, want: exitUsage, wantStderr: `PERCENT "101"`},
		{name: "negative percent", args: []string{"mode", "login", "canary", "--reason", "r", "--", "-1"}, want: exitUsage, wantStderr: `PERCENT "-1"`},
		{name: "text percent", args: []string{"mode", "login", "canary", "ten", "--reason", "r"}, want: exitUsage, wantStderr: "PERCENT"},
		{name: "canary without percent", args: []string{"mode", "login", "canary", "--reason", "r"}, want: exitUsage, wantStderr: "needs a PERCENT"},
		{name: "percent with enforce", args: []string{"mode", "login", "enforce", "10", "--reason", "r"}, want: exitUsage, wantStderr: "only canary"},
		{name: "unknown mode", args: []string{"mode", "login", "enforcing", "--reason", "r"}, want: exitUsage, wantStderr: `unknown mode "enforcing"`},
		{name: "mode without route", args: []string{"mode", "--reason", "r"}, want: exitUsage, wantStderr: "missing ROUTE"},
		{name: "route and default", args: []string{"mode", "--default", "login", "enforce", "--reason", "r"}, want: exitUsage, wantStderr: "not both"},
		{name: "kill none", args: []string{"kill", "none", "--reason", "r"}, want: exitUsage, wantStderr: "shadow or bypass"},
		{name: "audit -n 0", args: []string{"audit", "-n", "0"}, want: exitUsage, wantStderr: "-n 0"},
		{name: "bad token", env: env{"BOTCTL_TOKEN": "wrong-secret-0123456789"}, args: []string{"status"}, want: exitRefused, wantStderr: "401 Unauthorized): invalid bearer token"},
		{name: "no token", env: env{"BOTCTL_TOKEN": ""}, args: []string{"status"}, want: exitRefused, wantStderr: "BOTCTL_TOKEN"},
		{name: "read-only token write", env: env{"BOTCTL_TOKEN": roSecret}, args: []string{"kill", "shadow", "--reason", "r"}, want: exitRefused, wantStderr: `token "dash" is read-only`},
		{name: "unknown route", args: []string{"mode", "checkout", "enforce", "--reason", "r"}, want: exitRefused, wantStderr: `unknown route "checkout" (known: default, login, search)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := s.env()
			for k, v := range tt.env {
				e[k] = v
			}
			r := botctl(t, e, tt.args...)
			if r.code != tt.want {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tt.want, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stderr, tt.wantStderr) {
				t.Errorf("stderr %q does not contain %q", r.stderr, tt.wantStderr)
			}
			if tt.want != exitOK && r.stdout != "" {
				t.Errorf("failure printed to stdout: %q", r.stdout)
			}
		})
	}
}

func TestStoreDown(t *testing.T) {
	s := newServer(t)
	if err := s.store.Close(); err != nil {
		t.Fatal(err)
	}
	r := botctl(t, s.env(), "kill", "shadow", "--reason", "r")
	if r.code != exitFailed || !strings.Contains(r.stderr, "503 Service Unavailable): live state store unavailable") {
		t.Errorf("exit %d, stderr %q; want 1 and the server's 503 message", r.code, r.stderr)
	}
}

// closedAddr returns the URL of a port nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return "http://" + addr
}

func TestEnvironmentAndActor(t *testing.T) {
	s := newServer(t)
	tests := []struct {
		name      string
		env       env
		args      []string
		wantActor string
	}{
		{name: "USER", args: []string{"unkill", "--reason", "r"}, wantActor: "ops (alice)"},
		{name: "BOTCTL_ACTOR", env: env{"BOTCTL_ACTOR": "bob"}, args: []string{"unkill", "--reason", "r"}, wantActor: "ops (bob)"},
		{name: "flag beats environment", env: env{"BOTCTL_ACTOR": "bob"}, args: []string{"unkill", "--reason", "r", "-actor", "carol"}, wantActor: "ops (carol)"},
		{name: "no actor", env: env{"USER": ""}, args: []string{"unkill", "--reason", "r"}, wantActor: "ops"},
		{name: "flags before and after", env: env{"BOTCTL_ADDR": "http://127.0.0.1:1", "BOTCTL_TOKEN": "x"}, args: []string{"-addr", s.url, "mode", "search", "-token", rwSecret, "enforce", "-reason", "r"}, wantActor: "ops (alice)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := s.env()
			for k, v := range tt.env {
				e[k] = v
			}
			out := mustRun(t, e, append(tt.args, "-o", "json")...)
			var entry rollout.AuditEntry
			if err := json.Unmarshal([]byte(out), &entry); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if entry.Actor != tt.wantActor {
				t.Errorf("actor %q, want %q", entry.Actor, tt.wantActor)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"help"}, {"mode", "-h"}, {"status", "--help"}} {
		r := botctl(t, env{}, args...)
		if r.code != exitOK || !strings.Contains(r.stdout, "Exit codes:") {
			t.Errorf("botctl %q: exit %d, stdout %q", args, r.code, r.stdout)
		}
	}
}

func TestParseInterspersed(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantPos    []string
		wantReason string
		wantDef    bool
	}{
		{name: "flags first", args: []string{"--reason", "x", "login", "enforce"}, wantPos: []string{"login", "enforce"}, wantReason: "x"},
		{name: "flags last", args: []string{"login", "enforce", "--reason", "x"}, wantPos: []string{"login", "enforce"}, wantReason: "x"},
		{name: "flags between", args: []string{"--default", "canary", "-reason=x y", "10"}, wantPos: []string{"canary", "10"}, wantReason: "x y", wantDef: true},
		{name: "double dash", args: []string{"login", "--", "--reason", "x"}, wantPos: []string{"login", "--reason", "x"}},
		{name: "none", args: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			reason := fs.String("reason", "", "")
			def := fs.Bool("default", false, "")
			pos, err := parseInterspersed(fs, tt.args)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(pos, tt.wantPos) || *reason != tt.wantReason || *def != tt.wantDef {
				t.Errorf("pos %q reason %q default %v, want %q %q %v", pos, *reason, *def, tt.wantPos, tt.wantReason, tt.wantDef)
			}
		})
	}
}

func TestClean(t *testing.T) {
	if got := clean("a\tb\x1b[31mc\nd"); got != "a b [31mc d" {
		t.Errorf("clean = %q", got)
	}
}

// TestVersion: botctl's version needs no server, so it must work with none
// (BOTCTL_ADDR points nowhere).
func TestVersion(t *testing.T) {
	e := env{"BOTCTL_ADDR": "http://127.0.0.1:1"}
	want := "botctl " + buildinfo.Version + " ("
	for _, args := range [][]string{{"-version"}, {"version"}} {
		if out := mustRun(t, e, args...); !strings.HasPrefix(out, want) {
			t.Errorf("botctl %s = %q, want it to start with %q", args[0], out, want)
		}
	}
}
