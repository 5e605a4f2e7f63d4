package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/botauthz/botauthz/policy"
	"github.com/botauthz/botauthz/rollout"
)

const (
	rwSecret = "rw-secret-0123456789"
	roSecret = "ro-secret-0123456789"
)

var testTokens = []Token{
	{Name: "ops", Secret: rwSecret, Write: true},
	{Name: "dash", Secret: roSecret},
}

var _ Rollout = (*rollout.Controller)(nil)

// fakeRollout stands in for *rollout.Controller: it applies changes with
// the real rollout.Change.Apply and can be told to fail like a store that
// is down.
type fakeRollout struct {
	mu    sync.Mutex
	view  rollout.View
	audit []rollout.AuditEntry
	fail  error
}

func (f *fakeRollout) View() *rollout.View {
	f.mu.Lock()
	defer f.mu.Unlock()
	v := f.view
	v.Live = v.Live.Clone()
	return &v
}

func (f *fakeRollout) Apply(_ context.Context, ch rollout.Change) (rollout.AuditEntry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return rollout.AuditEntry{}, f.fail
	}
	now := time.Now()
	next, err := ch.Apply(f.view.Live, now)
	if err != nil {
		return rollout.AuditEntry{}, err
	}
	e := rollout.AuditEntry{Time: now.UTC(), Actor: ch.Actor, Reason: ch.Reason, Change: ch.String(), Before: f.view.Live, After: next}
	f.view.Live = next
	f.audit = append([]rollout.AuditEntry{e}, f.audit...)
	return e, nil
}

func (f *fakeRollout) Audit(_ context.Context, limit int) ([]rollout.AuditEntry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	return append([]rollout.AuditEntry(nil), f.audit[:min(limit, len(f.audit))]...), nil
}

func (f *fakeRollout) setFail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = err
}

// testPolicy has the routes default (shadow), login (enforce) and search
// (canary 5%).
func testPolicy(t testing.TB) *policy.Policy {
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
		t.Fatalf("test policy: %v", err)
	}
	return p
}

// syncBuffer collects log output written from handler goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type fixture struct {
	rollout *fakeRollout
	handler http.Handler
	logs    *syncBuffer
}

