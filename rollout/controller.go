package rollout

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
)

const (
	// DefaultRefresh is how often a Controller re-reads the store and the
	// override file when ControllerOptions.Refresh is unset.
	DefaultRefresh = 5 * time.Second

	// loadTimeout bounds one read of the store: a replica must not hang
	// on a stalled Redis, it keeps its last state instead.
	loadTimeout = 3 * time.Second
	// startLoadTimeout is shorter: Start holds up the replica's startup,
	// and the background refresh retries soon anyway.
	startLoadTimeout = 2 * time.Second
	// fileSettle is how long the override file's directory must be quiet
	// before the file is read, so that a file being written is not read
	// half way (Kubernetes swaps a symlink atomically; an editor may not).
	fileSettle = 50 * time.Millisecond

	minResubscribe = 100 * time.Millisecond
	maxResubscribe = 10 * time.Second
)

// ControllerOptions configures a Controller.
type ControllerOptions struct {
	// Store holds the shared live state; required.
	Store Store
	// OverrideFile is a local YAML file (see ParseOverride) layered over the
	// live state; "" for none.
	OverrideFile string
	// Refresh is how often the store and the override file are re-read in
	// case a pushed change or a file event was missed (DefaultRefresh when
	// <= 0).
	Refresh time.Duration
	// Logger receives state changes and problems; nil discards them.
	Logger *slog.Logger
	// Now is the clock for versions and audit times; nil means time.Now.
	Now func() time.Time
}

// Controller keeps one replica's View current: it pushes and receives live
// state changes through the Store, re-reads the store periodically, and
// watches the override file.
//
// A Controller never forgets what it knew: when the store is unreachable or
// comes back empty, it keeps the last live state it saw, so an outage cannot
// switch off the kill switch. When the store comes back empty (Redis lost its
// data), it also writes that state back (Store.Restore), so that the next
// change, from any replica, builds on it rather than on nothing.
type Controller struct {
	opts ControllerOptions
	log  *slog.Logger

	view    atomic.Pointer[View]
	started atomic.Bool
	wg      sync.WaitGroup

	// fileMu serialises reading the override file, so that an older read
	// cannot replace a newer one.
	fileMu sync.Mutex
	// restoreMu serialises restores (the refresh tick, the catch-up after
	// subscribing and Apply may each find the store empty), so that the one
	// that restored has logged it before another, finding the store filled,
	// could take that for another replica's doing.
	restoreMu sync.Mutex

	// mu guards the layers the view is built from and the health flags
	// that keep the log to state changes rather than every failure.
	mu         sync.Mutex
	live       State
	file       *State
	fileErr    string
	fileLoaded bool // the file was read successfully (or found missing) once
	storeDown  bool
	subDown    bool
	// dataLossNoted and restoreFailed say that the store's loss of the
	// state, and a failure to restore it, were logged; a re-read that finds
	// a state again clears them.
	dataLossNoted bool
	restoreFailed bool
}

// liveSource says where a live state came from; it decides which versions
// are accepted.
type liveSource string

const (
	fromApply   liveSource = "apply"
	fromPubSub  liveSource = "pubsub"
	fromRefresh liveSource = "refresh"
)

