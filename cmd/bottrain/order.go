package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/botauthz/botauthz/internal/corpus"
	"github.com/botauthz/botauthz/scoring"
)

// orderConfig says how firm a pair must be to enter the header order.
type orderConfig struct {
	// Families are the browser families whose order is learned; the
	// others get none, so order.unlike_browser never fires for them.
	Families []string `yaml:"families"`
	// MinTogether is how many navigations of a family must carry both
	// headers before their order counts as known.
	MinTogether int `yaml:"min_together"`
	// Skip are header names whose place varies by site or user rather than
	// by browser (cookie, referer, cache-control come and go with state),
	// left out of the order.
	Skip []string `yaml:"skip"`
}

// learnOrder learns, per browser family, the pairs of headers that came in
// one order in every human navigation of that family carrying both, seen
// together at least cfg.MinTogether times.
func learnOrder(recs []corpus.Record, cfg orderConfig, source string) scoring.HeaderOrder {
	type pair struct{ a, b string }
	type family struct {
		navigations int
		together    map[pair]int // a before b
	}
	fams := map[string]*family{}
	for i := range recs {
		r := &recs[i]
		if r.Label != corpus.Human {
			continue
		}
		fam := scoring.FamilyOf(r.Get("user-agent"))
		if !slices.Contains(cfg.Families, fam) || !scoring.IsNavigation(r.Method, headerMap(r)) {
			continue
		}
		f := fams[fam]
		if f == nil {
			f = &family{together: map[pair]int{}}
			fams[fam] = f
		}
		f.navigations++
		names := orderNames(r, cfg.Skip)
		for i, a := range names {
			for _, b := range names[i+1:] {
				if a != b {
					f.together[pair{a, b}]++
				}
			}
		}
	}
	out := scoring.HeaderOrder{Source: source, Families: map[string]scoring.FamilyOrder{}}
	for name, f := range fams {
		fo := scoring.FamilyOrder{Navigations: f.navigations, Before: map[string][]string{}}
		for p, n := range f.together {
			if n >= cfg.MinTogether && f.together[pair{p.b, p.a}] == 0 {
				fo.Before[p.a] = append(fo.Before[p.a], p.b)
			}
		}
		for k := range fo.Before {
			slices.Sort(fo.Before[k])
		}
		out.Families[name] = fo
	}
	return out
}

// orderNames is a record's header names in order, each once (its first
// place), without the skipped ones.
func orderNames(r *corpus.Record, skip []string) []string {
	var names []string
	for _, h := range r.Headers {
		n := strings.ToLower(h.Name())
		if slices.Contains(skip, n) || slices.Contains(names, n) {
			continue
		}
		names = append(names, n)
	}
	return names
}

// encodeOrder writes o as data/header_order.yaml, deterministically:
// families, names and pairs sorted.
func encodeOrder(o scoring.HeaderOrder, header []string) []byte {
	var b strings.Builder
	for _, l := range header {
		b.WriteString("# " + l + "\n")
	}
	fmt.Fprintf(&b, "source: %q\nfamilies:\n", o.Source)
	for _, fam := range sortedKeys(o.Families) {
		fo := o.Families[fam]
		fmt.Fprintf(&b, "  %s:\n    navigations: %d\n    before:\n", fam, fo.Navigations)
		if len(fo.Before) == 0 {
			b.WriteString("      {}\n")
		}
		for _, first := range sortedKeys(fo.Before) {
			fmt.Fprintf(&b, "      %s: [%s]\n", first, strings.Join(fo.Before[first], ", "))
		}
	}
	return []byte(b.String())
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// headerMap is a record's headers as Envoy's map holds them: lower-case
// names, repeats joined with "," (cookies with "; ").
func headerMap(r *corpus.Record) map[string]string {
	m := make(map[string]string, len(r.Headers))
	for _, h := range r.Headers {
		n := strings.ToLower(h.Name())
		if old, ok := m[n]; ok {
			sep := ","
			if n == "cookie" {
				sep = "; "
			}
			m[n] = old + sep + h.Value()
			continue
		}
		m[n] = h.Value()
	}
	return m
}