func newFixture(t testing.TB, tokens []Token, anon bool) *fixture {
	t.Helper()
	p := testPolicy(t)
	f := &fixture{rollout: &fakeRollout{}, logs: &syncBuffer{}}
	f.handler = NewHandler(Options{
		Rollout:              f.rollout,
		Policy:               func() *policy.Policy { return p },
		Tokens:               tokens,
		AllowAnonymousWrites: anon,
		Logger:               slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	return f
}

// do sends a request to the handler; secret "" sends no Authorization.
func (f *fixture) do(t testing.TB, method, path, secret, body string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, path, rd)
	r.Host = "127.0.0.1:9090"
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	if secret != "" {
		r.Header.Set("Authorization", "Bearer "+secret)
	}
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	f.handler.ServeHTTP(w, r)
	return w
}

func decodeError(t testing.TB, w *httptest.ResponseRecorder) ErrorResponse {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var er ErrorResponse
	if err := json.Unmarshal(w.Body.Bytes(), &er); err != nil {
		t.Fatalf("error body %q: %v", w.Body, err)
	}
	if er.Error == "" {
		t.Errorf("error body %q has no message", w.Body)
	}
	return er
}

const killBody = `{"kill":"shadow","reason":"incident 42"}`

func TestAuth(t *testing.T) {
	tests := []struct {
		name      string
		tokens    []Token
		anon      bool
		host      string
		method    string
		path      string
		secret    string
		body      string
		want      int
		wantInMsg string
	}{
		{name: "no token read", tokens: testTokens, method: "GET", path: "/v1/state", want: 401},
		{name: "no token write", tokens: testTokens, method: "POST", path: "/v1/kill", body: killBody, want: 401},
		{name: "no token unknown path", tokens: testTokens, method: "GET", path: "/v1/nope", want: 401},
		{name: "wrong token read", tokens: testTokens, method: "GET", path: "/v1/state", secret: "wrong-secret-0123456789", want: 401},
		{name: "wrong token write", tokens: testTokens, method: "POST", path: "/v1/kill", secret: "x", body: killBody, want: 401},
		{name: "read-only token read", tokens: testTokens, method: "GET", path: "/v1/state", secret: roSecret, want: 200},
		{name: "read-only token audit", tokens: testTokens, method: "GET", path: "/v1/audit", secret: roSecret, want: 200},
		{name: "read-only token write", tokens: testTokens, method: "POST", path: "/v1/kill", secret: roSecret, body: killBody, want: 403, wantInMsg: "read-only"},
		{name: "read-write token write", tokens: testTokens, method: "POST", path: "/v1/kill", secret: rwSecret, body: killBody, want: 200},
		{name: "no tokens read", method: "GET", path: "/v1/state", want: 200},
		{name: "no tokens write", method: "POST", path: "/v1/kill", body: killBody, want: 403, wantInMsg: "configure"},
		{name: "no tokens write with a token", method: "POST", path: "/v1/kill", secret: rwSecret, body: killBody, want: 403},
		{name: "anonymous writes", anon: true, method: "POST", path: "/v1/kill", body: killBody, want: 200},
		{name: "anonymous writes localhost", anon: true, host: "localhost:9090", method: "POST", path: "/v1/kill", body: killBody, want: 200},
		{name: "anonymous writes IPv6 loopback", anon: true, host: "[::1]:9090", method: "POST", path: "/v1/kill", body: killBody, want: 200},
		{name: "anonymous writes rebound host", anon: true, host: "evil.example:9090", method: "POST", path: "/v1/kill", body: killBody, want: 403, wantInMsg: "loopback"},
		{name: "lower-case scheme", tokens: testTokens, method: "GET", path: "/v1/state", secret: roSecret, want: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.tokens, tt.anon)
			var rd io.Reader
			if tt.body != "" {
				rd = strings.NewReader(tt.body)
			}
			r := httptest.NewRequest(tt.method, tt.path, rd)
			r.Host = "127.0.0.1:9090"
			if tt.host != "" {
				r.Host = tt.host
			}
			r.Header.Set("Content-Type", "application/json")
			if tt.secret != "" {
				scheme := "Bearer "
				if tt.name == "lower-case scheme" {
					scheme = "bearer "
				}
				r.Header.Set("Authorization", scheme+tt.secret)
			}
			w := httptest.NewRecorder()
			f.handler.ServeHTTP(w, r)
			if w.Code != tt.want {
				t.Fatalf("status = %d, want %d; body %s", w.Code, tt.want, w.Body)
			}
			if tt.want == 401 && !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate = %q, want Bearer", w.Header().Get("WWW-Authenticate"))
			}
			if tt.want >= 400 {
				er := decodeError(t, w)
				if !strings.Contains(er.Error, tt.wantInMsg) {
					t.Errorf("error %q does not mention %q", er.Error, tt.wantInMsg)
				}
			}
			for _, s := range []string{rwSecret, roSecret, "wrong-secret"} {
				if strings.Contains(w.Body.String(), s) || strings.Contains(f.logs.String(), s) {
					t.Errorf("secret %q leaked into the answer or the logs", s)
				}
			}
		})
	}
}

