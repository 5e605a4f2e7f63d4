package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/botauthz/botauthz/extauthz"
	"github.com/botauthz/botauthz/policy"
	"github.com/botauthz/botauthz/rollout"
	"github.com/botauthz/botauthz/scoring"
)

// decisionLog returns a Recorder writing its decision log as JSON to the
// returned buffer.
func decisionLog(t *testing.T, opts RecorderOptions) (*Recorder, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	opts.DecisionLog = slog.New(slog.NewJSONHandler(&buf, nil))
	r, _ := newTestRecorder(t, opts)
	return r, &buf
}

// logLines parses the buffer's JSON lines.
func logLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("decision log line is not JSON: %v: %s", err, line)
		}
		lines = append(lines, m)
	}
	return lines
}

// curlHeaders score low: a library user agent without a browser's headers.
var curlHeaders = map[string]string{"user-agent": "curl/8.5.0", "accept": "*/*", "cookie": "session=s3cr3t-session-value"}

func TestDecisionLogWritesEveryField(t *testing.T) {
	r, buf := decisionLog(t, RecorderOptions{})
	d := scoredDecision(t, "default", policy.ModeShadow, curlHeaders)
	if d.Action == policy.ActionAllow || d.Enforced != policy.ActionAllow || len(d.Result.Reasons()) == 0 {
		t.Fatalf("fixture: want a shadow block with reasons, got action %s enforced %s reasons %v", d.Action, d.Enforced, d.Result.Reasons())
	}
	d.Degraded = true
	f := benchFacts()
	f.Headers = curlHeaders

	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:     trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
		TraceFlags: trace.FlagsSampled,
	})
	ctx := trace.ContextWithSpanContext(context.Background(), sc)
	r.ObserveCheck(ctx, d, f, 1500*time.Microsecond)

	lines := logLines(t, buf)
	if len(lines) != 1 {
		t.Fatalf("got %d decision log lines, want 1: %s", len(lines), buf)
	}
	line := lines[0]

	var wantReasons []any
	for _, x := range d.Result.Reasons() {
		wantReasons = append(wantReasons, map[string]any{"code": x.Code.String(), "weight": float64(x.Weight)})
	}
	tests := []struct {
		field string
		want  any
	}{
		{"msg", "decision"},
		{"level", "INFO"},
		{"request_id", f.RequestID},
		{"route", "default"},
		{"client_ip", "203.0.113.0"},
		{"method", "GET"},
		{"host", "shop.example"},
		{"path", "/login"},
		{"user_agent", "curl/8.5.0"},
		{"score", float64(d.Score)},
		{"band", d.Band.String()},
		{"reasons", wantReasons},
		{"challenge_below", float64(d.ChallengeBelow)},
		{"deny_below", float64(d.DenyBelow)},
		{"action", d.Action.String()},
		{"enforced_action", "allow"},
		{"mode", "shadow"},
		{"mode_source", "policy"},
		{"degraded", true},
		{"policy_version", "v7"},
		{"model", d.Model},
		{"elapsed_ms", 1.5},
		{"trace_id", sc.TraceID().String()},
		{"span_id", sc.SpanID().String()},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			got, ok := line[tt.field]
			if !ok {
				t.Fatalf("field missing from %v", line)
			}
			if g, w := mustJSON(t, got), mustJSON(t, tt.want); g != w {
				t.Errorf("got %s, want %s", g, w)
			}
		})
	}
	t.Run("no features by default", func(t *testing.T) {
		for _, k := range []string{"features", "feature_set"} {
			if v, ok := line[k]; ok {
				t.Errorf("%s = %v, but the policy did not ask for features", k, v)
			}
		}
	})
	t.Run("no credentials", func(t *testing.T) {
		if strings.Contains(buf.String(), "s3cr3t") || strings.Contains(buf.String(), "cookie") {
			t.Errorf("the decision log carries the cookie: %s", buf)
		}
	})
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDecisionLogSelection(t *testing.T) {
	allow := func(mode policy.Mode, score int) *extauthz.Decision {
		return &extauthz.Decision{Route: "login", Mode: mode, ModeSource: rollout.SourcePolicy, Score: score,
			Band: scoring.BandOf(score), Action: policy.ActionAllow, Enforced: policy.ActionAllow}
	}
	block := func(mode policy.Mode, action, enforced policy.Action) *extauthz.Decision {
		return &extauthz.Decision{Route: "login", Mode: mode, ModeSource: rollout.SourcePolicy, Score: 5,
			Band: scoring.BandOf(5), Action: action, Enforced: enforced}
	}
	tests := []struct {
		name   string
		sample float64
		d      *extauthz.Decision
		want   bool
	}{
		{"enforced deny", 0, block(policy.ModeEnforce, policy.ActionDeny, policy.ActionDeny), true},
		{"enforced challenge", 0, block(policy.ModeEnforce, policy.ActionChallenge, policy.ActionChallenge), true},
		{"rate limited", 0, block(policy.ModeEnforce, policy.ActionRateLimit, policy.ActionRateLimit), true},
		{"shadow deny", 0, block(policy.ModeShadow, policy.ActionDeny, policy.ActionAllow), true},
		{"canary challenge outside the canary", 0, block(policy.ModeShadow, policy.ActionChallenge, policy.ActionAllow), true},
		{"allow at sample 0", 0, allow(policy.ModeEnforce, 90), false},
		{"allow at sample 1", 1, allow(policy.ModeEnforce, 90), true},
		{"off mode at sample 0", 0, allow(policy.ModeOff, 0), false},
		{"kill switch bypass at sample 0", 0, allow(policy.ModeBypass, 0), false},
		{"kill switch bypass at sample 1", 1, allow(policy.ModeBypass, 0), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, buf := decisionLog(t, RecorderOptions{AllowSample: tt.sample})
			// Many times over, so that a sampling bug shows.
			const n = 50
			for range n {
				r.ObserveCheck(context.Background(), tt.d, benchFacts(), time.Millisecond)
			}
			want := 0
			if tt.want {
				want = n
			}
			if got := len(logLines(t, buf)); got != want {
				t.Errorf("logged %d of %d decisions, want %d", got, n, want)
			}
		})
	}
}

