package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/botauthz/botauthz/clearance"
	"github.com/botauthz/botauthz/extauthz"
	"github.com/botauthz/botauthz/policy"
	"github.com/botauthz/botauthz/ratelimit"
	"github.com/botauthz/botauthz/rollout"
)

// meterName is the instrumentation scope of botauthz's decision metrics.
const meterName = "github.com/botauthz/botauthz/telemetry"

// maxRoutes bounds the route label. Every decision names a policy route, so
// only a long run of policy reloads with ever new route names could reach
// it; past it, new routes are counted as otherRoute.
const maxRoutes = 1000

// otherRoute is the route label of the routes past maxRoutes.
const otherRoute = "_other"

// Label sizes: actions and modes are small enums, indexed directly; an
// out-of-range value is counted at index 0, whose String is "unknown".
const (
	numActions = int(policy.MaxAction) + 1
	numModes   = int(policy.MaxMode) + 1
)

// RecorderOptions configure NewRecorder.
type RecorderOptions struct {
	// MeterProvider creates the instruments. Required.
	MeterProvider metric.MeterProvider
	// DecisionLog receives one "decision" record per logged decision; nil
	// for no decision log.
	DecisionLog *slog.Logger
	// AllowSample is the share of allow decisions logged, 0 to 1. Every
	// decision whose decided action is not allow is logged.
	AllowSample float64
	// FullClientIP logs client addresses whole. By default an IPv4 address
	// is truncated to its /24 and an IPv6 address to its /48.
	FullClientIP bool
	// ASNOrganization names the organisation of an address's autonomous
	// system for the decision log (the ASN database's); nil for none. It is
	// asked only for logged decisions, never on the Check's own path.
	ASNOrganization func(netip.Addr) string
}

// Recorder records every decision in metrics and the decision log, and
// exposes the counter store's and the rollout's state as observable
// metrics. It implements extauthz.Observer.
type Recorder struct {
	decisions metric.Int64Counter
	degraded  metric.Int64Counter
	duration  metric.Float64Histogram
	score     metric.Int64Histogram

	// clearance counts clearance cookies by verdict; clearanceOpts holds one
	// precomputed option per clearance.Status so the hot path builds none.
	clearance     metric.Int64Counter
	clearanceOpts [16]metric.AddOption
	challenges    metric.Int64Counter
	challengeRes  metric.Int64Counter
	evidence      metric.Int64Counter
	reloads       metric.Int64Counter
	// reloadFailed is true from a policy reload refused until the next
	// one taken: botauthz_policy_last_reload_successful is its negation.
	reloadFailed atomic.Bool
	lastReload   metric.Int64ObservableGauge
	// crawlers counts crawler claims by verdict and category;
	// crawlerOpts holds their options, built once (read-only after).
	crawlers    metric.Int64Counter
	crawlerOpts map[crawlerKey]metric.AddOption
	// reputationReloads counts reputation file reloads by set and result.
	reputationReloads metric.Int64Counter
	// historyWrites counts history records by result; historyOpts holds
	// the options of ok, error and dropped, built once.
	historyWrites metric.Int64Counter
	historyOpts   [3]metric.AddOption
	// sanitized counts CheckRequests the gRPC codec decoded only after
	// replacing their invalid UTF-8.
	sanitized metric.Int64Counter

	storeCalls    metric.Int64ObservableCounter
	storeDegraded metric.Int64ObservableCounter
	storeFailures metric.Int64ObservableCounter
	breakerState  metric.Int64ObservableGauge
	storeKeys     metric.Int64ObservableGauge
	evictions     metric.Int64ObservableCounter
	houseFailures metric.Int64ObservableCounter
	killSwitch    metric.Int64ObservableGauge
	routeMode     metric.Int64ObservableGauge
	canaryPercent metric.Float64ObservableGauge

	meter metric.Meter

	log          *slog.Logger // nil: no decision log
	allowSample  float64
	fullClientIP bool
	asnOrg       func(netip.Addr) string

	// routes maps a route name to its cached measurement options. It is
	// replaced whole under routesMu when a route is first seen, so the hot
	// path reads it with one atomic load and no lock.
	routes   atomic.Pointer[map[string]*routeOptions]
	routesMu sync.Mutex

	guardObserved, memoryObserved, redisObserved, rolloutObserved, crawlersObserved, reputationObserved atomic.Bool
}