func TestValidation(t *testing.T) {
	tests := []struct {
		name      string
		method    string
		path      string
		body      string
		noCT      bool
		want      int
		wantField string
		wantInMsg string
	}{
		{name: "malformed JSON", path: "/v1/mode", body: `{"route": "login",`, want: 400, wantInMsg: "malformed"},
		{name: "not an object", path: "/v1/mode", body: `[1]`, want: 400},
		{name: "empty body", path: "/v1/kill", body: "", want: 400, wantInMsg: "empty"},
		{name: "trailing data", path: "/v1/unkill", body: `{"reason":"x"} {"reason":"y"}`, want: 400, wantInMsg: "trailing"},
		{name: "unknown field", path: "/v1/mode", body: `{"route":"login","mode":"enforce","reason":"r","force":true}`, want: 400, wantField: "force"},
		{name: "duplicate kill", path: "/v1/kill", body: `{"kill":"shadow","kill":"bypass","reason":"r"}`, want: 400, wantField: "kill", wantInMsg: `duplicate field "kill"`},
		{name: "duplicate reason", path: "/v1/unkill", body: `{"reason":"a","reason":"b"}`, want: 400, wantField: "reason", wantInMsg: "duplicate"},
		{name: "duplicate in another case", path: "/v1/kill", body: `{"kill":"shadow","KILL":"bypass","reason":"r"}`, want: 400, wantField: "KILL", wantInMsg: `duplicate field "KILL" (same field as "kill")`},
		{name: "duplicate default", path: "/v1/mode", body: `{"default":false,"mode":"enforce","reason":"r","default":true}`, want: 400, wantField: "default", wantInMsg: "duplicate"},
		{name: "duplicate with escapes", path: "/v1/kill", body: `{"kill":"shadow","\u006bill":"bypass","reason":"r"}`, want: 400, wantField: "kill", wantInMsg: "duplicate"},
		{name: "wrong type", path: "/v1/mode", body: `{"route":"login","mode":"canary","percent":"ten","reason":"r"}`, want: 400, wantField: "percent"},
		{name: "unknown mode", path: "/v1/mode", body: `{"route":"login","mode":"enforcing","reason":"r"}`, want: 400, wantField: "mode", wantInMsg: "enforcing"},
		{name: "bypass mode", path: "/v1/mode", body: `{"route":"login","mode":"bypass","reason":"r"}`, want: 400, wantField: "mode"},
		{name: "missing mode", path: "/v1/mode", body: `{"route":"login","reason":"r"}`, want: 400, wantField: "mode"},
		{name: "percent 101", path: "/v1/mode", body: `{"route":"login","mode":"canary","percent":101,"reason":"r"}`, want: 400, wantField: "percent", wantInMsg: "101"},
		{name: "percent -1", path: "/v1/mode", body: `{"route":"login","mode":"canary","percent":-1,"reason":"r"}`, want: 400, wantField: "percent", wantInMsg: "-1"},
		{name: "canary without percent", path: "/v1/mode", body: `{"route":"login","mode":"canary","reason":"r"}`, want: 400, wantField: "percent"},
		{name: "percent with enforce", path: "/v1/mode", body: `{"route":"login","mode":"enforce","percent":10,"reason":"r"}`, want: 400, wantField: "percent"},
		{name: "percent 0 with enforce", path: "/v1/mode", body: `{"route":"login","mode":"enforce","percent":0,"reason":"r"}`, want: 400, wantField: "percent"},
		{name: "percent with inherit", path: "/v1/mode", body: `{"route":"login","mode":"inherit","percent":10,"reason":"r"}`, want: 400, wantField: "percent"},
		{name: "missing reason", path: "/v1/mode", body: `{"route":"login","mode":"enforce"}`, want: 400, wantField: "reason"},
		{name: "blank reason", path: "/v1/kill", body: `{"kill":"bypass","reason":"  "}`, want: 400, wantField: "reason"},
		{name: "unkill without reason", path: "/v1/unkill", body: `{}`, want: 400, wantField: "reason"},
		{name: "huge reason", path: "/v1/unkill", body: `{"reason":"` + strings.Repeat("x", 2000) + `"}`, want: 400, wantField: "reason"},
		{name: "route and default", path: "/v1/mode", body: `{"route":"login","default":true,"mode":"enforce","reason":"r"}`, want: 400, wantField: "route", wantInMsg: "not both"},
		{name: "neither route nor default", path: "/v1/mode", body: `{"mode":"enforce","reason":"r"}`, want: 400, wantField: "route"},
		{name: "unknown route", path: "/v1/mode", body: `{"route":"checkout","mode":"enforce","reason":"r"}`, want: 400, wantField: "route", wantInMsg: `"checkout" (known: default, login, search)`},
		{name: "kill none", path: "/v1/kill", body: `{"kill":"none","reason":"r"}`, want: 400, wantField: "kill", wantInMsg: "unkill"},
		{name: "kill unknown", path: "/v1/kill", body: `{"kill":"everything","reason":"r"}`, want: 400, wantField: "kill"},
		{name: "audit limit 0", method: "GET", path: "/v1/audit?limit=0", want: 400, wantField: "limit"},
		{name: "audit limit 1001", method: "GET", path: "/v1/audit?limit=1001", want: 400, wantField: "limit"},
		{name: "audit limit text", method: "GET", path: "/v1/audit?limit=all", want: 400, wantField: "limit"},
		{name: "wrong method read", method: "POST", path: "/v1/state", body: `{}`, want: 405},
		{name: "wrong method write", method: "GET", path: "/v1/kill", want: 405},
		{name: "wrong method delete", method: "DELETE", path: "/v1/mode", want: 405},
		{name: "unknown path", method: "GET", path: "/v1/nope", want: 404},
		{name: "no content type", path: "/v1/unkill", body: `{"reason":"r"}`, noCT: true, want: 415},
		{name: "body too large", path: "/v1/unkill", body: `{"reason":"` + strings.Repeat("x", 70<<10) + `"}`, want: 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, testTokens, false)
			method := tt.method
			if method == "" {
				method = "POST"
			}
			r := httptest.NewRequest(method, tt.path, strings.NewReader(tt.body))
			if !tt.noCT {
				r.Header.Set("Content-Type", "application/json; charset=utf-8")
			}
			r.Header.Set("Authorization", "Bearer "+rwSecret)
			w := httptest.NewRecorder()
			f.handler.ServeHTTP(w, r)
			if w.Code != tt.want {
				t.Fatalf("status = %d, want %d; body %s", w.Code, tt.want, w.Body)
			}
			er := decodeError(t, w)
			if er.Field != tt.wantField {
				t.Errorf("field = %q, want %q (error %q)", er.Field, tt.wantField, er.Error)
			}
			if !strings.Contains(er.Error, tt.wantInMsg) {
				t.Errorf("error %q does not mention %q", er.Error, tt.wantInMsg)
			}
			if tt.want == 405 && w.Header().Get("Allow") == "" {
				t.Error("405 without an Allow header")
			}
			if got := f.rollout.View().Live.Version; got != 0 {
				t.Errorf("refused request changed the state to version %d", got)
			}
			if method == "POST" && !strings.Contains(f.logs.String(), "level=WARN") {
				t.Errorf("refused write not logged as a warning; logs:\n%s", f.logs)
			}
		})
	}
}

