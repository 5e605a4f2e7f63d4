package reputation

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// SetConfig is one named set as the policy declares it.
type SetConfig struct {
	// Name goes to reasons and logs: 1 to 64 of [a-z0-9_.-] (as the
	// policy's route names), unique among the sets.
	Name string
	Kind Kind
	// Format is the files' format, one of Formats().
	Format string
	// Files are read and their prefixes united; at least one.
	Files []string
}

// SetState is one set's state, for metrics and /readyz.
type SetState struct {
	Name   string
	Kind   Kind
	Format string
	Files  []string
	// Prefixes is the number of distinct prefixes of the set in force.
	Prefixes int
	// Loaded is when the prefixes in force were loaded.
	Loaded time.Time
	// LastError is why the files' newest content was refused (the set in
	// force is then older); empty when the set in force is the newest.
	LastError string
	// Failures counts refused loads since start.
	Failures uint64
}

// Sets loads the configured sets from their files, keeps them current and
// publishes a Table of all of them after each change. A file that fails to
// load keeps its set's last good prefixes in force, and the failure is
// logged, reported to Options.OnReload and shown by State.
type Sets struct {
	opts  Options
	sets  []*set
	table atomic.Pointer[Table]
	// busy is held by the reload in progress, so reloads never overlap. A
	// channel rather than a mutex: waiting for it can be abandoned when the
	// context ends.
	busy chan struct{}

	// mu guards the state of every set. It is never held while reading,
	// waiting or parsing, so State (and /readyz) never waits for a reload.
	mu sync.Mutex
}

// set is one set and its state, guarded by Sets.mu.
type set struct {
	cfg      SetConfig
	prefixes []netip.Prefix
	// sum is the digest of the content last tried, good or bad; zero after
	// a read error, so that whatever is read next is tried.
	sum      [sha256.Size]byte
	loaded   time.Time
	lastErr  string
	failures uint64
}

// Load reads every set's files and returns Sets holding them. Any error —
// a bad configuration, a missing or malformed file — is returned, with every
// set's problem joined: start-up must fail loudly rather than run with a set
// missing. The first load reads the files as they are, without waiting for
// them to settle. Run keeps the sets current afterwards.
func Load(ctx context.Context, cfgs []SetConfig, opts Options) (*Sets, error) {
	if err := validate(cfgs); err != nil {
		return nil, fmt.Errorf("reputation: %w", err)
	}
	s := &Sets{opts: opts.withDefaults(), busy: make(chan struct{}, 1)}
	var errs []error
	for _, cfg := range cfgs {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("reputation: load: %w", context.Cause(ctx))
		}
		cfg.Files = slices.Clone(cfg.Files)
		st := &set{cfg: cfg}
		c, err := readContent(cfg.Files, MaxFileSize)
		if err == nil {
			st.prefixes, err = parseSet(cfg, c)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("set %s: %w", cfg.Name, err))
		}
		st.sum, st.loaded = c.sum, time.Now()
		s.sets = append(s.sets, st)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("reputation: %w", err)
	}
	t, err := s.build()
	if err != nil {
		return nil, fmt.Errorf("reputation: %w", err)
	}
	s.table.Store(t)
	for _, st := range s.sets {
		s.opts.Logger.Info("reputation set loaded", "set", st.cfg.Name, "kind", st.cfg.Kind, "prefixes", len(st.prefixes))
	}
	return s, nil
}

// validate checks the configuration as a whole.
func validate(cfgs []SetConfig) error {
	if len(cfgs) > MaxSets {
		return fmt.Errorf("%d sets: at most %d", len(cfgs), MaxSets)
	}
	seen := make(map[string]bool, len(cfgs))
	for i, cfg := range cfgs {
		if !validName(cfg.Name) {
			return fmt.Errorf("set %d: name %q: want 1 to 64 of [a-z0-9_.-]", i, clip(cfg.Name))
		}
		if seen[cfg.Name] {
			return fmt.Errorf("set %s: declared twice", cfg.Name)
		}
		seen[cfg.Name] = true
		if !cfg.Kind.valid() {
			return fmt.Errorf("set %s: invalid kind %v", cfg.Name, cfg.Kind)
		}
		if _, ok := parserFor(cfg.Format); !ok {
			return fmt.Errorf("set %s: %w", cfg.Name, unknownFormat(cfg.Format))
		}
		if len(cfg.Files) == 0 {
			return fmt.Errorf("set %s: no file", cfg.Name)
		}
		for _, f := range cfg.Files {
			if f == "" {
				return fmt.Errorf("set %s: empty file name", cfg.Name)
			}
		}
	}
	return nil
}

