package reputation

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// pollInterval is how often tests look again while waiting for a reload.
const pollInterval = 10 * time.Millisecond

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(15 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

// replaceFile writes content next to path and renames it over path, as
// editors, deploy tools and Kubernetes do.
func replaceFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// reloads records OnReload's calls.
type reloads struct {
	mu    sync.Mutex
	calls []string
}

func (r *reloads) record(set string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, fmt.Sprintf("%s: %v", set, err))
}

func (r *reloads) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}

func lookup(s *Sets, ip string) Match { return s.Table().Lookup(netip.MustParseAddr(ip)) }

func stateOf(t *testing.T, s *Sets, name string) SetState {
	t.Helper()
	for _, st := range s.State() {
		if st.Name == name {
			return st
		}
	}
	t.Fatalf("no set %s", name)
	return SetState{}
}

func TestLoadPublishedFiles(t *testing.T) {
	s, err := Load(context.Background(), []SetConfig{
		{Name: "aws", Kind: Datacenter, Format: formatAWS, Files: []string{"testdata/aws-ip-ranges.json"}},
		{Name: "gcp", Kind: Datacenter, Format: formatGCP, Files: []string{"testdata/gcp-cloud.json"}},
		{Name: "azure", Kind: Datacenter, Format: formatAzure, Files: []string{"testdata/azure-servicetags-excerpt.json"}},
		{Name: "tor", Kind: Tor, Format: formatTor, Files: []string{"testdata/torbulkexitlist", "testdata/tor-exit-addresses"}},
	}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		ip   string
		sets uint64
	}{
		{"3.5.140.1", 0b0001},
		{"34.35.200.1", 0b0010},
		{"2603:1000:4::10d", 0b0100},
		{"185.241.208.232", 0b1000},
		{"192.0.2.1", 0},
	}
	for _, tt := range tests {
		if m := lookup(s, tt.ip); m.Sets != tt.sets {
			t.Errorf("%s: %04b, want %04b", tt.ip, m.Sets, tt.sets)
		}
	}
	want := map[string]int{"aws": 9066, "gcp": 782, "azure": 955, "tor": 1174}
	for _, st := range s.State() {
		if st.Prefixes != want[st.Name] || st.LastError != "" || st.Loaded.IsZero() {
			t.Errorf("%s: %+v, want %d prefixes", st.Name, st, want[st.Name])
		}
	}
	if s.Table().Len() == 0 || s.Table().Len() > 9066+782+955+1174 {
		t.Errorf("Len() = %d", s.Table().Len())
	}
}

func TestLoadRefuses(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.txt")
	writeFile(t, good, "10.0.0.0/8\n")
	bad := filepath.Join(dir, "bad.txt")
	writeFile(t, bad, "10.0.0.0/8\nnot-an-address\n")
	empty := filepath.Join(dir, "empty.txt")
	writeFile(t, empty, "# nothing yet\n")
	set := func(name string, kind Kind, format string, files ...string) SetConfig {
		return SetConfig{Name: name, Kind: kind, Format: format, Files: files}
	}
	many := make([]SetConfig, MaxSets+1)
	for i := range many {
		many[i] = set(fmt.Sprintf("s%d", i), Listed, formatPlain, good)
	}
	tests := []struct {
		name    string
		cfgs    []SetConfig
		wantErr []string
	}{
		{"unknown format", []SetConfig{set("a", Listed, "csv", good)}, []string{"set a", `unknown list format "csv"`}},
		{"invalid kind", []SetConfig{set("a", 0, formatPlain, good)}, []string{"set a: invalid kind"}},
		{"bad name", []SetConfig{set("Cloud Ranges", Listed, formatPlain, good)}, []string{`name "Cloud Ranges"`}},
		{"empty name", []SetConfig{set("", Listed, formatPlain, good)}, []string{`set 0: name ""`}},
		{"twice", []SetConfig{set("a", Listed, formatPlain, good), set("a", Tor, formatPlain, good)}, []string{"set a: declared twice"}},
		{"no file", []SetConfig{set("a", Listed, formatPlain)}, []string{"set a: no file"}},
		{"empty file name", []SetConfig{set("a", Listed, formatPlain, "")}, []string{"set a: empty file name"}},
		{"too many sets", many, []string{"65 sets: at most 64"}},
		{"missing file", []SetConfig{set("a", Listed, formatPlain, filepath.Join(dir, "missing.txt"))}, []string{"set a", "missing.txt", "no such file"}},
		{"malformed file", []SetConfig{set("a", Listed, formatPlain, good, bad)}, []string{"set a: " + bad + ": plain list: line 2: bad address"}},
		{"empty file", []SetConfig{set("a", Listed, formatPlain, empty)}, []string{"set a: " + empty + ": plain list has no prefix"}},
		{"every broken set is named", []SetConfig{set("a", Listed, formatPlain, bad), set("b", Listed, formatPlain, good), set("c", Tor, formatTor, empty)}, []string{"set a:", "set c:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Load(context.Background(), tt.cfgs, Options{})
			if err == nil {
				t.Fatalf("loaded %v", s.State())
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Load(ctx, []SetConfig{set("a", Listed, formatPlain, good)}, Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled load: %v", err)
	}
}

func TestLoadNoSets(t *testing.T) {
	s, err := Load(context.Background(), nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Table() == nil || lookup(s, "10.0.0.1") != (Match{}) || len(s.State()) != 0 {
		t.Fatal("a policy without sets must still have a table that matches nothing")
	}
}

// runSets starts Run and returns a function that stops it and waits for it
// to return.
func runSets(t *testing.T, s *Sets) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx)
	}()
	return func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Fatal("Run did not return after its context ended")
		}
	}
}

