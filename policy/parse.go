package policy

import (
	"cmp"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/botauthz/botauthz/challenge/provider"
	"github.com/botauthz/botauthz/ratelimit"
	"github.com/botauthz/botauthz/scoring"
)

//go:embed default.yaml
var defaultYAML []byte

// The raw types mirror the file. Pointers tell "omitted" (take the default)
// from "set to the zero value".
type rawFile struct {
	Version       string               `yaml:"version"`
	SessionCookie *string              `yaml:"session_cookie"`
	ClientIP      *rawClientIP         `yaml:"client_ip"`
	Score         *rawScore            `yaml:"score"`
	Routes        map[string]*rawRoute `yaml:"routes"`
	Rollout       *rawRollout          `yaml:"rollout"`
	Challenge     *rawChallenge        `yaml:"challenge"`
	Rules         *rawRules            `yaml:"rules"`
	DecisionLog   *rawDecisionLog      `yaml:"decision_log"`
	TLS           *rawTLS              `yaml:"tls"`
	Crawlers      *rawCrawlers         `yaml:"crawlers"`
	Reputation    *rawReputation       `yaml:"reputation"`
	History       *rawHistory          `yaml:"history"`
}

type rawTLS struct {
	JA4Header *string `yaml:"ja4_header"`
	Trusted   *bool   `yaml:"trusted"`
}

type rawDecisionLog struct {
	Features *bool `yaml:"features"`
}

type rawRules struct {
	AllowCIDRs []string          `yaml:"allow_cidrs"`
	DenyCIDRs  []string          `yaml:"deny_cidrs"`
	Sets       map[string]string `yaml:"sets"`
}

type rawChallenge struct {
	CookieName     *string                `yaml:"cookie_name"`
	CookieTTL      *string                `yaml:"cookie_ttl"`
	InsecureCookie *bool                  `yaml:"insecure_cookie"`
	TTL            *string                `yaml:"ttl"`
	Evidence       *string                `yaml:"evidence"`
	Providers      map[string]rawProvider `yaml:"providers"`
	Branding       *rawBranding           `yaml:"branding"`
	MessagesDir    *string                `yaml:"messages_dir"`
}

type rawBranding struct {
	Title       *string         `yaml:"title"`
	LogoURL     *string         `yaml:"logo_url"`
	SupportURL  *string         `yaml:"support_url"`
	SupportText *string         `yaml:"support_text"`
	Colors      *rawBrandColors `yaml:"colors"`
}

type rawBrandColors struct {
	Accent         *string `yaml:"accent"`
	AccentText     *string `yaml:"accent_text"`
	AccentDark     *string `yaml:"accent_dark"`
	AccentTextDark *string `yaml:"accent_text_dark"`
}

type rawProvider struct {
	SiteKey      string  `yaml:"site_key"`
	SecretEnv    string  `yaml:"secret_env"`
	AppKey       string  `yaml:"app_key"`
	AppSecretEnv string  `yaml:"app_secret_env"`
	Hostname     string  `yaml:"hostname"`
	Action       string  `yaml:"action"`
	MinScore     float64 `yaml:"min_score"`
}

type rawRouteChallenge struct {
	Provider   *string `yaml:"provider"`
	Difficulty *int    `yaml:"difficulty"`
}

type rawRollout struct {
	CanarySalt   *string `yaml:"canary_salt"`
	OverrideFile *string `yaml:"override_file"`
	Refresh      *string `yaml:"refresh"`
}

type rawClientIP struct {
	XFFTrustedHops *int  `yaml:"xff_trusted_hops"`
	BehindProxy    *bool `yaml:"behind_proxy"`
}

// rawScore is a score block, global or a route's. Its weights are by
// signal name, validated against the scoring package's codes.
type rawScore struct {
	Weights map[string]float64 `yaml:"weights"`
}

