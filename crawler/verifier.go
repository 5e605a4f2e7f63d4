package crawler

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"sync"
	"time"

	"github.com/botauthz/botauthz/crawler/fcrdns"
	"github.com/botauthz/botauthz/crawler/webbotauth"
)

// Config configures a Verifier.
type Config struct {
	// Directory is the crawler directory, the built-in one with the
	// policy's override merged (Load, LoadOverride, Merge). Required.
	Directory *Directory
	// Network lets the verifier fetch the operators' range files every
	// Refresh and Web Bot Auth key directories. Off, the snapshots are used
	// as loaded and key directories only from file:// URLs.
	Network bool
	Refresh time.Duration
	// ReverseDNS turns forward-confirmed reverse DNS on, asking DNSServer
	// ("host:port"; empty for the system's resolver).
	ReverseDNS bool
	DNSServer  string
	// KeyDirectories maps a signature agent's origin to its key directory
	// URL where it is not the well-known one.
	KeyDirectories map[string]string
	// Client fetches range files and key directories; nil for one with a
	// 30 s timeout.
	Client *http.Client
	Logger *slog.Logger
	Now    func() time.Time
}

// Verifier verifies the crawlers requests claim to be, by the directory's
// methods. It is safe for concurrent use; Start its background work and
// Close it when done.
type Verifier struct {
	dir   *Directory
	match *matcher
	// byAgent maps a Web Bot Auth agent's origin to its crawler's index.
	byAgent    map[string]int
	ranges     *rangeLists
	rdns       *fcrdns.Resolver // nil: reverse DNS off
	signatures *webbotauth.Verifier
	cfg        Config
	log        *slog.Logger
	now        func() time.Time

	stop sync.WaitGroup
}

// New builds a Verifier: it indexes the directory and loads every range
// list's snapshot. A snapshot that fails to load is logged, not fatal: its
// crawlers stay unverified by ranges until a refresh brings the list.
func New(cfg Config) (*Verifier, error) {
	if cfg.Directory == nil {
		return nil, fmt.Errorf("crawler: a directory is required")
	}
	v := &Verifier{dir: cfg.Directory, match: newMatcher(cfg.Directory.Crawlers), byAgent: map[string]int{}, cfg: cfg,
		log: cfg.Logger, now: cfg.Now}
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.cfg.Client == nil {
		v.cfg.Client = &http.Client{Timeout: 30 * time.Second}
	}
	var err error
	if v.ranges, err = loadSnapshots(cfg.Directory); err != nil {
		v.log.Warn("crawler range snapshots failed to load; their crawlers are unverified by ranges until a refresh", "error", err)
	}
	directories := map[string]string{}
	for i, e := range cfg.Directory.Crawlers {
		for _, agent := range e.WebBotAuth {
			if _, dup := v.byAgent[agent]; !dup {
				v.byAgent[agent] = i
			}
			directories[agent] = ""
		}
	}
	maps.Copy(directories, cfg.KeyDirectories)
	if !cfg.Network {
		// Without the network only local key directories can be read.
		for agent, u := range directories {
			if len(u) < 7 || u[:7] != "file://" {
				delete(directories, agent)
			}
		}
	}
	if len(directories) > 0 {
		v.signatures, err = webbotauth.New(webbotauth.Options{Directories: directories, Client: v.cfg.Client, Logger: v.log, Now: v.now})
		if err != nil {
			return nil, fmt.Errorf("crawler: web bot auth: %w", err)
		}
	}
	if cfg.ReverseDNS {
		v.rdns = fcrdns.New(fcrdns.Options{Server: cfg.DNSServer, Logger: v.log, Now: v.now})
	}
	return v, nil
}

// Start begins the background work until ctx ends: key directory fetches,
// and range refreshes when the network is allowed.
func (v *Verifier) Start(ctx context.Context) {
	if v.signatures != nil {
		v.stop.Go(func() { v.signatures.Start(ctx) })
	}
	if v.cfg.Network {
		v.stop.Go(func() {
			v.ranges.refreshLoop(ctx, v.cfg.Client, v.cfg.Refresh, v.now, func(err error) {
				v.log.Warn("crawler range list refresh failed; keeping the last good copy", "error", err)
			})
		})
	}
}

// Close stops reverse DNS lookups and waits for the background work Start
// began, which ends with Start's context.
func (v *Verifier) Close() {
	if v.rdns != nil {
		v.rdns.Close()
	}
	v.stop.Wait()
}

// Directory returns the directory the verifier verifies against: a Claim's
// Entry indexes its Crawlers.
func (v *Verifier) Directory() *Directory { return v.dir }

// Ranges returns every range list's state, in directory order.
func (v *Verifier) Ranges() []RangeState { return v.ranges.states(v.dir.Ranges) }

// KeyDirectories returns every Web Bot Auth key directory's state; nil when
// none is configured.
func (v *Verifier) KeyDirectories() []webbotauth.DirectoryState {
	if v.signatures == nil {
		return nil
	}
	return v.signatures.Directories()
}

// ReverseDNS returns the reverse DNS resolver's counters, and false when
// reverse DNS is off.
func (v *Verifier) ReverseDNS() (fcrdns.Stats, bool) {
	if v.rdns == nil {
		return fcrdns.Stats{}, false
	}
	return v.rdns.Stats(), true
}