// NewController returns a Controller whose View is the zero state until
// Start.
func NewController(opts ControllerOptions) *Controller {
	if opts.Refresh <= 0 {
		opts.Refresh = DefaultRefresh
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	c := &Controller{opts: opts, log: opts.Logger}
	c.view.Store(&View{})
	return c
}

// Start loads the live state (a failure is logged and the view starts from
// the zero state) and the override file, then keeps the view current in the
// background until ctx is done: it follows the store's pushed changes,
// re-reads the store and the file every Refresh, and re-reads the file on
// any change in its directory. Start returns after the initial load; it
// fails only without a Store or when called twice.
func (c *Controller) Start(ctx context.Context) error {
	if c.opts.Store == nil {
		return errors.New("rollout: controller: no Store")
	}
	if !c.started.CompareAndSwap(false, true) {
		return errors.New("rollout: controller: already started")
	}

	// Watch before the first read, so that a change right after it is not
	// missed.
	var w *fsnotify.Watcher
	if c.opts.OverrideFile != "" {
		var err error
		w, err = fsnotify.NewWatcher()
		if err != nil {
			c.log.Warn("rollout: cannot watch override file; re-reading it every refresh only",
				"file", c.opts.OverrideFile, "err", err)
		}
	}
	watching := w != nil && c.watchDir(w)

	c.refreshStore(ctx, startLoadTimeout)
	c.reloadFile()

	c.wg.Go(func() { c.subscribeLoop(ctx) })
	c.wg.Go(func() { c.refreshLoop(ctx) })
	if w != nil {
		c.wg.Go(func() { c.watchLoop(ctx, w, watching) })
	}
	return nil
}

// View returns the current view; never nil. It is one atomic load, cheap
// enough for every request.
func (c *Controller) View() *View { return c.view.Load() }

// Apply makes the change through the Store, logs it, and installs the new
// state in this replica's view at once, without waiting for it to come back
// through pub/sub.
//
// Should the store have lost its state while this replica knows one, Apply
// restores that state first, so that the change builds on it: otherwise an
// unrelated change would silently clear the kill switch. It fails, changing
// nothing, when it cannot restore.
func (c *Controller) Apply(ctx context.Context, ch Change) (AuditEntry, error) {
	if c.opts.Store == nil {
		return AuditEntry{}, errors.New("rollout: controller: no Store")
	}
	// Restore is a no-op on a store that holds a state, so it needs no read
	// first (which could go stale before the Update anyway). An invalid
	// change is left to Update to refuse, with the error it always gave.
	if ch.Validate() == nil {
		if _, _, err := c.restore(ctx, false); err != nil {
			return AuditEntry{}, fmt.Errorf("apply %s: restore the last known state first: %w", ch, err)
		}
	}
	entry, err := c.opts.Store.Update(ctx, ch, c.opts.Now())
	if err != nil {
		return AuditEntry{}, fmt.Errorf("apply %s: %w", ch, err)
	}
	c.log.Info("rollout: change applied",
		"actor", entry.Actor, "reason", entry.Reason, "change", entry.Change,
		"before", summarize(entry.Before), "after", summarize(entry.After),
		"version", entry.After.Version)
	c.storeReachable()
	c.acceptLive(entry.After, fromApply)
	return entry, nil
}

// Audit returns up to limit audit entries, newest first.
func (c *Controller) Audit(ctx context.Context, limit int) ([]AuditEntry, error) {
	if c.opts.Store == nil {
		return nil, errors.New("rollout: controller: no Store")
	}
	// The store's error already says what failed.
	return c.opts.Store.Audit(ctx, limit)
}

// Wait blocks until the background work started by Start has stopped, after
// its ctx is done.
func (c *Controller) Wait() { c.wg.Wait() }

// acceptLive installs st as the live state if it is newer than the one in
// the view. Pushed and applied states must be strictly newer, since pub/sub
// may deliver them late. A re-read may also be equal, but an empty store
// (Version 0) never replaces a state the view holds: the store lost its
// data, and refreshStore restores it from the view.
func (c *Controller) acceptLive(st State, src liveSource) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cur := c.live.Version
	if st.Version == 0 && cur > 0 {
		return
	}
	if st.Version < cur || st.Version == cur && src != fromRefresh {
		return
	}
	if st.Version == cur && stateEqual(st, c.live) {
		return
	}
	c.live = st
	c.log.Info("rollout: live state updated", "source", string(src), "version", st.Version, "state", summarize(st))
	c.publishLocked()
}

// publishLocked swaps in a view of the current layers. c.mu must be held.
func (c *Controller) publishLocked() {
	c.view.Store(&View{Live: c.live, File: c.file, FileError: c.fileErr})
}

func (c *Controller) subscribeLoop(ctx context.Context) {
	backoff := minResubscribe
	for ctx.Err() == nil {
		ready := make(chan struct{})
		done := make(chan struct{})
		c.wg.Go(func() {
			select {
			case <-ready:
				c.subscriptionUp()
				// Changes made between the last read and the
				// subscription (or while it was down) were not pushed
				// to us: catch up now rather than at the next tick.
				c.refreshStore(ctx, loadTimeout)
			case <-done:
			}
		})
		err := c.opts.Store.Subscribe(ctx, ready, func(st State) { c.acceptLive(st, fromPubSub) })
		close(done)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = errors.New("subscription ended")
		}
		select {
		case <-ready:
			backoff = minResubscribe // it worked for a while
		default:
		}
		c.subscriptionDown(err)

		// Jitter keeps replicas from resubscribing in lockstep when Redis
		// comes back.
		pause := backoff/2 + rand.N(backoff)
		backoff = min(2*backoff, maxResubscribe)
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func (c *Controller) refreshLoop(ctx context.Context) {
	t := time.NewTicker(c.opts.Refresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.refreshStore(ctx, loadTimeout)
			c.reloadFile()
		}
	}
}