// validName keeps set names safe in a header value, a metric label and a
// log line alike.
func validName(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for i := range len(name) {
		c := name[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// parseSet parses every file of a set and unites their prefixes.
func parseSet(cfg SetConfig, c content) ([]netip.Prefix, error) {
	var all []netip.Prefix
	for i, data := range c.data {
		prefixes, err := parseData(cfg.Format, data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", cfg.Files[i], err)
		}
		all = append(all, prefixes...)
	}
	if len(c.data) > 1 {
		all = canonical(all)
	}
	return all, nil
}

// Table returns the table in force. It never returns nil and never waits.
func (s *Sets) Table() *Table { return s.table.Load() }

// Run keeps the sets current until ctx ends: it re-reads the files on every
// change in their directories and every Options.Refresh, and publishes a new
// Table when a set's prefixes changed. It returns as soon as ctx ends,
// abandoning a reload in progress (the next Run tries the content again).
func (s *Sets) Run(ctx context.Context) {
	var files []string
	for _, st := range s.sets {
		files = append(files, st.cfg.Files...)
	}
	watch(ctx, files, s.opts.Refresh, s.opts.Logger, s.reload)
}

// reload tries every set's current content and publishes a new table if
// any set's prefixes changed.
func (s *Sets) reload(ctx context.Context) {
	select {
	case s.busy <- struct{}{}:
		defer func() { <-s.busy }()
	case <-ctx.Done():
		return
	}
	changed := false
	for _, st := range s.sets {
		if ctx.Err() != nil {
			break
		}
		if s.reloadSet(ctx, st) {
			changed = true
		}
	}
	// Published even when ctx ended meanwhile: a set already changed must
	// not sit unpublished until the next change.
	if !changed {
		return
	}
	t, err := s.build()
	if err != nil {
		// validate makes this unreachable; keep the table in force.
		s.opts.Logger.Error("reputation table not rebuilt; keeping the previous one", "err", err)
		return
	}
	s.table.Store(t)
}

// reloadSet loads a set's content if it changed, and reports whether its
// prefixes did.
func (s *Sets) reloadSet(ctx context.Context, st *set) bool {
	cfg := st.cfg
	c, err := readContent(cfg.Files, MaxFileSize)
	if err != nil {
		s.refuse(st, err, true)
		return false
	}
	if c.sum == s.triedSum(st) {
		return false
	}
	if c, err = settled(ctx, cfg.Files, MaxFileSize, s.opts.Settle, c); err != nil {
		if ctx.Err() == nil {
			s.refuse(st, err, true)
		}
		return false
	}
	if c.sum == s.triedSum(st) {
		return false // changed back while settling
	}
	prefixes, err := parseSet(cfg, c)
	if err != nil {
		s.mu.Lock()
		st.sum = c.sum
		s.mu.Unlock()
		s.refuse(st, err, false)
		return false
	}
	s.mu.Lock()
	changed := !slices.Equal(prefixes, st.prefixes)
	st.sum, st.prefixes, st.loaded, st.lastErr = c.sum, prefixes, time.Now(), ""
	s.mu.Unlock()
	s.opts.Logger.Info("reputation set reloaded", "set", cfg.Name, "prefixes", len(prefixes), "changed", changed)
	s.opts.report(cfg.Name, nil)
	return changed
}

func (s *Sets) triedSum(st *set) [sha256.Size]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return st.sum
}

// refuse records why a set's content was not taken. A read error resets
// the digest (whatever is read next must be tried) and is reported once
// while it stays the same: a file missing for an hour is one report, not
// sixty.
func (s *Sets) refuse(st *set, err error, readErr bool) {
	err = fmt.Errorf("set %s: %w", st.cfg.Name, err)
	msg := err.Error()
	s.mu.Lock()
	repeated := readErr && st.lastErr == msg
	if readErr {
		st.sum = [sha256.Size]byte{}
	}
	st.lastErr = msg
	if !repeated {
		st.failures++
	}
	s.mu.Unlock()
	if repeated {
		return
	}
	s.opts.Logger.Error("reputation set not reloaded; keeping its last good prefixes", "set", st.cfg.Name, "err", err)
	s.opts.report(st.cfg.Name, err)
}

// build makes the table of every set's prefixes in force.
func (s *Sets) build() (*Table, error) {
	s.mu.Lock()
	sets := make([]tableSet, len(s.sets))
	for i, st := range s.sets {
		sets[i] = tableSet{name: st.cfg.Name, kind: st.cfg.Kind, prefixes: st.prefixes}
	}
	s.mu.Unlock()
	// The prefixes are never changed in place (a reload replaces the
	// slice), so building outside the lock is safe.
	return newTable(sets)
}

// State returns every set's state, in configuration order (bit order).
func (s *Sets) State() []SetState {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]SetState, len(s.sets))
	for i, st := range s.sets {
		out[i] = SetState{
			Name: st.cfg.Name, Kind: st.cfg.Kind, Format: st.cfg.Format, Files: slices.Clone(st.cfg.Files),
			Prefixes: len(st.prefixes), Loaded: st.loaded, LastError: st.lastErr, Failures: st.failures,
		}
	}
	return out
}