func TestDuplicateKey(t *testing.T) {
	tests := []struct {
		name, body, wantPath, wantFirst string
	}{
		{"none", `{"kill":"shadow","reason":"r"}`, "", ""},
		{"scalar", `"x"`, "", ""},
		{"empty object", `{}`, "", ""},
		{"top level", `{"kill":"shadow","kill":"bypass"}`, "kill", "kill"},
		{"folded case", `{"Reason":"a","rEASON":"b"}`, "rEASON", "Reason"},
		{"Kelvin sign folds to k", `{"kill":"shadow","\u212aill":"bypass"}`, "\u212aill", "kill"},
		{"escaped spelling", `{"a":1,"\u0061":2}`, "a", "a"},
		{"nested object", `{"a":{"b":1,"c":2,"b":3}}`, "a.b", "b"},
		{"object in an array", `{"a":[1,{"b":1,"b":2}]}`, "a.b", "b"},
		{"top-level array", `[{"b":1},{"b":2,"b":3}]`, "b", "b"},
		{"same key in sibling objects", `{"a":{"x":1},"b":{"x":1},"c":[{"x":1},{"x":2}]}`, "", ""},
		{"same key at two levels", `{"a":{"a":{"a":1}}}`, "", ""},
		{"key repeated as a value", `{"a":"a","b":["a","b"]}`, "", ""},
		{"after a closed object", `{"a":{"b":1},"c":2,"a":3}`, "a", "a"},
		{"huge number", `{"a":1e999,"b":1e999}`, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := duplicateKey(strings.NewReader(tt.body))
			var de *duplicateKeyError
			switch {
			case tt.wantPath == "" && err != nil:
				t.Errorf("duplicateKey(%s) = %v, want nil", tt.body, err)
			case tt.wantPath == "":
			case !errors.As(err, &de):
				t.Errorf("duplicateKey(%s) = %v, want a duplicate at %q", tt.body, err, tt.wantPath)
			case de.path != tt.wantPath || de.first != tt.wantFirst:
				t.Errorf("duplicateKey(%s) = path %q first %q, want %q, %q", tt.body, de.path, de.first, tt.wantPath, tt.wantFirst)
			}
		})
	}
}

