package clearance

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// Bounds of Options.TTL.
const (
	// DefaultTTL is the lifetime of a clearance when Options.TTL is zero.
	DefaultTTL = time.Hour
	// MinTTL is the shortest lifetime: shorter would re-challenge people
	// while they read a page.
	MinTTL = time.Minute
	// MaxTTL is the longest lifetime: a stolen cookie stays useful at most
	// this long, even from the same network and browser.
	MaxTTL = 7 * 24 * time.Hour
)

// clockSkew is how far in the future an issue time may be before Verify
// treats the cookie as Expired: replicas' clocks differ a little, never a lot.
const clockSkew = time.Minute

// Options configure a Signer.
type Options struct {
	// Keys is the key set; required. Keys[0] signs new clearances, every key
	// verifies. To rotate across replicas without refusing anyone: add the
	// new key second on every replica, then move it first, then drop the old
	// key once a TTL has passed. (Putting it first straight away means a
	// replica that has not reloaded yet sees UnknownKey for new cookies.)
	Keys []Key
	// TTL is the lifetime of a clearance: DefaultTTL when zero, otherwise
	// between MinTTL and MaxTTL. It is counted in whole seconds.
	TTL time.Duration
}

// Signer issues and verifies clearance cookie values. It is immutable and
// safe for concurrent use.
type Signer struct {
	env    *Envelope
	ttl    time.Duration
	ttlSec int64
}

// NewSigner returns a Signer for opts. It copies the keys, so later changes
// to opts.Keys do not affect it.
func NewSigner(opts Options) (*Signer, error) {
	if err := checkKeys(opts.Keys, entryPos); err != nil {
		return nil, fmt.Errorf("clearance signer: keys: %w", err)
	}
	ttl := opts.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}
	if ttl < MinTTL || ttl > MaxTTL {
		return nil, fmt.Errorf("clearance signer: ttl %v is outside %v..%v", opts.TTL, MinTTL, MaxTTL)
	}
	env, err := NewEnvelope(valuePrefix, macContext, maxPayloadLen, opts.Keys)
	if err != nil {
		return nil, fmt.Errorf("clearance signer: %w", err)
	}
	return &Signer{env: env, ttl: ttl.Truncate(time.Second), ttlSec: int64(ttl / time.Second)}, nil
}

// TTL returns the lifetime of the clearances s issues.
func (s *Signer) TTL() time.Duration { return s.ttl }

// Binding is what a clearance is bound to: the client's network and its user
// agent. A cookie copied to another network or browser does not verify.
type Binding struct {
	// Prefix is the client's network, masked: IPv4 /24 or IPv6 /64, as
	// BindingFor makes it. The zero Prefix (client address unknown) never
	// verifies.
	Prefix netip.Prefix
	// UserAgent is the User-Agent header as received.
	UserAgent string
}

// BindingFor returns the Binding of a client at ip with the given user agent:
// IPv4 (and IPv4-mapped IPv6) addresses are masked to /24, IPv6 addresses to
// /64, the usual size of one subscriber's network. An invalid ip gives the
// zero Prefix.
func BindingFor(ip netip.Addr, userAgent string) Binding {
	ip = ip.Unmap()
	bits := 64
	if ip.Is4() {
		bits = 24
	}
	// Prefix only fails for bit counts out of range, and these are not;
	// it drops any zone.
	p, _ := ip.Prefix(bits)
	return Binding{Prefix: p, UserAgent: userAgent}
}

// Claims are what a verified clearance says. Verify fills them in only once
// the MAC has checked out (Valid, Expired, WrongNetwork, WrongAgent); for the
// other statuses they are zero, since nothing in the cookie is trustworthy.
type Claims struct {
	// KeyID names the key that signed the clearance.
	KeyID string
	// IssuedAt is when the challenge was passed, to the second.
	IssuedAt time.Time
	// Expires is the earlier of the expiry the cookie carries and IssuedAt
	// plus the verifying Signer's TTL, so shortening the TTL applies to
	// clearances already issued.
	Expires time.Time
	// Provider is the challenge passed, e.g. "pow" or "turnstile"; with
	// AutomatedSuffix when the challenge's evidence said automated and the
	// policy chose to mark rather than refuse.
	Provider string
	// Route is the route the challenge was passed on.
	Route string
}

// Issue returns a cookie value clearing b from now for the Signer's TTL,
// signed with the first key. provider and route are short labels carried for
// metrics and logs; each is truncated to 32 bytes. The value is at most
// 235 bytes, about 130 for a typical key id and labels, and uses only RFC 6265
// cookie-octets.
func (s *Signer) Issue(b Binding, provider, route string, now time.Time) string {
	iat := now.Unix()
	var raw [maxPayloadLen]byte
	return s.env.Seal(appendPayload(raw[:0], iat, addSat(iat, s.ttlSec), b.Digest(),
		truncateLabel(provider), truncateLabel(route)))
}

// AutomatedSuffix ends the Provider of a clearance issued to a browser
// whose challenge evidence said automated (challenge.evidence: mark).
const AutomatedSuffix = ".automated"

// Automated reports whether the clearance was issued marked automated.
func (c Claims) Automated() bool { return strings.HasSuffix(c.Provider, AutomatedSuffix) }

// Verify checks a cookie value for a client with binding b at time now. The
// checks run in the order parse, key, MAC, expiry, network, agent, so a forged
// cookie is reported as forged rather than as, say, from the wrong network.
//
// Verify never panics, and it refuses values longer than any Issue makes
// before decoding them, so garbage costs little. A Valid verification
// allocates only the Provider and Route strings.
func (s *Signer) Verify(value string, b Binding, now time.Time) (Claims, Status) {
	var raw [maxPayloadLen]byte
	payload, kid, err := s.env.Open(value, raw[:])
	p, ok := parsePayload(payload)
	switch {
	case errors.Is(err, ErrMalformed), !ok:
		// A payload of the wrong shape is no cookie of ours, forged or not:
		// Malformed comes before UnknownKey and BadSignature.
		return Claims{}, Malformed
	case errors.Is(err, ErrUnknownKey):
		return Claims{}, UnknownKey
	case err != nil:
		return Claims{}, BadSignature
	}

	exp := min(p.exp, addSat(p.iat, s.ttlSec))
	c := Claims{
		KeyID:    kid, // the Envelope's copy, so Claims do not pin the request's header
		IssuedAt: time.Unix(p.iat, 0),
		Expires:  time.Unix(exp, 0),
		Provider: string(p.provider),
		Route:    string(p.route),
	}
	t := now.Unix()
	if p.iat > addSat(t, int64(clockSkew/time.Second)) || t >= exp {
		return c, Expired
	}
	// Digest.Matches in two halves, to say which one failed.
	if !p.client.sameNetwork(b.Prefix) {
		return c, WrongNetwork
	}
	if !p.client.sameAgent(b.UserAgent) {
		return c, WrongAgent
	}
	return c, Valid
}

// Cookie returns the Set-Cookie for a clearance value: HttpOnly so page
// scripts cannot read it, SameSite=Lax so it rides along on top-level
// navigations from other sites, Path=/ so it covers every route, Max-Age the
// TTL, and Secure unless insecure is set for plain-HTTP development.
func (s *Signer) Cookie(name, value string, insecure bool) *http.Cookie {
	return &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     "/",
		MaxAge:   int(s.ttlSec),
		Secure:   !insecure,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	}
}

// addSat returns a+b for b >= 0, saturating instead of overflowing: times
// come from callers and cookies, and a wrapped expiry would never expire.
func addSat(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}
