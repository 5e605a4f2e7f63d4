package challenge

import (
	"crypto/sha256"
	_ "embed" // the proof-of-work script and the stylesheet
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/botauthz/botauthz/challenge/provider"
	"github.com/botauthz/botauthz/clearance"
	"github.com/botauthz/botauthz/clientip"
	"github.com/botauthz/botauthz/history"
	"github.com/botauthz/botauthz/policy"
)

const (
	// Pow is the provider name of the built-in proof of work.
	Pow = "pow"
	// DefaultDifficulty is the proof of work's difficulty when a route sets
	// none: 4 leading zero hex digits, about 65,000 hashes.
	DefaultDifficulty = 4
	// maxDifficulty matches the policy's own bound; each step is 16 times
	// the work, and 8 is already billions of hashes.
	maxDifficulty = 8

	// clockSkew is how far apart replicas' clocks may be: a token issued
	// this far in the future is still accepted, and redemptions are kept
	// this much longer than the token lives, so a replica whose clock lags
	// cannot accept a replay after the others forgot the redemption.
	clockSkew = time.Minute
	// maxFormBytes bounds the verify body: a token is under 4 KiB,
	// a CAPTCHA vendor's token a few KiB.
	maxFormBytes = 16 << 10
	// defaultTTL is a challenge's lifetime when the policy sets none, as
	// the embedded policy defaults do.
	defaultTTL = 5 * time.Minute
	// redeemTimeout bounds one redemption: past it, this replica's memory
	// decides, rather than a visitor waiting on a stalled store.
	redeemTimeout = time.Second
)

//go:embed challenge.js
var script []byte

//go:embed challenge.css
var stylesheet []byte