type rawRoute struct {
	Mode           *string            `yaml:"mode"`
	CanaryPercent  *float64           `yaml:"canary_percent"`
	ChallengeBelow *int               `yaml:"challenge_below"`
	DenyBelow      *int               `yaml:"deny_below"`
	Limits         *[]rawLimit        `yaml:"limits"`
	Challenge      *rawRouteChallenge `yaml:"challenge"`
	Score          *rawScore          `yaml:"score"`
	RequireProof   *bool              `yaml:"require_proof"`
	// VerifiedBots maps a crawler category, or "default", to an action.
	VerifiedBots       map[string]string `yaml:"verified_bots"`
	UnverifiedCrawlers *string           `yaml:"unverified_crawlers"`
}

type rawLimit struct {
	Key        string   `yaml:"key"`
	Window     string   `yaml:"window"`
	Max        *int64   `yaml:"max"`
	ScoreAbove *float64 `yaml:"score_above"`
}

// Error is a policy problem tied to one key of the file.
type Error struct {
	// Path is the key's dotted path, e.g. "routes.login.limits[0].window".
	Path string
	// Line is the key's line in the file; 0 when unknown.
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %s: %s", e.Line, e.Path, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.Path, e.Msg)
}

// Default returns the embedded default policy.
func Default() *Policy {
	p, err := Parse(nil)
	if err != nil {
		// The embedded file is covered by tests; failing here is a build defect.
		panic(fmt.Sprintf("embedded default policy: %v", err))
	}
	return p
}

// MaxFileSize bounds a policy file, in bytes. A policy needs a few KiB (the
// README's example, with every key, is under 3 KiB; MaxRoutes routes of ten
// lines each stay well under this) and a Kubernetes ConfigMap holds at most
// 1 MiB. A larger file is a mistake (a log or a dump written over it), and
// parsing one costs hundreds of MB and seconds to minutes of CPU.
const MaxFileSize = 1 << 20

// MaxRoutes bounds the routes a policy names under routes:. Each route is a
// value of the route label of several metrics (one series per action,
// enforced action and mode), and Envoy names a route per endpoint family:
// sites have dozens. 256 leaves room while keeping the series bounded and
// under the telemetry package's own cap on route labels.
const MaxRoutes = 256

// Load reads and parses the policy file at path. Unlike Parse, it refuses a
// file with no keys at all (empty, blanks or comments only): that is far more
// often a file caught mid-write or truncated by mistake than a wish for the
// defaults, which a file asks for with "{}". A file over MaxFileSize is
// refused without being read whole.
func Load(path string) (*Policy, error) {
	p, _, err := LoadFile(path)
	return p, err
}

// LoadFile is Load that also returns the content it parsed, for a Watcher
// to start from (WatcherOptions.Loaded): a change made after this read is
// then a change to the watcher too.
func LoadFile(path string) (*Policy, []byte, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("load policy: %w", err)
	}
	p, err := parseFile(data)
	if err != nil {
		return nil, nil, fmt.Errorf("load policy %s: %w", path, err)
	}
	return p, data, nil
}

// readFile reads at most MaxFileSize+1 bytes of the file: enough for
// parseFile to tell that it is too large, never a huge file whole.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return data, nil
}

// Parse parses a policy and merges it over the embedded defaults. Empty data
// yields the defaults (Default relies on it; files go through Load, which
// refuses them). A policy over MaxFileSize bytes or with more than MaxRoutes
// routes is refused. Every error names the offending key.
func Parse(data []byte) (*Policy, error) {
	return parse(data, false)
}

// parseFile is Parse for the content of a policy file: one without any key
// is refused (see Load).
func parseFile(data []byte) (*Policy, error) {
	return parse(data, true)
}

func parse(data []byte, file bool) (*Policy, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("larger than the limit of %d bytes (1 MiB, what a ConfigMap holds at most; a policy needs a few KiB)", MaxFileSize)
	}
	def, _, _, err := decode(defaultYAML)
	if err != nil {
		return nil, fmt.Errorf("embedded defaults: %w", err)
	}
	raw, lines, empty, err := decode(data)
	if err != nil {
		return nil, err
	}
	if empty && file {
		return nil, errors.New(`the file has no keys (it is empty, blank or only comments): more likely truncated or half-written than meant; write "{}" to run on the embedded defaults`)
	}
	p, err := build(def, raw)
	if err != nil {
		return nil, withLine(err, lines)
	}
	return p, nil
}

