package scoring

import (
	"bytes"
	"fmt"
	"slices"

	"go.yaml.in/yaml/v3"
)

// maxOrderNames bounds the header names one family's order knows: a mask of
// them must fit a uint64.
const maxOrderNames = 64

// HeaderOrder is data/header_order.yaml: for each browser family, the pairs
// of headers that came in one order in every navigation of that family the
// training corpus holds. cmd/bottrain learns it; the scorer fires
// order.unlike_browser when a navigation reverses one of the pairs.
type HeaderOrder struct {
	// Source says what the pairs were learned from.
	Source string `yaml:"source"`
	// Families maps "chromium", "firefox" and "webkit" to their order.
	Families map[string]FamilyOrder `yaml:"families"`
}

// FamilyOrder is one browser family's learned order.
type FamilyOrder struct {
	// Navigations is how many navigations the pairs were learned from.
	Navigations int `yaml:"navigations"`
	// Before maps a header name to the names that came after it whenever
	// both were present.
	Before map[string][]string `yaml:"before"`
}

// familyNames maps the data file's family keys to engines.
var familyNames = map[string]engine{"chromium": engineChromium, "firefox": engineFirefox, "webkit": engineWebKit}

// FamilyOf returns the browser family ("chromium", "firefox", "webkit") a
// user agent claims, or "" for none: the families header order is learned
// and checked for.
func FamilyOf(userAgent string) string {
	var buf [maxUserAgent]byte
	b := parseBrowser(lowerInto(buf[:], trimOWS(userAgent)))
	if b.webview {
		return ""
	}
	for name, e := range familyNames {
		if e == b.engine {
			return name
		}
	}
	return ""
}

// IsNavigation reports whether a request with these headers is a page
// navigation as header order is learned and checked: sec-fetch-mode
// navigate or, without fetch metadata, a GET or HEAD accepting HTML first.
func IsNavigation(method string, headers map[string]string) bool {
	return kindOf(method, headers) == kindNavigation
}

// orderTable is a HeaderOrder compiled for the hot path.
type orderTable struct {
	families [engineWebKit + 1]familyTable
}

// maxOrderName bounds a header name the order knows, in bytes.
const maxOrderName = 64

// familyTable is one family's pairs: name i must come before every name in
// after[i].
type familyTable struct {
	index map[string]uint8
	// byLen lists the names by length: a header name is found by comparing
	// it with the few known names of its length, which is several times
	// faster than hashing it, and this runs for every header of every
	// navigation.
	byLen [maxOrderName + 1][]orderName
	after []uint64
}

// orderName is one known name and its id.
type orderName struct {
	name string
	id   uint8
}

// lookup returns name's id and whether the family knows it.
func (ft *familyTable) lookup(name string) (uint8, bool) {
	if len(name) > maxOrderName {
		return 0, false
	}
	for _, n := range ft.byLen[len(name)] {
		if n.name == name {
			return n.id, true
		}
	}
	return 0, false
}

// compileOrder checks and compiles a header order file.
func compileOrder(data []byte) (*orderTable, error) {
	var o HeaderOrder
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&o); err != nil {
		return nil, fmt.Errorf("parse header order: %w", err)
	}
	t := &orderTable{}
	for family, fo := range o.Families {
		e, ok := familyNames[family]
		if !ok {
			return nil, fmt.Errorf("parse header order: unknown family %q", family)
		}
		ft := familyTable{index: make(map[string]uint8)}
		id := func(name string) (uint8, error) {
			if i, ok := ft.index[name]; ok {
				return i, nil
			}
			if name == "" || len(name) > maxOrderName || name != string(lowerInto(make([]byte, len(name)), name)) {
				return 0, fmt.Errorf("parse header order: %s: header name %q is not a lower-case name of 1-%d bytes", family, name, maxOrderName)
			}
			if len(ft.index) == maxOrderNames {
				return 0, fmt.Errorf("parse header order: %s: more than %d header names", family, maxOrderNames)
			}
			i := uint8(len(ft.index))
			ft.index[name] = i
			ft.byLen[len(name)] = append(ft.byLen[len(name)], orderName{name, i})
			ft.after = append(ft.after, 0)
			return i, nil
		}
		names := make([]string, 0, len(fo.Before))
		for n := range fo.Before {
			names = append(names, n)
		}
		slices.Sort(names) // ids independent of map order
		for _, first := range names {
			i, err := id(first)
			if err != nil {
				return nil, err
			}
			for _, then := range fo.Before[first] {
				j, err := id(then)
				if err != nil {
					return nil, err
				}
				if i == j {
					return nil, fmt.Errorf("parse header order: %s: %s before itself", family, first)
				}
				ft.after[i] |= 1 << j
			}
		}
		for i := range ft.after {
			for j := range ft.after {
				if ft.after[i]&(1<<j) != 0 && ft.after[j]&(1<<i) != 0 {
					return nil, fmt.Errorf("parse header order: %s: a pair is ordered both ways", family)
				}
			}
		}
		t.families[e] = ft
	}
	return t, nil
}

// unlikeBrowser reports whether the order of names reverses a pair the
// engine's family always sends in one order. Names the family's order does
// not know (pseudo-headers, proxies' additions, cookies) are skipped. A nil
// or empty order is unknown, never unlike.
func (t *orderTable) unlikeBrowser(e engine, names []string) bool {
	if int(e) >= len(t.families) {
		return false
	}
	ft := &t.families[e]
	if len(ft.after) == 0 {
		return false
	}
	var seen uint64
	for _, n := range names {
		i, ok := ft.lookup(n)
		if !ok {
			continue
		}
		if seen&ft.after[i] != 0 {
			// A name that must come after this one came before it.
			return true
		}
		seen |= 1 << i
	}
	return false
}
