package provider

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// Result reasons. They are a closed set so they can label metrics.
const (
	ReasonOK                 = "ok"
	ReasonRejected           = "rejected"
	ReasonInvalidToken       = "invalid_token"
	ReasonExpiredOrDuplicate = "expired_or_duplicate"
	ReasonHostnameMismatch   = "hostname_mismatch"
	ReasonActionMismatch     = "action_mismatch"
	ReasonLowScore           = "low_score"
	ReasonMisconfigured      = "misconfigured"
	ReasonUnavailable        = "unavailable"
	ReasonMalformedResponse  = "malformed_response"
)

const (
	// DefaultTimeout bounds a verification when Config.Timeout is zero. The
	// visitor is waiting on the answer, so it is short.
	DefaultTimeout = 3 * time.Second
	// DefaultMinScore is reCAPTCHA's suggested starting threshold for v3.
	DefaultMinScore = 0.5

	// maxBodyBytes bounds a vendor answer: real ones are a few hundred bytes,
	// and a bigger one is garbage we must not buffer without limit.
	maxBodyBytes = 64 << 10
	// maxTokenBytes bounds a token before it is forwarded, so a visitor
	// cannot make us post megabytes to the vendor. Real tokens are a few KiB
	// at most.
	maxTokenBytes = 32 << 10
)

// Result is a verification outcome.
type Result struct {
	// OK is true only when the vendor positively confirmed the token and
	// every configured check (hostname, action, score) passed.
	OK bool
	// Reason is a short, bounded label for metrics and logs: one of the
	// Reason constants.
	Reason string
	// Codes are the vendor's error codes, if any, for logs. They are
	// sanitised (at most 8, each at most 64 bytes of [A-Za-z0-9._:-], other
	// bytes replaced by '_') and a code containing a configured secret is
	// replaced by "redacted".
	Codes []string
	// Score is the vendor's score when it gives one (reCAPTCHA v3: 1.0 is
	// likely human; hCaptcha Enterprise: higher is riskier), else -1. It is
	// the raw value: the direction depends on the vendor.
	Score float64
}

// Verifier verifies CAPTCHA tokens with one vendor. Implementations are safe
// for concurrent use.
type Verifier interface {
	// Name is the provider id, its Spec's Name (one of Names()).
	Name() string
	// SiteKey is the public key the challenge page embeds.
	SiteKey() string
	// Verify asks the vendor whether token is a genuine, unspent solution.
	// remoteIP is the visitor's address; it is optional and is sent only
	// when it parses as an IP address. Verify never returns a failure other
	// than through Result, and never grants on doubt.
	Verify(ctx context.Context, token, remoteIP string) Result
}

// Issuer is a Verifier whose widget cannot start without a one-time token
// the site's server asks the vendor for, with its secret, for each page:
// CaptchaLa's server tokens. The token binds the challenge to the visitor
// (their address) and to one use, so a page scraped by one client is of no
// use to another.
type Issuer interface {
	Verifier
	// Issue asks the vendor for a server token for the visitor at
	// clientIP, valid for about ttl. It fails with an *IssueError, never
	// grants on doubt, and is bounded by the verifier's timeout and ctx.
	Issue(ctx context.Context, clientIP string, ttl time.Duration) (ServerToken, error)
}

// ServerToken is an Issuer's token for one challenge page.
type ServerToken struct {
	// Token is the vendor's token, checked to be safe in a page (for
	// CaptchaLa: sct_ and [A-Za-z0-9_-]).
	Token string
	// Action is the action the token was issued for; the widget must be
	// started with the same one.
	Action string
	// ExpiresIn is how long the vendor says the token lasts.
	ExpiresIn time.Duration
}

// IssueError is why an Issuer gave no token.
type IssueError struct {
	// Reason is one of the Reason constants: ReasonUnavailable (network,
	// timeout, 5xx, quota), ReasonMisconfigured (bad key or secret),
	// ReasonMalformedResponse, or ReasonRejected.
	Reason string
	// Codes are the vendor's error codes, sanitised as in Result.
	Codes []string
}