// routeOptions are one route's attribute sets, built once so that a
// measurement allocates nothing.
type routeOptions struct {
	name   string
	add    []metric.AddOption    // {route}
	record []metric.RecordOption // {route}
	// decisions holds {route, action, enforced_action, mode, model}, built
	// on first use and rebuilt when the model changes.
	decisions [numActions][numActions][numModes]atomic.Pointer[modelOptions]
}

// modelOptions are the decision options of one model version.
type modelOptions struct {
	model string
	opts  []metric.AddOption
}

var _ extauthz.Observer = (*Recorder)(nil)

// NewRecorder creates the instruments on opts.MeterProvider.
func NewRecorder(opts RecorderOptions) (*Recorder, error) {
	if opts.MeterProvider == nil {
		return nil, errors.New("telemetry: recorder: a MeterProvider is required")
	}
	if math.IsNaN(opts.AllowSample) || opts.AllowSample < 0 || opts.AllowSample > 1 {
		return nil, fmt.Errorf("telemetry: recorder: AllowSample %v out of range 0..1", opts.AllowSample)
	}
	m := opts.MeterProvider.Meter(meterName)
	r := &Recorder{meter: m, log: opts.DecisionLog, allowSample: opts.AllowSample, fullClientIP: opts.FullClientIP, asnOrg: opts.ASNOrganization}
	r.routes.Store(&map[string]*routeOptions{})

	var errs []error
	check := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	var err error
	r.decisions, err = m.Int64Counter("botauthz.decisions",
		metric.WithDescription("Decisions by route, decided action, enforced action, mode and scoring model version."),
		metric.WithUnit("{decision}"))
	check(err)
	r.clearance, err = m.Int64Counter("botauthz.clearance",
		metric.WithDescription("Clearance cookies seen by verdict: valid, or why one was ignored (expired, wrong_network, wrong_agent, bad_signature, unknown_key, malformed)."),
		metric.WithUnit("{cookie}"))
	check(err)
	for st := clearance.Valid; int(st) < len(r.clearanceOpts); st++ {
		if name := st.String(); name != "unknown" {
			r.clearanceOpts[st] = metric.WithAttributeSet(attribute.NewSet(attribute.String("status", name)))
		}
	}
	r.challenges, err = m.Int64Counter("botauthz.challenges.issued",
		metric.WithDescription("Challenge pages served, by route and provider."),
		metric.WithUnit("{challenge}"))
	check(err)
	r.challengeRes, err = m.Int64Counter("botauthz.challenges.results",
		metric.WithDescription("Challenge answers by route, provider and outcome (passed, wrong_answer, expired, replayed, bad_token, wrong_client, provider_<reason>, redeem_degraded)."),
		metric.WithUnit("{answer}"))
	check(err)
	r.evidence, err = m.Int64Counter("botauthz.challenge.evidence",
		metric.WithDescription("Proof-of-work answers whose browser evidence was verified, by reason that fired (evidence.webdriver, evidence.headless, evidence.automation_globals, evidence.script, evidence.missing, evidence.software_gl, evidence.geometry, evidence.pointer, evidence.timezone), or none."),
		metric.WithUnit("{answer}"))
	check(err)
	r.crawlers, err = m.Int64Counter("botauthz.crawler.claims",
		metric.WithDescription("Requests claiming a crawler (by user agent or Web Bot Auth signature), by verdict (verified, unverified, impersonation) and the claimed crawler's category (none for a self-declared bot of no directory entry)."),
		metric.WithUnit("{request}"))
	check(err)
	r.crawlerOpts = newCrawlerOptions()
	r.reputationReloads, err = m.Int64Counter("botauthz.reputation.reloads",
		metric.WithDescription("Reloads of network reputation files by set (asn_database for the ASN database) and result: ok, or error (the last good content stays in force)."),
		metric.WithUnit("{reload}"))
	check(err)
	r.historyWrites, err = m.Int64Counter("botauthz.history.writes",
		metric.WithDescription("History records (a decision's denial, hard-limit breach or session seen; a failed challenge) by result: ok, error (the counter store failed: history is incomplete) or dropped (the writer's queue was full)."),
		metric.WithUnit("{record}"))
	check(err)
	r.reloads, err = m.Int64Counter("botauthz.policy.reloads",
		metric.WithDescription("Policy file reloads by result: ok, or error (the previous policy stays in force)."),
		metric.WithUnit("{reload}"))
	check(err)
	r.lastReload, err = m.Int64ObservableGauge("botauthz.policy.last_reload_successful",
		metric.WithDescription("1 unless the policy file's newest content was refused (the previous policy stays in force until a reload succeeds)."))
	check(err)
	r.sanitized, err = m.Int64Counter("botauthz.checks.sanitized",
		metric.WithDescription("Checks whose request had invalid UTF-8 in a string field, replaced with '!' so that the Check could be decided."),
		metric.WithUnit("{check}"))
	check(err)
	r.degraded, err = m.Int64Counter("botauthz.degraded.decisions",
		metric.WithDescription("Decisions made without velocity because the counter store failed."),
		metric.WithUnit("{decision}"))
	check(err)
	// The buckets are part of the metrics' contract: the dashboard's
	// quantiles and the latency alert's 50ms threshold rely on them. They
	// resolve a Check that normally takes tens of microseconds and still
	// place one that waits on a slow Redis.
	r.duration, err = m.Float64Histogram("botauthz.check.duration",
		metric.WithDescription("Time to decide a Check, from request to response."),
		metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25))
	check(err)
	// Score buckets follow the bands (1 automated, 2-29 likely automated,
	// 30-99 likely human) with one per ten points in between. The unit is
	// an annotation, so the Prometheus name gets no unit suffix.
	r.score, err = m.Int64Histogram("botauthz.score",
		metric.WithDescription("Scores of scored requests: 1 automated to 99 human."),
		metric.WithUnit("{score}"),
		metric.WithExplicitBucketBoundaries(1, 2, 10, 20, 30, 40, 50, 60, 70, 80, 90, 99))
	check(err)
	r.storeCalls, err = m.Int64ObservableCounter("botauthz.store.calls",
		metric.WithDescription("Counter store calls through the guard."),
		metric.WithUnit("{call}"))
	check(err)
	r.storeDegraded, err = m.Int64ObservableCounter("botauthz.store.degraded",
		metric.WithDescription("Counter store calls that failed for any reason, leaving velocity unknown."),
		metric.WithUnit("{call}"))
	check(err)
	r.storeFailures, err = m.Int64ObservableCounter("botauthz.store.failures",
		metric.WithDescription("Counter store calls the guard failed: budget (too slow), breaker (open), overloaded (too many in flight)."),
		metric.WithUnit("{call}"))
	check(err)
	r.breakerState, err = m.Int64ObservableGauge("botauthz.store.breaker.state",
		metric.WithDescription("Counter store circuit breaker: 1 for the state it is in (closed, half_open, open), 0 for the others."))
	check(err)
	r.storeKeys, err = m.Int64ObservableGauge("botauthz.store.keys",
		metric.WithDescription("Counters held by the in-memory counter store."),
		metric.WithUnit("{key}"))
	check(err)
	r.evictions, err = m.Int64ObservableCounter("botauthz.store.evictions",
		metric.WithDescription("Live counters the in-memory store dropped to stay within its key limit."),
		metric.WithUnit("{key}"))
	check(err)
	r.houseFailures, err = m.Int64ObservableCounter("botauthz.store.housekeeping.failures",
		metric.WithDescription("Redis housekeeping runs (dropping a counter's old buckets when it starts one) that failed; no count is lost."),
		metric.WithUnit("{run}"))
	check(err)
	r.killSwitch, err = m.Int64ObservableGauge("botauthz.kill_switch",
		metric.WithDescription("Kill switch: 1 for the state in force (none, shadow, bypass), 0 for the others."))
	check(err)
	r.routeMode, err = m.Int64ObservableGauge("botauthz.route.mode",
		metric.WithDescription("1 for the mode each policy route runs in and the layer that chose it."))
	check(err)
	r.canaryPercent, err = m.Float64ObservableGauge("botauthz.route.canary_percent",
		metric.WithDescription("Share of clients enforced on a route in canary mode, 0-100; 0 in any other mode."))
	check(err)
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("telemetry: recorder: create instruments: %w", err)
	}
	for i, result := range historyResults {
		r.historyOpts[i] = metric.WithAttributeSet(attribute.NewSet(attribute.String("result", result)))
	}
	if _, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		ok := int64(1)
		if r.reloadFailed.Load() {
			ok = 0
		}
		o.ObserveInt64(r.lastReload, ok)
		return nil
	}, r.lastReload); err != nil {
		return nil, fmt.Errorf("telemetry: recorder: %w", err)
	}
	r.startAtZero(r.fixedSeries())
	return r, nil
}

