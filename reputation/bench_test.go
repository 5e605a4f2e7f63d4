package reputation

import (
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/gaissmai/bart"
	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
	maxminddb "github.com/oschwald/maxminddb-golang/v2"
)

// randomPrefix returns an IPv4 prefix of 8 to 32 bits (60%) or an IPv6
// prefix of 16 to 64 bits within 2000::/3, the lengths uniform.
func randomPrefix(rng *rand.Rand) netip.Prefix {
	return randomPrefixOf(rng, 8, 32, 16, 64)
}

// randomPrefixOf returns an IPv4 prefix of min4 to max4 bits (60%) or an
// IPv6 prefix of min6 to max6 bits within 2000::/3.
func randomPrefixOf(rng *rand.Rand, min4, max4, min6, max6 int) netip.Prefix {
	if rng.IntN(10) < 6 {
		var b [4]byte
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return netip.PrefixFrom(netip.AddrFrom4(b), min4+rng.IntN(max4-min4+1)).Masked()
	}
	var b [16]byte
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	b[0] = 0x20 | b[0]&0x1f
	return netip.PrefixFrom(netip.AddrFrom16(b), min6+rng.IntN(max6-min6+1)).Masked()
}

// randomAddrIn returns a random address of p.
func randomAddrIn(rng *rand.Rand, p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		if rng.IntN(2) == 1 {
			b[i/8] |= 1 << (7 - i%8)
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// probes returns lookups for a benchmark: half inside the given prefixes,
// half anywhere (mostly misses), a quarter of the IPv4 ones IPv4-mapped.
func probes(rng *rand.Rand, within []netip.Prefix) []netip.Addr {
	out := make([]netip.Addr, 1<<16)
	for i := range out {
		var a netip.Addr
		if i%2 == 0 {
			a = randomAddrIn(rng, within[rng.IntN(len(within))])
		} else {
			a = randomAddrIn(rng, randomPrefix(rng))
		}
		if a.Is4() && rng.IntN(4) == 0 {
			a = netip.AddrFrom16(a.As16())
		}
		out[i] = a
	}
	return out
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkLookup looks addresses up in a table of 1,000,000 random
// prefixes spread over 8 sets of every kind.
//
// "uniform" draws the lengths uniformly from /8–/32 (IPv4) and /16–/64
// (IPv6), as specified; so many short prefixes then cover every set
// everywhere that most longer ones add nothing and are not stored
// (stored-prefixes). "long" draws /20–/32 and /40–/64, where nearly every
// prefix is stored. Both look up half the time inside one of the prefixes
// and half anywhere, some IPv4-mapped, cycling over 65,536 addresses.
//
// "realistic" draws 1,000,000 distinct prefixes as published lists hold
// them (realisticPrefix: mostly IPv4 /16–/32, many /24 and /32, some IPv6
// /32–/64), nearly all of them stored, and looks up random addresses, half
// of them held by a set and half by none (hitMissProbes), over 262,144
// addresses: enough that the lookups reach the whole table, not only the
// part the processor's caches hold, and few enough that the addresses
// themselves (6 MiB) do not flush the caches. "realistic-v4" and
// "realistic-v6" are the same table with only IPv4 (a quarter of them
// IPv4-mapped) or only IPv6 lookups.
//
// B/input-prefix and B/stored-prefix are the table's heap after the build
// (garbage collected, the input kept alive and not counted) divided by the
// input and by the stored prefixes; build-s is newTable's time.
func BenchmarkLookup(b *testing.B) {
	for _, d := range []struct {
		name string
		// gen draws a prefix; distinct drops the ones drawn before.
		gen      func(*rand.Rand) netip.Prefix
		distinct bool
		// probe, when not "", is hitMissProbes' family: "mixed", "v4" or
		// "v6"; else probes' lookups.
		probe string
	}{
		{"uniform", func(rng *rand.Rand) netip.Prefix { return randomPrefixOf(rng, 8, 32, 16, 64) }, false, ""},
		{"long", func(rng *rand.Rand) netip.Prefix { return randomPrefixOf(rng, 20, 32, 40, 64) }, false, ""},
		{"realistic", realisticPrefix, true, "mixed"},
		{"realistic-v4", realisticPrefix, true, "v4"},
		{"realistic-v6", realisticPrefix, true, "v6"},
	} {
		b.Run(d.name, func(b *testing.B) {
			const n = 1_000_000
			rng := rand.New(rand.NewPCG(7, 8))
			kinds := []Kind{Datacenter, Tor, Listed}
			sets := make([]tableSet, 8)
			all := make([]netip.Prefix, 0, n)
			for i := range sets {
				sets[i] = tableSet{name: "set", kind: kinds[i%3]}
			}
			seen := make(map[netip.Prefix]struct{})
			for len(all) < n {
				p := d.gen(rng)
				if d.distinct {
					if _, dup := seen[p]; dup {
						continue
					}
					seen[p] = struct{}{}
				}
				s := &sets[rng.IntN(len(sets))]
				s.prefixes = append(s.prefixes, p)
				all = append(all, p)
			}
			seen = nil
			before := heapInUse()
			start := time.Now()
			tab := mustTable(b, sets...)
			build := time.Since(start)
			after := heapInUse()
			runtime.KeepAlive(sets)
			var ips []netip.Addr
			if d.probe == "" {
				ips = probes(rng, all)
			} else {
				ips = hitMissProbes(rng, all, d.probe, 1<<18)
			}
			b.ReportAllocs()
			var sink Match
			i := 0
			for b.Loop() {
				sink = tab.Lookup(ips[i&(len(ips)-1)])
				i++
			}
			runtime.KeepAlive(sink)
			// Reported after the loop: b.Loop's timer reset drops earlier
			// metrics.
			b.ReportMetric(float64(after-before)/n, "B/input-prefix")
			b.ReportMetric(float64(after-before)/float64(tab.Len()), "B/stored-prefix")
			b.ReportMetric(float64(tab.Len()), "stored-prefixes")
			b.ReportMetric(build.Seconds(), "build-s")
		})
	}
}

// realisticPrefix draws a prefix as published lists of datacenter, proxy
// and abuse networks hold them: 80% IPv4 with a unicast first octet (1–223),
// of which 35% /32, 30% /24, 15% /16–/23 and 20% /25–/31; 20% IPv6 within
// 2000::/3, of which 40% /64, 30% /48 and 30% /32–/63.
func realisticPrefix(rng *rand.Rand) netip.Prefix {
	if rng.IntN(10) < 8 {
		a := netip.AddrFrom4([4]byte{byte(1 + rng.IntN(223)), byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32())})
		var bits int
		switch r := rng.IntN(100); {
		case r < 35:
			bits = 32
		case r < 65:
			bits = 24
		case r < 80:
			bits = 16 + rng.IntN(8)
		default:
			bits = 25 + rng.IntN(7)
		}
		return netip.PrefixFrom(a, bits).Masked()
	}
	var b [16]byte
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	b[0] = 0x20 | b[0]&0x1f
	var bits int
	switch r := rng.IntN(10); {
	case r < 4:
		bits = 64
	case r < 7:
		bits = 48
	default:
		bits = 32 + rng.IntN(32)
	}
	return netip.PrefixFrom(netip.AddrFrom16(b), bits).Masked()
}

// hitMissProbes returns n lookups (a power of two), in random order: half
// are random addresses inside a random one of the given prefixes, so held
// by a set, and half random addresses that none holds (IPv4 anywhere, IPv6
// within 2000::/3). family "v4" or "v6" keeps only the prefixes and
// addresses of that family, "mixed" keeps both. A quarter of the IPv4
// addresses are IPv4-mapped. Whether an address is held is asked of a
// bart.Lite of the prefixes, not of the Table under test.
func hitMissProbes(rng *rand.Rand, within []netip.Prefix, family string, n int) []netip.Addr {
	var held bart.Lite
	var in []netip.Prefix
	for _, p := range within {
		held.Insert(p)
		if family == "mixed" || (family == "v4") == p.Addr().Is4() {
			in = append(in, p)
		}
	}
	out := make([]netip.Addr, 0, n)
	for len(out) < n/2 {
		out = append(out, randomAddrIn(rng, in[rng.IntN(len(in))]))
	}
	for len(out) < n {
		var a netip.Addr
		if family == "v4" || (family == "mixed" && rng.IntN(10) < 8) {
			a = netip.AddrFrom4([4]byte{byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32())})
		} else {
			var b [16]byte
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
			b[0] = 0x20 | b[0]&0x1f
			a = netip.AddrFrom16(b)
		}
		if !held.Contains(a) {
			out = append(out, a)
		}
	}
	for i, a := range out {
		if a.Is4() && rng.IntN(4) == 0 {
			out[i] = netip.AddrFrom16(a.As16())
		}
	}
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// BenchmarkLookupParallel is BenchmarkLookup's lookups from every core at
// once: the table is read-only, so they share nothing but memory bandwidth.
func BenchmarkLookupParallel(b *testing.B) {
	rng := rand.New(rand.NewPCG(9, 10))
	var ps []netip.Prefix
	for range 1_000_000 {
		ps = append(ps, randomPrefix(rng))
	}
	tab := mustTable(b, tableSet{"a", Datacenter, ps[:500_000]}, tableSet{"b", Listed, ps[500_000:]})
	ips := probes(rng, ps)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := rand.IntN(len(ips))
		var sink Match
		for pb.Next() {
			sink = tab.Lookup(ips[i&(len(ips)-1)])
			i++
		}
		runtime.KeepAlive(sink)
	})
}

