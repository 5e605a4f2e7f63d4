package policy

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// DefaultSettle is how long changed content must stay unchanged before a
// Watcher applies it, unless WatcherOptions.Settle says otherwise. Writers
// that write in place (cp truncates, then writes) leave the file empty or
// half-written for a few milliseconds; a second is far longer than any pause
// between their writes, yet short next to how fast people expect a policy
// change to land.
const DefaultSettle = time.Second

// Watcher reloads a policy file when it changes and hands each good
// version to Apply. A file that does not load keeps the previous policy in
// force and is reported by LastError: a typo must never take the last good
// policy down. Changed content is applied only once it has stayed the same
// for the settle period, so a file caught mid-write is never applied.
type Watcher struct {
	path   string
	apply  func(*Policy)
	report func(ok bool, err error)
	log    *slog.Logger
	settle time.Duration
	// parse is parseFile; tests replace it to hold a parse in progress.
	parse func([]byte) (*Policy, error)
	// trigger carries Trigger's requests to Run; one pending request is as
	// good as many.
	trigger chan struct{}
	// busy is held by the reload in progress, through its settle wait and
	// parse, so reloads never overlap and Apply is called from one goroutine
	// at a time. A channel rather than a mutex: waiting for it can be
	// abandoned when the context ends.
	busy chan struct{}

	// mu guards sum and lastErr. It is never held while reading, waiting or
	// parsing, so LastError (and /readyz) never waits for a reload.
	mu      sync.Mutex
	sum     [sha256.Size]byte // of the content last tried, good or bad
	lastErr error
}

// WatcherOptions configures NewWatcher.
type WatcherOptions struct {
	// Path is the policy file.
	Path string
	// Apply receives each new good policy. It is called from one goroutine
	// at a time.
	Apply func(*Policy)
	// Report, when set, is told about every reload attempt of changed
	// content (for metrics).
	Report func(ok bool, err error)
	// Logger receives reloads and refusals; nil discards them.
	Logger *slog.Logger
	// Settle is how long changed content must stay the same before it is
	// parsed and applied; zero or less means DefaultSettle.
	Settle time.Duration
	// Loaded is the content the caller loaded and applied (LoadFile); nil
	// reads the file now, which misses a change made since the caller's
	// read.
	Loaded []byte
}

// NewWatcher returns a Watcher for a policy file whose current content has
// already been loaded and applied by the caller.
func NewWatcher(opts WatcherOptions) (*Watcher, error) {
	data := opts.Loaded
	if data == nil {
		var err error
		if data, err = readFile(opts.Path); err != nil {
			return nil, fmt.Errorf("watch policy: %w", err)
		}
	}
	w := &Watcher{
		path: opts.Path, apply: opts.Apply, report: opts.Report, log: opts.Logger, settle: opts.Settle,
		parse: parseFile, trigger: make(chan struct{}, 1), busy: make(chan struct{}, 1),
		sum: sha256.Sum256(data),
	}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	if w.settle <= 0 {
		w.settle = DefaultSettle
	}
	return w, nil
}

// LastError returns why the newest content of the file was refused, or nil
// when the policy in force is the file's newest content. It never waits for
// a reload in progress.
func (w *Watcher) LastError() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lastErr
}

func (w *Watcher) tried() ([sha256.Size]byte, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.sum, w.lastErr
}

// Trigger asks Run to re-read the file now (SIGHUP). It never blocks: a
// request made while one is pending or a reload is in progress is folded
// into the next one.
func (w *Watcher) Trigger() {
	select {
	case w.trigger <- struct{}{}:
	default:
	}
}