func TestHotReload(t *testing.T) {
	dir := t.TempDir()
	listed := filepath.Join(dir, "listed.txt")
	writeFile(t, listed, "192.0.2.0/24\n")
	exits := filepath.Join(dir, "exits")
	writeFile(t, exits, "198.51.100.7\n")
	var r reloads
	// Refresh is long: only the file events can bring the change in time.
	s, err := Load(context.Background(), []SetConfig{
		{Name: "blocked", Kind: Listed, Format: formatPlain, Files: []string{listed}},
		{Name: "tor", Kind: Tor, Format: formatTor, Files: []string{exits}},
	}, Options{Refresh: time.Hour, Settle: 20 * time.Millisecond, OnReload: r.record})
	if err != nil {
		t.Fatal(err)
	}
	stop := runSets(t, s)
	defer stop()
	before := s.Table()
	loadedBefore := stateOf(t, s, "blocked").Loaded

	replaceFile(t, listed, "203.0.113.0/24\n2001:db8::/32\n")
	waitFor(t, "the new prefixes", func() bool { return lookup(s, "203.0.113.9").Sets == 0b01 })
	if m := lookup(s, "192.0.2.1"); m.Sets != 0 {
		t.Errorf("the replaced prefix still matches: %+v", m)
	}
	if m := lookup(s, "2001:db8::1"); !m.Has(Listed) {
		t.Errorf("new IPv6 prefix: %+v", m)
	}
	if m := lookup(s, "198.51.100.7"); m.Sets != 0b10 || !m.Has(Tor) {
		t.Errorf("the other set changed: %+v", m)
	}
	if m := before.Lookup(netip.MustParseAddr("192.0.2.1")); m.Sets != 0b01 {
		t.Errorf("a published table changed: %+v", m)
	}
	st := stateOf(t, s, "blocked")
	if st.Prefixes != 2 || st.LastError != "" || !st.Loaded.After(loadedBefore) {
		t.Errorf("state after reload: %+v", st)
	}
	if calls := r.list(); len(calls) != 1 || calls[0] != "blocked: <nil>" {
		t.Errorf("OnReload calls: %q", calls)
	}
}

func TestBrokenFileKeepsLastGood(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "aws.json")
	writeFile(t, path, `{"prefixes":[{"ip_prefix":"3.5.140.0/22"}]}`)
	var r reloads
	s, err := Load(context.Background(), []SetConfig{{Name: "aws", Kind: Datacenter, Format: formatAWS, Files: []string{path}}},
		Options{Refresh: time.Hour, Settle: 20 * time.Millisecond, OnReload: r.record})
	if err != nil {
		t.Fatal(err)
	}
	stop := runSets(t, s)
	defer stop()
	good := s.Table()

	replaceFile(t, path, `{"prefixes":[{"ip_prefix":"3.5.140.0/22"},{"ip_prefix":"nonsense"}]}`)
	// The state is recorded before OnReload is told: wait for both.
	waitFor(t, "the error to be recorded and reported", func() bool {
		return stateOf(t, s, "aws").LastError != "" && len(r.list()) > 0
	})
	st := stateOf(t, s, "aws")
	if !strings.Contains(st.LastError, "set aws: "+path+": aws list: prefixes[1].ip_prefix") || st.Failures != 1 || st.Prefixes != 1 {
		t.Errorf("state: %+v", st)
	}
	if s.Table() != good || !lookup(s, "3.5.140.1").Has(Datacenter) {
		t.Error("the last good set was not kept")
	}
	if calls := r.list(); len(calls) != 1 || !strings.HasPrefix(calls[0], "aws: set aws: ") {
		t.Errorf("OnReload calls: %q", calls)
	}

	// An empty file is refused too: a reload never empties a set.
	replaceFile(t, path, `{"prefixes":[]}`)
	waitFor(t, "the empty file to be refused", func() bool { return stateOf(t, s, "aws").Failures == 2 })
	if !strings.Contains(stateOf(t, s, "aws").LastError, "has no prefix") || !lookup(s, "3.5.140.1").Has(Datacenter) {
		t.Errorf("empty file: %+v", stateOf(t, s, "aws"))
	}

	replaceFile(t, path, `{"prefixes":[{"ip_prefix":"52.94.0.0/22"}]}`)
	waitFor(t, "the fixed file", func() bool { return lookup(s, "52.94.0.1").Has(Datacenter) })
	if st := stateOf(t, s, "aws"); st.LastError != "" || st.Failures != 2 {
		t.Errorf("state after the fix: %+v", st)
	}
}