func TestDecisionLogTruncatesClientIP(t *testing.T) {
	tests := []struct {
		name string
		ip   string
		full bool
		want string
	}{
		{"IPv4 to its /24", "203.0.113.77", false, "203.0.113.0"},
		{"IPv6 to its /48", "2001:db8:abcd:12:34::1", false, "2001:db8:abcd::"},
		{"IPv4-mapped IPv6 as IPv4", "::ffff:203.0.113.77", false, "203.0.113.0"},
		{"full IPv4", "203.0.113.77", true, "203.0.113.77"},
		{"full IPv6", "2001:db8:abcd:12:34::1", true, "2001:db8:abcd:12:34::1"},
		{"unknown", "", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, buf := decisionLog(t, RecorderOptions{FullClientIP: tt.full})
			f := benchFacts()
			f.ClientIP = netip.Addr{}
			if tt.ip != "" {
				f.ClientIP = netip.MustParseAddr(tt.ip)
			}
			d := &extauthz.Decision{Route: "login", Action: policy.ActionDeny, Enforced: policy.ActionDeny, Mode: policy.ModeEnforce}
			r.ObserveCheck(context.Background(), d, f, time.Millisecond)
			lines := logLines(t, buf)
			if len(lines) != 1 {
				t.Fatalf("got %d lines, want 1", len(lines))
			}
			if got := lines[0]["client_ip"]; got != tt.want {
				t.Errorf("client_ip = %v, want %q", got, tt.want)
			}
		})
	}
}

