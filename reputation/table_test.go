package reputation

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func prefixes(t testing.TB, ss ...string) []netip.Prefix {
	t.Helper()
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

func mustTable(t testing.TB, sets ...tableSet) *Table {
	t.Helper()
	tab, err := newTable(sets)
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

func TestTableUnion(t *testing.T) {
	tab := mustTable(t,
		// bit 0
		tableSet{"cloud", Datacenter, prefixes(t, "10.0.0.0/8", "2001:db8::/32")},
		// bit 1: nested inside cloud's prefixes
		tableSet{"tor-exits", Tor, prefixes(t, "10.1.2.3/32", "2001:db8:1::1/128")},
		// bit 2: overlaps cloud, contains tor's address, and repeats a prefix of cloud's
		tableSet{"blocked", Listed, prefixes(t, "10.1.0.0/16", "2001:db8::/32", "192.0.2.0/24")},
		// bit 3: a second datacenter set, inside blocked's /16
		tableSet{"hoster", Datacenter, prefixes(t, "10.1.2.0/24", "::ffff:198.51.100.0/120", "fe80::/10")},
	)
	tests := []struct {
		ip    string
		sets  uint64
		kinds []Kind
	}{
		{"10.1.2.3", 0b1111, []Kind{Datacenter, Tor, Listed}},
		{"::ffff:10.1.2.3", 0b1111, []Kind{Datacenter, Tor, Listed}}, // mapped is unmapped
		{"10.1.2.4", 0b1101, []Kind{Datacenter, Listed}},
		{"10.1.3.1", 0b0101, []Kind{Datacenter, Listed}},
		{"10.2.0.1", 0b0001, []Kind{Datacenter}},
		{"192.0.2.200", 0b0100, []Kind{Listed}},
		{"198.51.100.9", 0b1000, []Kind{Datacenter}}, // a mapped prefix in a set holds IPv4
		{"2001:db8:1::1", 0b0111, []Kind{Datacenter, Tor, Listed}},
		{"2001:db8:1::2", 0b0101, []Kind{Datacenter, Listed}},
		{"fe80::1%eth0", 0b1000, []Kind{Datacenter}}, // the zone is ignored
		{"11.0.0.1", 0, nil},
		{"2001:db9::1", 0, nil},
		{"::ffff:11.0.0.1", 0, nil},
		{"::a01:203", 0, nil}, // 10.1.2.3's bits, but IPv6: not the same address
	}
	for _, tt := range tests {
		m := tab.Lookup(netip.MustParseAddr(tt.ip))
		if m.Sets != tt.sets {
			t.Errorf("%s: sets %04b, want %04b", tt.ip, m.Sets, tt.sets)
		}
		for _, k := range []Kind{Datacenter, Tor, Listed} {
			want := false
			for _, w := range tt.kinds {
				want = want || w == k
			}
			if m.Has(k) != want {
				t.Errorf("%s: Has(%v) = %v, want %v", tt.ip, k, m.Has(k), want)
			}
		}
	}
	names := []string{"cloud", "tor-exits", "blocked", "hoster", "", ""}
	for i, want := range names {
		if got := tab.SetName(i); got != want {
			t.Errorf("SetName(%d) = %q, want %q", i, got, want)
		}
	}
	if tab.SetName(-1) != "" {
		t.Error("SetName(-1) named a set")
	}
	if m := tab.Lookup(netip.Addr{}); m != (Match{}) {
		t.Errorf("invalid address matched %+v", m)
	}
	if (Match{Kinds: 0xff}).Has(Kind(0)) || (Match{Kinds: 0xff}).Has(Kind(4)) {
		t.Error("Has of an invalid kind is true")
	}
}

// TestTableDropsRedundantPrefixes: a prefix that adds no set to its
// supernet's is not stored, and lookups still find the supernet's answer.
func TestTableDropsRedundantPrefixes(t *testing.T) {
	tab := mustTable(t,
		tableSet{"a", Datacenter, prefixes(t, "10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "10.1.2.0/24")},
		tableSet{"b", Listed, prefixes(t, "10.1.2.128/25")},
	)
	// 10.1.0.0/16 and 10.1.2.0/24 answer as 10.0.0.0/8 does.
	if tab.Len() != 2 {
		t.Fatalf("Len() = %d, want 2 (10.0.0.0/8 and 10.1.2.128/25)", tab.Len())
	}
	for ip, want := range map[string]uint64{"10.1.2.1": 0b01, "10.1.2.129": 0b11, "10.9.9.9": 0b01} {
		if got := tab.Lookup(netip.MustParseAddr(ip)).Sets; got != want {
			t.Errorf("%s: %02b, want %02b", ip, got, want)
		}
	}
}

func TestTableEmptyAndNil(t *testing.T) {
	var nilTable *Table
	if m := nilTable.Lookup(netip.MustParseAddr("10.0.0.1")); m != (Match{}) || nilTable.Len() != 0 || nilTable.SetName(0) != "" {
		t.Error("a nil table answered")
	}
	empty := mustTable(t)
	if m := empty.Lookup(netip.MustParseAddr("10.0.0.1")); m != (Match{}) || empty.Len() != 0 {
		t.Error("an empty table answered")
	}
}

func TestTableRefusesBadInput(t *testing.T) {
	sets := make([]tableSet, MaxSets+1)
	for i := range sets {
		sets[i] = tableSet{"s", Listed, nil}
	}
	if _, err := newTable(sets); err == nil || !strings.Contains(err.Error(), "at most 64") {
		t.Errorf("65 sets: %v", err)
	}
	if _, err := newTable([]tableSet{{"s", Kind(0), nil}}); err == nil {
		t.Error("invalid kind accepted")
	}
	if _, err := newTable([]tableSet{{"s", Listed, []netip.Prefix{{}}}}); err == nil {
		t.Error("invalid prefix accepted")
	}
	// 64 sets is the most, and the 64th set's bit is the top bit.
	sets = sets[:MaxSets]
	sets[63] = tableSet{"last", Tor, prefixes(t, "192.0.2.0/24")}
	tab := mustTable(t, sets...)
	if m := tab.Lookup(netip.MustParseAddr("192.0.2.1")); m.Sets != 1<<63 || !m.Has(Tor) {
		t.Errorf("64th set: %+v", m)
	}
}

func TestTableLookupDoesNotAllocate(t *testing.T) {
	tab := mustTable(t, tableSet{"a", Datacenter, prefixes(t, "10.0.0.0/8", "2001:db8::/32")})
	ips := []netip.Addr{netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("::ffff:10.1.2.3"), netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("fe80::1%eth0")}
	var sink Match
	if n := testing.AllocsPerRun(1000, func() {
		for _, ip := range ips {
			sink = tab.Lookup(ip)
		}
	}); n != 0 {
		t.Fatalf("%v allocations per lookup round", n)
	}
	_ = sink
}

// TestTableMatchesBruteForce checks Lookup against a scan of every prefix
// of every set, on random prefixes crowded into small ranges so that they
// nest and overlap a lot, and on addresses at their edges.
func TestTableMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	kinds := []Kind{Datacenter, Tor, Listed}
	for round := range 10 {
		nsets := 1 + rng.IntN(12)
		sets := make([]tableSet, nsets)
		for i := range sets {
			sets[i] = tableSet{name: "s", kind: kinds[rng.IntN(3)]}
			for range rng.IntN(150) {
				sets[i].prefixes = append(sets[i].prefixes, randomCrowdedPrefix(rng))
			}
		}
		tab := mustTable(t, sets...)
		var probes []netip.Addr
		for _, s := range sets {
			for _, p := range s.prefixes {
				p = canonicalPrefix(p)
				probes = append(probes, p.Addr(), lastAddr(p), p.Addr().Prev(), lastAddr(p).Next())
			}
		}
		for range 2000 {
			probes = append(probes, randomCrowdedPrefix(rng).Addr())
		}
		for _, ip := range probes {
			if !ip.IsValid() {
				continue
			}
			want := bruteForce(sets, ip)
			if got := tab.Lookup(ip); got != want {
				t.Fatalf("round %d, %v: got %+v, want %+v", round, ip, got, want)
			}
		}
	}
}

// randomCrowdedPrefix returns a prefix within 10.0.0.0/12 (bits 8 to 32)
// or 2001:db8::/44 (bits 16 to 64, or a host), sometimes IPv4-mapped.
func randomCrowdedPrefix(rng *rand.Rand) netip.Prefix {
	if rng.IntN(2) == 0 {
		a := netip.AddrFrom4([4]byte{10, byte(rng.IntN(16)), byte(rng.IntN(4)), byte(rng.IntN(256))})
		p := netip.PrefixFrom(a, 8+rng.IntN(25))
		if rng.IntN(10) == 0 {
			return netip.PrefixFrom(netip.AddrFrom16(a.As16()), p.Bits()+96)
		}
		return p
	}
	b := [16]byte{0x20, 0x01, 0x0d, 0xb8, byte(rng.IntN(16)), byte(rng.IntN(2))}
	b[15] = byte(rng.IntN(4))
	bits := 16 + rng.IntN(49)
	if rng.IntN(8) == 0 {
		bits = 128
	}
	return netip.PrefixFrom(netip.AddrFrom16(b), bits)
}

// lastAddr returns the last address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 1 << (7 - i%8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// TestTableIndexMatchesBruteForce checks Lookup against a scan of every
// prefix of every set over the whole address space: IPv4 prefixes of every
// length, some crowded into one /16 so that slots hold long runs; IPv6 ones
// within 2000::/3 (the flat index's domain) of every length, /65–/128
// among them, at the domain's edges, and outside it (::/0, fe80::/10,
// mapped prefixes); probed at the prefixes' edges and inside them, and
// anywhere, IPv4-mapped or with a zone. It does so with runBytes from 1 (as
// many slots as allowed) to 2^30 (as few).
func TestTableIndexMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	kinds := []Kind{Datacenter, Tor, Listed}
	for round := range 12 {
		runBytes := []int{1, 8, 32, 1 << 30}[round%4]
		sets := make([]tableSet, 1+rng.IntN(10))
		for i := range sets {
			sets[i] = tableSet{name: "s", kind: kinds[rng.IntN(3)]}
			for range rng.IntN(120) {
				sets[i].prefixes = append(sets[i].prefixes, randomWidePrefix(rng))
			}
			// The spaces' edges, in some sets.
			for _, p := range []string{"0.0.0.0/32", "255.255.255.254/32", "255.255.255.255/32", "255.255.255.254/31", "2000::/64", "2000::/128", "3fff:ffff:ffff:fffe::/64", "3fff:ffff:ffff:ffff::/64", "3fff:ffff:ffff:ffff::/65", "3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", "1fff:ffff:ffff:ffff::/64", "4000::/64"} {
				if rng.IntN(8) == 0 {
					sets[i].prefixes = append(sets[i].prefixes, netip.MustParsePrefix(p))
				}
			}
		}
		tab, err := newTableRuns(sets, runBytes)
		if err != nil {
			t.Fatal(err)
		}
		var probes []netip.Addr
		for _, s := range sets {
			for _, p := range s.prefixes {
				p = canonicalPrefix(p)
				probes = append(probes, p.Addr(), lastAddr(p), p.Addr().Prev(), lastAddr(p).Next(), randomAddrIn(rng, p))
			}
		}
		for range 3000 {
			probes = append(probes, randomAddrIn(rng, randomWidePrefix(rng)))
		}
		for _, a := range []string{"0.0.0.0", "255.255.255.255", "::", "1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "2000::", "3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "4000::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"} {
			probes = append(probes, netip.MustParseAddr(a))
		}
		for i, n := 0, len(probes); i < n; i++ {
			if a := probes[i]; a.Is4() {
				probes = append(probes, netip.AddrFrom16(a.As16()))
			} else if a.IsValid() {
				probes = append(probes, a.WithZone("eth0"))
			}
		}
		for _, ip := range probes {
			if !ip.IsValid() {
				continue
			}
			want := bruteForce(sets, ip)
			if got := tab.Lookup(ip); got != want {
				t.Fatalf("round %d (runBytes %d), %v: got %+v, want %+v", round, runBytes, ip, got, want)
			}
		}
	}
}

// randomWidePrefix returns a prefix for TestTableIndexMatchesBruteForce.
func randomWidePrefix(rng *rand.Rand) netip.Prefix {
	var b [16]byte
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	switch rng.IntN(12) {
	case 0, 1, 2: // IPv4 anywhere, of any length
		return netip.PrefixFrom(netip.AddrFrom4([4]byte(b[:4])), rng.IntN(33))
	case 3, 4, 5: // IPv4 crowded into 198.18.0.0/16, and the /15 around it
		return netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, byte(rng.IntN(4)), b[3]}), 15+rng.IntN(18))
	case 6: // IPv4-mapped
		return netip.PrefixFrom(netip.AddrFrom16(netip.AddrFrom4([4]byte(b[:4])).As16()), 96+rng.IntN(33))
	case 7, 8: // within 2000::/3, of any length but mostly /32–/64
		b[0] = 0x20 | b[0]&0x1f
		bits := 32 + rng.IntN(33)
		if rng.IntN(3) == 0 {
			bits = 3 + rng.IntN(126)
		}
		return netip.PrefixFrom(netip.AddrFrom16(b), bits)
	case 9: // crowded into 2001:db8::/48, long ones among them
		b[0], b[1], b[2], b[3], b[4], b[5] = 0x20, 0x01, 0x0d, 0xb8, 0, 0
		b[6], b[7] = 0, byte(rng.IntN(4))
		return netip.PrefixFrom(netip.AddrFrom16(b), 48+rng.IntN(81))
	case 10: // at the domain's edges
		if rng.IntN(2) == 0 {
			b[0] = 0x3f
			for i := 1; i < 8; i++ {
				b[i] = 0xff
			}
		} else {
			b[0] = 0x20
			for i := 1; i < 8; i++ {
				b[i] = 0
			}
		}
		return netip.PrefixFrom(netip.AddrFrom16(b), 3+rng.IntN(126))
	default: // outside the domain, or holding it
		return netip.PrefixFrom(netip.AddrFrom16(b), rng.IntN(129))
	}
}

