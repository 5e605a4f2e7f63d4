package history_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/botauthz/botauthz/history"
	"github.com/botauthz/botauthz/internal/redistest"
	"github.com/botauthz/botauthz/ratelimit"
	"github.com/botauthz/botauthz/scoring"
)

// t0 starts a bucket of every window the tests use.
var t0 = time.UnixMilli(1_700_000_400_000)

var cfg = history.Config{Window: 10 * time.Minute, EscalateAfter: 3, SessionNetworks: 2}

// TestOnEveryStore runs every scenario on the in-memory store, a real
// Redis and a real Redis Cluster (where a record's address and session
// counters sit in two slots, each beside the identity's velocity
// counters): history has the same semantics on all three. The Redis
// servers are shared, so each scenario uses identities of its own.
func TestOnEveryStore(t *testing.T) {
	scenarios := []struct {
		name string
		run  func(*testing.T, ratelimit.Store)
	}{
		{"a stranger has no history", strangerHasNoHistory},
		{"events weigh and fade", eventsWeighAndFade},
		{"breaches escalate", escalation},
		{"a session from many networks", sessionFromManyNetworks},
		{"sessions not kept", sessionsNotKept},
	}
	dial := func(t *testing.T, url string) ratelimit.Store {
		s, err := ratelimit.DialRedis(url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	stores := []struct {
		name string
		open func(t *testing.T) ratelimit.Store
	}{
		{"memory", func(*testing.T) ratelimit.Store { return ratelimit.NewMemory(ratelimit.MemoryOptions{}) }},
		{"redis", func(t *testing.T) ratelimit.Store { return dial(t, redistest.Start(t).URL()) }},
		{"cluster", func(t *testing.T) ratelimit.Store { return dial(t, redistest.StartCluster(t, 3).URL()) }},
	}
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			s := st.open(t)
			for _, sc := range scenarios {
				t.Run(sc.name, func(t *testing.T) { sc.run(t, s) })
			}
		})
	}
}

// read is a Check's read: the history counters alone, in one Hit.
func read(t *testing.T, s ratelimit.Store, e history.Entity, at time.Time) history.Reading {
	t.Helper()
	cs, plan := cfg.AppendCounters(nil, &e)
	obs := make([]ratelimit.Observation, len(cs))
	if err := s.Hit(context.Background(), at, cs, obs); err != nil {
		t.Fatal(err)
	}
	return plan.Read(obs)
}

// check is a Check's read and record of its session's sighting: the
// history counters and, when w's filter says it is due, the sighting, in
// one Hit; then the sighting's events recorded through w. It returns the
// reading.
func check(t *testing.T, s ratelimit.Store, w *history.Writer, e history.Entity, at time.Time) history.Reading {
	t.Helper()
	e.Sighting = w.DueSighting(&e, cfg.Window, at)
	r := read(t, s, e, at)
	if e.Sighting != (r.Sighting != 0) {
		t.Fatalf("sighting due %v, reading's %v", e.Sighting, r.Sighting)
	}
	w.Record(e, r.Sighting, cfg.Window, at)
	return r
}