func TestDuplicateKeyTruncated(t *testing.T) {
	for _, body := range []string{``, `{"a":1,`, `[{"a":1}`, `{"a"`} {
		if err := duplicateKey(strings.NewReader(body)); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("duplicateKey(%q) = %v, want io.ErrUnexpectedEOF", body, err)
		}
	}
}

func TestStoreFailure(t *testing.T) {
	tests := []struct {
		name   string
		method string
		path   string
		body   string
	}{
		{name: "mode", method: "POST", path: "/v1/mode", body: `{"default":true,"mode":"shadow","reason":"r"}`},
		{name: "kill", method: "POST", path: "/v1/kill", body: killBody},
		{name: "unkill", method: "POST", path: "/v1/unkill", body: `{"reason":"r"}`},
		{name: "audit", method: "GET", path: "/v1/audit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, testTokens, false)
			f.rollout.setFail(errors.New("redis: connection refused"))
			w := f.do(t, tt.method, tt.path, rwSecret, tt.body)
			if w.Code != http.StatusServiceUnavailable {
				t.Fatalf("status = %d, want 503; body %s", w.Code, w.Body)
			}
			er := decodeError(t, w)
			if !strings.Contains(er.Error, "live state store unavailable: redis: connection refused") {
				t.Errorf("error = %q", er.Error)
			}
			if !strings.Contains(f.logs.String(), "level=ERROR") {
				t.Errorf("store failure not logged as an error; logs:\n%s", f.logs)
			}
		})
	}
}

// TestApplyValidationError checks that a validation error the controller
// reports (rather than the handler) is a 400, not a store failure.
func TestApplyValidationError(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		wantField string
	}{
		{name: "no reason", err: rollout.ErrNoReason, wantField: "reason"},
		{name: "wrapped no reason", err: errors.Join(errors.New("apply"), rollout.ErrNoReason), wantField: "reason"},
		{name: "percent", err: errors.New("percent: 200 out of range 0-100"), wantField: "percent"},
		{name: "mode", err: errors.New(`mode: "x" is not off, shadow, canary or enforce`), wantField: "mode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, testTokens, false)
			f.rollout.setFail(tt.err)
			w := f.do(t, "POST", "/v1/unkill", rwSecret, `{"reason":"r"}`)
			if w.Code != http.StatusBadRequest {
				t.Fatalf("status = %d, want 400; body %s", w.Code, w.Body)
			}
			if er := decodeError(t, w); er.Field != tt.wantField {
				t.Errorf("field = %q, want %q", er.Field, tt.wantField)
			}
		})
	}
}

func TestStateView(t *testing.T) {
	f := newFixture(t, nil, false)
	f.rollout.view = rollout.View{
		Live: rollout.State{
			Version: 7,
			Default: &rollout.Setting{Mode: policy.ModeEnforce},
			Routes:  map[string]rollout.Setting{"login": {Mode: policy.ModeCanary, Percent: 12.5}},
		},
		File:      &rollout.State{Routes: map[string]rollout.Setting{"search": {Mode: policy.ModeOff}}},
		FileError: "override.yaml: line 3: unknown key",
	}
	w := f.do(t, "GET", "/v1/state", "", "")
	if w.Code != 200 {
		t.Fatalf("status = %d; body %s", w.Code, w.Body)
	}
	var got StateResponse
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := []RouteState{
		{Route: "default", Mode: "enforce", Source: "live-default"},
		{Route: "login", Mode: "canary", Percent: 12.5, Source: "live"},
		{Route: "search", Mode: "off", Source: "override-file"},
	}
	if got.Kill != rollout.KillNone || got.KillSource != "live" {
		t.Errorf("kill = %v from %q, want none from live", got.Kill, got.KillSource)
	}
	if got.OverrideFile == nil || got.OverrideFileError != "override.yaml: line 3: unknown key" || got.Live.Version != 7 {
		t.Errorf("state = %+v", got)
	}
	if len(got.Routes) != len(want) {
		t.Fatalf("routes = %+v, want %+v", got.Routes, want)
	}
	for i := range want {
		if got.Routes[i] != want[i] {
			t.Errorf("routes[%d] = %+v, want %+v", i, got.Routes[i], want[i])
		}
	}

	// A kill switch in the override file wins, and says so.
	f.rollout.view.File.Kill = rollout.KillBypass
	w = f.do(t, "GET", "/v1/state", "", "")
	got = StateResponse{}
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Kill != rollout.KillBypass || got.KillSource != "override-file" {
		t.Errorf("kill = %v from %q, want bypass from override-file", got.Kill, got.KillSource)
	}

	// A weaker kill switch in the file cannot weaken the live one, and the
	// source says which applies.
	f.rollout.view.File.Kill = rollout.KillShadow
	f.rollout.view.Live.Kill = rollout.KillBypass
	w = f.do(t, "GET", "/v1/state", "", "")
	got = StateResponse{}
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Kill != rollout.KillBypass || got.KillSource != "live" {
		t.Errorf("file shadow under live bypass: kill = %v from %q, want bypass from live", got.Kill, got.KillSource)
	}
	f.rollout.view.Live.Kill = rollout.KillNone
	f.rollout.view.File.Kill = rollout.KillBypass
	for _, r := range got.Routes {
		if r.Mode != "bypass" || r.Source != "kill" {
			t.Errorf("route %+v, want bypass from kill", r)
		}
	}
}

