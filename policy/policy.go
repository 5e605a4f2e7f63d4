package policy

import (
	"fmt"
	"iter"
	"net/netip"
	"slices"
	"time"

	"github.com/botauthz/botauthz/crawler"
	"github.com/botauthz/botauthz/ratelimit"
	"github.com/botauthz/botauthz/scoring"
)

// DefaultRoute is the route that applies when a request names no route or an
// unknown one. Every Policy has it.
const DefaultRoute = "default"

// MaxLimitsPerRoute bounds the counters one Check touches, so one request
// costs a bounded amount of Redis work whatever the file says.
const MaxLimitsPerRoute = 8

// Mode says what happens to a route's decisions.
type Mode uint8

// Modes, from least to most invasive.
const (
	// ModeOff skips scoring and the counter store: every request is allowed.
	ModeOff Mode = iota + 1
	// ModeShadow decides and records, but allows every request.
	ModeShadow
	// ModeCanary enforces for a stable share of clients (Route.CanaryPercent)
	// and shadows the rest.
	ModeCanary
	// ModeEnforce applies the decided action.
	ModeEnforce
	// ModeBypass allows every request without scoring or counting. Only the
	// kill switch sets it; no policy or override can name it.
	ModeBypass

	modeEnd // one past the last mode
)

// MaxMode is the last mode: a table indexed by Mode has MaxMode+1 entries.
// Tables and loops over modes use it or EveryMode, never a named mode, so
// a mode added here reaches them all (TestEveryModeIsCounted, extauthz).
const MaxMode = modeEnd - 1

// EveryMode yields every mode, in order.
func EveryMode() iter.Seq[Mode] { return every(ModeOff, modeEnd) }

var modeNames = [modeEnd]string{ModeOff: "off", ModeShadow: "shadow", ModeCanary: "canary", ModeEnforce: "enforce", ModeBypass: "bypass"}

// String returns the mode's name as written in the policy file.
func (m Mode) String() string {
	if int(m) < len(modeNames) && modeNames[m] != "" {
		return modeNames[m]
	}
	return "unknown"
}

// ParseMode parses a mode a policy or an override may set: off, shadow,
// canary or enforce.
func ParseMode(s string) (Mode, error) {
	for m, name := range modeNames {
		if name != "" && name == s && Mode(m) != ModeBypass {
			return Mode(m), nil
		}
	}
	return 0, fmt.Errorf("unknown mode %q (want off, shadow, canary or enforce)", s)
}

