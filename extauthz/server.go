package extauthz

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/botauthz/botauthz/clearance"
	"github.com/botauthz/botauthz/crawler"
	"github.com/botauthz/botauthz/history"
	"github.com/botauthz/botauthz/policy"
	"github.com/botauthz/botauthz/ratelimit"
	"github.com/botauthz/botauthz/reputation"
	"github.com/botauthz/botauthz/rollout"
	"github.com/botauthz/botauthz/scoring"
)

// Decision is the outcome of one Check: what was decided, what was enforced
// and why.
type Decision struct {
	Route string
	// Mode is the mode that applied to this request: a canary route reports
	// canary for a client inside the canary and shadow for one outside it;
	// the kill switch reports shadow or bypass.
	Mode policy.Mode
	// ModeSource says which layer chose the mode (kill switch, override
	// file, live state, policy).
	ModeSource rollout.Source
	// Score is 1–99 (low = automated), 0 when not scored.
	Score int
	Band  scoring.Band
	// Action is what the policy decided; in shadow it can be deny.
	Action policy.Action
	// Enforced is what the response carries out.
	Enforced policy.Action
	// Degraded is true when velocity was unknown (the counter store was slow,
	// down or overloaded) and the decision was made on the rest.
	Degraded bool
	// Limit is the hard limit that was exceeded, and RetryAfter when a request
	// would next fit under it; nil when none was.
	Limit      *policy.Limit
	RetryAfter time.Duration
	// Result holds the score's reasons.
	Result scoring.Result
	// ChallengeBelow and DenyBelow are the route's thresholds that applied.
	ChallengeBelow, DenyBelow int
	// PolicyVersion is the policy file's version label.
	PolicyVersion string
	// Clearance is what the clearance cookie said; 0 when there was none.
	Clearance clearance.Status
	// Rule is the deterministic rule that decided: a CIDR rule, before any
	// counting or score; policy.RuleRequireProof after scoring, which it
	// overrides (Score and Result are then still set).
	Rule policy.Rule
	// ClearanceAutomated says the valid clearance was issued marked
	// automated (challenge.evidence: mark): proof that the challenge was
	// passed, but no lift to the score.
	ClearanceAutomated bool
	// Model is the version of the route's scoring model ("lr-1a2b3c4d"),
	// set whether or not the request was scored; a route's tuning keeps
	// the shipped model's name.
	Model string
	// LogFeatures is the policy's decision_log.features: the decision log
	// carries Result.Features.
	LogFeatures bool
	// Crawler is what crawler verification found: whether the request
	// claims a crawler and whether it is verified, and the crawler by its
	// index in Options.Crawlers' Directory().Crawlers (-1 for none once
	// verification ran; a decision made before it, by a mode or a rule,
	// has the zero Claim). A verified crawler is not scored (Score 0, Band
	// VerifiedBot, Rule RuleVerifiedBot).
	Crawler crawler.Claim
	// CrawlerEntry is the claimed crawler's directory entry; nil when the
	// request claims none of the directory's.
	CrawlerEntry *crawler.Entry
	// Reputation is the reputation sets holding the client's address, as
	// ReputationTable numbers them (nil without sets).
	Reputation      reputation.Match
	ReputationTable *reputation.Table
	// ASN is the client's autonomous system (0 when unknown) and
	// HostingASN whether it is a hosting provider's.
	ASN        uint32
	HostingASN bool
	// History is what the client's address and session did lately, read
	// in the Check's store round trip (Known false when it was not read:
	// history off, a decision before counting, or a degraded store).
	History history.Reading
}

// Observer is told about every decision once its response is built: the
// place for metrics and the decision log, kept out of the pipeline. The
// Check waits for it, so it must be fast and must not block. d and f are
// reused after it returns: copy what must outlive the call.
type Observer interface {
	ObserveCheck(ctx context.Context, d *Decision, f *Facts, elapsed time.Duration)
}

