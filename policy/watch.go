package policy

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Watcher reloads a policy file when it changes and hands each good
// version to Apply. A file that does not load keeps the previous policy in
// force and is reported by LastError: a typo must never take the last good
// policy down.
type Watcher struct {
	path   string
	apply  func(*Policy)
	report func(ok bool, err error)
	log    *slog.Logger

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
}

// NewWatcher returns a Watcher for a policy file whose current content has
// already been loaded and applied by the caller.
func NewWatcher(opts WatcherOptions) (*Watcher, error) {
	data, err := os.ReadFile(opts.Path)
	if err != nil {
		return nil, fmt.Errorf("watch policy: %w", err)
	}
	w := &Watcher{path: opts.Path, apply: opts.Apply, report: opts.Report, log: opts.Logger, sum: sha256.Sum256(data)}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	return w, nil
}

// LastError returns why the newest content of the file was refused, or nil
// when the policy in force is the file's newest content.
func (w *Watcher) LastError() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lastErr
}

// Reload reads the file and, if its content changed, loads and applies it.
// It returns the error that kept the previous policy, if any.
func (w *Watcher) Reload() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	data, err := os.ReadFile(w.path)
	if err != nil {
		// A file caught mid-replace is retried on the next event or tick.
		return fmt.Errorf("reload policy: %w", err)
	}
	sum := sha256.Sum256(data)
	if sum == w.sum {
		return w.lastErr
	}
	w.sum = sum
	p, err := Parse(data)
	if err != nil {
		w.lastErr = fmt.Errorf("reload policy %s: %w", w.path, err)
		w.log.Error("policy reload refused; keeping the previous policy", "file", w.path, "err", err)
		if w.report != nil {
			w.report(false, w.lastErr)
		}
		return w.lastErr
	}
	w.lastErr = nil
	w.apply(p)
	w.log.Info("policy reloaded", "file", w.path, "version", p.Version, "routes", p.RouteNames())
	if w.report != nil {
		w.report(true, nil)
	}
	return nil
}

// Run reloads on every change in the file's directory (editors and
// Kubernetes ConfigMaps replace files rather than write them in place) and
// on every tick of interval, until ctx is done.
func (w *Watcher) Run(ctx context.Context, interval time.Duration) {
	var events <-chan fsnotify.Event
	if fw, err := fsnotify.NewWatcher(); err != nil {
		w.log.Warn("cannot watch the policy file; re-reading it periodically only", "err", err)
	} else {
		defer fw.Close()
		if err := fw.Add(filepath.Dir(w.path)); err != nil {
			w.log.Warn("cannot watch the policy file's directory; re-reading it periodically only", "err", err)
		} else {
			events = fw.Events
		}
	}
	// A change made before the watch was in place would otherwise wait for
	// the next tick.
	_ = w.Reload()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-events:
		case <-tick.C:
		}
		_ = w.Reload() // reported and logged by Reload
	}
}