// Reload reads the file and, if its content changed, waits until the content
// has stayed the same for the settle period, then loads and applies it. It
// returns the error that kept the previous policy, if any. When ctx ends
// first, Reload returns at once with ctx's error, abandoning its wait or
// parse, and the content is tried again by the next Reload.
func (w *Watcher) Reload(ctx context.Context) error {
	select {
	case w.busy <- struct{}{}:
		defer func() { <-w.busy }()
	case <-ctx.Done():
		return fmt.Errorf("reload policy %s: %w", w.path, context.Cause(ctx))
	}
	data, err := readFile(w.path)
	if err != nil {
		// A file caught mid-replace is retried on the next event or tick.
		return fmt.Errorf("reload policy: %w", err)
	}
	sum := sha256.Sum256(data)
	if last, lastErr := w.tried(); sum == last {
		return lastErr
	}
	data, sum, err = w.settled(ctx, data, sum)
	if err != nil {
		return err
	}
	if last, lastErr := w.tried(); sum == last {
		return lastErr // changed back while settling
	}
	p, err := w.parseAbandonable(ctx, data)
	if ctx.Err() != nil {
		return fmt.Errorf("reload policy %s: abandoned: %w", w.path, context.Cause(ctx))
	}
	w.mu.Lock()
	w.sum = sum
	if err != nil {
		w.lastErr = fmt.Errorf("reload policy %s: %w", w.path, err)
	} else {
		w.lastErr = nil
	}
	lastErr := w.lastErr
	w.mu.Unlock()
	if err != nil {
		w.log.Error("policy reload refused; keeping the previous policy", "file", w.path, "err", err)
		if w.report != nil {
			w.report(false, lastErr)
		}
		return lastErr
	}
	w.apply(p)
	w.log.Info("policy reloaded", "file", w.path, "version", p.Version, "routes", p.RouteNames())
	if w.report != nil {
		w.report(true, nil)
	}
	return nil
}

// settled re-reads the file every settle period until two reads in a row
// return the same content, and returns that content. A writer only appends
// between its truncate and its last write, so content read twice a settle
// period apart saw no write in between: it is whole, unless the writer paused
// for longer than the settle period.
func (w *Watcher) settled(ctx context.Context, data []byte, sum [sha256.Size]byte) ([]byte, [sha256.Size]byte, error) {
	timer := time.NewTimer(w.settle)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, sum, fmt.Errorf("reload policy %s: abandoned while waiting for the file to settle: %w", w.path, context.Cause(ctx))
		case <-timer.C:
		}
		next, err := readFile(w.path)
		if err != nil {
			return nil, sum, fmt.Errorf("reload policy: %w", err)
		}
		nextSum := sha256.Sum256(next)
		if nextSum == sum {
			return data, sum, nil
		}
		data, sum = next, nextSum
		timer.Reset(w.settle)
	}
}

// parseAbandonable parses in a goroutine of its own, so that a caller whose
// ctx ends (shutdown) does not wait for the parse. MaxFileSize bounds what
// the abandoned goroutine goes on to spend.
func (w *Watcher) parseAbandonable(ctx context.Context, data []byte) (*Policy, error) {
	type result struct {
		p   *Policy
		err error
	}
	done := make(chan result, 1) // the abandoned goroutine must not block on it
	go func() {
		p, err := w.parse(data)
		done <- result{p, err}
	}()
	select {
	case r := <-done:
		return r.p, r.err
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// Run reloads on every change in the file's directory (editors and
// Kubernetes ConfigMaps replace files rather than write them in place), on
// every Trigger and on every tick of interval, until ctx is done. It returns
// as soon as ctx is done, abandoning a reload in progress.
func (w *Watcher) Run(ctx context.Context, interval time.Duration) {
	var events <-chan fsnotify.Event
	var errs <-chan error
	if fw, err := fsnotify.NewWatcher(); err != nil {
		w.log.Warn("cannot watch the policy file; re-reading it periodically only", "err", err)
	} else {
		defer fw.Close()
		if err := fw.Add(filepath.Dir(w.path)); err != nil {
			w.log.Warn("cannot watch the policy file's directory; re-reading it periodically only", "err", err)
		} else {
			events, errs = fw.Events, fw.Errors
		}
	}
	// A change made before the watch was in place would otherwise wait for
	// the next tick.
	_ = w.Reload(ctx)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-events:
		case err := <-errs:
			// Unread, an error would stall fsnotify's delivery of events.
			// Events may have been lost (a queue overflow): re-read.
			w.log.Warn("watching the policy file", "err", err)
		case <-w.trigger:
		case <-tick.C:
		}
		_ = w.Reload(ctx) // reported and logged by Reload
	}
}