// refreshStore re-reads the live state; on failure the view keeps what it
// has. An empty store while the view holds a state means the store lost its
// data (Redis restarted without persistence): the view keeps its state and
// writes it back, so that the next change from any replica does not build
// on nothing and drop the kill switch. A failed restore is tried again at
// the next refresh.
//
// Only a state the view held before the load can have been lost: one it
// learned while the load ran (its own first change, or another
// replica's) was written after what the load read.
func (c *Controller) refreshStore(ctx context.Context, timeout time.Duration) {
	c.mu.Lock()
	knewBefore := c.live.Version
	c.mu.Unlock()
	lctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	st, err := c.opts.Store.Load(lctx)
	if err != nil {
		if ctx.Err() != nil {
			return // shutting down, not an outage
		}
		c.mu.Lock()
		if !c.storeDown {
			c.storeDown = true
			c.log.Warn("rollout: store unreachable; keeping the last known state",
				"state", summarize(c.live), "err", err)
		}
		c.mu.Unlock()
		return
	}
	c.storeReachable()
	if st.Version > 0 {
		c.mu.Lock()
		c.dataLossNoted, c.restoreFailed = false, false
		c.mu.Unlock()
		c.acceptLive(st, fromRefresh)
		return
	}
	if knewBefore == 0 {
		// Nothing was lost: the view's state, if any, is newer than the
		// load. The next refresh reads it.
		c.acceptLive(st, fromRefresh)
		return
	}
	rctx, rcancel := context.WithTimeout(ctx, timeout)
	defer rcancel()
	known, _, err := c.restore(rctx, true)
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		c.mu.Lock()
		if !c.restoreFailed {
			c.restoreFailed = true
			c.log.Warn("rollout: store has no state (data lost?) and restoring the last known one failed; keeping it, retrying at the next refresh",
				"version", known.Version, "state", summarize(known), "err", err)
		}
		c.mu.Unlock()
		return
	}
	// With no known state either, st is the zero state the view holds.
	c.acceptLive(st, fromRefresh)
}

// restore writes the live state this replica knows to the store if the
// store holds none, and logs a restore once per loss. It returns the known
// state (Version 0: this replica knows none, so nothing was tried) and
// whether it was restored. sawEmpty says the caller found the store empty,
// so that finding it filled now means another replica restored it first.
func (c *Controller) restore(ctx context.Context, sawEmpty bool) (known State, restored bool, err error) {
	c.restoreMu.Lock()
	defer c.restoreMu.Unlock()
	c.mu.Lock()
	known = c.live
	c.mu.Unlock()
	if known.Version == 0 {
		return known, false, nil
	}
	restored, err = c.opts.Store.Restore(ctx, known)
	if err != nil {
		return known, false, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.restoreFailed = false
	switch {
	case c.dataLossNoted:
	case restored:
		c.dataLossNoted = true
		c.log.Warn("rollout: store had no state (data lost?); restored the last known state from this replica",
			"version", known.Version, "state", summarize(known))
	case sawEmpty:
		c.dataLossNoted = true
		c.log.Warn("rollout: store had no state (data lost?); another replica already restored it",
			"version", known.Version)
	}
	return known, restored, nil
}

func (c *Controller) storeReachable() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.storeDown {
		c.storeDown = false
		c.log.Info("rollout: store reachable again")
	}
}

func (c *Controller) subscriptionDown(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.subDown {
		c.subDown = true
		c.log.Warn("rollout: change subscription lost; resubscribing, relying on refresh meanwhile", "err", err)
	}
}

func (c *Controller) subscriptionUp() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.subDown {
		c.subDown = false
		c.log.Info("rollout: change subscription restored")
	}
}