// TestTableTooManyCombinations: when the sets' combinations are too many
// for the index's palette, the table answers from the trie alone, still
// right.
func TestTableTooManyCombinations(t *testing.T) {
	const n = maxPalette + 100
	sets := make([]tableSet, 16)
	for i := range sets {
		sets[i] = tableSet{name: "s", kind: Kind(1 + i%3)}
	}
	// Address i is in set j when bit j of i+1 is set: n combinations.
	for i := range n {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 32)
		for j := range sets {
			if (i+1)>>j&1 == 1 {
				sets[j].prefixes = append(sets[j].prefixes, p)
			}
		}
	}
	sets[0].prefixes = append(sets[0].prefixes, netip.MustParsePrefix("2001:db8::/32"))
	tab := mustTable(t, sets...)
	if tab.palette != nil {
		t.Fatalf("palette of %d: the index was built", len(tab.palette))
	}
	for _, i := range []int{0, 1, 2, maxPalette - 1, maxPalette, n - 1, n} {
		ip := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		var want uint64
		if i < n {
			want = uint64(i + 1)
		}
		if got := tab.Lookup(ip).Sets; got != want {
			t.Errorf("%v: %x, want %x", ip, got, want)
		}
		if got := tab.Lookup(netip.AddrFrom16(ip.As16())).Sets; got != want {
			t.Errorf("mapped %v: %x, want %x", ip, got, want)
		}
	}
	if m := tab.Lookup(netip.MustParseAddr("2001:db8::1%eth0")); m.Sets != 1 || !m.Has(Datacenter) {
		t.Errorf("2001:db8::1: %+v", m)
	}
	if m := tab.Lookup(netip.Addr{}); m != (Match{}) {
		t.Errorf("invalid address matched %+v", m)
	}
}

