package reputation

import (
	"math/rand/v2"
	"net/netip"
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
			var want Match
			for i, s := range sets {
				for _, p := range s.prefixes {
					if canonicalPrefix(p).Contains(ip.Unmap()) {
						want.Sets |= 1 << i
						want.Kinds |= s.kind.bit()
					}
				}
			}
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