// BenchmarkASNLookup looks addresses up in an MMDB of 100,000 random
// networks (written with mmdbwriter), as ASNDB.Lookup does (the offset
// table) and, for comparison, by decoding the number at each lookup (what
// the offset table avoids).
func BenchmarkASNLookup(b *testing.B) {
	const n = 100_000
	rng := rand.New(rand.NewPCG(11, 12))
	w, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "GeoLite2-ASN", RecordSize: 28})
	if err != nil {
		b.Fatal(err)
	}
	var nets []netip.Prefix
	for range n {
		var p netip.Prefix
		if rng.IntN(10) < 7 {
			p = netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(1 + rng.IntN(223)), byte(rng.Uint32()), byte(rng.Uint32()), 0}), 16+rng.IntN(9)).Masked()
		} else {
			var a [16]byte
			a[0], a[1], a[2], a[3], a[4], a[5] = 0x2a, byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32())
			p = netip.PrefixFrom(netip.AddrFrom16(a), 32+rng.IntN(17)).Masked()
		}
		asn := uint32(1 + rng.IntN(20_000))
		err := w.Insert(&net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}, mmdbtype.Map{
			"autonomous_system_number":       mmdbtype.Uint32(asn),
			"autonomous_system_organization": mmdbtype.String("Organization"),
		})
		if err != nil {
			// Reserved networks are refused by mmdbwriter: skip them.
			continue
		}
		nets = append(nets, p)
	}
	path := filepath.Join(b.TempDir(), "asn.mmdb")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := w.WriteTo(f); err != nil {
		b.Fatal(err)
	}
	f.Close()
	start := time.Now()
	db, err := OpenASN(path)
	if err != nil {
		b.Fatal(err)
	}
	load := time.Since(start)
	ips := probes(rng, nets)
	b.Run("offset-table", func(b *testing.B) {
		b.ReportAllocs()
		var sink uint32
		i := 0
		for b.Loop() {
			asn, _ := db.Lookup(ips[i&(len(ips)-1)])
			sink += asn
			i++
		}
		runtime.KeepAlive(sink)
		b.ReportMetric(load.Seconds(), "open-s")
	})
	b.Run("decode-each-lookup", func(b *testing.B) {
		r := db.cur.Load().reader
		b.ReportAllocs()
		var sink uint32
		i := 0
		for b.Loop() {
			sink += decodeASN(r.Lookup(ips[i&(len(ips)-1)].Unmap()))
			i++
		}
		runtime.KeepAlive(sink)
	})
}