func TestStateWithoutFile(t *testing.T) {
	f := newFixture(t, nil, false)
	w := f.do(t, "GET", "/v1/state", "", "")
	var raw map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	if v, ok := raw["override_file"]; !ok || v != nil {
		t.Errorf("override_file = %v (present %v), want null", v, ok)
	}
	if w.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", w.Header().Get("Cache-Control"))
	}
}

func TestActor(t *testing.T) {
	tests := []struct {
		name   string
		header string
		want   string
	}{
		{name: "none", want: "ops"},
		{name: "person", header: "alice", want: "ops (alice)"},
		{name: "spaces trimmed", header: "  Alice Smith ", want: "ops (Alice Smith)"},
		{name: "too long", header: strings.Repeat("a", 65), want: "ops"},
		{name: "control character", header: "alice\x1b[31m", want: "ops"},
		{name: "unicode", header: "zoë", want: "ops (zoë)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, testTokens, false)
			w := f.do(t, "POST", "/v1/kill", rwSecret, killBody, ActorHeader, tt.header)
			if w.Code != 200 {
				t.Fatalf("status = %d; body %s", w.Code, w.Body)
			}
			var e rollout.AuditEntry
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
				t.Fatal(err)
			}
			if e.Actor != tt.want {
				t.Errorf("actor = %q, want %q", e.Actor, tt.want)
			}
		})
	}
}

// TestRoundTrip changes the state through the API and reads it back, with
// the fake and with the real controller over a memory store.
func TestRoundTrip(t *testing.T) {
	f := newFixture(t, testTokens, false)
	roundTrip(t, f.handler, f.logs)
}

func TestRoundTripController(t *testing.T) {
	ctl := startController(t)
	p := testPolicy(t)
	logs := &syncBuffer{}
	h := NewHandler(Options{
		Rollout: ctl,
		Policy:  func() *policy.Policy { return p },
		Tokens:  testTokens,
		Logger:  slog.New(slog.NewTextHandler(logs, nil)),
	})
	roundTrip(t, h, logs)
}

// startController starts a real rollout.Controller over a memory store,
// stopped when the test ends.
func startController(t *testing.T) *rollout.Controller {
	t.Helper()
	store := rollout.NewMemoryStore(0)
	ctl := rollout.NewController(rollout.ControllerOptions{Store: store})
	ctx, cancel := context.WithCancel(context.Background())
	if err := ctl.Start(ctx); err != nil {
		cancel()
		t.Fatalf("start controller: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		ctl.Wait()
		_ = store.Close()
	})
	return ctl
}