// withLine gives each Error without a line the line of its key in the
// file, when the file has that key, and orders several problems by line, as
// a person reads the file.
func withLine(err error, lines map[string]int) error {
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		var pe *Error
		if errors.As(e, &pe) && pe.Line == 0 {
			pe.Line = lines[pe.Path]
		}
	}
	if len(errs) == 1 {
		return errs[0]
	}
	slices.SortStableFunc(errs, func(a, b error) int { return cmp.Compare(lineOf(a), lineOf(b)) })
	return errors.Join(errs...)
}

// lineOf is err's line in the file, or a line past any for a problem
// without one.
func lineOf(err error) int {
	var e *Error
	if errors.As(err, &e) && e.Line > 0 {
		return e.Line
	}
	return math.MaxInt
}

// decode reads the YAML into the raw types. lines maps every key's dotted
// path (as Error.Path spells it) to its line; empty reports a document
// without any node (empty, blank or only comments).
func decode(data []byte) (_ *rawFile, lines map[string]int, empty bool, _ error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, nil, false, fmt.Errorf("parse policy: %w", err)
	}
	raw := &rawFile{}
	if len(doc.Content) == 0 {
		return raw, nil, true, nil
	}
	root := doc.Content[0]
	// Count the routes before walking them: a file with a hundred thousand
	// routes should be refused in the time it took to parse, not after
	// building every one.
	if err := checkRouteCount(root); err != nil {
		return nil, nil, false, err
	}
	lines = map[string]int{}
	if err := checkKeys(root, reflect.TypeFor[rawFile](), "", lines); err != nil {
		return nil, nil, false, err
	}
	if err := root.Decode(raw); err != nil {
		return nil, nil, false, fmt.Errorf("parse policy: %w", err)
	}
	return raw, lines, false, nil
}

// checkRouteCount refuses a routes mapping of more than MaxRoutes keys.
// build counts the decoded routes again, whatever YAML trick added them.
func checkRouteCount(root *yaml.Node) error {
	if root.Kind == yaml.AliasNode {
		root = root.Alias
	}
	if root.Kind != yaml.MappingNode {
		return nil // checkKeys says what is wrong
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Value != "routes" {
			continue
		}
		if v.Kind == yaml.AliasNode {
			v = v.Alias
		}
		if v.Kind == yaml.MappingNode && len(v.Content)/2 > MaxRoutes {
			return tooManyRoutes(len(v.Content)/2, k.Line)
		}
	}
	return nil
}

func tooManyRoutes(n, line int) error {
	return &Error{Path: "routes", Line: line, Msg: fmt.Sprintf("%d routes, at most %d (each is a metrics label value; group endpoints into fewer routes)", n, MaxRoutes)}
}

// checkKeys walks the YAML tree beside the raw types and reports every key
// the types do not know and every value of the wrong shape, each with its
// full path, so a typo reads "routes.login.limts: unknown key" rather than a
// Go type name, and a file with three mistakes shows all three. It records
// each key's line in lines, by path, for the errors build finds later.
func checkKeys(n *yaml.Node, t reflect.Type, path string, lines map[string]int) error {
	var errs []error
	walkKeys(n, t, path, lines, &errs)
	return errors.Join(errs...)
}

// walkKeys is checkKeys' walk: a problem is appended to errs and the walk
// goes on beside it, never into it.
func walkKeys(n *yaml.Node, t reflect.Type, path string, lines map[string]int, errs *[]error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			*errs = append(*errs, &Error{Path: orRoot(path), Line: n.Line, Msg: "must be a mapping"})
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			f, ok := fieldByTag(t, k.Value)
			if !ok {
				msg := "unknown key"
				if why, removed := removedKey(t, k.Value); removed {
					msg = why
				}
				*errs = append(*errs, &Error{Path: join(path, k.Value), Line: k.Line, Msg: msg})
				continue
			}
			lines[join(path, k.Value)] = k.Line
			walkKeys(v, f.Type, join(path, k.Value), lines, errs)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			if n.Tag == "!!null" {
				return
			}
			*errs = append(*errs, &Error{Path: orRoot(path), Line: n.Line, Msg: "must be a mapping"})
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			lines[join(path, k.Value)] = k.Line
			walkKeys(v, t.Elem(), join(path, k.Value), lines, errs)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			if n.Tag == "!!null" {
				return
			}
			*errs = append(*errs, &Error{Path: orRoot(path), Line: n.Line, Msg: "must be a list"})
			return
		}
		for i, v := range n.Content {
			item := path + "[" + strconv.Itoa(i) + "]"
			lines[item] = v.Line
			walkKeys(v, t.Elem(), item, lines, errs)
		}
	default:
		if n.Kind != yaml.ScalarNode {
			*errs = append(*errs, &Error{Path: orRoot(path), Line: n.Line, Msg: "must be a single value"})
			return
		}
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			*errs = append(*errs, &Error{Path: orRoot(path), Line: n.Line, Msg: fmt.Sprintf("%q is not %s", n.Value, kindName(t.Kind()))})
		}
	}
}

