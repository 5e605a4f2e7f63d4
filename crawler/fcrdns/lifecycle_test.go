package fcrdns

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/botauthz/botauthz/internal/dnstest"
)

// TestVerifyConcurrentCallersShareOneLookup: while a verification runs,
// every caller gets Pending and the server sees a single PTR query.
func TestVerifyConcurrentCallersShareOneLookup(t *testing.T) {
	z := dnstest.NewZone()
	server := dnstest.Start(t, z)
	z.SetPTR(t, "192.0.2.60", "crawl.googlebot.com")
	z.SetHost(t, "crawl.googlebot.com", "192.0.2.60")
	arpa := dnstest.ReverseName(t, "192.0.2.60")
	release := z.HoldAnswers(arpa)
	defer release()
	r := newTestResolver(t, server, Options{})
	addr := netip.MustParseAddr("192.0.2.60")

	const callers = 64
	verdicts := make([]Verdict, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() { verdicts[i], _ = r.Verify(addr, []string{"googlebot.com"}) })
	}
	wg.Wait()
	for i, v := range verdicts {
		if v != Pending {
			t.Fatalf("caller %d got %v while the PTR answer was held, want pending", i, v)
		}
	}
	release()

	v, name := waitVerdict(t, r, addr, "googlebot.com")
	checkVerdict(t, v, name, Verified, "crawl.googlebot.com")
	if got := z.QueryCount(dns.TypePTR, arpa); got != 1 {
		t.Errorf("PTR queries = %d, want 1", got)
	}
	if got := r.Stats().Lookups; got != 1 {
		t.Errorf("Lookups = %d, want 1", got)
	}
}

// TestVerifyTimeoutIsUnknown: a server that never answers ends in Unknown
// once Options.Timeout has passed.
func TestVerifyTimeoutIsUnknown(t *testing.T) {
	z := dnstest.NewZone()
	server := dnstest.Start(t, z)
	z.SetSilent(dnstest.ReverseName(t, "192.0.2.61"))
	r := newTestResolver(t, server, Options{Timeout: 100 * time.Millisecond})
	addr := netip.MustParseAddr("192.0.2.61")

	v, name := waitVerdict(t, r, addr, "googlebot.com")
	checkVerdict(t, v, name, Unknown, "")
	if s := r.Stats(); s.Unknown != 1 || s.InFlight != 0 {
		t.Errorf("Stats = %+v, want 1 unknown, none in flight", s)
	}
}

// TestVerifyMaxInFlight: with every place taken, a miss is Unknown at once,
// asks nothing, and is not cached, so a later call starts its lookup.
func TestVerifyMaxInFlight(t *testing.T) {
	z := dnstest.NewZone()
	server := dnstest.Start(t, z)
	z.SetPTR(t, "192.0.2.62", "crawl.googlebot.com")
	z.SetHost(t, "crawl.googlebot.com", "192.0.2.62")
	release := z.HoldAnswers(dnstest.ReverseName(t, "192.0.2.62"))
	defer release()
	r := newTestResolver(t, server, Options{MaxInFlight: 1})
	held := netip.MustParseAddr("192.0.2.62")
	other := netip.MustParseAddr("192.0.2.63") // NXDOMAIN

	expectVerify(t, r, held, Pending, "", "googlebot.com")
	expectVerify(t, r, other, Unknown, "", "googlebot.com")
	if s := r.Stats(); s.Dropped != 1 || s.Lookups != 1 || s.InFlight != 1 {
		t.Errorf("Stats = %+v, want 1 dropped, 1 lookup, 1 in flight", s)
	}
	release()
	v, name := waitVerdict(t, r, held, "googlebot.com")
	checkVerdict(t, v, name, Verified, "crawl.googlebot.com")
	if got := z.QueryCount(dns.TypePTR, dnstest.ReverseName(t, "192.0.2.63")); got != 0 {
		t.Fatalf("PTR queries for the dropped address = %d, want 0", got)
	}

	expectVerify(t, r, other, Pending, "", "googlebot.com")
	v, name = waitVerdict(t, r, other, "googlebot.com")
	checkVerdict(t, v, name, Failed, "")
}

// TestVerifyFullOfPendingSlots: when every slot the address could take holds
// a running verification, the miss is dropped rather than evicting one.
func TestVerifyFullOfPendingSlots(t *testing.T) {
	z := dnstest.NewZone()
	server := dnstest.Start(t, z)
	release := z.HoldAnswers(dnstest.ReverseName(t, "192.0.2.64"))
	defer release()
	r := newTestResolver(t, server, Options{CacheSize: 1, MaxInFlight: 2})
	held := netip.MustParseAddr("192.0.2.64")

	expectVerify(t, r, held, Pending, "", "googlebot.com")
	expectVerify(t, r, netip.MustParseAddr("192.0.2.65"), Unknown, "", "googlebot.com")
	if s := r.Stats(); s.Dropped != 1 || s.Lookups != 1 || s.Cached != 1 {
		t.Errorf("Stats = %+v, want 1 dropped, 1 lookup, 1 cached", s)
	}
	release()
	v, name := waitVerdict(t, r, held, "googlebot.com")
	checkVerdict(t, v, name, Failed, "")
}

