package extauthz

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/botauthz/botauthz/crawler"
	"github.com/botauthz/botauthz/policy"
	"github.com/botauthz/botauthz/scoring"
)

// tracerName is the instrumentation scope of botauthz's own spans.
const tracerName = "github.com/botauthz/botauthz/extauthz"

// annotateSpan puts the decision on the Check's span, which the gRPC stats
// handler started. Nothing is built when no span records, so an untraced
// Check pays one interface call.
func annotateSpan(ctx context.Context, d *Decision) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	reasons := make([]string, 0, len(d.Result.Reasons()))
	for _, r := range d.Result.Reasons() {
		reasons = append(reasons, r.Code.String())
	}
	span.SetAttributes(
		attribute.Int("bot.score", d.Score),
		attribute.String("bot.category", d.Band.String()),
		attribute.String("bot.action", d.Action.String()),
		attribute.String("bot.enforced_action", d.Enforced.String()),
		attribute.String("bot.mode", d.Mode.String()),
		attribute.String("bot.route", d.Route),
		attribute.StringSlice("bot.reasons", reasons),
		attribute.Bool("bot.degraded", d.Degraded),
	)
	if d.Rule != policy.NoRule {
		span.SetAttributes(attribute.String("bot.rule", d.Rule.String()))
	}
	if d.CrawlerEntry != nil || d.Crawler.Verdict != crawler.NotClaimed {
		span.SetAttributes(attribute.String("bot.crawler.verdict", d.Crawler.Verdict.String()),
			attribute.String("bot.crawler.method", d.Crawler.Method.String()))
		if e := d.CrawlerEntry; e != nil {
			span.SetAttributes(attribute.String("bot.crawler.name", e.Name), attribute.String("bot.crawler.category", string(e.Category)))
		}
	}
	if c := d.Result.Certainty; c != scoring.NoCertainty {
		// The certainty rule that decided; its signals lead bot.reasons.
		span.SetAttributes(attribute.String("bot.certainty", c.String()))
	}
}
