package telemetry

import (
	"context"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/botauthz/botauthz/challenge"
	"github.com/botauthz/botauthz/clearance"
	"github.com/botauthz/botauthz/crawler"
	"github.com/botauthz/botauthz/policy"
)

// startSeries is one counter series exported at zero before its first
// event. A counter that appears only when it first counts starts at 1, and
// rate() and increase() see no increase in that first step: an alert on
// the first policy reload error, or the first degraded decision, would
// never fire. Every series whose label values are known up front is
// therefore added 0 when they become known: at start-up, and for a
// policy's routes when the policy is applied. Never per Check.
type startSeries struct {
	counter metric.Int64Counter
	name    string // the instrument's name, e.g. botauthz.policy.reloads
	attrs   attribute.Set
}

// startAtZero adds 0 to every series, which exports it with its current
// value: 0 for a new series, unchanged for one that has counted.
func (r *Recorder) startAtZero(series []startSeries) {
	ctx := context.Background()
	for _, s := range series {
		s.counter.Add(ctx, 0, metric.WithAttributeSet(s.attrs))
	}
}

// fixedSeries are the series whose labels botauthz knows without a
// policy: results, statuses, verdicts and reasons from fixed sets.
func (r *Recorder) fixedSeries() []startSeries {
	var out []startSeries
	add := func(c metric.Int64Counter, name string, kv ...attribute.KeyValue) {
		out = append(out, startSeries{counter: c, name: name, attrs: attribute.NewSet(kv...)})
	}
	for _, result := range []string{"ok", "error"} {
		add(r.reloads, "botauthz.policy.reloads", attribute.String("result", result))
	}
	add(r.sanitized, "botauthz.checks.sanitized")
	for _, result := range historyResults {
		add(r.historyWrites, "botauthz.history.writes", attribute.String("result", result))
	}
	for st := clearance.Valid; int(st) < len(r.clearanceOpts); st++ {
		if r.clearanceOpts[st] != nil {
			add(r.clearance, "botauthz.clearance", attribute.String("status", st.String()))
		}
	}
	for _, v := range crawlerVerdicts {
		add(r.crawlers, "botauthz.crawler.claims", attribute.String("verdict", v.String()), attribute.String("category", "none"))
		for _, c := range crawler.Categories() {
			add(r.crawlers, "botauthz.crawler.claims", attribute.String("verdict", v.String()), attribute.String("category", string(c)))
		}
	}
	add(r.evidence, "botauthz.challenge.evidence", attribute.String("reason", "none"))
	for _, reason := range challenge.EvidenceReasons {
		add(r.evidence, "botauthz.challenge.evidence", attribute.String("reason", reason))
	}
	return out
}

// routeSeries are the series of p's routes that alerts and dashboards
// take rate() of or divide by: degraded decisions; challenge pages and
// every answer outcome of the route's challenge provider; and one
// decision series, the route's allows in its policy mode, so that a
// route's decision rate reads 0 rather than nothing. The other decision
// series (4 actions × 4 enforced actions × 5 modes a route, most of them
// impossible) appear with their first decision: every query sums them,
// so the one started here is enough for a sum to exist.
func (r *Recorder) routeSeries(p *policy.Policy, model string) []startSeries {
	var out []startSeries
	for _, name := range p.RouteNames() {
		rt := p.Routes[name]
		ro := r.route(name) // also warms the Check's cache of the route's options
		route := attribute.String("route", ro.name)
		out = append(out, startSeries{counter: r.degraded, name: "botauthz.degraded.decisions", attrs: attribute.NewSet(route)})
		if rt == nil {
			continue
		}
		if int(rt.Mode) > 0 && int(rt.Mode) < numModes {
			allow := policy.ActionAllow
			out = append(out, startSeries{counter: r.decisions, name: "botauthz.decisions",
				attrs: decisionSet(ro.name, allow, allow, rt.Mode, model)})
		}
		prov := rt.Challenge.Provider
		if prov == "" {
			prov = challenge.Pow
		}
		provider := attribute.String("provider", prov)
		out = append(out, startSeries{counter: r.challenges, name: "botauthz.challenges.issued", attrs: attribute.NewSet(route, provider)})
		for _, outcome := range challenge.Outcomes(prov) {
			out = append(out, startSeries{counter: r.challengeRes, name: "botauthz.challenges.results",
				attrs: attribute.NewSet(route, provider, attribute.String("outcome", outcome))})
		}
	}
	return out
}

// reputationSeries are the reload results of each reputation set, and of
// the ASN database when there is one.
func (r *Recorder) reputationSeries(sets []string, asn bool) []startSeries {
	if asn {
		sets = append(sets[:len(sets):len(sets)], "asn_database")
	}
	var out []startSeries
	for _, set := range sets {
		for _, result := range []string{"ok", "error"} {
			out = append(out, startSeries{counter: r.reputationReloads, name: "botauthz.reputation.reloads",
				attrs: attribute.NewSet(attribute.String("set", set), attribute.String("result", result))})
		}
	}
	return out
}

// PolicyApplied exports at zero the series of p's routes that would
// otherwise appear only with their first event (see StartSeries). cmd
// calls it with the policy in force at start-up and again after applying
// each reloaded one, so a route a reload adds has its series at once. model
// is the scoring model's version, the decisions' model label.
func (r *Recorder) PolicyApplied(p *policy.Policy, model string) {
	if p != nil {
		r.startAtZero(r.routeSeries(p, model))
	}
}

// Series names one series of the Prometheus exposition.
type Series struct {
	// Name is the series' metric name, e.g. botauthz_policy_reloads_total.
	Name string
	// Labels are its labels, without the ones the scrape adds.
	Labels map[string]string
}

// StartSeries returns the counter series r exports at zero before their
// first event once PolicyApplied(p, model) has been called, named as
// /metrics names them: those whose label values come from fixed sets, and
// those of p's routes. The observable metrics (the counter store's, the
// kill switch, the rollout's, the crawler lists') are reported from their
// first collection and are not listed. It is the table behind the start-up
// exposition, and what a test of it compares /metrics with.
func (r *Recorder) StartSeries(p *policy.Policy, model string) []Series {
	series := r.fixedSeries()
	if p != nil {
		series = append(series, r.routeSeries(p, model)...)
	}
	out := make([]Series, 0, len(series))
	for _, s := range series {
		out = append(out, s.series())
	}
	return out
}

// series names s as the Prometheus exporter does: dots become
// underscores, and a counter gets _total. The units of these counters are
// annotations ({reload}), which add no suffix.
func (s startSeries) series() Series {
	labels := map[string]string{}
	for _, kv := range s.attrs.ToSlice() {
		labels[string(kv.Key)] = kv.Value.Emit()
	}
	return Series{Name: strings.ReplaceAll(s.name, ".", "_") + "_total", Labels: labels}
}