// Options configure a Server.
type Options struct {
	// Policy is the policy to start with; nil means the embedded defaults.
	Policy *policy.Policy
	// Model is the scoring model the policies' tunings apply to; nil loads
	// the shipped one (scoring.Load).
	Model *scoring.Model
	// Store holds the velocity counters. Required. Wrap a remote store in a
	// ratelimit.Guard so that it cannot slow Checks down.
	Store ratelimit.Store
	// Rollout tells which mode each route runs in right now (live
	// overrides, kill switch); nil runs every route in its policy mode.
	Rollout Rollout
	// Clearance verifies clearance cookies (the reward of a passed
	// challenge); nil ignores them.
	Clearance *clearance.Signer
	// Crawlers verifies the crawlers requests claim to be; nil verifies
	// none (a self-declared crawler is then always unverified).
	Crawlers *crawler.Verifier
	// Network is where network reputation comes from; empty for none.
	Network Network
	// History records each decision's outcome in the history counters
	// after the decision (the policy's history section says whether and
	// for how long); nil records nothing, so history is read but never
	// grows. Give it the same Store.
	History *history.Writer
	// Observer is told about every decision; nil for none.
	Observer Observer
	// TracerProvider traces the counter store round trip as a child of the
	// Check's span; nil uses the provider of the span in the context.
	TracerProvider trace.TracerProvider
	// Logger receives operational logs; nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Rollout is the live rollout state as the Check sees it.
// *rollout.Controller implements it.
type Rollout interface {
	View() *rollout.View
}

// Server implements envoy.service.auth.v3.Authorization.
type Server struct {
	authv3.UnimplementedAuthorizationServer

	state atomic.Pointer[state]
	// model is the untuned model every policy's tunings start from.
	model     *scoring.Model
	store     ratelimit.Store
	clearance *clearance.Signer
	crawlers  *crawler.Verifier
	network   Network
	history   *history.Writer
	// crawlerHeaders holds the upstream headers and metadata of each
	// directory crawler, built once.
	crawlerHeaders []crawlerValues
	rollout        Rollout
	observer       Observer
	tracer         trace.Tracer // nil: take the provider from the context's span
	log            *slog.Logger
	now            func() time.Time
	scratch        sync.Pool
	wires          sync.Pool // *wireRequest
	answers        answerPool
}

// state is what a policy compiles to. It is swapped whole, so a Check sees
// one consistent policy from start to end.
type state struct {
	policy *policy.Policy
	// models holds every route's model by route name; routes with equal
	// tunings share one.
	models map[string]*scoring.Model
	// routeValues holds each route's name as a metadata value.
	routeValues map[string]*structpb.Value
	canary      rollout.Canary
	// history is the policy's history section; a zero Window when off.
	history history.Config
}

// New returns a Server.
func New(opts Options) (*Server, error) {
	if opts.Store == nil {
		return nil, errors.New("extauthz: a counter store is required")
	}
	s := &Server{model: opts.Model, store: opts.Store, clearance: opts.Clearance, crawlers: opts.Crawlers, network: opts.Network,
		history: opts.History, rollout: opts.Rollout, observer: opts.Observer, log: opts.Logger, now: opts.Now}
	if s.crawlers != nil {
		s.crawlerHeaders = newCrawlerValues(s.crawlers.Directory())
	}
	if s.model == nil {
		m, err := scoring.Load()
		if err != nil {
			return nil, fmt.Errorf("extauthz: %w", err)
		}
		s.model = m
	}
	if opts.TracerProvider != nil {
		s.tracer = opts.TracerProvider.Tracer(tracerName)
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.scratch.New = func() any { return new(check) }
	s.wires.New = func() any { return new(wireRequest) }
	p := opts.Policy
	if p == nil {
		p = policy.Default()
	}
	if err := s.SetPolicy(p); err != nil {
		return nil, err
	}
	return s, nil
}

// SetPolicy switches to p for every Check that starts after it returns. It
// builds one scoring model per distinct route tuning; if one fails to build,
// the policy in force stays.
func (s *Server) SetPolicy(p *policy.Policy) error {
	models, err := s.routeModels(p)
	if err != nil {
		return err
	}
	rv := make(map[string]*structpb.Value, len(p.Routes))
	for name := range p.Routes {
		rv[name] = structpb.NewStringValue(name)
	}
	st := &state{policy: p, models: models, routeValues: rv, canary: rollout.NewCanary(p.Rollout.CanarySalt)}
	if h := p.History; h.Enabled {
		st.history = history.Config{Window: h.Window, EscalateAfter: h.EscalateAfter, SessionNetworks: h.SessionNetworks}
		st.history.Prepare()
	}
	s.state.Store(st)
	return nil
}

// routeModels returns the scoring model of every route of p, by name:
// the server's model with the route's tuning applied. Routes with equal
// tunings share one model, and an empty tuning is the server's model.
func (s *Server) routeModels(p *policy.Policy) (map[string]*scoring.Model, error) {
	type built struct {
		tuning scoring.Tuning
		model  *scoring.Model
	}
	distinct := []built{{tuning: scoring.Tuning{}, model: s.model}}
	models := make(map[string]*scoring.Model, len(p.Routes))
	for _, name := range p.RouteNames() {
		t := p.Routes[name].Tuning
		i := slices.IndexFunc(distinct, func(b built) bool { return sameTuning(b.tuning, t) })
		if i < 0 {
			m, err := s.model.With(t)
			if err != nil {
				return nil, fmt.Errorf("extauthz: route %s: tune the scoring model: %w", name, err)
			}
			i = len(distinct)
			distinct = append(distinct, built{tuning: t, model: m})
		}
		models[name] = distinct[i].model
	}
	return models, nil
}

// sameTuning reports whether a and b make the same model.
func sameTuning(a, b scoring.Tuning) bool {
	return a.BehindProxy == b.BehindProxy && maps.Equal(a.Weights, b.Weights)
}

// Policy returns the policy in force.
func (s *Server) Policy() *policy.Policy { return s.state.Load().policy }

// Model returns the scoring model of the policy's default route: its
// Version is every route's (a tuning keeps the shipped model's name).
func (s *Server) Model() *scoring.Model {
	return s.state.Load().models[policy.DefaultRoute]
}

// check is the scratch space of one Check, pooled so the hot path does not
// allocate it per request.
type check struct {
	facts    Facts
	decision Decision
	counters [policy.MaxLimitsPerRoute + history.MaxCounters]ratelimit.Counter
	limits   [policy.MaxLimitsPerRoute]*policy.Limit
	obs      [policy.MaxLimitsPerRoute + history.MaxCounters]ratelimit.Observation
	velocity [policy.MaxLimitsPerRoute]scoring.Velocity
	request  scoring.Request
	crawler  crawler.Request
	entity   history.Entity
	// headers outlives the reset between Checks, so that decoding
	// header_map reuses its map.
	headers headerBuf
}

// Check decides one request. It never returns an error.
func (s *Server) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	resp, _ := s.serve(ctx, req, nil, asMessage)
	return resp, nil
}

// answerForm is the form in which serve gives its answer.
type answerForm uint8

const (
	// asMessage: a CheckResponse, as in-process callers of Check read it.
	asMessage answerForm = iota
	// asWireMessage: a CheckResponse whose dynamic metadata is held as
	// bytes (setMetadata), for a response that is marshalled as it is.
	asWireMessage
	// asEncoded: an allow answer in the wire format (appendAllowed), for
	// the Codec to send as it is; any other answer as asWireMessage.
	asEncoded
)

// serve decides one request, read from req, or from w when req is nil.
// It answers with resp, or in the asEncoded form with encoded and a nil
// resp when the request is allowed.
func (s *Server) serve(ctx context.Context, req *authv3.CheckRequest, w *wireFacts, form answerForm) (resp *authv3.CheckResponse, encoded *wireResponse) {
	c := s.scratch.Get().(*check)
	headers := c.headers
	headers.reset()
	*c = check{headers: headers}
	defer func() {
		if r := recover(); r != nil {
			// A bug must not become Envoy's failure policy: log it and allow.
			s.log.ErrorContext(ctx, "check panicked; allowing the request", "panic", r, "stack", string(debug.Stack()))
			resp, encoded = panicResponse(), nil
		}
		s.scratch.Put(c)
	}()

	start := time.Now()
	st := s.state.Load()
	p := st.policy
	if w != nil {
		readWireFacts(w, p.SessionCookie, p.XFFTrustedHops, &c.facts, &c.headers)
	} else {
		readFacts(req, p.SessionCookie, p.XFFTrustedHops, &c.facts, &c.headers)
	}
	d := s.decide(ctx, st, c)
	annotateSpan(ctx, d)
	routeValue, verified := st.routeValues[d.Route], verifiedValues(d, s.crawlerHeaders)
	if form == asEncoded && c.facts.HTTP && allows(d) {
		b := s.answers.Get(0)
		*b = appendAllowed(*b, d, &c.facts, routeValue, verified)
		encoded = s.answers.wrap(b)
	} else {
		resp = respond(d, &c.facts, routeValue, verified, form != asMessage)
	}
	if s.observer != nil {
		s.observer.ObserveCheck(ctx, d, &c.facts, time.Since(start))
	}
	return resp, encoded
}

// decide runs the pipeline on the facts read: counters → score → action →
// rollout.
func (s *Server) decide(ctx context.Context, st *state, c *check) *Decision {
	p := st.policy
	f := &c.facts
	route := p.Route(f.Route)
	applied := rollout.Applied{Mode: route.Mode, Percent: route.CanaryPercent, Source: rollout.SourcePolicy}
	if s.rollout != nil {
		applied = s.rollout.View().Resolve(route)
	}
	model := st.models[route.Name]
	d := &c.decision
	d.Route, d.Mode, d.ModeSource = route.Name, applied.Mode, applied.Source
	d.ChallengeBelow, d.DenyBelow, d.PolicyVersion = route.ChallengeBelow, route.DenyBelow, p.Version
	d.Model, d.LogFeatures = model.Version(), p.LogFeatures

	if applied.Mode == policy.ModeOff || applied.Mode == policy.ModeBypass {
		// Neither scores nor counts: off is a route's choice, bypass the
		// kill switch's promise that Redis is left alone.
		d.Action, d.Enforced = policy.ActionAllow, policy.ActionAllow
		return d
	}

	s.lookupNetwork(f, d)
	d.Rule = p.Rules.Match(f.ClientIP)
	if d.Rule == policy.NoRule {
		d.Rule = setRule(p, d)
	}
	switch d.Rule {
	case policy.RuleAllowCIDR, policy.RuleSetAllow, policy.RuleDenyCIDR, policy.RuleSetDeny:
		// Deterministic rules decide before counting or scoring.
		d.Action = policy.ActionAllow
		if d.Rule == policy.RuleDenyCIDR || d.Rule == policy.RuleSetDeny {
			d.Action = policy.ActionDeny
		}
		enforce(st, applied, f, d)
		return d
	}
	// What is left is a set's challenge, which, like require_proof, a
	// valid clearance answers: it is applied after scoring.
	challengeSet := d.Rule == policy.RuleSetChallenge
	d.Rule = policy.NoRule

	limited := s.count(ctx, st, route, c)
	if !f.HTTP {
		// Plain TCP has no headers to score: it is counted and allowed.
		d.Action, d.Enforced = policy.ActionAllow, policy.ActionAllow
		return d
	}

	if s.verifyCrawler(c) {
		// A verified crawler is not scored: its category decides, and the
		// hard limits still apply.
		d.Rule, d.Band = policy.RuleVerifiedBot, scoring.VerifiedBot
		d.Action = orRateLimit(route.VerifiedBotAction(d.CrawlerEntry.Category), limited)
		enforce(st, applied, f, d)
		// Its decisions are not history (it was not scored), but a
		// sighting its Check counted is.
		s.recordHistory(st, c, 0)
		return d
	}

	c.request = scoring.Request{Method: f.Method, Scheme: f.Scheme, Protocol: f.Protocol, Headers: f.Headers,
		HeaderOrder: f.HeaderOrder, TLS: tlsFingerprint(p, f), Velocity: c.request.Velocity,
		Clearance: s.verifyClearance(p, f, d), Crawler: crawlerClaim(d.Crawler.Verdict), Network: networkFacts(d),
		History: st.history.Features(&d.History)}
	model.Score(&c.request, &d.Result)
	d.Score, d.Band = d.Result.Score, d.Result.Band

	switch {
	case requiresProof(route, d):
		// No score lets a request through a route that requires proof:
		// only a passed challenge does. The score is kept for the logs.
		d.Rule, d.Action = policy.RuleRequireProof, policy.ActionChallenge
	case challengeSet && d.Clearance != clearance.Valid:
		d.Rule, d.Action = policy.RuleSetChallenge, policy.ActionChallenge
	case d.Result.Certainty == scoring.UnverifiedCrawler:
		// An honest crawler nobody can vouch for: the route says what
		// to do with it (link previews and feed readers are such), not
		// the score, which is recorded.
		d.Action = orRateLimit(route.UnverifiedCrawlers, limited)
	default:
		d.Action = route.Action(d.Score, limited)
	}
	if limited && d.Action != policy.ActionDeny && st.history.Escalates(&d.History) {
		// It has been told to come back later often enough. A breach
		// that the score already challenges is escalated too: a client
		// that keeps breaking a hard limit has had its chance.
		d.Rule, d.Action = policy.RuleEscalated, policy.ActionDeny
	}
	enforce(st, applied, f, d)
	var ev history.Events
	if d.Action == policy.ActionDeny {
		ev |= history.Denied
	}
	if limited {
		ev |= history.RateLimited
	}
	s.recordHistory(st, c, ev)
	return d
}

// recordHistory hands what was decided to the history writer: ev (a
// denial, a hard-limit breach), and what the Check's sighting of its
// session found. It records what the policy decided, enforced or not, so
// shadow mode shows what history would do under enforcement. An event
// whose count the Check read at its bound is not counted again
// (history.Config.Held).
func (s *Server) recordHistory(st *state, c *check, ev history.Events) {
	if s.history == nil || st.history.Window <= 0 {
		return
	}
	ev |= c.decision.History.Sighting
	if ev == 0 {
		return
	}
	s.history.RecordHeld(c.entity, ev, st.history.Held(&c.decision.History), st.history.Window, s.now())
}

// orRateLimit is a, or a rate limit when a is allow and a hard limit is
// exceeded: what a crawler setting allows, the hard limits still bound.
func orRateLimit(a policy.Action, limited bool) policy.Action {
	if a == policy.ActionAllow && limited {
		return policy.ActionRateLimit
	}
	return a
}

// verifyCrawler verifies the crawler the request claims to be, filling
// the decision's Crawler, and reports whether it is verified.
func (s *Server) verifyCrawler(c *check) bool {
	d, f := &c.decision, &c.facts
	d.Crawler = crawler.Claim{Entry: -1}
	if s.crawlers == nil {
		return false
	}
	c.crawler = crawler.Request{ClientIP: f.ClientIP, Method: f.Method, Scheme: f.Scheme, Authority: f.Host, Path: f.Path, Headers: f.Headers}
	s.crawlers.Verify(&c.crawler, &d.Crawler)
	if d.Crawler.Entry >= 0 {
		d.CrawlerEntry = &s.crawlers.Directory().Crawlers[d.Crawler.Entry]
	}
	return d.Crawler.Verdict == crawler.Verified && d.CrawlerEntry != nil
}

// crawlerClaim is what the score needs of a verdict.
func crawlerClaim(v crawler.Verdict) scoring.CrawlerClaim {
	switch v {
	case crawler.Unverified:
		return scoring.CrawlerClaimUnverified
	case crawler.Impersonation:
		return scoring.CrawlerClaimImpersonation
	}
	return scoring.NoCrawlerClaim
}

// requiresProof reports whether the request must be challenged because its
// route requires proof (require_proof) and it carries no valid clearance:
// none, or one that is forged, expired, bound to another client or signed
// by a retired key. A valid clearance ends the challenge, so a visitor who
// passed one is scored as on any other route and is never sent round again
// for lack of proof. The deterministic rules (CIDR allow and deny lists, and
// the verified bots that are to join them) decide before this point, so
// what they let through is never challenged for proof.
func requiresProof(route *policy.Route, d *Decision) bool {
	return route.RequireProof && d.Clearance != clearance.Valid
}

// enforce sets what the response carries out, by the mode that applies.
func enforce(st *state, applied rollout.Applied, f *Facts, d *Decision) {
	d.Enforced = policy.ActionAllow
	switch applied.Mode {
	case policy.ModeEnforce:
		d.Enforced = d.Action
	case policy.ModeCanary:
		if key := canaryKey(f); key != "" && st.canary.Enforced(key, applied.Percent) {
			d.Enforced = d.Action
		} else {
			// Outside the canary the decision is recorded as shadow.
			d.Mode = policy.ModeShadow
		}
	}
}

// tlsFingerprint is the client's JA4 from the header Envoy sets, when the
// policy trusts Envoy to overwrite it; otherwise unknown, because a client
// can send that header itself.
func tlsFingerprint(p *policy.Policy, f *Facts) string {
	if !p.TLS.Trusted {
		return ""
	}
	return f.Headers[p.TLS.JA4Header]
}

// verifyClearance checks the clearance cookie against this client: a
// clearance earned by another network or browser is worth nothing.
func (s *Server) verifyClearance(p *policy.Policy, f *Facts, d *Decision) scoring.ClearanceState {
	if s.clearance == nil {
		return scoring.NoClearance
	}
	value := cookieValue(f.Headers["cookie"], p.Challenge.CookieName)
	if value == "" {
		return scoring.NoClearance
	}
	claims, status := s.clearance.Verify(value, clearance.BindingFor(f.ClientIP, f.Headers["user-agent"]), s.now())
	d.Clearance = status
	switch {
	case status != clearance.Valid:
		return scoring.InvalidClearance
	case claims.Automated():
		// challenge.evidence: mark let an automated browser through: it has
		// passed the challenge (a route requiring proof lets it in) but
		// earns no human lift.
		d.ClearanceAutomated = true
		return scoring.NoClearance
	}
	return scoring.ValidClearance
}

// canaryKey is what picks a client for the canary: its session when it has
// one, so a user keeps its treatment across networks, else its address (an
// IPv6 client by its /64). Empty when the request has neither.
func canaryKey(f *Facts) string {
	if f.Session != "" {
		return f.Session
	}
	return f.clientKeyText()
}

// count hits the route's velocity counters, and reads the client's and
// session's history, in one store call and reports whether a hard limit is
// exceeded. It fills the velocity readings for the scorer and the
// decision's History. A store failure leaves both unknown and marks the
// decision degraded; it never fails the Check.
func (s *Server) count(ctx context.Context, st *state, route *policy.Route, c *check) (limited bool) {
	f, d := &c.facts, &c.decision
	now := s.now()
	var keys identityKeys
	n := 0
	for i := range route.Limits {
		l := &route.Limits[i]
		key, ok := keys.of(l.Key, f)
		if !ok {
			continue
		}
		lane := l.Lane
		if lane == "" { // a Limit not made by policy.Parse
			lane = ratelimit.VelocityLane(l.Key, route.Name, l.Window)
		}
		c.counters[n] = ratelimit.Counter{Key: key, Lane: lane, Window: l.Window}
		c.limits[n] = l
		n++
	}
	counters, plan := c.counters[:n], history.Plan{}
	if f.HTTP {
		c.entity = history.Entity{Client: f.clientKeyText(), Session: f.sessionKeyText()}
		if c.entity.Session != "" {
			// Only a session's networks are counted by subnet.
			c.entity.Subnet = f.subnetKeyText()
		}
		if st.history.Window > 0 {
			// The history counters are lanes of the keys counted above,
			// and the writer's too: build each key once.
			c.entity.ClientKey, _ = keys.of(ratelimit.DimIP, f)
			c.entity.SessionKey, _ = keys.of(ratelimit.DimSession, f)
			// A session's sighting on this network, when due, is counted
			// in this call rather than by the writer in two of its own.
			c.entity.Sighting = s.history.DueSighting(&c.entity, st.history.Window, now)
		}
		counters, plan = st.history.AppendCounters(counters, &c.entity)
	}
	if len(counters) == 0 {
		return false
	}
	if err := s.hit(ctx, now, counters, c.obs[:len(counters)]); err != nil {
		d.Degraded = true
		if c.entity.Sighting {
			s.history.SightingFailed(&c.entity)
		}
		return false
	}
	d.History = plan.Read(c.obs[:len(counters)])
	for i := range n {
		l, o := c.limits[i], c.obs[i]
		est := o.Estimate()
		c.velocity[i] = scoring.Velocity{Code: velocityCode(l.Key), Estimate: est, Threshold: l.ScoreAbove}
		if l.Max > 0 && est > float64(l.Max) {
			limited = true
			if wait := o.RetryAfter(l.Max); d.Limit == nil || wait > d.RetryAfter {
				d.Limit, d.RetryAfter = l, wait
			}
		}
	}
	c.request.Velocity = c.velocity[:n]
	return limited
}

// hit is the one counter store call of a Check, traced as a child span
// when the Check's span records (and free when it does not).
func (s *Server) hit(ctx context.Context, now time.Time, counters []ratelimit.Counter, obs []ratelimit.Observation) error {
	parent := trace.SpanFromContext(ctx)
	if !parent.IsRecording() {
		return s.store.Hit(ctx, now, counters, obs)
	}
	tracer := s.tracer
	if tracer == nil {
		tracer = parent.TracerProvider().Tracer(tracerName)
	}
	ctx, span := tracer.Start(ctx, "ratelimit.Hit", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.Int("ratelimit.counters", len(counters))))
	defer span.End()
	err := s.store.Hit(ctx, now, counters, obs)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "counter store degraded")
	}
	return err
}