// TestTableIndexEdges looks up around prefixes at the edges of the address
// spaces and of the flat index's IPv6 domain, alone in a set and inside a
// set holding everything.
func TestTableIndexEdges(t *testing.T) {
	edges := []string{
		"0.0.0.0/32", "0.0.0.0/1", "255.255.255.254/32", "255.255.255.255/32", "255.255.255.254/31", "128.0.0.0/1",
		"2000::/64", "2000::/128", "2000::/3", "2000::/4", "3fff:ffff:ffff:fffe::/64", "3fff:ffff:ffff:ffff::/64",
		"3fff:ffff:ffff:ffff::/65", "3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", "3fff:ffff:ffff:ffff:8000::/65",
		"1fff:ffff:ffff:ffff::/64", "4000::/64", "::/0", "::/3", "::ffff:0:0/96", "ffff:ffff:ffff:ffff::/64",
	}
	for _, e := range edges {
		p := netip.MustParsePrefix(e)
		for _, sets := range [][]tableSet{
			{{"a", Listed, []netip.Prefix{p}}},
			{{"a", Listed, []netip.Prefix{p}}, {"all", Datacenter, prefixes(t, "0.0.0.0/0", "::/0")}},
		} {
			tab := mustTable(t, sets...)
			for _, ip := range []netip.Addr{p.Addr(), p.Addr().Prev(), p.Addr().Next(), lastAddr(p), lastAddr(p).Prev(), lastAddr(p).Next()} {
				if !ip.IsValid() {
					continue
				}
				want := bruteForce(sets, ip)
				if got := tab.Lookup(ip); got != want {
					t.Errorf("%s in %d sets, %v: got %+v, want %+v", e, len(sets), ip, got, want)
				}
			}
		}
	}
}