// TestReloadWithoutEvents drives a reload directly, as the periodic re-read
// does, on a file written in place (no rename).
func TestReloadWithoutEvents(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "list.txt")
	writeFile(t, path, "10.0.0.0/8\n")
	var r reloads
	s, err := Load(context.Background(), []SetConfig{{Name: "l", Kind: Listed, Format: formatPlain, Files: []string{path}}},
		Options{Settle: time.Millisecond, OnReload: r.record})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	first := s.Table()
	s.reload(ctx)
	if s.Table() != first || len(r.list()) != 0 {
		t.Fatal("unchanged content was reloaded")
	}
	writeFile(t, path, "# same prefixes, another comment\n10.0.0.0/8\n")
	s.reload(ctx)
	if s.Table() != first {
		t.Error("content whose prefixes did not change published a new table")
	}
	writeFile(t, path, "11.0.0.0/8\n")
	s.reload(ctx)
	if !lookup(s, "11.1.1.1").Has(Listed) || lookup(s, "10.1.1.1").Has(Listed) {
		t.Error("changed content was not published")
	}

	// A missing file is one failure and one report while it stays missing.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	s.reload(ctx)
	s.reload(ctx)
	st := stateOf(t, s, "l")
	if st.Failures != 1 || !strings.Contains(st.LastError, "no such file") || !lookup(s, "11.1.1.1").Has(Listed) {
		t.Errorf("missing file: %+v", st)
	}
	// Back with the same content as before it went: tried again, and the
	// error clears.
	writeFile(t, path, "11.0.0.0/8\n")
	s.reload(ctx)
	if st := stateOf(t, s, "l"); st.LastError != "" {
		t.Errorf("after the file came back: %+v", st)
	}
	calls := r.list()
	if len(calls) != 4 || !strings.Contains(calls[2], "no such file") || calls[3] != "l: <nil>" {
		t.Errorf("OnReload calls: %q", calls)
	}
}

func TestRunStopsWithContext(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "list.txt")
	writeFile(t, path, "10.0.0.0/8\n")
	s, err := Load(context.Background(), []SetConfig{{Name: "l", Kind: Listed, Format: formatPlain, Files: []string{path}}}, Options{Refresh: time.Millisecond, Settle: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	stop := runSets(t, s)
	// Run is running: a change written in place gets in.
	writeFile(t, path, "14.0.0.0/8\n")
	waitFor(t, "the change", func() bool { return lookup(s, "14.0.0.1").Has(Listed) })
	// stop fails the test if Run does not return.
	stop()
	writeFile(t, path, "15.0.0.0/8\n")
	s.reload(context.Background()) // a stopped Run holds nothing
	if !lookup(s, "15.0.0.1").Has(Listed) {
		t.Error("reload after Run returned did not load")
	}

	// A context that ends while a change is settling abandons the reload.
	writeFile(t, path, "12.0.0.0/8\n")
	s2, err := Load(context.Background(), []SetConfig{{Name: "l", Kind: Listed, Format: formatPlain, Files: []string{path}}}, Options{Settle: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, "13.0.0.0/8\n")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s2.reload(ctx)
	}()
	cancel()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("reload did not return after its context ended")
	}
	if lookup(s2, "13.0.0.1").Sets != 0 || stateOf(t, s2, "l").LastError != "" {
		t.Error("an abandoned reload changed the set")
	}
}