// identityKeys are the identity keys (ratelimit.IdentityKey) of one Check,
// each built when first needed: a Check allocates at most one per identity,
// however many counters are lanes of it.
type identityKeys struct {
	client, subnet, session string
}

// of returns the key of the identity counters of dimension dim count by, or
// false when the request does not have one (see counterID).
func (k *identityKeys) of(dim ratelimit.Dimension, f *Facts) (string, bool) {
	id, ok := counterID(dim, f)
	if !ok {
		return "", false
	}
	key := &k.client // DimIP, DimRouteIP
	switch dim {
	case ratelimit.DimSubnet:
		key = &k.subnet
	case ratelimit.DimSession:
		key = &k.session
	}
	if *key == "" {
		switch dim {
		case ratelimit.DimIP, ratelimit.DimRouteIP:
			*key = f.clientIdentity
		case ratelimit.DimSubnet:
			*key = f.subnetIdentity
		default:
			*key = ratelimit.IdentityKey(dim, id)
		}
	}
	return *key, true
}

// counterID returns the identity a counter of dimension dim counts by, or
// false when the request does not have one (no parseable client IP, no
// session cookie).
func counterID(dim ratelimit.Dimension, f *Facts) (string, bool) {
	var id string
	switch dim {
	case ratelimit.DimSession:
		id = f.sessionKeyText()
	case ratelimit.DimSubnet:
		id = f.subnetKeyText()
	case ratelimit.DimIP, ratelimit.DimRouteIP:
		id = f.clientKeyText()
	}
	return id, id != ""
}