// TestFlatIndex checks flatIndex.find against a search of the points it
// was built from, with every number of slots it can have, on random points
// crowded into some slots and absent from others, and runs whose length is
// just short of needing a word of the run or just needs it.
func TestFlatIndex(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, d := range []struct {
		base       uint64
		bits       uint8
		kmin, kmax int
		wide       bool // uint64 intervals
	}{
		{0, 32, 16, 20, false},
		{domain6Base, domain6Bits, domain6Bits - 48, 20, true},
		// Smaller domains, whose fewer slots hold longer runs.
		{0x0a00_0000, 24, 8, 13, false},
		{domain6Base, 56, 8, 13, true},
	} {
		for k := d.kmin; k <= d.kmax; k++ {
			var points []uint64
			vals := map[uint64]uint16{}
			for range 3000 {
				var p uint64
				switch rng.IntN(3) {
				case 0: // anywhere
					p = rng.Uint64() >> (64 - d.bits)
				case 1: // crowded into the domain's first 2^(bits-k+2) keys
					p = rng.Uint64() >> (64 - int(d.bits) + k - 2)
				default: // at a slot's edges
					p = uint64(rng.IntN(1<<k))<<(int(d.bits)-k) - uint64(rng.IntN(2))
					p &= 1<<d.bits - 1
				}
				p += d.base
				points = append(points, p)
				vals[p] = uint16(rng.IntN(4))
			}
			// Runs of about countInRun intervals, whose length is in the
			// slot or in the run: c intervals in slot 10+c, the first of
			// value 3, then alternately 2 and 1.
			for c := countInRun - 5; c <= countInRun+5; c++ {
				for i := range c {
					p := d.base + uint64(10+c)<<(int(d.bits)-k) + uint64(i)
					points = append(points, p)
					vals[p] = uint16(1 + i%2)
					if i == 0 {
						vals[p] = 3
					}
				}
			}
			value := func(p uint64) uint16 { return vals[p] }
			var x interface{ find(uint64) (uint16, bool) }
			if d.wide {
				f, ok := buildFlat[uint64](d.base, d.bits, k, k, defaultRunBytes, slices.Clone(points), value)
				if !ok {
					t.Fatal("not built")
				}
				x = &f
			} else {
				f, ok := buildFlat[uint32](d.base, d.bits, k, k, defaultRunBytes, slices.Clone(points), value)
				if !ok {
					t.Fatal("not built")
				}
				x = &f
			}
			points = append(points, d.base)
			slices.Sort(points)
			points = slices.Compact(points)
			want := func(key uint64) uint16 {
				i, found := slices.BinarySearch(points, key)
				if !found {
					i--
				}
				return vals[points[i]]
			}
			var keys []uint64
			for _, p := range points {
				keys = append(keys, p, p-1, p+1)
			}
			for range 3000 {
				keys = append(keys, d.base+rng.Uint64()>>(64-d.bits))
			}
			keys = append(keys, d.base-1, d.base+1<<d.bits-1, d.base+1<<d.bits)
			for _, key := range keys {
				in := key-d.base < 1<<d.bits
				got, ok := x.find(key)
				switch {
				case ok != in:
					t.Fatalf("bits %d, %d slots: find(%#x): ok %v, want %v", d.bits, 1<<k, key, ok, in)
				case in && got != want(key):
					t.Fatalf("bits %d, %d slots: find(%#x) = %d, want %d", d.bits, 1<<k, key, got, want(key))
				}
			}
		}
	}
}

// bruteForce is the union of the sets holding ip, found the slow way.
func bruteForce(sets []tableSet, ip netip.Addr) Match {
	var m Match
	ip = ip.Unmap().WithZone("")
	for i, s := range sets {
		for _, p := range s.prefixes {
			if canonicalPrefix(p).Contains(ip) {
				m.Sets |= 1 << i
				m.Kinds |= s.kind.bit()
			}
		}
	}
	return m
}
