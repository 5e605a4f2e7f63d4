package fcrdns

import (
	"log/slog"
	"net"
	"time"
)

// Defaults applied by New to zero-valued Options fields; unexported so the
// Options doc stays the one place that states them.
const (
	defaultTimeout     = 2 * time.Second
	defaultCacheSize   = 65536
	defaultTTL         = time.Hour
	defaultNegativeTTL = 15 * time.Minute
	defaultErrorTTL    = 30 * time.Second
	defaultMaxInFlight = 32
	defaultMaxNames    = 4
)

// Options configure a Resolver. Zero values mean the documented defaults;
// negative values are treated as zero.
type Options struct {
	// Server is the DNS server "host:port" to ask (UDP, TCP fallback on
	// truncation as net.Resolver does); empty uses the system resolver
	// configuration (/etc/resolv.conf). A Server without a port means port 53.
	Server string
	// Timeout bounds one whole verification (PTR + forward lookups).
	// Default 2s.
	Timeout time.Duration
	// CacheSize bounds the cached addresses (positive, negative, unknown and
	// pending). Default 65536. The cache is split into up to 64 shards whose
	// capacities sum to CacheSize, so eviction may begin a little before
	// CacheSize addresses are cached.
	CacheSize int
	// TTL keeps a definitive answer: confirmed names, or definitively no PTR
	// name (NXDOMAIN or an empty answer). Default 1h.
	TTL time.Duration
	// NegativeTTL keeps "PTR names, but none forward-confirmed". Default 15m.
	NegativeTTL time.Duration
	// ErrorTTL keeps a temporary failure (timeout, SERVFAIL, refused), and a
	// result where some names were confirmed but others failed temporarily.
	// A temporary failure is never definitive. Default 30s.
	ErrorTTL time.Duration
	// MaxInFlight bounds concurrent background verifications. Default 32.
	// Beyond it a miss is not queued: it reports Unknown.
	MaxInFlight int
	// MaxNames bounds the PTR names verified per address. Default 4.
	MaxNames int
	// Now is the clock used for cache expiry. Default time.Now.
	Now func() time.Time
	// Logger receives debug records of verification outcomes. Default
	// discards.
	Logger *slog.Logger
}

// withDefaults returns o with every zero or negative field replaced by its
// default, and Server given a port.
func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = defaultTimeout
	}
	if o.CacheSize <= 0 {
		o.CacheSize = defaultCacheSize
	}
	if o.TTL <= 0 {
		o.TTL = defaultTTL
	}
	if o.NegativeTTL <= 0 {
		o.NegativeTTL = defaultNegativeTTL
	}
	if o.ErrorTTL <= 0 {
		o.ErrorTTL = defaultErrorTTL
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = defaultMaxInFlight
	}
	if o.MaxNames <= 0 {
		o.MaxNames = defaultMaxNames
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Server != "" {
		if _, _, err := net.SplitHostPort(o.Server); err != nil {
			o.Server = net.JoinHostPort(o.Server, "53")
		}
	}
	return o
}
