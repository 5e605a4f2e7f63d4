package telemetry

import (
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/trace"

	"github.com/botauthz/botauthz/crawler"
	"github.com/botauthz/botauthz/extauthz"
	"github.com/botauthz/botauthz/policy"
	"github.com/botauthz/botauthz/scoring"
)

// Lengths past which request text is cut in the decision log, so that a
// client cannot make one log line arbitrarily large.
const (
	maxUserAgentLog = 256
	maxHostLog      = 256
	maxPathLog      = 1024
)

// logReason is one fired signal as the decision log writes it.
type logReason struct {
	Code   string `json:"code"`
	Weight int    `json:"weight"`
}

// logDecision writes the decision log line of d. It never writes the
// cookie header or the session value: they are credentials. With the
// policy's decision_log.features on (d.LogFeatures) it adds the feature
// vector: the names of the features that fired and the feature set, never
// a header's value.
func (r *Recorder) logDecision(ctx context.Context, d *extauthz.Decision, f *extauthz.Facts, elapsed time.Duration) {
	if f == nil {
		f = &extauthz.Facts{}
	}
	// A fresh slice: d.Result's reasons are reused for the next Check, and
	// a handler may keep the record past this call.
	reasons := d.Result.Reasons()
	logged := make([]logReason, len(reasons))
	for i, x := range reasons {
		logged[i] = logReason{Code: x.Code.String(), Weight: x.Weight}
	}

	var buf [32]slog.Attr
	attrs := append(buf[:0],
		slog.String("request_id", f.RequestID),
		slog.String("route", d.Route),
		slog.String("client_ip", logClientIP(f.ClientIP, r.fullClientIP)),
		slog.String("method", f.Method),
		slog.String("host", truncate(f.Host, maxHostLog)),
		slog.String("path", truncate(pathOnly(f.Path), maxPathLog)),
		slog.String("user_agent", truncate(f.Headers["user-agent"], maxUserAgentLog)),
		slog.Int("score", d.Score),
		slog.String("band", d.Band.String()),
		slog.Any("reasons", logged),
		slog.Int("challenge_below", d.ChallengeBelow),
		slog.Int("deny_below", d.DenyBelow),
		slog.String("action", d.Action.String()),
		slog.String("enforced_action", d.Enforced.String()),
		slog.String("mode", d.Mode.String()),
		slog.String("mode_source", d.ModeSource.String()),
		slog.Bool("degraded", d.Degraded),
		slog.String("policy_version", d.PolicyVersion),
		slog.String("model", d.Model),
		// Milliseconds as a number, to the microsecond: what log queries
		// compare and sum, and what Envoy's access logs use.
		slog.Float64("elapsed_ms", float64(elapsed.Microseconds())/1000),
	)
	if d.LogFeatures {
		var names [512]byte
		attrs = append(attrs,
			slog.String("features", string(d.Result.Features.AppendNames(names[:0]))),
			slog.Int("feature_set", scoring.FeatureSet))
	}
	if d.Rule != policy.NoRule {
		attrs = append(attrs, slog.String("rule", d.Rule.String()))
	}
	if c := d.Result.Certainty; c != scoring.NoCertainty {
		attrs = append(attrs, slog.String("certainty", c.String()))
	}
	if d.Clearance != 0 {
		attrs = append(attrs, slog.String("clearance", d.Clearance.String()))
	}
	if d.ClearanceAutomated {
		attrs = append(attrs, slog.Bool("clearance_automated", true))
	}
	if d.CrawlerEntry != nil || d.Crawler.Verdict != crawler.NotClaimed {
		// The crawler claimed and what verification made of it: the name
		// and category of the directory's entry, the verdict, the method
		// that decided and its detail (range list, host name, key id or
		// why it failed).
		group := []slog.Attr{slog.String("verdict", d.Crawler.Verdict.String())}
		if e := d.CrawlerEntry; e != nil {
			group = append(group, slog.String("name", e.Name), slog.String("category", string(e.Category)))
		}
		if d.Crawler.Method != crawler.MethodNone {
			group = append(group, slog.String("method", d.Crawler.Method.String()))
		}
		if d.Crawler.Detail != "" {
			group = append(group, slog.String("detail", d.Crawler.Detail))
		}
		attrs = append(attrs, slog.Attr{Key: "crawler", Value: slog.GroupValue(group...)})
	}
	if network, ok := r.networkGroup(d, f); ok {
		attrs = append(attrs, network)
	}
	if history, ok := historyGroup(d); ok {
		attrs = append(attrs, history)
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		attrs = append(attrs,
			slog.String("trace_id", sc.TraceID().String()),
			slog.String("span_id", sc.SpanID().String()))
	}
	r.log.LogAttrs(ctx, slog.LevelInfo, "decision", attrs...)
}

// logClientIP returns the client address as logged: by default an IPv4
// address's /24 and an IPv6 address's /48 (its site), which still tells
// networks apart without identifying a person. Empty when unknown.
func logClientIP(ip netip.Addr, full bool) string {
	if !ip.IsValid() {
		return ""
	}
	ip = ip.Unmap()
	if full {
		return ip.String()
	}
	bits := 24
	if ip.Is6() {
		bits = 48
	}
	p, err := ip.Prefix(bits)
	if err != nil {
		return ""
	}
	return p.Addr().String()
}

// pathOnly drops the query string (and a fragment), which can carry
// tokens and personal data.
func pathOnly(path string) string {
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		return path[:i]
	}
	return path
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}

// networkGroup is the decision log's network group: the reputation sets
// holding the client's address by name, its autonomous system and that
// system's organisation, and whether it is a hosting provider's; false
// when nothing is known.
func (r *Recorder) networkGroup(d *extauthz.Decision, f *extauthz.Facts) (slog.Attr, bool) {
	if d.Reputation.Sets == 0 && d.ASN == 0 {
		return slog.Attr{}, false
	}
	var group []slog.Attr
	if t := d.ReputationTable; t != nil && d.Reputation.Sets != 0 {
		var names []string
		for sets, i := d.Reputation.Sets, 0; sets != 0; sets, i = sets>>1, i+1 {
			if sets&1 != 0 {
				names = append(names, t.SetName(i))
			}
		}
		group = append(group, slog.Any("sets", names))
	}
	if d.ASN != 0 {
		group = append(group, slog.Uint64("asn", uint64(d.ASN)), slog.Bool("hosting", d.HostingASN))
		if r.asnOrg != nil && f.ClientIP.IsValid() {
			group = append(group, slog.String("org", r.asnOrg(f.ClientIP)))
		}
	}
	return slog.Attr{Key: "network", Value: slog.GroupValue(group...)}, true
}