// removedKey says why a key that raw type t once had is gone, and what to
// do instead; false for a key t never had.
func removedKey(t reflect.Type, key string) (string, bool) {
	if t == reflect.TypeFor[rawScore]() && key == "base" {
		return "score.base was removed: the score is now the trained model's calibrated probability; move challenge_below/deny_below instead", true
	}
	return "", false
}

func kindName(k reflect.Kind) string {
	switch k {
	case reflect.Int, reflect.Int64:
		return "a whole number"
	case reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	default:
		return "a string"
	}
}

func fieldByTag(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if name, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); name == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func orRoot(path string) string {
	if path == "" {
		return "(document)"
	}
	return path
}

// build merges file over def and validates the result. Route fields the file
// omits come from the file's default route, whose omitted fields come from the
// embedded default route.
func build(def, file *rawFile) (*Policy, error) {
	if len(file.Routes) > MaxRoutes {
		return nil, tooManyRoutes(len(file.Routes), 0)
	}
	p := &Policy{Version: file.Version, Routes: map[string]*Route{}}
	// Every section is built, and every problem kept: a file with three
	// mistakes is refused with all three (-check-config prints them).
	var errs []error
	fail := func(err error) bool {
		if err != nil {
			errs = append(errs, err)
		}
		return err != nil
	}

	p.SessionCookie = *pick(file.SessionCookie, def.SessionCookie)
	if !validCookieName(p.SessionCookie) {
		fail(&Error{Path: "session_cookie", Msg: fmt.Sprintf("%q is not a valid cookie name", p.SessionCookie)})
	}

	var fileHops, defHops *int
	if file.ClientIP != nil {
		fileHops = file.ClientIP.XFFTrustedHops
	}
	if def.ClientIP != nil {
		defHops = def.ClientIP.XFFTrustedHops
	}
	p.XFFTrustedHops = *pick(fileHops, defHops)
	if p.XFFTrustedHops < 0 || p.XFFTrustedHops > 16 {
		fail(&Error{Path: "client_ip.xff_trusted_hops", Msg: fmt.Sprintf("%d out of range 0-16", p.XFFTrustedHops)})
	}
	var fileProxy, defProxy *bool
	if file.ClientIP != nil {
		fileProxy = file.ClientIP.BehindProxy
	}
	if def.ClientIP != nil {
		defProxy = def.ClientIP.BehindProxy
	}
	no := false
	p.BehindProxy = *pick(fileProxy, pick(defProxy, &no))

	var fileFeatures, defFeatures *bool
	if file.DecisionLog != nil {
		fileFeatures = file.DecisionLog.Features
	}
	if def.DecisionLog != nil {
		defFeatures = def.DecisionLog.Features
	}
	p.LogFeatures = *pick(fileFeatures, pick(defFeatures, &no))

	fail(buildTLS(p, def.TLS, file.TLS))

	global, err := scoreWeights("score.weights", overlayScore(def.Score, file.Score))
	fail(err)
	p.Tuning = scoring.Tuning{Weights: global, BehindProxy: p.BehindProxy}

	fail(buildRollout(p, def.Rollout, file.Rollout))
	fail(buildChallenge(p, def.Challenge, file.Challenge))
	fail(buildCrawlers(p, def.Crawlers, file.Crawlers))
	fail(buildReputation(p, def.Reputation, file.Reputation))
	fail(buildHistory(p, def.History, file.History))
	if file.Rules != nil {
		p.Rules.AllowCIDRs, err = parseCIDRs("rules.allow_cidrs", file.Rules.AllowCIDRs)
		fail(err)
		p.Rules.DenyCIDRs, err = parseCIDRs("rules.deny_cidrs", file.Rules.DenyCIDRs)
		fail(err)
		fail(buildSetRules(p, file.Rules.Sets))
	}

	defRoute := overlay(def.Routes[DefaultRoute], file.Routes[DefaultRoute])
	for name, raw := range file.Routes {
		if !validRouteName(name) {
			fail(&Error{Path: "routes." + name, Msg: "route names use a-z, 0-9, '_', '-' and '.', at most 64 characters"})
			continue
		}
		if raw != nil {
			// Each route's own weights are checked where the file wrote
			// them, before they are merged into other routes.
			if _, err := scoreWeights("routes."+name+".score.weights", raw.Score); fail(err) {
				continue
			}
		}
		eff := defRoute
		if name != DefaultRoute {
			eff = overlay(defRoute, raw)
		}
		r, err := buildRoute(p, name, eff)
		if fail(err) {
			continue
		}
		p.Routes[name] = r
	}
	// A default route the file named was built (or refused) above.
	if _, named := file.Routes[DefaultRoute]; !named {
		r, err := buildRoute(p, DefaultRoute, defRoute)
		if !fail(err) {
			p.Routes[DefaultRoute] = r
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return p, nil
}

// buildTLS sets where the client's TLS fingerprint comes from. The header
// name must be one a client cannot slip past Envoy's overwrite: lower case,
// a token, not a pseudo-header.
func buildTLS(p *Policy, def, file *rawTLS) error {
	var fileHeader, defHeader *string
	var fileTrusted, defTrusted *bool
	if file != nil {
		fileHeader, fileTrusted = file.JA4Header, file.Trusted
	}
	if def != nil {
		defHeader, defTrusted = def.JA4Header, def.Trusted
	}
	no, none := false, ""
	p.TLS = TLS{JA4Header: *pick(fileHeader, pick(defHeader, &none)), Trusted: *pick(fileTrusted, pick(defTrusted, &no))}
	h := p.TLS.JA4Header
	if h == "" || h != strings.ToLower(h) || strings.HasPrefix(h, ":") || strings.ContainsFunc(h, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}) {
		return &Error{Path: "tls.ja4_header", Msg: fmt.Sprintf("%q is not a lower-case header name", h)}
	}
	return nil
}

// scoreWeights validates a score block's weights, found at path, and
// returns them by code; nil when it sets none. A model feature's weight is
// log-odds of a human, as scoring.CheckTuning allows; a certainty rule's
// signal can only be turned off, with 0.
func scoreWeights(path string, s *rawScore) (map[scoring.Code]float64, error) {
	if s == nil || len(s.Weights) == 0 {
		return nil, nil
	}
	out := make(map[scoring.Code]float64, len(s.Weights))
	for _, name := range slices.Sorted(maps.Keys(s.Weights)) {
		w := s.Weights[name]
		kpath := path + "." + name
		code, ok := scoring.ParseCode(name)
		if !ok {
			return nil, &Error{Path: kpath, Msg: "unknown signal (see the README for the list)"}
		}
		if err := scoring.CheckTuning(code, w); err != nil {
			return nil, &Error{Path: kpath, Msg: err.Error()}
		}
		out[code] = w
	}
	return out, nil
}

// overlayScore merges two score blocks key by key: top's weights win.
func overlayScore(base, top *rawScore) *rawScore {
	if base == nil || len(base.Weights) == 0 {
		return top
	}
	if top == nil || len(top.Weights) == 0 {
		return base
	}
	w := maps.Clone(base.Weights)
	maps.Copy(w, top.Weights)
	return &rawScore{Weights: w}
}

func overlayChallenge(base, top *rawRouteChallenge) *rawRouteChallenge {
	if base == nil {
		return top
	}
	if top == nil {
		return base
	}
	return &rawRouteChallenge{Provider: pick(top.Provider, base.Provider), Difficulty: pick(top.Difficulty, base.Difficulty)}
}

func buildChallenge(p *Policy, def, file *rawChallenge) error {
	if def == nil {
		def = &rawChallenge{}
	}
	if file == nil {
		file = &rawChallenge{}
	}
	c := &p.Challenge
	empty, no := "", false
	c.CookieName = *pick(file.CookieName, pick(def.CookieName, &empty))
	if !validCookieName(c.CookieName) {
		return &Error{Path: "challenge.cookie_name", Msg: fmt.Sprintf("%q is not a valid cookie name", c.CookieName)}
	}
	c.InsecureCookie = *pick(file.InsecureCookie, pick(def.InsecureCookie, &no))
	if c.InsecureCookie && strings.HasPrefix(c.CookieName, "__Host-") || c.InsecureCookie && strings.HasPrefix(c.CookieName, "__Secure-") {
		return &Error{Path: "challenge.cookie_name", Msg: "browsers drop __Host- and __Secure- cookies without Secure; rename it or set insecure_cookie: false"}
	}
	var err error
	if c.CookieTTL, err = duration("challenge.cookie_ttl", *pick(file.CookieTTL, pick(def.CookieTTL, &empty)), time.Minute, 7*24*time.Hour); err != nil {
		return err
	}
	if c.TTL, err = duration("challenge.ttl", *pick(file.TTL, pick(def.TTL, &empty)), 10*time.Second, time.Hour); err != nil {
		return err
	}
	refuse := EvidenceRefuse
	c.Evidence = *pick(file.Evidence, pick(def.Evidence, &refuse))
	if !slices.Contains(evidenceModes, c.Evidence) {
		return &Error{Path: "challenge.evidence", Msg: fmt.Sprintf("%q is not one of refuse, mark, off", c.Evidence)}
	}
	c.Providers = map[string]Provider{}
	for name, rp := range file.Providers {
		path := "challenge.providers." + name
		// The CAPTCHA providers a route may name besides the built-in
		// proof of work are the provider package's.
		if _, ok := provider.Lookup(name); !ok {
			return &Error{Path: path, Msg: "unknown provider (want " + provider.NameList() + ")"}
		}
		c.Providers[name] = Provider(rp)
	}
	c.MessagesDir = *pick(file.MessagesDir, pick(def.MessagesDir, &empty))
	return buildBranding(&c.Branding, def.Branding, file.Branding)
}

// parseCIDRs reads prefixes; a bare address is its own /32 or /128. A
// prefix with host bits set is refused: "10.0.0.1/8" is more likely a typo
// than a wish to block 10.0.0.0/8.
func parseCIDRs(path string, in []string) ([]netip.Prefix, error) {
	if len(in) > MaxRuleCIDRs {
		return nil, &Error{Path: path, Msg: fmt.Sprintf("%d entries, at most %d (block large sets in Envoy RBAC or the network)", len(in), MaxRuleCIDRs)}
	}
	out := make([]netip.Prefix, 0, len(in))
	for i, s := range in {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, &Error{Path: fmt.Sprintf("%s[%d]", path, i), Msg: fmt.Sprintf("%q is not an address or CIDR prefix", s)}
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		if p.Masked() != p {
			return nil, &Error{Path: fmt.Sprintf("%s[%d]", path, i), Msg: fmt.Sprintf("%q has host bits set; did you mean %s?", s, p.Masked())}
		}
		out = append(out, p)
	}
	return out, nil
}

func duration(path, s string, lo, hi time.Duration) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d < lo || d > hi {
		return 0, &Error{Path: path, Msg: fmt.Sprintf("%q is not a duration between %s and %s", s, lo, hi)}
	}
	return d, nil
}