// watchDir watches the override file's directory rather than the file:
// Kubernetes updates a ConfigMap by swapping a symlink in the directory, and
// editors often replace a file, either of which ends a watch on the file.
func (c *Controller) watchDir(w *fsnotify.Watcher) bool {
	dir := filepath.Dir(c.opts.OverrideFile)
	if err := w.Add(dir); err != nil {
		c.log.Warn("rollout: cannot watch override file directory; retrying every refresh",
			"dir", dir, "err", err)
		return false
	}
	return true
}

// watchLoop re-reads the override file once its directory has been quiet
// for fileSettle after any event. While the directory cannot be watched (it
// does not exist yet, or was removed) it retries every Refresh.
func (c *Controller) watchLoop(ctx context.Context, w *fsnotify.Watcher, watching bool) {
	defer w.Close()
	dir := filepath.Clean(filepath.Dir(c.opts.OverrideFile))

	settle := time.NewTimer(time.Hour)
	settle.Stop()
	defer settle.Stop()
	retry := time.NewTicker(c.opts.Refresh)
	defer retry.Stop()

	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			if filepath.Clean(ev.Name) == dir && ev.Has(fsnotify.Remove|fsnotify.Rename) {
				_ = w.Remove(dir)
				watching = false
			}
			settle.Reset(fileSettle)
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			// An overflow loses events, not the file: read it again.
			c.log.Warn("rollout: override file watch error", "dir", dir, "err", err)
			settle.Reset(fileSettle)
		case <-settle.C:
			c.reloadFile()
		case <-retry.C:
			if !watching && w.Add(dir) == nil {
				watching = true
				c.log.Info("rollout: watching override file directory", "dir", dir)
				c.reloadFile()
			}
		}
	}
}

// reloadFile reads the override file into the view. A missing file is no
// override; an invalid one leaves the previous good one in force and says
// why in View.FileError.
func (c *Controller) reloadFile() {
	path := c.opts.OverrideFile
	if path == "" {
		return
	}
	c.fileMu.Lock()
	defer c.fileMu.Unlock()

	data, err := os.ReadFile(path)
	var st State
	switch {
	case errors.Is(err, fs.ErrNotExist):
		c.setFile(nil, "")
		return
	case err != nil:
		c.setFile(nil, fmt.Sprintf("override file %s: %v", path, err))
		return
	}
	if st, err = ParseOverride(data); err != nil {
		c.setFile(nil, fmt.Sprintf("override file %s: %v", path, err))
		return
	}
	c.setFile(&st, "")
}

// setFile installs the override file's state (nil: there is no file), or,
// with a non-empty problem, keeps the previous one and records the problem.
// Only changes are logged, since the file is re-read every Refresh.
func (c *Controller) setFile(st *State, problem string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if problem != "" {
		if problem != c.fileErr {
			c.log.Error("rollout: override file rejected; keeping the previous one", "problem", problem)
			c.fileErr = problem
			c.publishLocked()
		}
		return
	}
	same := c.fileLoaded && c.fileErr == "" &&
		(st == nil && c.file == nil || st != nil && c.file != nil && stateEqual(*st, *c.file))
	if same {
		return
	}
	if st == nil {
		c.log.Info("rollout: no override file", "file", c.opts.OverrideFile)
	} else {
		c.log.Info("rollout: override file applied", "file", c.opts.OverrideFile, "state", summarize(*st))
	}
	c.file, c.fileErr, c.fileLoaded = st, "", true
	c.publishLocked()
}

// stateEqual compares the settings and version of two states.
func stateEqual(a, b State) bool {
	return a.Version == b.Version && a.Kill == b.Kill &&
		reflect.DeepEqual(a.Default, b.Default) &&
		len(a.Routes) == len(b.Routes) && (len(a.Routes) == 0 || reflect.DeepEqual(a.Routes, b.Routes))
}

// summarize describes a state in one line for logs, e.g.
// "kill=none default=enforce routes=[login=canary 5%]".
func summarize(s State) string {
	var b strings.Builder
	b.WriteString("kill=")
	b.WriteString(s.Kill.String())
	b.WriteString(" default=")
	if s.Default == nil {
		b.WriteString("inherit")
	} else {
		b.WriteString(s.Default.String())
	}
	b.WriteString(" routes=[")
	for i, name := range slices.Sorted(maps.Keys(s.Routes)) {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(name)
		b.WriteString("=")
		b.WriteString(s.Routes[name].String())
	}
	b.WriteString("]")
	return b.String()
}
