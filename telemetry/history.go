package telemetry

import (
	"context"
	"log/slog"
	"math"

	"github.com/botauthz/botauthz/extauthz"
)

// historyResults are the history writes metric's result labels, in the
// order of Recorder.historyOpts.
var historyResults = [...]string{"ok", "error", "dropped"}

// HistoryWritten counts a history record written, or failed
// (history.Observer).
func (r *Recorder) HistoryWritten(err error) {
	opt := r.historyOpts[0]
	if err != nil {
		opt = r.historyOpts[1]
	}
	r.historyWrites.Add(context.Background(), 1, opt)
}

// HistoryDropped counts a history record dropped because the writer's
// queue was full (history.Observer).
func (r *Recorder) HistoryDropped() {
	r.historyWrites.Add(context.Background(), 1, r.historyOpts[2])
}

// historyGroup is the decision log's history group: the decayed counts
// behind the history and session features, when any is not zero.
func historyGroup(d *extauthz.Decision) (slog.Attr, bool) {
	h := &d.History
	if !h.Known || h.Denied == 0 && h.RateLimited == 0 && h.ChallengeFailed == 0 && h.SessionNetworks == 0 && h.NewSessions == 0 && h.ReturningSessions == 0 {
		return slog.Attr{}, false
	}
	return slog.Attr{Key: "history", Value: slog.GroupValue(
		slog.Float64("denied", round2(h.Denied)),
		slog.Float64("ratelimited", round2(h.RateLimited)),
		slog.Float64("challenge_failed", round2(h.ChallengeFailed)),
		slog.Float64("session_networks", round2(h.SessionNetworks)),
		slog.Float64("new_sessions", round2(h.NewSessions)),
		slog.Float64("returning_sessions", round2(h.ReturningSessions)),
	)}, true
}

// round2 keeps two decimals: a decayed count's further digits are noise
// in a log line.
func round2(x float64) float64 { return math.Round(x*100) / 100 }