// decodeASN decodes the number from a lookup's record, as a lookup without
// the offset table would.
func decodeASN(res maxminddb.Result) uint32 {
	var asn uint32
	_ = res.DecodePath(&asn, "autonomous_system_number")
	return asn
}

// BenchmarkLookupPublished looks addresses up in the table of the
// published lists in testdata (AWS, Google Cloud, the Azure excerpt, Tor),
// about 12,000 prefixes: the size of a real deployment's sets, where the
// table stays in the processor's caches.
func BenchmarkLookupPublished(b *testing.B) {
	var sets []tableSet
	var all []netip.Prefix
	for _, f := range []struct{ format, file string }{
		{formatAWS, "aws-ip-ranges.json"}, {formatGCP, "gcp-cloud.json"},
		{formatAzure, "azure-servicetags-excerpt.json"}, {formatTor, "torbulkexitlist"},
	} {
		data, err := os.ReadFile(filepath.Join("testdata", f.file))
		if err != nil {
			b.Fatal(err)
		}
		ps, err := parseData(f.format, data)
		if err != nil {
			b.Fatal(err)
		}
		kind := Datacenter
		if f.format == formatTor {
			kind = Tor
		}
		sets = append(sets, tableSet{f.format, kind, ps})
		all = append(all, ps...)
	}
	tab := mustTable(b, sets...)
	ips := probes(rand.New(rand.NewPCG(13, 14)), all)
	b.ReportAllocs()
	var sink Match
	i := 0
	for b.Loop() {
		sink = tab.Lookup(ips[i&(len(ips)-1)])
		i++
	}
	runtime.KeepAlive(sink)
	b.ReportMetric(float64(tab.Len()), "stored-prefixes")
}