func buildRollout(p *Policy, def, file *rawRollout) error {
	if def == nil {
		def = &rawRollout{}
	}
	if file == nil {
		file = &rawRollout{}
	}
	empty := ""
	p.Rollout.CanarySalt = *pick(file.CanarySalt, pick(def.CanarySalt, &empty))
	if p.Rollout.CanarySalt == "" {
		return &Error{Path: "rollout.canary_salt", Msg: "must not be empty"}
	}
	p.Rollout.OverrideFile = *pick(file.OverrideFile, pick(def.OverrideFile, &empty))
	refresh := *pick(file.Refresh, pick(def.Refresh, &empty))
	d, err := time.ParseDuration(refresh)
	if err != nil || d < 100*time.Millisecond || d > time.Hour {
		return &Error{Path: "rollout.refresh", Msg: fmt.Sprintf("%q is not a duration between 100ms and 1h", refresh)}
	}
	p.Rollout.Refresh = d
	return nil
}

func pick[T any](v, fallback *T) *T {
	if v != nil {
		return v
	}
	return fallback
}

func overlay(base, top *rawRoute) *rawRoute {
	if base == nil {
		base = &rawRoute{}
	}
	if top == nil {
		return base
	}
	return &rawRoute{
		Mode:           pick(top.Mode, base.Mode),
		CanaryPercent:  pick(top.CanaryPercent, base.CanaryPercent),
		ChallengeBelow: pick(top.ChallengeBelow, base.ChallengeBelow),
		DenyBelow:      pick(top.DenyBelow, base.DenyBelow),
		Limits:         pick(top.Limits, base.Limits),
		Challenge:      overlayChallenge(base.Challenge, top.Challenge),
		Score:          overlayScore(base.Score, top.Score),
		RequireProof:   pick(top.RequireProof, base.RequireProof),

		VerifiedBots:       overlayVerifiedBots(base.VerifiedBots, top.VerifiedBots),
		UnverifiedCrawlers: pick(top.UnverifiedCrawlers, base.UnverifiedCrawlers),
	}
}