func (e *IssueError) Error() string {
	if len(e.Codes) == 0 {
		return "issue server token: " + e.Reason
	}
	return "issue server token: " + e.Reason + " (" + strings.Join(e.Codes, ", ") + ")"
}

// Config configures New.
type Config struct {
	// Provider is the vendor, one of Names(). Its Spec says which of the
	// fields below apply: its Credentials, its Checks, its IssuePath.
	Provider string
	// SiteKey is the public key the widget is rendered with. Required except
	// for captchala, whose public key is AppKey (SiteKey may be left empty
	// or must equal AppKey).
	SiteKey string
	// Secret is the server-side secret of turnstile, hcaptcha and recaptcha.
	// It must be empty for captchala, which uses AppKey and AppSecret.
	Secret string
	// AppKey and AppSecret are CaptchaLa's credentials, sent as the X-App-Key
	// and X-App-Secret headers. Separate fields rather than one
	// "key:secret" string, so neither needs parsing or escaping. Required for
	// captchala, must be empty otherwise.
	AppKey, AppSecret string
	// VerifyURL overrides the vendor's documented endpoint (tests point it
	// at httptest). It must be https, except to a loopback host, because
	// the secret travels with every request.
	VerifyURL string
	// IssueURL overrides where server tokens are issued, for a vendor whose
	// Spec has an IssuePath (captchala only). Empty means that path on
	// VerifyURL's origin (CaptchaLaIssueURL by default): both endpoints are
	// one API. The same rules as VerifyURL apply.
	IssueURL string
	// Timeout bounds one whole verification, including reading the answer.
	// Zero means DefaultTimeout; negative is an error.
	Timeout time.Duration
	// Hostname, when set, must equal (case-insensitively) the hostname the
	// vendor reports the widget was solved on. Turnstile, hcaptcha and
	// recaptcha only: CaptchaLa reports no hostname.
	Hostname string
	// Action, when set, must equal the action the vendor reports. Turnstile,
	// recaptcha (v3) and captchala only: hCaptcha reports no action.
	Action string
	// MinScore is the lowest reCAPTCHA v3 score accepted, in [0, 1]. Zero
	// means DefaultMinScore, applied only when the answer carries a score
	// (v2 answers do not). A non-zero MinScore states that v3 is expected,
	// so an answer without a score then fails as "misconfigured". recaptcha
	// only.
	MinScore float64
}

// String describes c without its secrets, so a Config can be printed or
// logged safely.
func (c Config) String() string {
	return fmt.Sprintf("{Provider:%s SiteKey:%s Secret:%s AppKey:%s AppSecret:%s VerifyURL:%s IssueURL:%s Timeout:%s Hostname:%s Action:%s MinScore:%g}",
		c.Provider, c.SiteKey, redact(c.Secret), c.AppKey, redact(c.AppSecret), c.VerifyURL, c.IssueURL, c.Timeout, c.Hostname, c.Action, c.MinScore)
}

// GoString is String, so %#v does not print the secrets either.
func (c Config) GoString() string { return "provider.Config" + c.String() }

// LogValue keeps the secrets out of log/slog output.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("provider", c.Provider),
		slog.String("site_key", c.SiteKey),
		slog.String("secret", redact(c.Secret)),
		slog.String("app_key", c.AppKey),
		slog.String("app_secret", redact(c.AppSecret)),
		slog.String("verify_url", c.VerifyURL),
		slog.String("issue_url", c.IssueURL),
		slog.Duration("timeout", c.Timeout),
		slog.String("hostname", c.Hostname),
		slog.String("action", c.Action),
		slog.Float64("min_score", c.MinScore),
	)
}

func redact(s string) string {
	if s == "" {
		return ""
	}
	return "REDACTED"
}

