package policy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// applied records the policies a Watcher hands over.
type applied struct {
	mu       sync.Mutex
	policies []*Policy
	reports  []bool
}

func (a *applied) apply(p *Policy) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.policies = append(a.policies, p)
}

func (a *applied) report(ok bool, _ error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.reports = append(a.reports, ok)
}

func (a *applied) last() *Policy {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.policies) == 0 {
		return nil
	}
	return a.policies[len(a.policies)-1]
}

func TestWatcherReloadKeepsTheLastGoodPolicy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("routes: {login: {mode: shadow}}\n")
	var a applied
	// A settle period this short only lets the synchronous Reload calls
	// below apply at once; TestWatcherNeverAppliesAHalfWrittenFile tests it.
	w, err := NewWatcher(WatcherOptions{Path: path, Apply: a.apply, Report: a.report, Settle: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}

	if err := w.Reload(t.Context()); err != nil || a.last() != nil {
		t.Fatalf("unchanged file: err %v, applied %v", err, a.last())
	}

	write("routes: {login: {mode: enforce}}\n")
	if err := w.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	if p := a.last(); p == nil || p.Route("login").Mode != ModeEnforce {
		t.Fatalf("changed file not applied: %+v", p)
	}

	write("routes: {login: {mode: enforcing}}\n")
	err = w.Reload(t.Context())
	if err == nil || !strings.Contains(err.Error(), "routes.login.mode") {
		t.Fatalf("bad file: err %v, want one naming routes.login.mode", err)
	}
	if w.LastError() == nil || len(a.policies) != 1 {
		t.Errorf("bad file: LastError %v, %d policies applied; want the error kept and nothing applied", w.LastError(), len(a.policies))
	}

	write("routes: {login: {mode: off}}\n")
	if err := w.Reload(t.Context()); err != nil || w.LastError() != nil {
		t.Fatalf("fixed file: err %v, LastError %v", err, w.LastError())
	}
	if p := a.last(); p.Route("login").Mode != ModeOff {
		t.Errorf("fixed file not applied: %s", p.Route("login").Mode)
	}
	if got := a.reports; len(got) != 3 || !got[0] || got[1] || !got[2] {
		t.Errorf("reports = %v, want ok, refused, ok", got)
	}
}

func TestWatcherRunPicksUpAReplacedFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(path, []byte("routes: {login: {mode: shadow}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var a applied
	w, err := NewWatcher(WatcherOptions{Path: path, Apply: a.apply, Settle: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx, time.Hour); close(done) }() // only fsnotify can deliver this change
	defer func() { cancel(); <-done }()

	// Replace the file the way editors and kubectl do: write aside, rename
	// over. The first change may be caught by Run's initial re-read; once it
	// is applied Run is in its loop, and with an hour's interval only the
	// directory watch can deliver the second.
	for _, mode := range []Mode{ModeEnforce, ModeOff} {
		tmp := filepath.Join(dir, ".policy.yaml.tmp")
		if err := os.WriteFile(tmp, []byte("routes: {login: {mode: "+mode.String()+"}}\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the file replaced with mode "+mode.String()+" applied", func() bool {
			p := a.last()
			return p != nil && p.Route("login").Mode == mode
		})
	}
}

// waitFor polls cond until it holds, failing the test after 10s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline:
			t.Fatalf("%s: not within 10s", what)
		case <-tick.C:
		}
	}
}

// returns runs f and fails the test if it has not returned within 10s: f
// must not wait for anything the test holds.
func returns(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: still waiting after 10s", what)
	}
}

func (a *applied) count() (policies int, reports []bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.policies), append([]bool(nil), a.reports...)
}

func TestWatcherRefusesAFileWithoutKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("routes: {login: {mode: enforce}}\n")
	var a applied
	w, err := NewWatcher(WatcherOptions{Path: path, Apply: a.apply, Report: a.report, Settle: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for _, content := range []string{"", " \n\n  \n", "# routes: {login: {mode: off}}\n"} {
		write(content)
		err := w.Reload(t.Context())
		if err == nil || !strings.Contains(err.Error(), "no keys") || w.LastError() == nil {
			t.Errorf("%q: err %v, LastError %v; want the file refused for having no keys", content, err, w.LastError())
		}
	}
	if n, reports := a.count(); n != 0 || len(reports) != 3 || reports[0] || reports[1] || reports[2] {
		t.Errorf("%d policies applied, reports %v; want none applied and 3 refusals", n, reports)
	}

	// "{}" is how a file asks for the embedded defaults.
	write("{}\n")
	if err := w.Reload(t.Context()); err != nil {
		t.Fatalf("{}: %v", err)
	}
	if p := a.last(); p == nil || p.Route("login").Name != DefaultRoute || p.Route("login").Mode != ModeShadow {
		t.Errorf("{} applied %+v, want the embedded defaults", p)
	}
}

// A writer that writes in place (cp truncates, then writes) with pauses
// between its writes must never get a partial file applied. Every prefix of
// the file below is a valid policy, so only the settle period keeps one out.
func TestWatcherNeverAppliesAHalfWrittenFile(t *testing.T) {
	const pause = 200 * time.Millisecond
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, []byte("version: before\nroutes: {old: {mode: enforce}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var a applied
	w, err := NewWatcher(WatcherOptions{Path: path, Apply: a.apply, Report: a.report, Settle: 5 * pause})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	// Re-read often besides the events, to catch every intermediate state.
	go func() { w.Run(ctx, 10*time.Millisecond); close(done) }()
	defer func() { cancel(); <-done }()

	chunks := []string{"routes:\n"}
	for i := range 5 {
		chunks = append(chunks, fmt.Sprintf("  r%d: {mode: enforce}\n", i))
	}
	chunks = append(chunks, "version: complete\n")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range chunks {
		if i > 0 {
			time.Sleep(pause) // the slow writer's pause, not a wait for a condition
		}
		if _, err := f.WriteString(c); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	waitFor(t, "the complete file applied", func() bool {
		p := a.last()
		return p != nil && p.Version == "complete"
	})
	a.mu.Lock()
	defer a.mu.Unlock()
	for i, p := range a.policies {
		if p.Version != "complete" || len(p.Routes) != 6 {
			t.Errorf("apply %d: version %q with routes %v: a partial file was applied", i, p.Version, p.RouteNames())
		}
	}
	for i, ok := range a.reports {
		if !ok {
			t.Errorf("reload %d refused: a partial (empty) file was tried", i)
		}
	}
}

// A reload in progress must not hold up /readyz (LastError), SIGHUP
// (Trigger) or shutdown (the reload's context ending).
func TestWatcherReloadInProgressHoldsNothingUp(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, []byte("routes: {login: {mode: shadow}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var a applied
	w, err := NewWatcher(WatcherOptions{Path: path, Apply: a.apply, Report: a.report, Settle: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	// A parse that runs until the test releases it: a huge file's.
	entered, release, left := make(chan struct{}), make(chan struct{}), make(chan struct{})
	w.parse = func(data []byte) (*Policy, error) {
		defer close(left)
		close(entered)
		<-release
		return parseFile(data)
	}
	if err := os.WriteFile(path, []byte("routes: {login: {mode: enforce}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	reloaded := make(chan error, 1)
	go func() { reloaded <- w.Reload(ctx) }()
	returns(t, "the parse starting", func() { <-entered })
	returns(t, "LastError during a parse", func() { _ = w.LastError() })
	returns(t, "Trigger during a parse", w.Trigger)

	cancel()
	var rerr error
	returns(t, "Reload after its context ended, with the parse still running", func() { rerr = <-reloaded })
	if !errors.Is(rerr, context.Canceled) {
		t.Errorf("abandoned Reload = %v, want context.Canceled", rerr)
	}
	close(release)
	returns(t, "the abandoned parse finishing", func() { <-left })
	if n, reports := a.count(); n != 0 || len(reports) != 0 {
		t.Errorf("abandoned reload: %d applied, reports %v; want nothing", n, reports)
	}

	// The abandoned content was not marked as tried: the next reload applies it.
	w.parse = parseFile
	if err := w.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	if p := a.last(); p == nil || p.Route("login").Mode != ModeEnforce {
		t.Errorf("after the abandoned reload, applied %+v; want login enforcing", p)
	}
}

// Run, as the service runs it, returns when its context ends even while a
// parse is held.
func TestWatcherRunStopsDuringAParse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, []byte("routes: {login: {mode: shadow}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	w, err := NewWatcher(WatcherOptions{Path: path, Apply: func(*Policy) {}, Settle: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	w.parse = func(data []byte) (*Policy, error) {
		close(entered)
		<-release
		return parseFile(data)
	}
	if err := os.WriteFile(path, []byte("routes: {login: {mode: enforce}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { w.Run(ctx, time.Hour); close(done) }()
	returns(t, "the parse starting", func() { <-entered })
	cancel()
	returns(t, "Run after its context ended", func() { <-done })
}

// TestWatcherStartsFromWhatWasLoaded changes the file between the caller's
// load and the watcher's start: the change must still be applied.
func TestWatcherStartsFromWhatWasLoaded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, []byte("version: v1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p, loaded, err := LoadFile(path)
	if err != nil || p.Version != "v1" {
		t.Fatalf("LoadFile: %v, %v", p, err)
	}
	if err := os.WriteFile(path, []byte("version: v2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var a applied
	w, err := NewWatcher(WatcherOptions{Path: path, Loaded: loaded, Apply: a.apply, Settle: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := a.last(); got == nil || got.Version != "v2" {
		t.Errorf("applied %v, want v2: the change made before the watcher started was lost", got)
	}
}