// ObserveCheck records one decision: its metrics always, and a decision
// log line when the decided action is not allow or the allow is sampled.
// It keeps nothing of d or f after it returns.
func (r *Recorder) ObserveCheck(ctx context.Context, d *extauthz.Decision, f *extauthz.Facts, elapsed time.Duration) {
	ro := r.route(d.Route)
	r.decisions.Add(ctx, 1, ro.decisionOptions(d.Action, d.Enforced, d.Mode, d.Model)...)
	r.duration.Record(ctx, elapsed.Seconds(), ro.record...)
	if d.Score > 0 {
		r.score.Record(ctx, int64(d.Score), ro.record...)
	}
	if d.Degraded {
		r.degraded.Add(ctx, 1, ro.add...)
	}
	if st := int(d.Clearance); st > 0 && st < len(r.clearanceOpts) && r.clearanceOpts[st] != nil {
		r.clearance.Add(ctx, 1, r.clearanceOpts[st])
	}
	if opt := r.crawlerOption(d); opt != nil {
		r.crawlers.Add(ctx, 1, opt)
	}
	if r.log != nil && r.logged(d) && r.log.Enabled(ctx, slog.LevelInfo) {
		r.logDecision(ctx, d, f, elapsed)
	}
}

// ChallengeIssued counts a challenge page served (challenge.Observer).
// route comes from the policy and provider from a fixed set, so the labels
// stay bounded.
func (r *Recorder) ChallengeIssued(route, provider string) {
	r.challenges.Add(context.Background(), 1, metric.WithAttributes(
		attribute.String("route", route), attribute.String("provider", provider)))
}

