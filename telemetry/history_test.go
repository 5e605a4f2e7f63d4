package telemetry

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/botauthz/botauthz/extauthz"
	"github.com/botauthz/botauthz/history"
	"github.com/botauthz/botauthz/policy"
)

func TestRecorderCountsHistoryWrites(t *testing.T) {
	r, p := newTestRecorder(t, RecorderOptions{})
	var _ history.Observer = r
	if diff := mapDiff(scrape(t, p.MetricsHandler()).values("botauthz_history_writes_total"), map[string]float64{
		"result=ok": 0, "result=error": 0, "result=dropped": 0}); diff != "" {
		t.Errorf("before any record, every result at zero:%s", diff)
	}
	r.HistoryWritten(nil)
	r.HistoryWritten(nil)
	r.HistoryWritten(errors.New("store down"))
	r.HistoryDropped()
	if diff := mapDiff(scrape(t, p.MetricsHandler()).values("botauthz_history_writes_total"), map[string]float64{
		"result=ok": 2, "result=error": 1, "result=dropped": 1}); diff != "" {
		t.Errorf("writes:%s", diff)
	}
}

func TestDecisionLogCarriesHistory(t *testing.T) {
	var buf bytes.Buffer
	r, _ := newTestRecorder(t, RecorderOptions{DecisionLog: slog.New(slog.NewJSONHandler(&buf, nil)), AllowSample: 1})
	d := scoredDecision(t, "default", policy.ModeEnforce, nil)
	d.History = history.Reading{Known: true, Denied: 2.3456, RateLimited: 11, SessionNetworks: 1}
	r.ObserveCheck(context.Background(), d, &extauthz.Facts{}, time.Millisecond)
	stranger := scoredDecision(t, "default", policy.ModeEnforce, nil)
	stranger.History = history.Reading{Known: true}
	r.ObserveCheck(context.Background(), stranger, &extauthz.Facts{}, time.Millisecond)
	lines := logLines(t, &buf)
	got, _ := lines[0]["history"].(map[string]any)
	if got["denied"] != 2.35 || got["ratelimited"] != float64(11) || got["challenge_failed"] != float64(0) || got["session_networks"] != float64(1) {
		t.Errorf("history = %v", got)
	}
	if _, ok := lines[1]["history"]; ok {
		t.Errorf("a stranger's decision carries a history group: %v", lines[1])
	}
}