// Options configure a Handler.
type Options struct {
	// Policy returns the current policy: routes, cookie settings, XFF hops.
	// Required.
	Policy func() *policy.Policy
	// Signer issues the clearance cookie. Required.
	Signer *clearance.Signer
	// Keys sign the challenge tokens: Keys[0] signs, every key verifies, so
	// they rotate like the clearance keys (and may be the same set; the
	// token's MAC is domain-separated from the cookie's).
	Keys []clearance.Key
	// Verifiers are the configured CAPTCHA providers by name (one of
	// provider.Names()). A route naming a provider
	// missing here gets the proof of work instead.
	Verifiers map[string]provider.Verifier
	// Redeemer records redemptions; nil means a MemoryRedeemer, which does
	// not protect against a replay on another replica. Use a RedisRedeemer
	// with more than one replica.
	Redeemer Redeemer
	// Observer is told about challenges issued and answered; nil for none.
	Observer Observer
	// History records failed answers for the client's address and session
	// (the policy's history section says for how long); nil records none.
	History *history.Writer
	// Logger receives warnings and per-answer debug lines; nil discards.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Handler serves the challenge flow under Prefix:
//
//	GET  Path?route=R&return_to=P  the challenge page for route R
//	GET  ScriptPath                the proof-of-work script
//	GET  StylePath                 the pages' stylesheet
//	GET  ThemePath                 the policy's colours (style.go)
//	GET  ProofPath?c=ID&k=KID      a challenge's own script (proof.go)
//	POST VerifyPath                check the answer, set the clearance
//	                               cookie and redirect 303 to return_to, or
//	                               answer 403 with a link to try again
//
// and 404 for anything else. HEAD is accepted wherever GET is. It is safe for
// concurrent use.
type Handler struct {
	policy    func() *policy.Policy
	signer    *clearance.Signer
	keys      *tokenKeys
	verifiers map[string]provider.Verifier
	// providers are the verifiers' names, sorted.
	providers []string
	// catalog is the pages' languages, loaded once at start.
	catalog *catalog
	// style is the pages' style for the newest policy seen.
	style    atomic.Pointer[pageStyle]
	redeemer Redeemer
	// local remembers this replica's redemptions: it answers when the
	// Redeemer fails, and, fed with every success, it still refuses a
	// replay here if the store fails between the two.
	local    *MemoryRedeemer
	observer Observer
	history  *history.Writer
	log      *slog.Logger
	now      func() time.Time

	scriptETag, scriptVersion string
	styleETag, styleVersion   string

	// secureWarned is when a Secure cookie over http was last warned
	// about, in Unix nanoseconds; 0 for never.
	secureWarned atomic.Int64

	mu sync.Mutex
	// fellBack holds the providers already logged as falling back to the
	// proof of work, so a misconfiguration is logged once, not per visitor.
	fellBack map[string]bool
}

// NewHandler returns a Handler for opts. It refuses a missing Policy,
// Signer or Keys, keys that break the clearance package's rules (ids of
// 1–32 characters of A-Z a-z 0-9 . _ -, secrets of at least 32 bytes, unique
// ids), and a nil or unknown Verifier.
func NewHandler(opts Options) (*Handler, error) {
	if opts.Policy == nil {
		return nil, errors.New("challenge handler: Policy is required")
	}
	h := &Handler{
		policy:    opts.Policy,
		signer:    opts.Signer,
		verifiers: make(map[string]provider.Verifier, len(opts.Verifiers)),
		redeemer:  opts.Redeemer,
		local:     NewMemoryRedeemer(DefaultMemoryEntries),
		observer:  opts.Observer,
		history:   opts.History,
		log:       opts.Logger,
		now:       opts.Now,
		fellBack:  make(map[string]bool),
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	h.local.now = h.now
	if h.observer == nil {
		h.observer = nopObserver{}
	}
	if h.redeemer == nil {
		h.redeemer = h.local
	}

	switch {
	case opts.Signer == nil:
		return nil, errors.New("challenge handler: Signer is required")
	case len(opts.Keys) == 0:
		return nil, errors.New("challenge handler: Keys are required")
	}
	keys, err := newTokenKeys(opts.Keys)
	if err != nil {
		return nil, fmt.Errorf("challenge handler: keys: %w", err)
	}
	h.keys = keys

	names := make([]string, 0, len(opts.Verifiers))
	for name := range opts.Verifiers {
		names = append(names, name)
	}
	sort.Strings(names) // errors name the first bad one, the same every run
	for _, name := range names {
		v := opts.Verifiers[name]
		if v == nil {
			return nil, fmt.Errorf("challenge handler: verifier %q is nil", name)
		}
		if _, ok := provider.Lookup(name); !ok {
			return nil, fmt.Errorf("challenge handler: verifier %q: unknown provider (want %s)", name, provider.NameList())
		}
		h.verifiers[name] = v
	}
	h.providers = names

	pol := opts.Policy()
	if h.catalog, err = loadCatalog(pol.Challenge.MessagesDir); err != nil {
		return nil, fmt.Errorf("challenge handler: %w", err)
	}
	h.styleFor(pol)

	sum := sha256.Sum256(script)
	h.scriptVersion = hex.EncodeToString(sum[:8])
	h.scriptETag = `"` + h.scriptVersion + `"`
	sum = sha256.Sum256(stylesheet)
	h.styleVersion = hex.EncodeToString(sum[:8])
	h.styleETag = `"` + h.styleVersion + `"`
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == VerifyPath {
		if allow(w, r, http.MethodPost) {
			h.serveVerify(w, r)
		}
		return
	}
	var serve func(http.ResponseWriter, *http.Request)
	switch r.URL.Path {
	case Path:
		serve = h.servePage
	case ScriptPath:
		serve = h.serveScript
	case StylePath:
		serve = h.serveStyle
	case ThemePath:
		serve = h.serveTheme
	case ProofPath:
		serve = h.serveProof
	default:
		http.NotFound(w, r)
		return
	}
	if allow(w, r, http.MethodGet, http.MethodHead) {
		serve(w, r)
	}
}

// allow answers 405 unless r's method is one of methods.
func allow(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	if slices.Contains(methods, r.Method) {
		return true
	}
	allowed := methods[0]
	for _, m := range methods[1:] {
		allowed += ", " + m
	}
	w.Header().Set("Allow", allowed)
	http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	return false
}

// serveScript serves the embedded script.
func (h *Handler) serveScript(w http.ResponseWriter, r *http.Request) {
	serveAsset(w, r, "text/javascript; charset=utf-8", script, h.scriptVersion, h.scriptETag)
}

// scriptURL is the script's cache-busting URL.
func (h *Handler) scriptURL() string { return ScriptPath + "?v=" + h.scriptVersion }

// clientIPOf finds the client the way the ext_authz Check does, so the token
// is bound to the same address the clearance will be checked against.
func clientIPOf(r *http.Request, p *policy.Policy) netip.Addr {
	return clientip.From(r.Header.Get("X-Envoy-External-Address"), r.Header.Get("X-Forwarded-For"), p.XFFTrustedHops, r.RemoteAddr)
}

// challengeFor returns the provider and difficulty route r challenges with.
// A CAPTCHA provider without a Verifier falls back to the proof of work:
// a visitor must always get a challenge they can pass.
func (h *Handler) challengeFor(r *policy.Route) (prov string, difficulty int) {
	difficulty = r.Challenge.Difficulty
	if difficulty < 1 {
		difficulty = DefaultDifficulty
	}
	difficulty = min(difficulty, maxDifficulty)
	p := r.Challenge.Provider
	if p == "" || p == Pow {
		return Pow, difficulty
	}
	if _, ok := h.verifiers[p]; ok {
		return p, difficulty
	}
	h.mu.Lock()
	first := !h.fellBack[p]
	h.fellBack[p] = true
	h.mu.Unlock()
	if first {
		h.log.Warn("challenge provider has no verifier configured; serving the proof of work instead",
			"provider", p, "route", r.Name)
	}
	return Pow, difficulty
}