// ChallengeResult counts a challenge answer by outcome (challenge.Observer).
func (r *Recorder) ChallengeResult(route, provider, outcome string) {
	r.challengeRes.Add(context.Background(), 1, metric.WithAttributes(
		attribute.String("route", route), attribute.String("provider", provider), attribute.String("outcome", outcome)))
}

// ChallengeEvidence counts what a proof-of-work answer's evidence said
// (challenge.EvidenceObserver): each reason that fired once, or "none",
// and writes a "challenge_evidence" record to the decision log with the
// route, the outcome, whether the clearance was marked and the reasons,
// nothing else. The reasons come from a fixed set, so the labels stay
// bounded.
func (r *Recorder) ChallengeEvidence(route, outcome string, marked bool, reasons []string) {
	ctx := context.Background()
	if len(reasons) == 0 {
		r.evidence.Add(ctx, 1, metric.WithAttributes(attribute.String("reason", "none")))
	}
	for _, reason := range reasons {
		r.evidence.Add(ctx, 1, metric.WithAttributes(attribute.String("reason", reason)))
	}
	if r.log != nil && r.log.Enabled(ctx, slog.LevelInfo) {
		r.log.LogAttrs(ctx, slog.LevelInfo, "challenge_evidence",
			slog.String("route", route), slog.String("outcome", outcome), slog.Bool("marked", marked),
			slog.String("evidence", strings.Join(reasons, ",")))
	}
}

// PolicyReloaded counts a reload of changed policy content, and sets
// botauthz_policy_last_reload_successful to whether it was taken.
func (r *Recorder) PolicyReloaded(ok bool, _ error) {
	result := "ok"
	if !ok {
		result = "error"
	}
	r.reloadFailed.Store(!ok)
	r.reloads.Add(context.Background(), 1, metric.WithAttributes(attribute.String("result", result)))
}

// CheckSanitized counts a CheckRequest that decoded only after the gRPC
// codec replaced its invalid UTF-8 with '!' (see extauthz.Codec).
func (r *Recorder) CheckSanitized() {
	r.sanitized.Add(context.Background(), 1)
}

// logged says whether a decision goes to the decision log. Off and bypass
// decisions are allows too, so they are only sampled.
func (r *Recorder) logged(d *extauthz.Decision) bool {
	if d.Action != policy.ActionAllow {
		return true
	}
	return r.allowSample > 0 && rand.Float64() < r.allowSample
}

