package policy

import (
	"context"
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
	w, err := NewWatcher(WatcherOptions{Path: path, Apply: a.apply, Report: a.report})
	if err != nil {
		t.Fatal(err)
	}

	if err := w.Reload(); err != nil || a.last() != nil {
		t.Fatalf("unchanged file: err %v, applied %v", err, a.last())
	}

	write("routes: {login: {mode: enforce}}\n")
	if err := w.Reload(); err != nil {
		t.Fatal(err)
	}
	if p := a.last(); p == nil || p.Route("login").Mode != ModeEnforce {
		t.Fatalf("changed file not applied: %+v", p)
	}

	write("routes: {login: {mode: enforcing}}\n")
	err = w.Reload()
	if err == nil || !strings.Contains(err.Error(), "routes.login.mode") {
		t.Fatalf("bad file: err %v, want one naming routes.login.mode", err)
	}
	if w.LastError() == nil || len(a.policies) != 1 {
		t.Errorf("bad file: LastError %v, %d policies applied; want the error kept and nothing applied", w.LastError(), len(a.policies))
	}

	write("routes: {login: {mode: off}}\n")
	if err := w.Reload(); err != nil || w.LastError() != nil {
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
	w, err := NewWatcher(WatcherOptions{Path: path, Apply: a.apply})
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
		deadline := time.After(10 * time.Second)
		tick := time.NewTicker(20 * time.Millisecond)
		for applied := false; !applied; {
			if p := a.last(); p != nil && p.Route("login").Mode == mode {
				applied = true
				continue
			}
			select {
			case <-deadline:
				t.Fatalf("the file replaced with mode %s was not applied within 10s", mode)
			case <-tick.C:
			}
		}
		tick.Stop()
	}
}