// ConfigError is a Config that New refuses. It never carries a secret value.
type ConfigError struct {
	// Field is the Config field at fault, e.g. "Secret".
	Field string
	// Problem says what is wrong with it.
	Problem string
}

// Error reads e.g. "provider config: Secret: required for turnstile".
func (e *ConfigError) Error() string {
	return "provider config: " + e.Field + ": " + e.Problem
}

// New returns the Verifier cfg describes. client sends the requests; nil
// means a client of its own (its own transport, no redirects followed), never
// http.DefaultClient, so no state is shared with the rest of the process. A
// caller's client should not follow redirects either: a redirected POST
// becomes a GET and its answer is refused anyway.
func New(cfg Config, client *http.Client) (Verifier, error) {
	spec, ok := Lookup(cfg.Provider)
	if err := validate(&cfg, spec, ok); err != nil {
		// An unknown (possibly mistyped secret) provider value stays out
		// of the message.
		label := "unknown"
		if ok {
			label = spec.Name
		}
		return nil, fmt.Errorf("new %s verifier: %w", label, err)
	}
	if client == nil {
		client = newClient()
	}
	return spec.newVerifier(&cfg, verifier{
		spec:      spec,
		siteKey:   cfg.SiteKey,
		verifyURL: cfg.VerifyURL,
		timeout:   cfg.Timeout,
		client:    client,
		hostname:  cfg.Hostname,
		action:    cfg.Action,
	}), nil
}

// validate checks cfg against spec, the Spec of cfg.Provider (known says
// whether there is one), and fills its defaults. Each refusal of a field
// follows from the spec: its credentials, its checks, whether it issues
// server tokens.
func validate(cfg *Config, spec Spec, known bool) error {
	switch {
	case cfg.Provider == "":
		return &ConfigError{"Provider", "required: one of " + strings.Join(Names(), ", ")}
	case !known:
		return &ConfigError{"Provider", "unknown provider; want one of " + strings.Join(Names(), ", ")}
	}
	if err := checkCredentials(cfg, spec); err != nil {
		return err
	}
	if cfg.Hostname != "" && !spec.Checks.Hostname {
		return &ConfigError{"Hostname", spec.Name + " reports no hostname to check"}
	}

	if cfg.VerifyURL == "" {
		cfg.VerifyURL = spec.VerifyURL
	} else if err := checkEndpoint("VerifyURL", cfg.VerifyURL); err != nil {
		return err
	}
	switch {
	case spec.IssuePath == "" && cfg.IssueURL != "":
		return &ConfigError{"IssueURL", "only used for " + joinNames(namesWhere(func(s Spec) bool { return s.IssuePath != "" }), " and ")}
	case spec.IssuePath == "":
	case cfg.IssueURL != "":
		if err := checkEndpoint("IssueURL", cfg.IssueURL); err != nil {
			return err
		}
	default:
		// The vendor's API is one origin: the default VerifyURL's gives
		// the documented issue URL, an overridden one's its own.
		u, _ := url.Parse(cfg.VerifyURL) // the default, or checked above
		cfg.IssueURL = u.Scheme + "://" + u.Host + spec.IssuePath
	}

	switch {
	case cfg.Timeout < 0:
		return &ConfigError{"Timeout", "must not be negative"}
	case cfg.Timeout == 0:
		cfg.Timeout = DefaultTimeout
	}

	if cfg.Hostname != "" && (strings.ContainsAny(cfg.Hostname, "/ \t\r\n") || strings.TrimSpace(cfg.Hostname) != cfg.Hostname) {
		return &ConfigError{"Hostname", "want a bare hostname such as www.example.com, without scheme, path or spaces"}
	}
	if cfg.Action != "" && !spec.Checks.Action {
		return &ConfigError{"Action", spec.Name + " reports no action to check"}
	}
	if cfg.MinScore != 0 {
		if !spec.Checks.MinScore {
			return &ConfigError{"MinScore", "only applies to " + joinNames(namesWhere(func(s Spec) bool { return s.Checks.MinScore }), " and ")}
		}
		if math.IsNaN(cfg.MinScore) || cfg.MinScore < 0 || cfg.MinScore > 1 {
			return &ConfigError{"MinScore", "must be within [0, 1]"}
		}
	}
	return nil
}