// route returns the cached options of the named route, creating them the
// first time the route is seen.
func (r *Recorder) route(name string) *routeOptions {
	if ro, ok := (*r.routes.Load())[name]; ok {
		return ro
	}
	r.routesMu.Lock()
	defer r.routesMu.Unlock()
	cur := *r.routes.Load()
	if ro, ok := cur[name]; ok {
		return ro
	}
	if len(cur) >= maxRoutes {
		if ro, ok := cur[otherRoute]; ok {
			return ro
		}
		name = otherRoute
	}
	set := attribute.NewSet(attribute.String("route", name))
	ro := &routeOptions{
		name:   name,
		add:    []metric.AddOption{metric.WithAttributeSet(set)},
		record: []metric.RecordOption{metric.WithAttributeSet(set)},
	}
	next := make(map[string]*routeOptions, len(cur)+1)
	for k, v := range cur {
		next[k] = v
	}
	next[name] = ro
	r.routes.Store(&next)
	return ro
}

// decisionOptions returns the {route, action, enforced_action, mode,
// model} options, built on first use. The model label stays bounded: a
// build ships one model version, which a policy's tuning keeps; a slot is
// rebuilt only when the version changes.
func (ro *routeOptions) decisionOptions(action, enforced policy.Action, mode policy.Mode, model string) []metric.AddOption {
	slot := &ro.decisions[actionIndex(action)][actionIndex(enforced)][modeIndex(mode)]
	if o := slot.Load(); o != nil && o.model == model {
		return o.opts
	}
	set := decisionSet(ro.name, action, enforced, mode, model)
	o := &modelOptions{model: model, opts: []metric.AddOption{metric.WithAttributeSet(set)}}
	// A racing first use built the same set; either copy will do.
	slot.Store(o)
	return o.opts
}

// decisionSet is the attribute set of one botauthz_decisions_total series.
func decisionSet(route string, action, enforced policy.Action, mode policy.Mode, model string) attribute.Set {
	if model == "" {
		model = "unknown"
	}
	return attribute.NewSet(
		attribute.String("route", route),
		attribute.String("action", action.String()),
		attribute.String("enforced_action", enforced.String()),
		attribute.String("mode", mode.String()),
		attribute.String("model", model),
	)
}

func actionIndex(a policy.Action) int {
	if int(a) < numActions {
		return int(a)
	}
	return 0
}

func modeIndex(m policy.Mode) int {
	if int(m) < numModes {
		return int(m)
	}
	return 0
}

// ObserveGuard reports g's calls, failures by reason and breaker state at
// every collection. It may be called once.
func (r *Recorder) ObserveGuard(g *ratelimit.Guard) error {
	if g == nil {
		return errors.New("telemetry: observe guard: nil Guard")
	}
	if !r.guardObserved.CompareAndSwap(false, true) {
		return errors.New("telemetry: observe guard: already observing one")
	}
	reasonBudget := metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", "budget")))
	reasonBreaker := metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", "breaker")))
	reasonOverloaded := metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", "overloaded")))
	var stateOpts [len(breakerStates)]metric.ObserveOption
	for i, s := range breakerStates {
		stateOpts[i] = metric.WithAttributeSet(attribute.NewSet(attribute.String("state", s.label)))
	}
	_, err := r.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		s := g.Stats()
		o.ObserveInt64(r.storeCalls, clampInt64(s.Calls))
		o.ObserveInt64(r.storeDegraded, clampInt64(s.Degraded))
		// Every reason is reported, zero included, so that rate() and the
		// alerts see the series before the first failure.
		o.ObserveInt64(r.storeFailures, clampInt64(s.BudgetExceeded), reasonBudget)
		o.ObserveInt64(r.storeFailures, clampInt64(s.BreakerOpenRejects), reasonBreaker)
		o.ObserveInt64(r.storeFailures, clampInt64(s.Overloaded), reasonOverloaded)
		// One series per state, 1 for the state in force: a query or an
		// alert names the state instead of knowing an encoding.
		state := g.State()
		for i, s := range breakerStates {
			o.ObserveInt64(r.breakerState, boolValue(s.state == state), stateOpts[i])
		}
		return nil
	}, r.storeCalls, r.storeDegraded, r.storeFailures, r.breakerState)
	if err != nil {
		return fmt.Errorf("telemetry: observe guard: %w", err)
	}
	return nil
}