func buildRoute(p *Policy, name string, raw *rawRoute) (*Route, error) {
	path := "routes." + name
	if raw.Mode == nil || raw.ChallengeBelow == nil || raw.DenyBelow == nil {
		return nil, &Error{Path: path, Msg: "incomplete route (the embedded defaults are missing a field)"}
	}
	mode, err := ParseMode(*raw.Mode)
	if err != nil {
		return nil, &Error{Path: path + ".mode", Msg: err.Error()}
	}
	r := &Route{Name: name, Mode: mode, ChallengeBelow: *raw.ChallengeBelow, DenyBelow: *raw.DenyBelow}
	if raw.CanaryPercent != nil {
		r.CanaryPercent = *raw.CanaryPercent
	}
	if raw.RequireProof != nil {
		r.RequireProof = *raw.RequireProof
	}
	if r.CanaryPercent < 0 || r.CanaryPercent > 100 || r.CanaryPercent != r.CanaryPercent {
		return nil, &Error{Path: path + ".canary_percent", Msg: fmt.Sprintf("%g out of range 0-100", r.CanaryPercent)}
	}
	if mode == ModeCanary && raw.CanaryPercent == nil {
		return nil, &Error{Path: path + ".canary_percent", Msg: "required with mode canary"}
	}
	if r.ChallengeBelow < 1 || r.ChallengeBelow > 99 {
		return nil, &Error{Path: path + ".challenge_below", Msg: fmt.Sprintf("%d out of range 1-99", r.ChallengeBelow)}
	}
	if r.DenyBelow < 1 || r.DenyBelow > 99 {
		return nil, &Error{Path: path + ".deny_below", Msg: fmt.Sprintf("%d out of range 1-99", r.DenyBelow)}
	}
	if r.DenyBelow > r.ChallengeBelow {
		return nil, &Error{Path: path + ".deny_below", Msg: fmt.Sprintf("%d is above challenge_below %d", r.DenyBelow, r.ChallengeBelow)}
	}
	if raw.Challenge == nil || raw.Challenge.Provider == nil || raw.Challenge.Difficulty == nil {
		return nil, &Error{Path: path + ".challenge", Msg: "incomplete (the embedded defaults are missing a field)"}
	}
	r.Challenge = RouteChallenge{Provider: *raw.Challenge.Provider, Difficulty: *raw.Challenge.Difficulty}
	if r.Tuning, err = routeTuning(p, path, raw.Score); err != nil {
		return nil, err
	}
	if err := buildRouteCrawlers(r, path, raw); err != nil {
		return nil, err
	}
	if _, ok := p.Challenge.Providers[r.Challenge.Provider]; !ok && r.Challenge.Provider != "pow" {
		return nil, &Error{Path: path + ".challenge.provider", Msg: fmt.Sprintf("%q is neither pow nor a provider configured under challenge.providers", r.Challenge.Provider)}
	}
	if r.Challenge.Difficulty < 1 || r.Challenge.Difficulty > 8 {
		return nil, &Error{Path: path + ".challenge.difficulty", Msg: fmt.Sprintf("%d out of range 1-8 (leading zero hex digits; each is 16 times the work)", r.Challenge.Difficulty)}
	}
	if raw.Limits == nil {
		return r, nil
	}
	if len(*raw.Limits) > MaxLimitsPerRoute {
		return nil, &Error{Path: path + ".limits", Msg: fmt.Sprintf("%d limits, at most %d", len(*raw.Limits), MaxLimitsPerRoute)}
	}
	for i, rl := range *raw.Limits {
		lpath := fmt.Sprintf("%s.limits[%d]", path, i)
		l, err := buildLimit(lpath, rl)
		if err != nil {
			return nil, err
		}
		l.Lane = ratelimit.VelocityLane(l.Key, name, l.Window)
		for _, prev := range r.Limits {
			// Two limits on one counter would count each request twice.
			if prev.Key == l.Key && prev.Window == l.Window {
				return nil, &Error{Path: lpath, Msg: fmt.Sprintf("duplicates another %s limit with window %s; merge them", l.Key, l.Window)}
			}
		}
		r.Limits = append(r.Limits, l)
	}
	return r, nil
}