// TestCloseCancelsInFlight: Close ends a lookup the server never answers
// without waiting for the resolver's retry, leaves it Unknown, and later
// misses ask nothing.
func TestCloseCancelsInFlight(t *testing.T) {
	z := dnstest.NewZone()
	server := dnstest.Start(t, z)
	arpa := dnstest.ReverseName(t, "192.0.2.66")
	z.SetSilent(arpa)
	// Only Close can end this lookup early: on its own the resolver would
	// wait resolv.conf's per-try timeout, then ask again.
	r := New(Options{Server: server, Timeout: time.Hour})
	addr := netip.MustParseAddr("192.0.2.66")

	expectVerify(t, r, addr, Pending, "", "googlebot.com")
	waitFor(t, "the PTR query to reach the server", func() bool { return z.QueryCount(dns.TypePTR, arpa) > 0 })
	r.Close()

	if got := z.QueryCount(dns.TypePTR, arpa); got != 1 {
		t.Errorf("PTR queries = %d, want 1 (a retry means the lookup was not cancelled)", got)
	}
	expectVerify(t, r, addr, Unknown, "", "googlebot.com")
	after := netip.MustParseAddr("192.0.2.67")
	expectVerify(t, r, after, Unknown, "", "googlebot.com")
	if s := r.Stats(); s.Lookups != 1 || s.Unknown != 1 || s.InFlight != 0 {
		t.Errorf("Stats = %+v, want 1 lookup ended unknown, none in flight", s)
	}
	if got := z.QueryCount(dns.TypePTR, dnstest.ReverseName(t, "192.0.2.67")); got != 0 {
		t.Errorf("PTR queries after Close = %d, want 0", got)
	}
	r.Close() // a second Close is harmless
}

// TestVerifyCacheSizeBound: the cache never holds more than CacheSize
// addresses, however many are verified.
func TestVerifyCacheSizeBound(t *testing.T) {
	z := dnstest.NewZone()
	server := dnstest.Start(t, z)
	const size = 8
	r := newTestResolver(t, server, Options{CacheSize: size})

	for i := range 40 {
		addr := netip.AddrFrom4([4]byte{192, 0, 2, byte(100 + i)})
		if v, _ := waitVerdict(t, r, addr, "googlebot.com"); v != Failed {
			t.Fatalf("%s: verdict = %v, want failed", addr, v)
		}
		if got := r.Stats().Cached; got > size {
			t.Fatalf("after %d addresses Cached = %d, want at most %d", i+1, got, size)
		}
	}
	if got, want := r.Stats().Cached, size; got != want {
		t.Errorf("Cached = %d, want %d", got, want)
	}
	indexed := 0
	for i := range r.cache.shards {
		indexed += len(r.cache.shards[i].index)
	}
	if indexed != size {
		t.Errorf("addresses indexed = %d, want %d", indexed, size)
	}
}

// TestVerifyConcurrentManyAddresses drives many callers over more
// addresses than the cache and the in-flight places hold, then checks the
// counters add up. Run with -race, it is the data race test.
func TestVerifyConcurrentManyAddresses(t *testing.T) {
	z := dnstest.NewZone()
	server := dnstest.Start(t, z)
	const addrs = 64
	for i := range addrs {
		a := fmt.Sprintf("192.0.2.%d", 150+i)
		name := fmt.Sprintf("crawl-%d.googlebot.com", i)
		z.SetPTR(t, a, name)
		z.SetHost(t, name, a)
	}
	const size = 16
	r := newTestResolver(t, server, Options{CacheSize: size, MaxInFlight: 4})

	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 500 {
				addr := netip.AddrFrom4([4]byte{192, 0, 2, byte(150 + (g*7+i)%addrs)})
				v, name := r.Verify(addr, []string{"googlebot.com"})
				if v == Verified && name == "" || v != Verified && name != "" {
					t.Errorf("Verify(%s) = (%v, %q): name and verdict disagree", addr, v, name)
				}
			}
		})
	}
	wg.Wait()
	waitFor(t, "in-flight verifications to end", func() bool { return r.Stats().InFlight == 0 })
	s := r.Stats()
	if s.Cached > size {
		t.Errorf("Cached = %d, want at most %d", s.Cached, size)
	}
	if s.Confirmed+s.Failed+s.Unknown != s.Lookups {
		t.Errorf("Stats = %+v: outcomes do not add up to lookups", s)
	}
	if s.Lookups == 0 {
		t.Error("no lookup started")
	}
}