// checkCredentials requires the credentials spec takes and refuses the
// others; for AppKeyAndSecret it makes the AppKey the public SiteKey.
func checkCredentials(cfg *Config, spec Spec) error {
	p := spec.Name
	if spec.Credentials == AppKeyAndSecret {
		if cfg.Secret != "" {
			return &ConfigError{"Secret", "not used for " + p + "; set AppKey and AppSecret"}
		}
		if err := checkCredential("AppKey", cfg.AppKey, p); err != nil {
			return err
		}
		if err := checkCredential("AppSecret", cfg.AppSecret, p); err != nil {
			return err
		}
		if cfg.SiteKey != "" && cfg.SiteKey != cfg.AppKey {
			return &ConfigError{"SiteKey", "for " + p + " the public key is AppKey; leave SiteKey empty or equal to AppKey"}
		}
		cfg.SiteKey = cfg.AppKey
		return nil
	}
	appKeyUsers := joinNames(namesWhere(func(s Spec) bool { return s.Credentials == AppKeyAndSecret }), " and ")
	if cfg.AppKey != "" {
		return &ConfigError{"AppKey", "only used for " + appKeyUsers}
	}
	if cfg.AppSecret != "" {
		return &ConfigError{"AppSecret", "only used for " + appKeyUsers}
	}
	if err := checkCredential("SiteKey", cfg.SiteKey, p); err != nil {
		return err
	}
	return checkCredential("Secret", cfg.Secret, p)
}

// checkCredential requires a key or secret that can travel in a form field or
// header as-is. The value itself is never put in the error.
func checkCredential(field, v, provider string) error {
	if v == "" {
		return &ConfigError{field, "required for " + provider}
	}
	if strings.TrimSpace(v) != v {
		// A trailing newline from a secrets file is the usual culprit, and
		// the vendor would only answer "invalid secret" for it.
		return &ConfigError{field, "has leading or trailing whitespace"}
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c == 0x7f {
			return &ConfigError{field, "contains control characters"}
		}
	}
	return nil
}

// checkEndpoint refuses, for the Config field named field, endpoints that
// would leak the secret, which travels with every request: anything but
// https, except loopback (httptest), and URLs with credentials or
// fragments. The URL is not echoed, since it might carry a credential.
func checkEndpoint(field, raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return &ConfigError{field, "not a valid URL"}
	}
	if u.Host == "" || u.Opaque != "" {
		return &ConfigError{field, "want an absolute URL with a host"}
	}
	if u.User != nil {
		return &ConfigError{field, "must not carry credentials"}
	}
	if u.Fragment != "" {
		return &ConfigError{field, "must not have a fragment"}
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return &ConfigError{field, "must be https (http only to a loopback host)"}
		}
	default:
		return &ConfigError{field, "must be https (http only to a loopback host)"}
	}
	return nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// newClient builds a client that shares no state with http.DefaultClient or
// http.DefaultTransport. Deadlines come from the per-call context.
func newClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			// Egress often goes through a proxy in production.
			Proxy: http.ProxyFromEnvironment,
			DialContext: (&net.Dialer{
				Timeout:   5 * time.Second,
				KeepAlive: 30 * time.Second,
			}).DialContext,
			ForceAttemptHTTP2:      true,
			TLSHandshakeTimeout:    5 * time.Second,
			MaxIdleConns:           32,
			MaxIdleConnsPerHost:    16,
			IdleConnTimeout:        90 * time.Second,
			MaxResponseHeaderBytes: 64 << 10,
		},
		// A redirected POST turns into a GET without the secret; vendors do
		// not redirect siteverify, so a 3xx is treated as unavailable.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