// routeTuning is the policy's tuning with the route's weights (its own over
// the file's default route's, already merged by overlay) merged over the
// policy's, key by key. A route that sets no weights shares p.Tuning.
func routeTuning(p *Policy, path string, s *rawScore) (scoring.Tuning, error) {
	own, err := scoreWeights(path+".score.weights", s)
	if err != nil || own == nil {
		return p.Tuning, err
	}
	w := maps.Clone(p.Tuning.Weights)
	if w == nil {
		w = make(map[scoring.Code]float64, len(own))
	}
	maps.Copy(w, own)
	return scoring.Tuning{Weights: w, BehindProxy: p.BehindProxy}, nil
}

func buildLimit(path string, rl rawLimit) (Limit, error) {
	var l Limit
	if rl.Key == "" {
		return l, &Error{Path: path + ".key", Msg: "required (ip, subnet, session or route_ip)"}
	}
	d, err := ratelimit.ParseDimension(rl.Key)
	if err != nil {
		return l, &Error{Path: path + ".key", Msg: err.Error()}
	}
	l.Key = d
	if rl.Window == "" {
		return l, &Error{Path: path + ".window", Msg: "required, e.g. 60s"}
	}
	w, err := time.ParseDuration(rl.Window)
	if err != nil {
		return l, &Error{Path: path + ".window", Msg: fmt.Sprintf("%q is not a duration such as 10s or 1m", rl.Window)}
	}
	if w < time.Second || w > 24*time.Hour || w%time.Millisecond != 0 {
		return l, &Error{Path: path + ".window", Msg: fmt.Sprintf("%s out of range 1s-24h", w)}
	}
	l.Window = w
	if rl.Max != nil {
		if *rl.Max < 1 {
			return l, &Error{Path: path + ".max", Msg: fmt.Sprintf("%d must be at least 1 (omit it for no hard limit)", *rl.Max)}
		}
		l.Max = *rl.Max
	}
	switch {
	case rl.ScoreAbove != nil:
		if *rl.ScoreAbove < 0 {
			return l, &Error{Path: path + ".score_above", Msg: "must not be negative"}
		}
		l.ScoreAbove = *rl.ScoreAbove
	case l.Max > 0:
		// Slowing down before the wall: half the hard limit starts costing score.
		l.ScoreAbove = float64(l.Max) / 2
	}
	if l.Max == 0 && l.ScoreAbove == 0 {
		return l, &Error{Path: path, Msg: "needs max, score_above or both"}
	}
	return l, nil
}

func validRouteName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// validCookieName follows RFC 6265's token: visible ASCII minus separators.
func validCookieName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?={}`, c) >= 0 {
			return false
		}
	}
	return true
}