// breakerStates are the states of botauthz_store_breaker_state, each with
// its label value (half_open rather than the state's own "half-open", as
// Prometheus label values go).
var breakerStates = [...]struct {
	state ratelimit.BreakerState
	label string
}{
	{ratelimit.BreakerClosed, "closed"},
	{ratelimit.BreakerHalfOpen, "half_open"},
	{ratelimit.BreakerOpen, "open"},
}

// killStates are the states of botauthz_kill_switch; each one's label is
// its String.
var killStates = [...]rollout.Kill{rollout.KillNone, rollout.KillShadow, rollout.KillBypass}

// boolValue is 1 for true, the value of the state in force.
func boolValue(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// ObserveMemory reports m's size and evictions at every collection. It may
// be called once.
func (r *Recorder) ObserveMemory(m *ratelimit.Memory) error {
	if m == nil {
		return errors.New("telemetry: observe memory store: nil Memory")
	}
	if !r.memoryObserved.CompareAndSwap(false, true) {
		return errors.New("telemetry: observe memory store: already observing one")
	}
	_, err := r.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(r.storeKeys, int64(m.Len()))
		o.ObserveInt64(r.evictions, clampInt64(m.Evictions()))
		return nil
	}, r.storeKeys, r.evictions)
	if err != nil {
		return fmt.Errorf("telemetry: observe memory store: %w", err)
	}
	return nil
}

// ObserveRedis reports, at every collection, how many of rs's housekeeping
// runs have failed. It may be called once.
func (r *Recorder) ObserveRedis(rs *ratelimit.Redis) error {
	if rs == nil {
		return errors.New("telemetry: observe redis store: nil Redis")
	}
	if !r.redisObserved.CompareAndSwap(false, true) {
		return errors.New("telemetry: observe redis store: already observing one")
	}
	_, err := r.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(r.houseFailures, clampInt64(rs.HousekeepingFailures()))
		return nil
	}, r.houseFailures)
	if err != nil {
		return fmt.Errorf("telemetry: observe redis store: %w", err)
	}
	return nil
}

// ObserveRollout reports, at every collection, the kill switch of view()
// and, for each route of pol(), the mode it runs in, the layer that chose
// it and its canary percent. Both functions are called at collection
// time, so the metrics follow live changes and policy reloads. It may be
// called once.
func (r *Recorder) ObserveRollout(view func() *rollout.View, pol func() *policy.Policy) error {
	if view == nil || pol == nil {
		return errors.New("telemetry: observe rollout: nil view or policy function")
	}
	if !r.rolloutObserved.CompareAndSwap(false, true) {
		return errors.New("telemetry: observe rollout: already observing one")
	}
	var killOpts [len(killStates)]metric.ObserveOption
	for i, k := range killStates {
		killOpts[i] = metric.WithAttributeSet(attribute.NewSet(attribute.String("state", k.String())))
	}
	_, err := r.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		v := view()
		if v == nil {
			return nil
		}
		kill := v.Kill()
		for i, k := range killStates {
			o.ObserveInt64(r.killSwitch, boolValue(k == kill), killOpts[i])
		}
		p := pol()
		if p == nil {
			return nil
		}
		for _, name := range p.RouteNames() {
			a := v.Resolve(p.Routes[name])
			route := attribute.String("route", name)
			// Only the mode in force is reported: the series of the
			// previous mode ends when it changes.
			o.ObserveInt64(r.routeMode, 1, metric.WithAttributes(
				route, attribute.String("mode", a.Mode.String()), attribute.String("source", a.Source.String())))
			pct := 0.0
			if a.Mode == policy.ModeCanary {
				pct = a.Percent
			}
			o.ObserveFloat64(r.canaryPercent, pct, metric.WithAttributes(route))
		}
		return nil
	}, r.killSwitch, r.routeMode, r.canaryPercent)
	if err != nil {
		return fmt.Errorf("telemetry: observe rollout: %w", err)
	}
	return nil
}

// clampInt64 converts a counter; one past MaxInt64 would take centuries.
func clampInt64(v uint64) int64 {
	if v > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(v)
}