// clientKeyText is ratelimit.ClientID of the client, built at most once
// per Check; empty without a client IP.
func (f *Facts) clientKeyText() string {
	f.networkIDs()
	return f.clientKey
}

// subnetKeyText is ratelimit.SubnetID of the client, built at most once
// per Check; empty without a client IP.
func (f *Facts) subnetKeyText() string {
	f.networkIDs()
	return f.subnetKey
}

// networkIDs builds the client's and its network's ids (ratelimit.ClientID
// and SubnetID) and identity keys (ratelimit.IdentityKey of DimIP and
// DimSubnet) at once, in one string: a Check counted over Redis uses all
// four, and building each on its own cost four allocations and the
// network's formatting twice.
func (f *Facts) networkIDs() {
	if f.networkDone {
		return
	}
	f.networkDone = true
	if !f.ClientIP.IsValid() {
		return
	}
	var buf [160]byte
	b := ratelimit.AppendClientID(buf[:0], f.ClientIP)
	client := len(b)
	b = ratelimit.AppendSubnetID(b, f.ClientIP)
	subnet := len(b)
	// The conversions copy: b grows while they are read.
	b = ratelimit.AppendIdentityKey(b, ratelimit.DimIP, string(b[:client]))
	clientKey := len(b)
	b = ratelimit.AppendIdentityKey(b, ratelimit.DimSubnet, string(b[client:subnet]))
	all := string(b)
	f.clientKey, f.subnetKey = all[:client], all[client:subnet]
	f.clientIdentity, f.subnetIdentity = all[subnet:clientKey], all[clientKey:]
}

// sessionKeyText is ratelimit.SessionID of the session cookie, hashed at
// most once per Check; empty without a session.
func (f *Facts) sessionKeyText() string {
	if f.sessionKey == "" {
		f.sessionKey = ratelimit.SessionID(f.Session)
	}
	return f.sessionKey
}

func velocityCode(d ratelimit.Dimension) scoring.Code {
	switch d {
	case ratelimit.DimIP:
		return scoring.VelocityIP
	case ratelimit.DimSubnet:
		return scoring.VelocitySubnet
	case ratelimit.DimSession:
		return scoring.VelocitySession
	default:
		return scoring.VelocityRouteIP
	}
}
