package telemetry

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/botauthz/botauthz/crawler"
	"github.com/botauthz/botauthz/extauthz"
	"github.com/botauthz/botauthz/scoring"
)

// crawlerKey is one series of botauthz.crawler.claims.
type crawlerKey struct {
	verdict  crawler.Verdict
	category crawler.Category // "" for a crawler of no directory entry
}

// crawlerVerdicts are the verdicts a crawler claim is counted under.
var crawlerVerdicts = [...]crawler.Verdict{crawler.Verified, crawler.Unverified, crawler.Impersonation}

// newCrawlerOptions builds the option of every verdict and category, so
// that counting a claim allocates nothing and the series are bounded by
// the fixed category list, not by the directory file.
func newCrawlerOptions() map[crawlerKey]metric.AddOption {
	out := map[crawlerKey]metric.AddOption{}
	for _, v := range crawlerVerdicts {
		out[crawlerKey{verdict: v}] = metric.WithAttributeSet(attribute.NewSet(
			attribute.String("verdict", v.String()), attribute.String("category", "none")))
		for _, c := range crawler.Categories() {
			out[crawlerKey{v, c}] = metric.WithAttributeSet(attribute.NewSet(
				attribute.String("verdict", v.String()), attribute.String("category", string(c))))
		}
	}
	return out
}

// crawlerOption returns the series d's crawler claim counts in; nil when d
// claims no crawler. A self-declared bot that no directory entry names is
// an unverified claim of category none.
func (r *Recorder) crawlerOption(d *extauthz.Decision) metric.AddOption {
	k := crawlerKey{verdict: d.Crawler.Verdict}
	if k.verdict == crawler.NotClaimed {
		if d.Result.Certainty != scoring.UnverifiedCrawler {
			return nil
		}
		k.verdict = crawler.Unverified
	}
	if e := d.CrawlerEntry; e != nil {
		k.category = e.Category
	}
	return r.crawlerOpts[k]
}

// ObserveCrawlers reports v's range lists (age, prefixes, refresh
// failures), reverse DNS lookups by outcome and Web Bot Auth key
// directories (age, keys) at every collection. It may be called once.
func (r *Recorder) ObserveCrawlers(v *crawler.Verifier) error {
	if v == nil {
		return errors.New("telemetry: observe crawlers: nil Verifier")
	}
	if !r.crawlersObserved.CompareAndSwap(false, true) {
		return errors.New("telemetry: observe crawlers: already observing one")
	}
	m := r.meter
	var errs []error
	check := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	age, err := m.Float64ObservableGauge("botauthz.crawler.ranges.age",
		metric.WithDescription("Age of each crawler IP range list in force, from when its content was published (the file's own creation time, else the snapshot's date, else the fetch): what an alert on stale lists watches."),
		metric.WithUnit("s"))
	check(err)
	prefixes, err := m.Int64ObservableGauge("botauthz.crawler.ranges.prefixes",
		metric.WithDescription("Prefixes in each crawler IP range list in force; 0 means its crawlers cannot be verified by ranges."),
		metric.WithUnit("{prefix}"))
	check(err)
	failures, err := m.Int64ObservableCounter("botauthz.crawler.ranges.refresh_failures",
		metric.WithDescription("Failed refreshes of each crawler IP range list (the last good copy stays in force)."),
		metric.WithUnit("{refresh}"))
	check(err)
	lookups, err := m.Int64ObservableCounter("botauthz.crawler.reverse_dns.lookups",
		metric.WithDescription("Background forward-confirmed reverse DNS verifications by outcome: confirmed (a name whose forward lookup holds the address), failed (definitively none), unknown (a temporary failure), dropped (too many in flight)."),
		metric.WithUnit("{lookup}"))
	check(err)
	keyAge, err := m.Float64ObservableGauge("botauthz.crawler.key_directory.age",
		metric.WithDescription("Time since each Web Bot Auth key directory was last fetched successfully; absent before the first success."),
		metric.WithUnit("s"))
	check(err)
	keys, err := m.Int64ObservableGauge("botauthz.crawler.key_directory.keys",
		metric.WithDescription("Ed25519 keys held for each Web Bot Auth signature agent."),
		metric.WithUnit("{key}"))
	check(err)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("telemetry: observe crawlers: %w", err)
	}
	outcome := func(name string) metric.ObserveOption {
		return metric.WithAttributeSet(attribute.NewSet(attribute.String("outcome", name)))
	}
	confirmed, failed, unknown, dropped := outcome("confirmed"), outcome("failed"), outcome("unknown"), outcome("dropped")
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		now := time.Now()
		for _, s := range v.Ranges() {
			list := metric.WithAttributeSet(attribute.NewSet(attribute.String("list", s.Name)))
			o.ObserveInt64(prefixes, int64(s.Prefixes), list)
			o.ObserveInt64(failures, clampInt64(s.Failures), list)
			if !s.Published.IsZero() {
				o.ObserveFloat64(age, now.Sub(s.Published).Seconds(), list)
			}
		}
		if s, ok := v.ReverseDNS(); ok {
			o.ObserveInt64(lookups, clampInt64(s.Confirmed), confirmed)
			o.ObserveInt64(lookups, clampInt64(s.Failed), failed)
			o.ObserveInt64(lookups, clampInt64(s.Unknown), unknown)
			o.ObserveInt64(lookups, clampInt64(s.Dropped), dropped)
		}
		for _, d := range v.KeyDirectories() {
			agent := metric.WithAttributeSet(attribute.NewSet(attribute.String("agent", d.Agent)))
			o.ObserveInt64(keys, int64(d.Keys), agent)
			if !d.LastSuccess.IsZero() {
				o.ObserveFloat64(keyAge, now.Sub(d.LastSuccess).Seconds(), agent)
			}
		}
		return nil
	}, age, prefixes, failures, lookups, keyAge, keys)
	if err != nil {
		return fmt.Errorf("telemetry: observe crawlers: %w", err)
	}
	return nil
}
