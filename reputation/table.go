package reputation

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/gaissmai/bart"
)

// MaxSets is how many sets one Table holds: Match.Sets has a bit per set.
const MaxSets = 64

// Match is what a Table knows about one address: which sets hold it (bit i
// is the Table's set i, named by Table.SetName(i)) and which kinds those
// sets are (bit k-1 for Kind k; ask with Has). The zero Match is "in no
// set". The names of a match's sets, for reasons and logs:
//
//	for bits := m.Sets; bits != 0; bits &= bits - 1 {
//		name := t.SetName(mathbits.TrailingZeros64(bits))
//		…
//	}
type Match struct {
	Sets  uint64
	Kinds uint8
}

// Has reports whether a set of kind k holds the address.
func (m Match) Has(k Kind) bool { return m.Kinds&k.bit() != 0 }

// Table is an immutable lookup of every set at once; Sets publishes a new
// one after each change, so a Table in hand never changes under its user.
//
// It is one bart.Table[uint64] whose value at each prefix is the mask of
// the sets holding that prefix OR'd with the masks of every prefix that
// contains it. Two prefixes that both contain an address are always nested
// (one contains the other), so the prefixes containing an address form a
// chain, and the chain's longest member carries the union of the whole
// chain's masks: one longest-prefix match answers "which sets hold this
// address", with no second lookup and no walk up the tree. The cost is paid
// once per build, where the propagation is a single pass over the sorted
// prefixes.
type Table struct {
	trie *bart.Table[uint64]
	// names are the sets', by bit.
	names []string
	// kindSets[k-1] is the mask of the sets of Kind k, so that a Match's
	// kinds are three ANDs away from its sets.
	kindSets [numKinds]uint64
	prefixes int
}

// tableSet is one set as newTable takes it.
type tableSet struct {
	name     string
	kind     Kind
	prefixes []netip.Prefix
}

// entry is a prefix and the mask of the sets holding it.
type entry struct {
	prefix netip.Prefix
	sets   uint64
}

// newTable builds the Table of sets, set i getting bit i. Prefixes need not
// be canonical nor sorted, but must be valid.
func newTable(sets []tableSet) (*Table, error) {
	if len(sets) > MaxSets {
		return nil, fmt.Errorf("%d sets: a table holds at most %d", len(sets), MaxSets)
	}
	t := &Table{trie: new(bart.Table[uint64])}
	n := 0
	for _, s := range sets {
		n += len(s.prefixes)
	}
	entries := make([]entry, 0, n)
	for i, s := range sets {
		if !s.kind.valid() {
			return nil, fmt.Errorf("set %q: invalid kind %v", s.name, s.kind)
		}
		bit := uint64(1) << i
		t.names = append(t.names, s.name)
		t.kindSets[s.kind-1] |= bit
		for _, p := range s.prefixes {
			if !p.IsValid() {
				return nil, fmt.Errorf("set %q: invalid prefix", s.name)
			}
			entries = append(entries, entry{canonicalPrefix(p), bit})
		}
	}
	for _, e := range propagate(entries) {
		t.trie.Insert(e.prefix, e.sets)
	}
	t.prefixes = t.trie.Size()
	return t, nil
}

// canonicalPrefix unmaps and masks p, as Lookup unmaps the address.
func canonicalPrefix(p netip.Prefix) netip.Prefix {
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked()
}

// propagate merges duplicate prefixes (OR-ing their masks), then gives each
// prefix the union of its own mask and every supernet's, and drops the
// prefixes that then carry the same mask as their nearest supernet: a
// lookup that falls through to the supernet gets the same answer, so they
// would only cost memory. It sorts entries in place and returns what is left.
//
// Sorted supernets-first (comparePrefix), the prefixes containing the
// current one are exactly those on a stack of the open chain: pop what does
// not contain the current prefix, and the top, if any, is its nearest
// supernet, whose mask already holds its own supernets'.
func propagate(entries []entry) []entry {
	slices.SortFunc(entries, func(a, b entry) int { return comparePrefix(a.prefix, b.prefix) })
	merged := entries[:0]
	for _, e := range entries {
		if last := len(merged) - 1; last >= 0 && merged[last].prefix == e.prefix {
			merged[last].sets |= e.sets
			continue
		}
		merged = append(merged, e)
	}
	var chain []entry
	kept := merged[:0]
	for _, e := range merged {
		for len(chain) > 0 && !contains(chain[len(chain)-1].prefix, e.prefix) {
			chain = chain[:len(chain)-1]
		}
		redundant := false
		if len(chain) > 0 {
			parent := chain[len(chain)-1].sets
			redundant = e.sets|parent == parent
			e.sets |= parent
		}
		// A dropped prefix stays on the chain: its descendants still need
		// to find it to know that their own mask is all they add.
		chain = append(chain, e)
		if !redundant {
			kept = append(kept, e)
		}
	}
	return kept
}

// contains reports whether outer contains inner (and is not inner itself:
// propagate has merged duplicates).
func contains(outer, inner netip.Prefix) bool {
	return outer.Bits() < inner.Bits() && outer.Contains(inner.Addr())
}

// Lookup returns the sets holding ip. An IPv4-mapped IPv6 address is looked
// up as the IPv4 address it maps, and a zone is ignored. It does not
// allocate.
func (t *Table) Lookup(ip netip.Addr) Match {
	if t == nil || t.trie == nil || !ip.IsValid() {
		return Match{}
	}
	// Unmap drops the zone only of mapped addresses; bart does not need the
	// zone, and a zoned address is link-local anyway.
	sets, ok := t.trie.Lookup(ip.Unmap().WithZone(""))
	if !ok {
		return Match{}
	}
	m := Match{Sets: sets}
	for k := range numKinds {
		if sets&t.kindSets[k] != 0 {
			m.Kinds |= 1 << k
		}
	}
	return m
}

// SetName returns the name of set i (Match.Sets' bit i), or "" when there
// is no such set.
func (t *Table) SetName(i int) string {
	if t == nil || i < 0 || i >= len(t.names) {
		return ""
	}
	return t.names[i]
}

// Len returns the number of prefixes in the lookup table: after merging the
// sets, and without the prefixes that would answer as their supernet does.
// SetState.Prefixes counts each set's own.
func (t *Table) Len() int {
	if t == nil {
		return 0
	}
	return t.prefixes
}