// MarshalText implements encoding.TextMarshaler.
func (m Mode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with ParseMode.
func (m *Mode) UnmarshalText(b []byte) error {
	v, err := ParseMode(string(b))
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// Action is what a decision asks for.
type Action uint8

// Actions. The zero value is not a valid action.
const (
	ActionAllow Action = iota + 1
	ActionChallenge
	ActionDeny
	ActionRateLimit

	actionEnd // one past the last action
)

// MaxAction is the last action: a table indexed by Action has MaxAction+1
// entries. Tables and loops over actions use it or EveryAction, never a
// named action, so an action added here reaches them all, and a test
// (extauthz) fails until it has a response, a metric label and a README
// row.
const MaxAction = actionEnd - 1

// EveryAction yields every action, in order.
func EveryAction() iter.Seq[Action] { return every(ActionAllow, actionEnd) }

// every yields the values from first up to, not including, end.
func every[T ~uint8](first, end T) iter.Seq[T] {
	return func(yield func(T) bool) {
		for v := first; v < end; v++ {
			if !yield(v) {
				return
			}
		}
	}
}

var actionNames = [actionEnd]string{ActionAllow: "allow", ActionChallenge: "challenge", ActionDeny: "deny", ActionRateLimit: "ratelimit"}

// String returns the action's name as used in headers, logs and metrics.
func (a Action) String() string {
	if int(a) < len(actionNames) && actionNames[a] != "" {
		return actionNames[a]
	}
	return "unknown"
}

// Policy is a validated policy: the embedded defaults with a policy file
// merged over them. It is immutable once built; swap whole policies to change
// behaviour.
type Policy struct {
	// Version labels the policy in decision logs; empty when the file sets none.
	Version string
	// SessionCookie names the cookie whose value identifies a session.
	SessionCookie string
	// XFFTrustedHops is how many proxies in front of Envoy append to
	// x-forwarded-for and are trusted; 0 ignores x-forwarded-for.
	XFFTrustedHops int
	// BehindProxy says Envoy sits behind another HTTP proxy (a CDN, a cloud
	// load balancer), so the HTTP version Envoy sees is that proxy's, not the
	// client's (client_ip.behind_proxy). It is set in every route's Tuning.
	BehindProxy bool
	// Tuning is the policy's change to the shipped scoring model for every
	// route: score.weights and client_ip.behind_proxy. Its Weights is nil
	// when the file sets none. Each Route carries its own, with the route's
	// weights merged over these.
	Tuning scoring.Tuning
	// LogFeatures puts each decision's feature vector in the decision log
	// (decision_log.features).
	LogFeatures bool
	// TLS says where the client's TLS fingerprint comes from.
	TLS TLS
	// Routes holds every route by name, DefaultRoute included.
	Routes map[string]*Route
	// Rollout configures how live rollout state is found and applied.
	Rollout Rollout
	// Challenge configures the challenge pages and the clearance cookie.
	Challenge Challenge
	// Rules are the deterministic rules that decide before the score.
	Rules Rules
	// Crawlers configures crawler verification.
	Crawlers Crawlers
	// Reputation configures network reputation: named CIDR sets and an
	// ASN database.
	Reputation Reputation
	// History configures what a client's and a session's recent past
	// weighs.
	History History
}

// TLS is where the client's JA4 fingerprint comes from: a request header
// Envoy sets from %TLS_JA4_FINGERPRINT% (envoy/front-proxy.yaml's
// header_mutation filter), read only when Trusted, because any client can
// send a header by that name to an Envoy that does not overwrite it.
type TLS struct {
	// JA4Header is the header's name (tls.ja4_header).
	JA4Header string
	// Trusted says Envoy overwrites the header on every request
	// (tls.trusted); false ignores it.
	Trusted bool
}

// MaxRuleCIDRs bounds each rule list: they are scanned on every request,
// and blocking large address sets belongs in Envoy's RBAC or the network.
const MaxRuleCIDRs = 1024

// Rule says which deterministic rule decided a request.
type Rule uint8

// Rules that decide before the score.
const (
	// NoRule: the score decides.
	NoRule Rule = iota
	// RuleAllowCIDR: the client is in an allow_cidrs prefix.
	RuleAllowCIDR
	// RuleDenyCIDR: the client is in a deny_cidrs prefix.
	RuleDenyCIDR
	// RuleRequireProof: the route requires proof (Route.RequireProof) and
	// the request carries no valid clearance, so it is challenged whatever
	// its score. Unlike the CIDR rules it does not skip counting or
	// scoring: the score is still computed and recorded.
	RuleRequireProof
	// RuleVerifiedBot: the client is a crawler verified to be who it says
	// (package crawler); the route's verified_bots decides, and it is not
	// scored. Counting still happens: the hard limits apply.
	RuleVerifiedBot
	// RuleSetAllow, RuleSetDeny and RuleSetChallenge: the client is in a
	// reputation set that rules.sets allows, denies or challenges.
	RuleSetAllow
	RuleSetDeny
	RuleSetChallenge
	// RuleEscalated: the request exceeded a hard limit, and its client
	// address or session had already exceeded one history.escalate_after
	// times within the history window: it is denied rather than asked to
	// retry later (or challenged, when its score had fallen that low). A
	// verified crawler is never escalated.
	RuleEscalated

	ruleEnd // one past the last rule
)

// MaxRule is the last rule: a table indexed by Rule has MaxRule+1 entries.
const MaxRule = ruleEnd - 1

// EveryRule yields every rule that decides, NoRule excluded, in order.
func EveryRule() iter.Seq[Rule] { return every(RuleAllowCIDR, ruleEnd) }

// String returns the reason code of the rule: "rule.allow_cidr",
// "rule.deny_cidr", "rule.require_proof", "rule.verified_bot",
// "rule.set_allow", "rule.set_deny", "rule.set_challenge" or
// "rule.escalated"; "" for NoRule.
func (r Rule) String() string {
	switch r {
	case RuleAllowCIDR:
		return "rule.allow_cidr"
	case RuleDenyCIDR:
		return "rule.deny_cidr"
	case RuleRequireProof:
		return "rule.require_proof"
	case RuleVerifiedBot:
		return "rule.verified_bot"
	case RuleSetAllow:
		return "rule.set_allow"
	case RuleSetDeny:
		return "rule.set_deny"
	case RuleSetChallenge:
		return "rule.set_challenge"
	case RuleEscalated:
		return "rule.escalated"
	}
	return ""
}

// Rules are the policy's deterministic rules.
type Rules struct {
	// AllowCIDRs are trusted clients (your monitors, your offices): allowed
	// without counting or scoring.
	AllowCIDRs []netip.Prefix
	// DenyCIDRs are clients to refuse outright.
	DenyCIDRs []netip.Prefix
	// Sets maps a reputation set's name to what to do with its clients
	// (rules.sets): allow and deny decide before counting and scoring,
	// like the CIDR lists; challenge challenges every request of the set
	// without a valid clearance, whatever its score (as require_proof).
	Sets map[string]Action
}

// Match returns the rule that decides for ip. The allow list is checked
// first: an explicit trust entry must not be undone by a broad deny range.
func (r *Rules) Match(ip netip.Addr) Rule {
	if !ip.IsValid() {
		return NoRule
	}
	for _, p := range r.AllowCIDRs {
		if p.Contains(ip) {
			return RuleAllowCIDR
		}
	}
	for _, p := range r.DenyCIDRs {
		if p.Contains(ip) {
			return RuleDenyCIDR
		}
	}
	return NoRule
}

// Challenge is the policy file's challenge section.
type Challenge struct {
	// CookieName names the clearance cookie.
	CookieName string
	// CookieTTL is how long a clearance lasts.
	CookieTTL time.Duration
	// InsecureCookie drops the Secure attribute, for plain-http development.
	InsecureCookie bool
	// TTL is how long a challenge page may take to be solved.
	TTL time.Duration
	// Evidence is what a proof-of-work answer whose client-side evidence
	// says "automated" gets: EvidenceRefuse (no clearance, the default),
	// EvidenceMark (a clearance marked as automated) or EvidenceOff (the
	// evidence is not looked at).
	Evidence string
	// Providers configures the CAPTCHA providers routes may use, by name
	// (turnstile, hcaptcha, recaptcha, captchala).
	Providers map[string]Provider
	// Branding is how the challenge and failure pages present the site.
	Branding Branding
	// MessagesDir names a directory of <lang>.yaml files whose messages
	// override or add to the pages' built-in ones; empty for none. It is
	// read when the challenge handler is built (at start).
	MessagesDir string
}

// The values of Challenge.Evidence.
const (
	EvidenceRefuse = "refuse"
	EvidenceMark   = "mark"
	EvidenceOff    = "off"
)

var evidenceModes = []string{EvidenceRefuse, EvidenceMark, EvidenceOff}

// Provider configures one CAPTCHA provider. Secrets never sit in the file:
// SecretEnv and AppSecretEnv name the environment variables that hold them.
type Provider struct {
	SiteKey      string
	SecretEnv    string
	AppKey       string
	AppSecretEnv string
	Hostname     string
	Action       string
	MinScore     float64
}

// RouteChallenge is how a route challenges.
type RouteChallenge struct {
	// Provider is "pow" (the built-in proof of work) or a configured CAPTCHA
	// provider's name.
	Provider string
	// Difficulty is the proof of work's number of leading zero hex digits.
	Difficulty int
}

// Rollout is the policy file's rollout section.
type Rollout struct {
	// CanarySalt keys the stable hash that picks canary clients. Changing it
	// reshuffles which clients are in the canary.
	CanarySalt string
	// OverrideFile is a local file (a Kubernetes ConfigMap) whose live state
	// is layered over the shared one; empty for none.
	OverrideFile string
	// Refresh is how often the shared live state is re-read, in case a
	// pushed change was missed.
	Refresh time.Duration
}

// Route is the policy of one route, as named by Envoy's context_extensions.
type Route struct {
	Name string
	Mode Mode
	// CanaryPercent is the share of clients enforced in ModeCanary, 0–100.
	CanaryPercent float64
	// ChallengeBelow: a score below it is challenged.
	ChallengeBelow int
	// DenyBelow: a score below it is denied. DenyBelow <= ChallengeBelow.
	DenyBelow int
	// Limits are the velocity counters this route hits, in file order.
	Limits []Limit
	// Challenge is how this route challenges.
	Challenge RouteChallenge
	// RequireProof challenges every request without a valid clearance
	// cookie, whatever its score (require_proof): page navigations are
	// redirected to the challenge, other requests get the JSON challenge
	// 403. With a valid clearance the score decides as on any route.
	RequireProof bool
	// Tuning is how this route changes the shipped scoring model: the
	// policy's score.weights with routes.default's and then this route's
	// score.weights merged over them key by key, and BehindProxy. Its
	// Weights is nil when nothing is tuned; routes with equal tunings may
	// share one model. Treat it as read-only: routes may share its map.
	Tuning scoring.Tuning
	// VerifiedBots is what the route does with a crawler verified to be
	// who it says, by its category (verified_bots); VerifiedBotsDefault for
	// the categories it does not name. The hard limits still apply.
	VerifiedBots        map[crawler.Category]Action
	VerifiedBotsDefault Action
	// UnverifiedCrawlers is what the route does with a self-declared
	// crawler that could not be verified (unverified_crawlers): no
	// published method, a lookup still pending, or no crawler of the
	// directory. Its score (≤ 29) is recorded either way.
	UnverifiedCrawlers Action
}

// Limit is one velocity counter of a route and what crossing it means.
type Limit struct {
	Key    ratelimit.Dimension
	Window time.Duration
	// Lane is the counter's lane within its identity's key
	// (ratelimit.VelocityLane of Key, the route and Window), built once
	// when the policy is parsed so that a Check does not build it.
	Lane string
	// Max is the hard limit: an estimate above it rate-limits the request.
	// 0 means no hard limit.
	Max int64
	// ScoreAbove is the soft threshold: an estimate above it fires the
	// velocity signal of Key. 0 means the signal never fires.
	ScoreAbove float64
}

// Route returns the policy of the named route, or the default route when the
// name is empty or unknown. It never returns nil.
func (p *Policy) Route(name string) *Route {
	if r, ok := p.Routes[name]; ok {
		return r
	}
	return p.Routes[DefaultRoute]
}

// RouteNames returns the route names, sorted.
func (p *Policy) RouteNames() []string {
	names := make([]string, 0, len(p.Routes))
	for name := range p.Routes {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// Action maps a score and the hard-limit verdict to an action, in the order
// DESIGN.md gives: deny below DenyBelow, challenge below ChallengeBelow,
// ratelimit when a hard limit is exceeded, else allow. A score of 0 (not
// scored) is never denied or challenged.
func (r *Route) Action(score int, limited bool) Action {
	switch {
	case score > 0 && score < r.DenyBelow:
		return ActionDeny
	case score > 0 && score < r.ChallengeBelow:
		return ActionChallenge
	case limited:
		return ActionRateLimit
	default:
		return ActionAllow
	}
}