func TestDecisionLogBoundsRequestText(t *testing.T) {
	long := strings.Repeat("a", 255) + "é" + strings.Repeat("b", 100) // é straddles byte 256
	tests := []struct {
		name, path, ua       string
		wantPath, wantPrefix string
		wantUALen            int
	}{
		{"query string dropped", "/search?q=secret&token=x", "ua", "/search", "ua", 2},
		{"fragment dropped", "/a#frag", "ua", "/a", "ua", 2},
		{"user agent cut at 256 bytes on a rune boundary", "/", long, "/", strings.Repeat("a", 255), 255},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, buf := decisionLog(t, RecorderOptions{})
			f := benchFacts()
			f.Path = tt.path
			f.Headers = map[string]string{"user-agent": tt.ua}
			d := &extauthz.Decision{Route: "login", Action: policy.ActionDeny, Enforced: policy.ActionDeny, Mode: policy.ModeEnforce}
			r.ObserveCheck(context.Background(), d, f, time.Millisecond)
			line := logLines(t, buf)[0]
			if got := line["path"]; got != tt.wantPath {
				t.Errorf("path = %v, want %q", got, tt.wantPath)
			}
			ua, _ := line["user_agent"].(string)
			if len(ua) != tt.wantUALen || !strings.HasPrefix(ua, tt.wantPrefix) {
				t.Errorf("user_agent = %q (%d bytes), want %d bytes starting %q", ua, len(ua), tt.wantUALen, tt.wantPrefix)
			}
		})
	}
}

func TestDecisionLogWithoutSpanHasNoTraceIDs(t *testing.T) {
	r, buf := decisionLog(t, RecorderOptions{})
	d := &extauthz.Decision{Route: "login", Action: policy.ActionDeny, Enforced: policy.ActionDeny, Mode: policy.ModeEnforce}
	r.ObserveCheck(context.Background(), d, benchFacts(), time.Millisecond)
	line := logLines(t, buf)[0]
	for _, k := range []string{"trace_id", "span_id"} {
		if v, ok := line[k]; ok {
			t.Errorf("%s = %v without a span", k, v)
		}
	}
}

func TestDecisionLogFeaturesWhenThePolicyAsks(t *testing.T) {
	// A script with a browser's name over HTTP/1.1 and without the rest of
	// a browser's headers: some model features fire.
	script := map[string]string{"user-agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36",
		"accept": "*/*", "accept-language": "en", "cookie": "session=s3cr3t-session-value"}
	tests := []struct {
		name    string
		headers map[string]string
		fired   bool
	}{
		{"features fired", script, true},
		{"a declared library: no feature of the model fires", map[string]string{"user-agent": "curl/8.5.0", "accept": "*/*", "accept-language": "en", "accept-encoding": "gzip"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, buf := decisionLog(t, RecorderOptions{AllowSample: 1})
			d := scoredDecision(t, "default", policy.ModeShadow, tt.headers)
			d.LogFeatures = true
			if fired := d.Result.Features != 0; fired != tt.fired {
				t.Fatalf("fixture: features %q, want some fired = %v", d.Result.Features, tt.fired)
			}
			f := benchFacts()
			f.Headers = tt.headers
			r.ObserveCheck(context.Background(), d, f, time.Millisecond)
			lines := logLines(t, buf)
			if len(lines) != 1 {
				t.Fatalf("got %d lines, want 1", len(lines))
			}
			line := lines[0]
			got, ok := line["features"].(string)
			if !ok {
				t.Fatalf("features = %#v, want a string", line["features"])
			}
			if want := d.Result.Features.String(); got != want {
				t.Errorf("features = %q, want %q", got, want)
			}
			if parsed, err := scoring.ParseFeatures(got); err != nil || parsed != d.Result.Features {
				t.Errorf("features %q read back as %v, %v; want %v", got, parsed, err, d.Result.Features)
			}
			if fs, ok := line["feature_set"].(float64); !ok || int(fs) != scoring.FeatureSet {
				t.Errorf("feature_set = %#v, want %d", line["feature_set"], scoring.FeatureSet)
			}
			if line["model"] != d.Model || d.Model == "" {
				t.Errorf("model = %#v, want %q", line["model"], d.Model)
			}
			// Names of features, never what the headers said.
			if strings.Contains(buf.String(), "s3cr3t") || strings.Contains(buf.String(), "accept-language") {
				t.Errorf("the decision log carries header values: %s", buf)
			}
		})
	}
}
