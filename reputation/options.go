package reputation

import (
	"log/slog"
	"time"
)

// Defaults for Options.
const (
	// DefaultRefresh is how often files are re-read when no file event
	// came: events can be lost (an overflowing queue, a network file
	// system that sends none), and a minute is short next to how often the
	// lists change (hours to weeks).
	DefaultRefresh = time.Minute
	// DefaultSettle is how long changed content must stay unchanged before
	// it is loaded. A writer that writes in place (curl -o, cp) leaves a
	// half-written file for a moment, and half a plain list still parses:
	// it would silently drop the other half. A second is far longer than
	// any pause between a writer's writes.
	DefaultSettle = time.Second
)

// Options configures Load and ASNDB.Run.
type Options struct {
	// Refresh is the period of the re-read that backs up file events;
	// zero or less means DefaultRefresh.
	Refresh time.Duration
	// Settle is how long changed content must stay the same before it is
	// loaded; zero or less means DefaultSettle.
	Settle time.Duration
	// Logger receives reloads and refusals; nil discards them.
	Logger *slog.Logger
	// OnReload, when set, is told of every attempt to load changed content
	// (err nil when it was taken) and of every new error reading a file,
	// for metrics. set is the set's name, or the database's path for an
	// ASNDB (set names never contain '/'). It is called from the reloading
	// goroutine, one call at a time, and must not block.
	OnReload func(set string, err error)
}

// withDefaults fills in the zero fields.
func (o Options) withDefaults() Options {
	if o.Refresh <= 0 {
		o.Refresh = DefaultRefresh
	}
	if o.Settle <= 0 {
		o.Settle = DefaultSettle
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

func (o Options) report(set string, err error) {
	if o.OnReload != nil {
		o.OnReload(set, err)
	}
}
