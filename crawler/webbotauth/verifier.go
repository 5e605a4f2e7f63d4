package webbotauth

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// WellKnownPath is where an origin serves its key directory
// (draft-ietf-webbotauth-httpsig-protocol-01 §8.1, RFC 8615).
const WellKnownPath = "/.well-known/http-message-signatures-directory"

// DirectoryMediaType is the media type a directory at WellKnownPath is
// served with (-01 §5.5.1, §8.2).
const DirectoryMediaType = "application/http-message-signatures-directory+json"

const (
	defaultRefresh = time.Hour
	// defaultMaxSkew: neither RFC 9421 nor the drafts give a number, and
	// -01 Appendix C.6 notes that short signature lifetimes make skew
	// matter. A minute covers hosts kept by NTP and adds little to
	// signatures that live minutes (the npm package's example: 5).
	defaultMaxSkew = time.Minute
	// minMaxAge bounds below how far a directory's Cache-Control max-age
	// may shorten Refresh, so an agent cannot make every verifier poll it
	// continuously.
	minMaxAge    = time.Minute
	fetchTimeout = 10 * time.Second
	// maxDirectoryBytes bounds a directory response after content
	// decoding (-01 §6.7).
	maxDirectoryBytes = 64 << 10
	// retryBase and retryMax bound the backoff after failed fetches; -01
	// Appendix C.5 keeps negative caching under five minutes.
	retryBase = time.Second
	retryMax  = 5 * time.Minute
)

// Options configures a Verifier.
type Options struct {
	// Directories maps each trusted signature agent (an origin,
	// "https://chatgpt.com") to its key directory URL; "" means origin +
	// "/.well-known/http-message-signatures-directory". A "file://" URL
	// reads a local JWKS (air-gapped deployments; static keys). Agents not
	// listed are never fetched (fetching arbitrary origins a client names
	// would be an SSRF and amplification vector).
	Directories map[string]string
	// Client fetches directories; nil means a client with a short timeout.
	// Redirects are never followed, whatever the client says (-01 §5.5).
	Client *http.Client
	// Refresh is how often each directory is re-fetched; default 1h. The
	// response's Cache-Control max-age may shorten it, not below a minute.
	Refresh time.Duration
	// MaxSkew is the clock skew tolerated on created and expires; default
	// one minute.
	MaxSkew time.Duration
	// Now gives the time; nil means time.Now.
	Now func() time.Time
	// Logger receives directory fetch outcomes; nil means slog.Default().
	Logger *slog.Logger
}

// Verifier verifies Web Bot Auth signatures against the key directories of
// the configured agents. It is safe for concurrent use.
type Verifier struct {
	dirs     []*directory          // sorted by agent; fixed after New
	byOrigin map[string]*directory // agent origin → directory
	byURL    map[string]*directory // directory URL (origin + path) → directory
	client   *http.Client
	now      func() time.Time
	log      *slog.Logger
	started  atomic.Bool
	bases    basePool

	// Fixed after New; in-package tests shorten the durations and admit
	// the RFC 9421 test key to run the published vectors.
	refresh       time.Duration
	maxSkew       time.Duration
	minMaxAge     time.Duration
	retryBase     time.Duration
	retryMax      time.Duration
	fetchTimeout  time.Duration
	maxBody       int64
	allowTestKeys bool
}

// directory is one trusted agent's key directory.
type directory struct {
	agent     string   // normalized origin
	source    *url.URL // where keys are read: https or file
	wellKnown bool     // source is the agent's well-known URL

	keys atomic.Pointer[keySet] // nil until the first successful fetch

	mu          sync.Mutex // guards the fields below, read by Directories
	lastAttempt time.Time
	lastErr     error
	nextFetch   time.Time
	failures    int
}