func roundTrip(t *testing.T, h http.Handler, logs *syncBuffer) {
	t.Helper()
	f := &fixture{handler: h}
	post := func(path, body string) rollout.AuditEntry {
		t.Helper()
		w := f.do(t, "POST", path, rwSecret, body, ActorHeader, "alice")
		if w.Code != 200 {
			t.Fatalf("POST %s %s: status %d; body %s", path, body, w.Code, w.Body)
		}
		var e rollout.AuditEntry
		if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		if e.Actor != "ops (alice)" {
			t.Errorf("actor = %q, want %q", e.Actor, "ops (alice)")
		}
		return e
	}
	state := func() StateResponse {
		t.Helper()
		w := f.do(t, "GET", "/v1/state", roSecret, "")
		if w.Code != 200 {
			t.Fatalf("GET /v1/state: status %d; body %s", w.Code, w.Body)
		}
		var s StateResponse
		if err := json.Unmarshal(w.Body.Bytes(), &s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	route := func(s StateResponse, name string) RouteState {
		t.Helper()
		for _, r := range s.Routes {
			if r.Route == name {
				return r
			}
		}
		t.Fatalf("route %s missing from %+v", name, s.Routes)
		return RouteState{}
	}

	if got := route(state(), "search"); got != (RouteState{Route: "search", Mode: "canary", Percent: 5, Source: "policy"}) {
		t.Errorf("search before = %+v", got)
	}
	e := post("/v1/mode", `{"route":"login","mode":"canary","percent":10,"reason":"ramp up"}`)
	if e.Change != "mode login canary 10%" || e.Reason != "ramp up" {
		t.Errorf("entry = %+v", e)
	}
	if got := route(state(), "login"); got != (RouteState{Route: "login", Mode: "canary", Percent: 10, Source: "live"}) {
		t.Errorf("login after mode = %+v", got)
	}
	post("/v1/mode", `{"default":true,"mode":"off","reason":"quiet night"}`)
	if got := route(state(), "search"); got != (RouteState{Route: "search", Mode: "off", Source: "live-default"}) {
		t.Errorf("search after default = %+v", got)
	}
	post("/v1/kill", `{"kill":"bypass","reason":"incident 42"}`)
	s := state()
	if s.Kill != rollout.KillBypass || s.KillSource != "live" || route(s, "login").Mode != "bypass" {
		t.Errorf("after kill: kill %v from %s, login %+v", s.Kill, s.KillSource, route(s, "login"))
	}
	post("/v1/unkill", `{"reason":"incident over"}`)
	post("/v1/mode", `{"route":"login","mode":"inherit","reason":"done"}`)
	post("/v1/mode", `{"default":true,"mode":"inherit","reason":"done"}`)
	s = state()
	if s.Kill != rollout.KillNone || route(s, "login") != (RouteState{Route: "login", Mode: "enforce", Source: "policy"}) {
		t.Errorf("after unkill and inherit: kill %v, login %+v", s.Kill, route(s, "login"))
	}

	w := f.do(t, "GET", "/v1/audit?limit=3", roSecret, "")
	if w.Code != 200 {
		t.Fatalf("GET /v1/audit: status %d; body %s", w.Code, w.Body)
	}
	var a AuditResponse
	if err := json.Unmarshal(w.Body.Bytes(), &a); err != nil {
		t.Fatal(err)
	}
	var changes []string
	for _, e := range a.Entries {
		changes = append(changes, e.Change)
		if e.Actor != "ops (alice)" {
			t.Errorf("audit actor = %q, want %q", e.Actor, "ops (alice)")
		}
	}
	want := []string{"mode default inherit", "mode login inherit", "kill none"}
	if strings.Join(changes, "|") != strings.Join(want, "|") {
		t.Errorf("audit = %q, want %q", changes, want)
	}
	if logs != nil {
		out := logs.String()
		if !strings.Contains(out, "rollout change applied") || !strings.Contains(out, `change="kill bypass"`) {
			t.Errorf("accepted changes not logged:\n%s", out)
		}
		if strings.Contains(out, rwSecret) || strings.Contains(out, roSecret) {
			t.Error("secret in the logs")
		}
	}
}

func TestAuditEmpty(t *testing.T) {
	f := newFixture(t, nil, false)
	w := f.do(t, "GET", "/v1/audit", "", "")
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"entries": []`) {
		t.Errorf("status %d, body %s; want 200 with an empty list", w.Code, w.Body)
	}
}

func TestPolicyFallback(t *testing.T) {
	h := NewHandler(Options{Rollout: &fakeRollout{}})
	r := httptest.NewRequest("GET", "/v1/state", nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var s StateResponse
	if err := json.Unmarshal(w.Body.Bytes(), &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Routes) != 1 || s.Routes[0].Route != policy.DefaultRoute {
		t.Errorf("routes = %+v, want the default policy's", s.Routes)
	}
}
