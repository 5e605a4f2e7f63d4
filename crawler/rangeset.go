package crawler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gaissmai/bart"
)

// maxRangeFile bounds a fetched range file: the largest published today
// (Google's lists) are tens of kilobytes.
const maxRangeFile = 16 << 20

// rangeSet is one range list as loaded. It is immutable: a refresh swaps a
// new one in.
type rangeSet struct {
	table    *bart.Lite
	prefixes int
	// published is when the list's content was published: the file's own
	// creation time when its format carries one, else the snapshot's
	// retrieval date, else when it was fetched.
	published time.Time
	// source is "embedded" or the URL it was fetched from.
	source string
}

func newRangeSet(prefixes []netip.Prefix, published time.Time, source string) *rangeSet {
	t := new(bart.Lite)
	for _, p := range prefixes {
		t.Insert(p)
	}
	return &rangeSet{table: t, prefixes: len(prefixes), published: published, source: source}
}

// rangeList is one list's slot: the set in force, swapped whole, and what
// its refreshes did.
type rangeList struct {
	list RangeList
	set  atomic.Pointer[rangeSet]

	mu        sync.Mutex
	fetched   time.Time // last successful fetch; zero before the first
	failures  uint64
	lastError string
}

// rangeLists holds every range list of a directory by name. The names are
// fixed at construction, so lookups need no lock.
type rangeLists struct {
	byName map[string]*rangeList
}

// get returns the named list's set in force, nil when it has none.
func (l *rangeLists) get(name string) *rangeSet {
	if rl := l.byName[name]; rl != nil {
		return rl.set.Load()
	}
	return nil
}

// loadSnapshots fills every list from its snapshot. A list whose snapshot
// is missing or unreadable starts empty (its crawlers cannot be verified by
// ranges until a refresh succeeds); the error says which.
func loadSnapshots(d *Directory) (*rangeLists, error) {
	l := &rangeLists{byName: make(map[string]*rangeList, len(d.Ranges))}
	var errs []error
	for _, list := range d.Ranges {
		rl := &rangeList{list: list}
		l.byName[list.Name] = rl
		if list.Snapshot == "" {
			continue
		}
		data, err := d.ReadSnapshot(list)
		if err != nil {
			errs = append(errs, fmt.Errorf("range list %s: %w", list.Name, err))
			continue
		}
		prefixes, err := ParseRanges(list.Format, data)
		if err != nil {
			errs = append(errs, fmt.Errorf("range list %s: snapshot %s: %w", list.Name, list.Snapshot, err))
			continue
		}
		published, ok := CreationTime(list.Format, data)
		if !ok {
			published, _ = time.Parse(time.DateOnly, list.Retrieved)
		}
		rl.set.Store(newRangeSet(prefixes, published, "embedded"))
	}
	return l, errors.Join(errs...)
}

// refresh fetches one list from its operator's URL and swaps it in. A
// failure keeps the set in force.
func (rl *rangeList) refresh(ctx context.Context, client *http.Client, now time.Time) error {
	err := rl.fetch(ctx, client, now)
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if err != nil {
		rl.failures++
		rl.lastError = err.Error()
		return err
	}
	rl.fetched, rl.lastError = now, ""
	return nil
}

func (rl *rangeList) fetch(ctx context.Context, client *http.Client, now time.Time) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rl.list.URL, nil)
	if err != nil {
		return fmt.Errorf("range list %s: %w", rl.list.Name, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("range list %s: %w", rl.list.Name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("range list %s: %s answered %s", rl.list.Name, rl.list.URL, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxRangeFile+1))
	if err != nil {
		return fmt.Errorf("range list %s: read %s: %w", rl.list.Name, rl.list.URL, err)
	}
	if len(data) > maxRangeFile {
		return fmt.Errorf("range list %s: %s is over %d bytes", rl.list.Name, rl.list.URL, maxRangeFile)
	}
	prefixes, err := ParseRanges(rl.list.Format, data)
	if err != nil {
		return fmt.Errorf("range list %s: %s: %w", rl.list.Name, rl.list.URL, err)
	}
	published, ok := CreationTime(rl.list.Format, data)
	if !ok {
		published = now
	}
	rl.set.Store(newRangeSet(prefixes, published, rl.list.URL))
	return nil
}

// refreshLoop refreshes every list with a URL now and then every interval
// (with up to a tenth of jitter, so replicas do not fetch in step), until
// ctx ends.
func (l *rangeLists) refreshLoop(ctx context.Context, client *http.Client, every time.Duration, now func() time.Time, failed func(error)) {
	for {
		for _, rl := range l.byName {
			if rl.list.URL == "" {
				continue
			}
			if err := rl.refresh(ctx, client, now()); err != nil && ctx.Err() == nil {
				failed(err)
			}
		}
		wait := every + rand.N(every/10+1)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// RangeState is one range list's state, for metrics and /readyz.
type RangeState struct {
	Name string
	// Prefixes is the number of prefixes in force; 0 when the list has
	// none (its snapshot failed and no refresh has succeeded).
	Prefixes int
	// Published is when the list in force was published (see rangeSet);
	// its age is what an operator watches.
	Published time.Time
	// Source is "embedded" or the URL it was fetched from.
	Source string
	// Fetched is the last successful refresh; zero before the first.
	Fetched time.Time
	// Failures counts failed refreshes; LastError is the latest one's,
	// empty after a success.
	Failures  uint64
	LastError string
}

// states returns every list's state, in directory order.
func (l *rangeLists) states(order []RangeList) []RangeState {
	out := make([]RangeState, 0, len(order))
	for _, list := range order {
		rl := l.byName[list.Name]
		if rl == nil {
			continue
		}
		s := RangeState{Name: list.Name}
		if set := rl.set.Load(); set != nil {
			s.Prefixes, s.Published, s.Source = set.prefixes, set.published, set.source
		}
		rl.mu.Lock()
		s.Fetched, s.Failures, s.LastError = rl.fetched, rl.failures, rl.lastError
		rl.mu.Unlock()
		out = append(out, s)
	}
	return out
}