// New checks opts and returns a Verifier. Every problem in opts is
// reported at once. Call Start to fetch the directories.
func New(opts Options) (*Verifier, error) {
	v := &Verifier{
		byOrigin:     map[string]*directory{},
		byURL:        map[string]*directory{},
		now:          opts.Now,
		log:          opts.Logger,
		refresh:      opts.Refresh,
		maxSkew:      opts.MaxSkew,
		minMaxAge:    minMaxAge,
		retryBase:    retryBase,
		retryMax:     retryMax,
		fetchTimeout: fetchTimeout,
		maxBody:      maxDirectoryBytes,
	}
	var errs []error
	switch {
	case opts.Refresh == 0:
		v.refresh = defaultRefresh
	case opts.Refresh < time.Second:
		errs = append(errs, fmt.Errorf("refresh %v: below one second", opts.Refresh))
	}
	switch {
	case opts.MaxSkew == 0:
		v.maxSkew = defaultMaxSkew
	case opts.MaxSkew < 0:
		errs = append(errs, fmt.Errorf("max skew %v: negative", opts.MaxSkew))
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.log == nil {
		v.log = slog.Default()
	}
	v.client = noRedirects(opts.Client)

	origins := make([]string, 0, len(opts.Directories))
	for o := range opts.Directories {
		origins = append(origins, o)
	}
	slices.Sort(origins) // stable error order
	for _, o := range origins {
		d, err := newDirectory(o, opts.Directories[o])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if prev, dup := v.byOrigin[d.agent]; dup {
			errs = append(errs, fmt.Errorf("directory %q: same agent as %q", o, prev.agent))
			continue
		}
		v.byOrigin[d.agent] = d
		v.dirs = append(v.dirs, d)
		// A -01 Signature-Agent names the JWK Set URL: the agent's
		// well-known URL always identifies it, and so does a configured
		// https URL.
		v.byURL[d.agent+WellKnownPath] = d
		if d.source.Scheme == "https" {
			if a, ok := parseAgentURL(d.source.String()); ok && !a.isOrigin() {
				v.byURL[a.origin+a.path] = d
			}
		}
	}
	slices.SortFunc(v.dirs, func(a, b *directory) int { return strings.Compare(a.agent, b.agent) })
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("webbotauth: %w", err)
	}
	return v, nil
}

// newDirectory checks one Options.Directories entry.
func newDirectory(origin, dirURL string) (*directory, error) {
	a, ok := parseAgentURL(origin)
	if !ok || !a.isOrigin() || strings.ContainsAny(origin, "?#") {
		return nil, fmt.Errorf("agent %q: not an https origin", origin)
	}
	d := &directory{agent: a.origin}
	if dirURL == "" {
		d.source, _ = url.Parse(a.origin + WellKnownPath)
		d.wellKnown = true
		return d, nil
	}
	u, err := url.Parse(dirURL)
	if err != nil {
		return nil, fmt.Errorf("agent %q: directory URL: %w", origin, err)
	}
	switch u.Scheme {
	case "https":
		if u.Host == "" || u.User != nil || u.Fragment != "" {
			return nil, fmt.Errorf("agent %q: directory URL %q: want https://host/path", origin, dirURL)
		}
		if da, ok := parseAgentURL(dirURL); ok && da.origin == a.origin && da.path == WellKnownPath {
			d.wellKnown = true
		}
	case "file":
		if (u.Host != "" && u.Host != "localhost") || !filepath.IsAbs(u.Path) {
			return nil, fmt.Errorf("agent %q: directory URL %q: want file:///absolute/path", origin, dirURL)
		}
	default:
		return nil, fmt.Errorf("agent %q: directory URL %q: scheme must be https or file", origin, dirURL)
	}
	d.source = u
	return d, nil
}

// noRedirects returns a client that never follows redirects: -01 §5.5
// makes any status but 200 a discovery failure and forbids following
// redirects, which would also let a directory steer our fetches anywhere.
func noRedirects(c *http.Client) *http.Client {
	var out http.Client
	if c != nil {
		out = *c
	} else {
		out.Timeout = fetchTimeout
	}
	out.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &out
}