// writeSync records through a Writer and waits until it is written.
func writeSync(t *testing.T, s ratelimit.Store, e history.Entity, ev history.Events, at time.Time) {
	t.Helper()
	obs := &counting{}
	w, err := history.NewWriter(s, history.WriterOptions{Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	w.Record(e, ev, cfg.Window, at)
	w.Close()
	if obs.written.Load() != 1 || obs.failed.Load() != 0 {
		t.Fatalf("written %d, failed %d; want one record written", obs.written.Load(), obs.failed.Load())
	}
}

type counting struct{ written, failed, dropped atomic.Int64 }

func (c *counting) HistoryWritten(err error) {
	c.written.Add(1)
	if err != nil {
		c.failed.Add(1)
	}
}
func (c *counting) HistoryDropped() { c.dropped.Add(1) }

func strangerHasNoHistory(t *testing.T, s ratelimit.Store) {
	e := history.Entity{Client: "203.0.113.1", Subnet: "203.0.113.0/24", Session: "aaaa"}
	r := read(t, s, e, t0)
	if !r.Known || r.Denied != 0 || r.RateLimited != 0 || r.ChallengeFailed != 0 || r.SessionNetworks != 0 || r.NewSessions != 0 {
		t.Errorf("reading %+v, want known and empty", r)
	}
	if f := cfg.Features(&r); f != 0 {
		t.Errorf("features %v, want none", f)
	}
	// Peeks leave nothing: a second read is the same.
	if r2 := read(t, s, e, t0); r2 != r {
		t.Errorf("second reading %+v, want %+v", r2, r)
	}
}

// eventsWeighAndFade records each kind of event for an address and
// reads it back from the address and, through the session, from another
// address; then lets it fade.
func eventsWeighAndFade(t *testing.T, s ratelimit.Store) {
	e := history.Entity{Client: "203.0.113.2", Subnet: "203.0.113.0/24", Session: "bbbb"}
	writeSync(t, s, e, history.Denied|history.RateLimited, t0)
	writeSync(t, s, e, history.ChallengeFailed, t0)
	writeSync(t, s, e, history.ChallengeFailed, t0.Add(time.Second))

	r := read(t, s, e, t0.Add(time.Minute))
	if r.Denied != 1 || r.RateLimited != 1 || r.ChallengeFailed != 2 {
		t.Errorf("reading %+v, want 1 denial, 1 breach, 2 failures", r)
	}
	want := scoring.HistoryOfDenials | scoring.HistoryOfRateLimits | scoring.HistoryOfChallengeFailures
	if f := cfg.Features(&r); f != want {
		t.Errorf("features %b, want %b", f, want)
	}
	// The same session from elsewhere carries its history; another
	// client of the same network does not.
	other := read(t, s, history.Entity{Client: "198.51.100.2", Subnet: "198.51.100.0/24", Session: "bbbb"}, t0.Add(time.Minute))
	neighbour := read(t, s, history.Entity{Client: "203.0.113.3", Subnet: "203.0.113.0/24"}, t0.Add(time.Minute))
	if other.Denied != 1 || neighbour.Denied != 0 {
		t.Errorf("session elsewhere: %+v; neighbour: %+v", other, neighbour)
	}
	// Half a window into the next bucket the single denial has faded
	// below the threshold; the two failures at 1 still fire.
	late := read(t, s, e, t0.Add(cfg.Window+cfg.Window/2+time.Second))
	if f := cfg.Features(&late); f&scoring.HistoryOfDenials != 0 || f&scoring.HistoryOfChallengeFailures != 0 || late.Denied >= 0.5 {
		t.Errorf("1.5 windows later: %+v (features %b), want faded", late, f)
	}
	if gone := read(t, s, e, t0.Add(2*cfg.Window)); gone.Denied != 0 || gone.ChallengeFailed != 0 {
		t.Errorf("two windows later: %+v, want nothing", gone)
	}
}

func escalation(t *testing.T, s ratelimit.Store) {
	e := history.Entity{Client: "203.0.113.4", Subnet: "203.0.113.0/24"}
	for i := range cfg.EscalateAfter {
		r := read(t, s, e, t0.Add(time.Duration(i)*time.Second))
		if cfg.Escalates(&r) {
			t.Fatalf("escalated after %d breaches, want %d", i, cfg.EscalateAfter)
		}
		writeSync(t, s, e, history.RateLimited, t0.Add(time.Duration(i)*time.Second))
	}
	if r := read(t, s, e, t0.Add(time.Minute)); !cfg.Escalates(&r) {
		t.Errorf("%d breaches: reading %+v does not escalate", cfg.EscalateAfter, r)
	}
	never := cfg
	never.EscalateAfter = 0
	if r := read(t, s, e, t0.Add(time.Minute)); never.Escalates(&r) {
		t.Error("escalate_after 0 escalated")
	}
}

// sessionFromManyNetworks shows one session cookie coming from a third
// network (more than cfg.SessionNetworks) firing session.many_networks,
// while many requests from one network count it once.
func sessionFromManyNetworks(t *testing.T, s ratelimit.Store) {
	nets := []history.Entity{
		{Client: "203.0.113.5", Subnet: "203.0.113.0/24", Session: "cccc"},
		{Client: "198.51.100.5", Subnet: "198.51.100.0/24", Session: "cccc"},
		{Client: "192.0.2.5", Subnet: "192.0.2.0/24", Session: "cccc"},
	}
	w, err := history.NewWriter(s, history.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var sightings []history.Events
	for i := range 5 {
		sightings = append(sightings, check(t, s, w, nets[0], t0.Add(time.Duration(i)*time.Second)).Sighting)
	}
	sightings = append(sightings, check(t, s, w, nets[1], t0.Add(10*time.Second)).Sighting)
	w.Close()
	// The first two Checks from a network count the sighting: new, then
	// back; the rest count none.
	if want := []history.Events{history.SessionNewNetwork, history.SessionCameBack, 0, 0, 0, history.SessionNewNetwork}; !slices.Equal(sightings, want) {
		t.Errorf("sightings %v, want %v", sightings, want)
	}
	r := read(t, s, nets[2], t0.Add(20*time.Second))
	if r.SessionNetworks != 2 || cfg.Features(&r)&scoring.HistorySessionManyNetworks != 0 {
		t.Errorf("two networks: %+v", r)
	}
	w, err = history.NewWriter(s, history.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	check(t, s, w, nets[2], t0.Add(30*time.Second))
	w.Close()
	r = read(t, s, nets[0], t0.Add(40*time.Second))
	if r.SessionNetworks != 3 || cfg.Features(&r)&scoring.HistorySessionManyNetworks == 0 {
		t.Errorf("three networks: %+v, want session.many_networks", r)
	}
}

// TestSightingsInOneFlushCountEach: the networks of a token passed around
// (and the new sessions of an address) are each counted, though they are
// recorded within one flush, as a sighting's events are written; a flood
// of them is bounded.
func TestSightingsInOneFlushCountEach(t *testing.T) {
	s := ratelimit.NewMemory(ratelimit.MemoryOptions{})
	w, err := history.NewWriter(s, history.WriterOptions{Flush: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		e := history.Entity{Client: fmt.Sprintf("203.0.%d.5", i), Subnet: fmt.Sprintf("203.0.%d.0/24", i), Session: "passed-around"}
		check(t, s, w, e, t0)
	}
	for i := range 100 {
		e := history.Entity{Client: "198.51.100.8", Subnet: "198.51.100.0/24", Session: fmt.Sprintf("new-%d", i)}
		check(t, s, w, e, t0)
	}
	w.Close()
	if r := read(t, s, history.Entity{Client: "192.0.2.1", Subnet: "192.0.2.0/24", Session: "passed-around"}, t0); r.SessionNetworks != 3 {
		t.Errorf("three networks in one flush: %v, want 3", r.SessionNetworks)
	}
	if r := read(t, s, history.Entity{Client: "198.51.100.8", Subnet: "198.51.100.0/24", Session: "new-0"}, t0); r.NewSessions != 8 {
		t.Errorf("100 new sessions in one flush: %v, want 8 (the bound)", r.NewSessions)
	}
}

// TestASightingIsPartOfTheCheck: counting a session's sighting takes no
// store call besides the Check's; its events are written with the flush.
func TestASightingIsPartOfTheCheck(t *testing.T) {
	s := &batchSizes{Store: ratelimit.NewMemory(ratelimit.MemoryOptions{})}
	w, err := history.NewWriter(s, history.WriterOptions{Flush: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	e := history.Entity{Client: "203.0.113.12", Subnet: "203.0.113.0/24", Session: "ffff"}
	check(t, s, w, e, t0)
	if len(s.sizes) != 1 || s.sizes[0] != history.MaxCounters {
		t.Errorf("store calls %v, want the Check's one, of %d counters", s.sizes, history.MaxCounters)
	}
	w.Close()
	if len(s.sizes) != 2 || s.sizes[1] != 2 {
		t.Errorf("store calls %v, want then one flush of 2 counters (a network, a new session)", s.sizes)
	}
}

// TestSightingFilter: a pair is due twice a window; a failed sighting is
// due again; the filter serves Checks concurrently.
func TestSightingFilter(t *testing.T) {
	w, err := history.NewWriter(ratelimit.NewMemory(ratelimit.MemoryOptions{}), history.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	e := history.Entity{Client: "203.0.113.13", Subnet: "203.0.113.0/24", Session: "gggg"}
	var got []bool
	for i := range 4 {
		got = append(got, w.DueSighting(&e, cfg.Window, t0.Add(time.Duration(i)*time.Second)))
	}
	w.SightingFailed(&e)
	got = append(got, w.DueSighting(&e, cfg.Window, t0.Add(5*time.Second)))
	got = append(got, w.DueSighting(&e, cfg.Window, t0.Add(cfg.Window+5*time.Second)))
	if want := []bool{true, true, false, false, true, true}; !slices.Equal(got, want) {
		t.Errorf("due %v, want %v", got, want)
	}
	for _, no := range []history.Entity{{Client: "203.0.113.13", Subnet: "203.0.113.0/24"}, {Client: "203.0.113.13", Session: "gggg"}} {
		if w.DueSighting(&no, cfg.Window, t0) {
			t.Errorf("%+v: a sighting due without a session and a network", no)
		}
	}
	var nilWriter *history.Writer
	if nilWriter.DueSighting(&e, cfg.Window, t0) {
		t.Error("a nil Writer has a sighting due")
	}
	// Many Checks of one pair at once: two are due, whoever they are.
	var due atomic.Int64
	var wg sync.WaitGroup
	pair := history.Entity{Client: "203.0.113.14", Subnet: "203.0.113.0/24", Session: "hhhh"}
	for range 16 {
		wg.Go(func() {
			for range 100 {
				if w.DueSighting(&pair, cfg.Window, t0) {
					due.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if due.Load() != 2 {
		t.Errorf("1,600 concurrent Checks of one pair: %d due, want 2", due.Load())
	}
}

// sessionsNotKept: an address whose every request carries a new
// session cookie fires session.not_kept; one that keeps its cookie does not.
func sessionsNotKept(t *testing.T, s ratelimit.Store) {
	w, err := history.NewWriter(s, history.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var last history.Reading
	for i := range 6 {
		at := t0.Add(time.Duration(i) * time.Second)
		rotating := history.Entity{Client: "203.0.113.6", Subnet: "203.0.113.0/24", Session: "rot" + string(rune('a'+i))}
		last = check(t, s, w, rotating, at)
		keeping := history.Entity{Client: "198.51.100.6", Subnet: "198.51.100.0/24", Session: "kept"}
		check(t, s, w, keeping, at)
	}
	w.Close()
	rot := read(t, s, history.Entity{Client: "203.0.113.6", Subnet: "203.0.113.0/24", Session: "rotg"}, t0.Add(time.Minute))
	kept := read(t, s, history.Entity{Client: "198.51.100.6", Subnet: "198.51.100.0/24", Session: "kept"}, t0.Add(time.Minute))
	if cfg.Features(&rot)&scoring.HistorySessionNotKept == 0 || rot.NewSessions != 6 || rot.ReturningSessions != 0 {
		t.Errorf("rotating: %+v (after the 6th: %+v), want session.not_kept", rot, last)
	}
	if cfg.Features(&kept)&scoring.HistorySessionNotKept != 0 || kept.NewSessions != 1 || kept.ReturningSessions != 1 {
		t.Errorf("keeping: %+v, want one new session, which came back", kept)
	}
}

func TestNoIdentityNoCounters(t *testing.T) {
	cs, plan := cfg.AppendCounters(nil, &history.Entity{})
	if len(cs) != 0 || plan.Len() != 0 || plan.Read(nil).Known {
		t.Errorf("no identity: %d counters", len(cs))
	}
	cs, plan = cfg.AppendCounters(make([]ratelimit.Counter, 2), &history.Entity{Client: "203.0.113.7", Subnet: "203.0.113.0/24"})
	if len(cs) != 5 || plan.Len() != 3 {
		t.Errorf("a client without a session: %d counters (plan %d), want 2 + its 3", len(cs), plan.Len())
	}
	for _, c := range cs[2:] {
		if !c.Peek {
			t.Errorf("%s is counted, want peeked", c.Key)
		}
	}
	cs, _ = cfg.AppendCounters(nil, &history.Entity{Client: "203.0.113.7", Subnet: "203.0.113.0/24", Session: "dddd"})
	if len(cs) != history.MaxCounters-1 {
		t.Errorf("a client with a session: %d counters, want %d", len(cs), history.MaxCounters-1)
	}
	cs, plan = cfg.AppendCounters(nil, &history.Entity{Client: "203.0.113.7", Subnet: "203.0.113.0/24", Session: "dddd", Sighting: true})
	if len(cs) != history.MaxCounters || plan.Len() != history.MaxCounters {
		t.Fatalf("a client with a session and its sighting: %d counters (plan %d), want %d", len(cs), plan.Len(), history.MaxCounters)
	}
	if last := cs[len(cs)-1]; last.Peek || last.Key != ratelimit.IdentityKey(ratelimit.DimSession, "dddd") || !strings.HasPrefix(last.Lane, "h.seen.203.0.113.0/24") || last.Window != 2*cfg.Window {
		t.Errorf("the sighting: %+v, want the session's lane of its network, counted, over two windows", last)
	}
	off := history.Config{}
	if cs, _ := off.AppendCounters(nil, &history.Entity{Client: "203.0.113.7"}); len(cs) != 0 {
		t.Error("a zero window reads history")
	}
}

func TestCountersAreLanesOfTheIdentityKeys(t *testing.T) {
	clientKey := ratelimit.IdentityKey(ratelimit.DimIP, "203.0.113.7")
	sessionKey := ratelimit.IdentityKey(ratelimit.DimSession, "dddd")
	// One lane per identity, its parts the kinds of event: a store reads
	// them together.
	want := []string{
		clientKey + " h:600s 0", clientKey + " h:600s 1", clientKey + " h:600s 2", clientKey + " h:600s 3", clientKey + " h:600s 4",
		sessionKey + " h:600s 0", sessionKey + " h:600s 1", sessionKey + " h:600s 2", sessionKey + " h:600s 3",
	}
	prepared := cfg
	prepared.Prepare()
	for _, tt := range []struct {
		name string
		cfg  history.Config
		e    history.Entity
	}{
		{"keys built", cfg, history.Entity{Client: "203.0.113.7", Subnet: "203.0.113.0/24", Session: "dddd"}},
		{"keys given", cfg, history.Entity{Client: "203.0.113.7", Subnet: "203.0.113.0/24", Session: "dddd", ClientKey: clientKey, SessionKey: sessionKey}},
		{"prepared", prepared, history.Entity{Client: "203.0.113.7", Subnet: "203.0.113.0/24", Session: "dddd"}},
	} {
		cs, _ := tt.cfg.AppendCounters(nil, &tt.e)
		got := make([]string, len(cs))
		for i, c := range cs {
			got[i] = c.Key + " " + c.Lane + " " + strconv.Itoa(int(c.Part))
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: counters\n %q\nwant %q", tt.name, got, want)
		}
	}

	// Prepared, with the keys given, as a Check calls it: nothing to build.
	e := history.Entity{Client: "203.0.113.7", Subnet: "203.0.113.0/24", Session: "dddd", ClientKey: clientKey, SessionKey: sessionKey}
	dst := make([]ratelimit.Counter, 0, history.MaxCounters)
	if allocs := testing.AllocsPerRun(100, func() { prepared.AppendCounters(dst, &e) }); allocs != 0 {
		t.Errorf("AppendCounters of a prepared Config with the keys given allocates %v times, want 0", allocs)
	}
	// A Window changed after Prepare is not read with the old lanes.
	changed := prepared
	changed.Window = time.Minute
	if cs, _ := changed.AppendCounters(nil, &e); cs[0].Lane != "h:60s" || cs[0].Window != time.Minute {
		t.Errorf("after a change of window: %+v, want lane h:60s", cs[0])
	}
}

// failing is a store that is down.
type failing struct{ ratelimit.Store }

func (failing) Hit(context.Context, time.Time, []ratelimit.Counter, []ratelimit.Observation) error {
	return errors.New("store down")
}

func TestWriterCountsFailuresAndDrops(t *testing.T) {
	obs := &counting{}
	w, err := history.NewWriter(failing{}, history.WriterOptions{Observer: obs, Queue: 1})
	if err != nil {
		t.Fatal(err)
	}
	e := history.Entity{Client: "203.0.113.7", Subnet: "203.0.113.0/24", Session: "eeee"}
	for range 100 {
		w.Record(e, history.Denied|history.SessionNewNetwork, cfg.Window, t0)
	}
	w.Close()
	// Each counter is pending once for the denials, up to the sightings'
	// bound for the new network: a flush writes that in at most 8 calls
	// (16 if the records straddle a tick), however many records came.
	if w, f, d := obs.written.Load(), obs.failed.Load(), obs.dropped.Load(); w < 1 || f != w || d == 0 || w > 16 {
		t.Errorf("written %d, failed %d, dropped %d: want every write failed, some records dropped, a few calls a flush", w, f, d)
	}
	var nilWriter *history.Writer
	nilWriter.Record(e, history.Denied, cfg.Window, t0) // records nothing, does not panic
	if _, err := history.NewWriter(nil, history.WriterOptions{}); err == nil {
		t.Error("NewWriter(nil) succeeded")
	}
}

// TestSameEventWithinAFlushCountsOnce: a flood of one client's breaches
// costs one write a flush; events further apart than a flush (a clock that
// jumped) are not written as one.
func TestSameEventWithinAFlushCountsOnce(t *testing.T) {
	s := ratelimit.NewMemory(ratelimit.MemoryOptions{})
	obs := &counting{}
	// A flush of an hour never comes during the test: Close writes.
	w, err := history.NewWriter(s, history.WriterOptions{Observer: obs, Flush: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	flood := history.Entity{Client: "203.0.113.9", Subnet: "203.0.113.0/24"}
	other := history.Entity{Client: "203.0.113.10", Subnet: "203.0.113.0/24"}
	for i := range 1000 {
		w.Record(flood, history.RateLimited, cfg.Window, t0.Add(time.Duration(i)*time.Millisecond))
	}
	w.Record(other, history.RateLimited, cfg.Window, t0)
	w.Record(other, history.RateLimited, cfg.Window, t0.Add(2*time.Hour))
	w.Close()
	if r := read(t, s, flood, t0.Add(time.Minute)); r.RateLimited != 1 {
		t.Errorf("1,000 breaches in one flush: %v, want 1", r.RateLimited)
	}
	if r := read(t, s, other, t0.Add(2*time.Hour+time.Minute)); r.RateLimited != 1 {
		t.Errorf("two hours later: %v, want the later breach alone", r.RateLimited)
	}
	if n := obs.written.Load(); n != 2 {
		t.Errorf("%d store calls, want 2: the breaches two hours apart written apart", n)
	}
}

// batchSizes is a store that records how many counters each Hit carries.
type batchSizes struct {
	ratelimit.Store
	mu    sync.Mutex
	sizes []int
}

func (b *batchSizes) Hit(ctx context.Context, now time.Time, cs []ratelimit.Counter, obs []ratelimit.Observation) error {
	b.mu.Lock()
	b.sizes = append(b.sizes, len(cs))
	b.mu.Unlock()
	return b.Store.Hit(ctx, now, cs, obs)
}

// TestFlushGoesInShortCalls: the events of many identities in one flush
// are written in store calls of a bounded size, since Redis serves no
// Check while one runs, and each is counted once.
func TestFlushGoesInShortCalls(t *testing.T) {
	s := &batchSizes{Store: ratelimit.NewMemory(ratelimit.MemoryOptions{})}
	w, err := history.NewWriter(s, history.WriterOptions{Flush: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	const clients = 200
	entity := func(i int) history.Entity {
		return history.Entity{Client: fmt.Sprintf("198.51.%d.%d", i/250, i%250), Subnet: fmt.Sprintf("198.51.%d.0/24", i/250)}
	}
	for i := range clients {
		w.Record(entity(i), history.Denied|history.RateLimited, cfg.Window, t0)
	}
	w.Close()
	total := 0
	for _, n := range s.sizes {
		if n > 32 {
			t.Errorf("a store call of %d counters, want at most 32", n)
		}
		total += n
	}
	if total != 2*clients {
		t.Errorf("%d counters written in %d calls, want %d", total, len(s.sizes), 2*clients)
	}
	for _, i := range []int{0, clients / 2, clients - 1} {
		if r := read(t, s.Store, entity(i), t0.Add(time.Minute)); r.Denied != 1 || r.RateLimited != 1 {
			t.Errorf("client %d: %+v, want one denial and one breach", i, r)
		}
	}
}

// TestHeldEventsAreNotCountedAgain: an event whose count a Check read at
// its bound (what its feature or escalation needs, and one more) is not
// counted again for that identity, which costs the store nothing; below
// the bound, and for the other identity, it is.
func TestHeldEventsAreNotCountedAgain(t *testing.T) {
	s := &batchSizes{Store: ratelimit.NewMemory(ratelimit.MemoryOptions{})}
	record := func(e history.Entity, ev history.Events, times int) {
		t.Helper()
		for i := range times {
			writeSync(t, s.Store, e, ev, t0.Add(time.Duration(i)*time.Second))
		}
	}
	at := t0.Add(time.Minute)
	for _, tt := range []struct {
		name   string
		ev     history.Events
		before int
		held   bool
	}{
		{"one denial", history.Denied, 1, false},
		{"two denials", history.Denied, 2, true},
		{"escalate_after breaches", history.RateLimited, cfg.EscalateAfter, false},
		{"one breach more", history.RateLimited, cfg.EscalateAfter + 1, true},
		{"two failed challenges", history.ChallengeFailed, 2, false},
		{"three failed challenges", history.ChallengeFailed, 3, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := history.Entity{Client: "192.0.2." + strconv.Itoa(10+tt.before) + strconv.Itoa(int(tt.ev)), Subnet: "192.0.2.0/24"}
			record(e, tt.ev, tt.before)
			r := read(t, s.Store, e, at)
			held := cfg.Held(&r)
			if (held.Client&tt.ev != 0) != tt.held || held.Session != 0 {
				t.Fatalf("after %d: held %+v, want the address's held %v", tt.before, held, tt.held)
			}
			w, err := history.NewWriter(s, history.WriterOptions{})
			if err != nil {
				t.Fatal(err)
			}
			s.mu.Lock()
			s.sizes = nil
			s.mu.Unlock()
			w.RecordHeld(e, tt.ev, held, cfg.Window, at)
			w.Close()
			calls := len(s.sizes)
			after := read(t, s.Store, e, at)
			want := tt.before
			if !tt.held {
				want++
			}
			got := max(after.Denied, after.RateLimited, after.ChallengeFailed)
			if got != float64(want) || (calls == 0) != tt.held {
				t.Errorf("count %v after %d store calls, want %d", got, calls, want)
			}
		})
	}

	// The session holds its denials, the address does not: the address's
	// is counted alone.
	session := history.Entity{Session: "held-session"}
	record(session, history.Denied, 2)
	both := history.Entity{Client: "192.0.2.99", Subnet: "192.0.2.0/24", Session: "held-session"}
	r := read(t, s.Store, both, at)
	held := cfg.Held(&r)
	if held.Session&history.Denied == 0 || held.Client != 0 {
		t.Fatalf("held %+v, want the session's denials alone", held)
	}
	w, err := history.NewWriter(s.Store, history.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w.RecordHeld(both, history.Denied, held, cfg.Window, at)
	w.Close()
	if addr := read(t, s.Store, history.Entity{Client: "192.0.2.99", Subnet: "192.0.2.0/24"}, at); addr.Denied != 1 {
		t.Errorf("the address's denials: %v, want 1", addr.Denied)
	}
	if ses := read(t, s.Store, session, at); ses.Denied != 2 {
		t.Errorf("the session's denials: %v, want still 2", ses.Denied)
	}
	if h := cfg.Held(&history.Reading{}); h != (history.Held{}) {
		t.Errorf("a reading not known holds %+v", h)
	}

	// Denials of the previous bucket alone hold nothing: they fade, and
	// the next one counts.
	old := history.Entity{Client: "192.0.2.98", Subnet: "192.0.2.0/24"}
	record(old, history.Denied, 3)
	later := t0.Add(cfg.Window + time.Minute)
	if r := read(t, s.Store, old, later); r.Denied < 2 || cfg.Held(&r) != (history.Held{}) {
		t.Errorf("three denials a bucket ago: %v, held %+v, want at least 2 and nothing held", r.Denied, cfg.Held(&r))
	}
}
