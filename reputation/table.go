package reputation

import (
	"encoding/binary"
	"fmt"
	"math"
	mathbits "math/bits"
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
// The sets are merged into one bart.Table[uint64] whose value at each
// prefix is the mask of the sets holding that prefix OR'd with the masks of
// every prefix that contains it. Two prefixes that both contain an address
// are always nested (one contains the other), so the prefixes containing an
// address form a chain, and the chain's longest member carries the union of
// the whole chain's masks: the longest-prefix match answers "which sets hold
// this address", with no walk up the tree.
//
// That answer is a function of the address that changes only where a
// prefix begins or ends, so the build samples bart's longest-prefix match
// at those boundaries into flat interval tables (flatIndex), indexed
// directly by the address's first bits: a lookup reads one slot and one
// short run of intervals, a couple of cache lines, where a walk down the
// trie of a million prefixes misses the caches at every level. IPv4 is
// served entirely by its interval table; IPv6 by its own over 2000::/3
// (the global unicast space), at /64 granularity, and by the residual trie
// for what that does not cover: addresses outside 2000::/3, and the /64s
// holding a longer prefix.
type Table struct {
	// v4 maps an IPv4 address to a palette index; v6 maps the first 64
	// bits of an IPv6 address in 2000::/3 to a palette index, with needTrie
	// set where a longer prefix lies within the /64.
	v4 flatIndex[uint32]
	v6 flatIndex[uint64]
	// palette holds each distinct Match of the indexes; index 0 is
	// Match{}. It is nil when there are too many to index (maxPalette):
	// then trie holds every prefix and answers alone.
	palette []Match
	// trie holds the IPv6 prefixes that v6 does not answer for: those
	// longer than /64, and those not within 2000::/3.
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
func newTable(sets []tableSet) (*Table, error) { return newTableRuns(sets, defaultRunBytes) }

// newTableRuns is newTable with the flat indexes' runs aiming at runBytes
// (the tests vary it to reach every layout).
func newTableRuns(sets []tableSet, runBytes int) (*Table, error) {
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
	kept := propagate(entries)
	t.prefixes = len(kept)
	t.index(kept, runBytes)
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
	if t == nil {
		return Match{}
	}
	if t.palette == nil {
		return t.lookupTrie(ip)
	}
	// Unmap drops the zone only of mapped addresses; the zone plays no part
	// below (As16 and bart ignore it).
	ip = ip.Unmap()
	if ip.Is4() {
		a := ip.As4()
		v, _ := t.v4.find(uint64(binary.BigEndian.Uint32(a[:])))
		return t.palette[v]
	}
	if !ip.IsValid() {
		return Match{}
	}
	a := ip.As16()
	v, ok := t.v6.find(binary.BigEndian.Uint64(a[:8]))
	if ok && v&needTrie == 0 {
		return t.palette[v]
	}
	// Outside 2000::/3 (v is then 0), or in a /64 holding a longer prefix:
	// the trie's match, if any, and the /64's own answer are on the same
	// chain of prefixes, so their union is the longest one's answer.
	m := t.palette[v&^needTrie]
	if sets, found := t.trie.Lookup(ip); found {
		n := t.match(sets)
		m.Sets |= n.Sets
		m.Kinds |= n.Kinds
	}
	return m
}

// lookupTrie is Lookup in trie alone, when it holds every prefix.
func (t *Table) lookupTrie(ip netip.Addr) Match {
	if t.trie == nil || !ip.IsValid() {
		return Match{}
	}
	sets, _ := t.trie.Lookup(ip.Unmap().WithZone(""))
	return t.match(sets)
}

// match returns the Match of the sets of mask sets.
func (t *Table) match(sets uint64) Match {
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

// A flatIndex's values are 16 bits: a palette index, below maxPalette, with
// needTrie set in v6's where a prefix longer than /64 lies within the /64.
const (
	needTrie   = 1 << 15
	maxPalette = needTrie
)

// A slot is uniformSlot and the value of all its keys, or the offset of its
// run in ivs (at most maxOffset) over slotCountBits of the run's length;
// when that is countInRun, the run begins with its length.
const (
	uniformSlot   = 1 << 31
	slotCountBits = 5
	countInRun    = 1<<slotCountBits - 1
	maxOffset     = 1<<(31-slotCountBits) - 1
)

// defaultRunBytes is the size that a flatIndex aims at for its runs on
// average; a run that fits in a cache line is laid out not to straddle
// two.
const defaultRunBytes = 32

// flatIndex maps a key (an IPv4 address, or the first 64 bits of an IPv6
// one) of its domain [base, base+2^bits) to a value, as sorted intervals
// over which the value is constant. The key's first bits in the domain
// index a slot; its other bits (below shift, at most 16 for E uint32, 48
// for uint64) are searched for in the slot's run of intervals, each an E
// of where it begins (the bits below shift) over its value's 16 bits. The
// first interval of a run begins at the slot's start.
type flatIndex[E uint32 | uint64] struct {
	base  uint64
	bits  uint8 // log2 of the domain's size
	shift uint8 // a key's slot is (key-base)>>shift
	slots []uint32
	ivs   []E
}

// find returns key's value, and false (with 0) when key is not in the
// domain.
func (x *flatIndex[E]) find(key uint64) (uint16, bool) {
	off := key - x.base
	if off>>x.bits != 0 {
		return 0, false
	}
	s := x.slots[off>>x.shift]
	if s&uniformSlot != 0 {
		return uint16(s), true
	}
	at, n := s>>slotCountBits, s&countInRun
	if n == countInRun {
		n = uint32(x.ivs[at])
		at++
	}
	run := x.ivs[at : at+n]
	// The last interval beginning at or below the key (the first begins at
	// the slot's start), by a binary search without branches.
	probe := E(off&(1<<x.shift-1))<<16 | 0xffff
	i := 0
	for m := len(run); m > 1; {
		half := m >> 1
		// borrow is 1 when the interval begins above the key.
		_, borrow := mathbits.Sub64(uint64(probe), uint64(run[i+half]), 0)
		i += half & (int(borrow) - 1)
		m -= half
	}
	return uint16(run[i]), true
}

// boundary is where a run of keys of one value begins.
type boundary struct {
	key uint64
	val uint16
}

// buildFlat returns the flatIndex of domain [base, base+2^bits) with
// 2^minSlotBits to 2^maxSlotBits slots (enough for runs of runBytes on
// average; one when the value is the same everywhere), where the value can
// change only at the given points (in the domain, in any order, repeats
// allowed) and is value(p) from each point p up to the next. It fails when
// the runs are too many for a slot's offset.
func buildFlat[E uint32 | uint64](base uint64, bits uint8, minSlotBits, maxSlotBits, runBytes int, points []uint64, value func(uint64) uint16) (_ flatIndex[E], ok bool) {
	points = append(points, base)
	slices.Sort(points)
	points = slices.Compact(points)
	runs := make([]boundary, 0, len(points))
	for _, p := range points {
		v := value(p)
		if len(runs) > 0 && runs[len(runs)-1].val == v {
			continue
		}
		runs = append(runs, boundary{p, v})
	}
	size := 4 // bytes of an E
	if uint64(^E(0)) > math.MaxUint32 {
		size = 8
	}
	k := min(max(mathbits.Len(uint(len(runs)*size/runBytes)), minSlotBits), maxSlotBits)
	if len(runs) == 1 {
		k = 0 // one value everywhere: one uniform slot
	}
	x := flatIndex[E]{base: base, bits: bits, shift: bits - uint8(k), slots: make([]uint32, 1<<k)}
	line := 64 / size
	// The first pass lays the runs out, the second writes them, in a slice
	// of exactly their size: a large allocation starts on a page, so that
	// the runs laid out not to straddle cache lines do not.
	for pass := range 2 {
		n := 0
		j := 0 // the boundary at or before the slot's start
		for s := range x.slots {
			start := uint64(s) << x.shift
			for j+1 < len(runs) && runs[j+1].key-base <= start {
				j++
			}
			end := j + 1 // past the last boundary in the slot
			for end < len(runs) && (runs[end].key-base)>>x.shift == uint64(s) {
				end++
			}
			if end == j+1 {
				x.slots[s] = uniformSlot | uint32(runs[j].val)
				continue
			}
			count, words := end-j, end-j
			if count >= countInRun {
				count, words = countInRun, words+1
			}
			if words <= line && n%line+words > line {
				n += line - n%line
			}
			if n > maxOffset {
				return flatIndex[E]{}, false
			}
			x.slots[s] = uint32(n)<<slotCountBits | uint32(count)
			if pass == 1 {
				run := x.ivs[n : n+words]
				if count == countInRun {
					run[0] = E(end - j)
					run = run[1:]
				}
				run[0] = E(runs[j].val)
				for i, r := range runs[j+1 : end] {
					run[1+i] = E((r.key-base)&(1<<x.shift-1))<<16 | E(r.val)
				}
			}
			n += words
		}
		if pass == 0 {
			x.ivs = make([]E, n)
		}
	}
	return x, true
}

// domain6 is the IPv6 space that Table.v6 answers for: 2000::/3, the global
// unicast addresses, as the first 64 bits.
const (
	domain6Base = 0x2000_0000_0000_0000
	domain6Bits = 61
)

// index builds t's lookup structures from the propagated prefixes: a
// bart.Table of them all answers, at each point where a prefix begins or
// ends, which sets hold the addresses from there on, and flatIndex keeps
// those answers. When they are too diverse for the palette, the bart.Table
// is kept as t.trie, to answer alone.
func (t *Table) index(kept []entry, runBytes int) {
	all := new(bart.Table[uint64])
	for _, e := range kept {
		all.Insert(e.prefix, e.sets)
	}
	t.palette = []Match{{}}
	palIndex := map[uint64]uint16{0: 0}
	full := false
	lastSets, lastIndex := uint64(0), uint16(0)
	paletteOf := func(sets uint64) uint16 {
		if sets == lastSets {
			return lastIndex
		}
		i, ok := palIndex[sets]
		if !ok {
			if len(t.palette) == maxPalette {
				full = true
				return 0
			}
			i = uint16(len(t.palette))
			t.palette = append(t.palette, t.match(sets))
			palIndex[sets] = i
		}
		lastSets, lastIndex = sets, i
		return i
	}
	n4 := 0
	for _, e := range kept {
		if e.prefix.Addr().Is4() {
			n4++
		}
	}
	points4 := make([]uint64, 0, 2*n4+1)
	points6 := make([]uint64, 0, 2*(len(kept)-n4)+1)
	var long6 []uint64
	for _, e := range kept {
		p := e.prefix
		a := p.Addr()
		if a.Is4() {
			b := a.As4()
			start := uint64(binary.BigEndian.Uint32(b[:]))
			points4 = append(points4, start)
			if end := start | (1<<(32-p.Bits()) - 1); end < 1<<32-1 {
				points4 = append(points4, end+1)
			}
			continue
		}
		b := a.As16()
		hi := binary.BigEndian.Uint64(b[:8])
		// Within the domain: no shorter than it, and starting in it.
		within := p.Bits() >= 64-domain6Bits && hi-domain6Base < 1<<domain6Bits
		if !within || p.Bits() > 64 {
			t.trie.Insert(p, e.sets)
		}
		if !within {
			// Outside the domain, or holding all of it: domain6Base is a
			// point anyway.
			continue
		}
		if p.Bits() > 64 {
			long6 = append(long6, hi)
			points6 = append(points6, hi)
			if hi+1-domain6Base < 1<<domain6Bits {
				points6 = append(points6, hi+1)
			}
			continue
		}
		points6 = append(points6, hi)
		if end := hi | (1<<(64-p.Bits()) - 1); end+1-domain6Base < 1<<domain6Bits {
			points6 = append(points6, end+1)
		}
	}
	// Keys below a slot are 16 bits in a uint32, 48 in a uint64: at least
	// 2^16 and 2^13 slots; at most 2^20 (4 MiB).
	var ok4, ok6 bool
	t.v4, ok4 = buildFlat[uint32](0, 32, 16, 20, runBytes, points4, func(k uint64) uint16 {
		sets, _ := all.Lookup(netip.AddrFrom4([4]byte{byte(k >> 24), byte(k >> 16), byte(k >> 8), byte(k)}))
		return paletteOf(sets)
	})
	slices.Sort(long6)
	t.v6, ok6 = buildFlat[uint64](domain6Base, domain6Bits, domain6Bits-48, 20, runBytes, points6, func(k uint64) uint16 {
		var b [16]byte
		binary.BigEndian.PutUint64(b[:8], k)
		// The /64's own answer: the longest prefix holding all of it.
		sets, _ := all.LookupPrefix(netip.PrefixFrom(netip.AddrFrom16(b), 64))
		i := paletteOf(sets)
		if _, found := slices.BinarySearch(long6, k); found {
			i |= needTrie
		}
		return i
	})
	if full || !ok4 || !ok6 {
		// Too diverse or too many to index: the trie answers alone.
		*t = Table{trie: all, names: t.names, kindSets: t.kindSets, prefixes: t.prefixes}
	}
}
