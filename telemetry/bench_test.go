package telemetry

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/botauthz/botauthz/extauthz"
	"github.com/botauthz/botauthz/policy"
	"github.com/botauthz/botauthz/rollout"
	"github.com/botauthz/botauthz/scoring"
)

// benchFacts is a browser-like request as readFacts would leave it.
func benchFacts() *extauthz.Facts {
	return &extauthz.Facts{
		HTTP:      true,
		ClientIP:  netip.MustParseAddr("203.0.113.77"),
		Method:    "GET",
		Scheme:    "https",
		Host:      "shop.example",
		Path:      "/login?next=%2Faccount",
		Route:     "login",
		RequestID: "4bf92f35-77b3-4da6-a3ce-929d0e0e4736",
		Headers: map[string]string{
			"user-agent": "curl/8.5.0",
			"accept":     "*/*",
			"cookie":     "session=s3cr3t-session-value",
		},
	}
}

// benchDecision is an enforced allow of a likely human on route.
func benchDecision(route, model string) *extauthz.Decision {
	return &extauthz.Decision{
		Route: route, Mode: policy.ModeEnforce, ModeSource: rollout.SourcePolicy,
		Score: 87, Band: scoring.LikelyHuman, Action: policy.ActionAllow, Enforced: policy.ActionAllow,
		ChallengeBelow: 30, DenyBelow: 2, Model: model,
	}
}

func benchRecorder(b *testing.B, log *slog.Logger) *Recorder {
	b.Helper()
	clearOTelEnv(b)
	p, err := Setup(context.Background(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = p.Shutdown(context.Background()) })
	r, err := NewRecorder(RecorderOptions{MeterProvider: p.MeterProvider(), DecisionLog: log})
	if err != nil {
		b.Fatal(err)
	}
	return r
}

// BenchmarkObserveCheck is the common case: an enforced allow, not logged.
func BenchmarkObserveCheck(b *testing.B) {
	r := benchRecorder(b, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	d := benchDecision("login", "lr-1a2b3c4d")
	f := benchFacts()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		r.ObserveCheck(ctx, d, f, 80*time.Microsecond)
	}
}

// BenchmarkObserveCheckLogged is a shadow deny: metrics plus a decision
// log line through slog's JSON handler.
func BenchmarkObserveCheckLogged(b *testing.B) {
	r := benchRecorder(b, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	d := scoredDecision(b, "login", policy.ModeShadow, benchFacts().Headers)
	f := benchFacts()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		r.ObserveCheck(ctx, d, f, 80*time.Microsecond)
	}
}
