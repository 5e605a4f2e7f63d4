package fcrdns

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/netip"
	"sync"
	"testing"

	"github.com/miekg/dns"

	"github.com/botauthz/botauthz/internal/dnstest"
)

// TestVerifyOutcomes runs FCrDNS against a real DNS server for each kind of
// answer a crawler's address (or a spoofer's) can get.
func TestVerifyOutcomes(t *testing.T) {
	z := dnstest.NewZone()
	server := dnstest.Start(t, z)

	// Forward-confirmed googlebot-style names.
	z.SetPTR(t, "192.0.2.10", "crawl-192-0-2-10.googlebot.com")
	z.SetHost(t, "crawl-192-0-2-10.googlebot.com", "192.0.2.10")
	z.SetPTR(t, "192.0.2.17", "googlebot.com")
	z.SetHost(t, "googlebot.com", "192.0.2.17")
	z.SetPTR(t, "192.0.2.18", "Crawl-18.GoogleBot.COM")
	z.SetHost(t, "crawl-18.googlebot.com", "192.0.2.18")
	z.SetPTR(t, "2001:db8::10", "crawl-v6.googlebot.com")
	z.SetHost(t, "crawl-v6.googlebot.com", "2001:db8::10")
	// Confirmed, but outside the suffixes.
	z.SetPTR(t, "192.0.2.11", "host.example.net")
	z.SetHost(t, "host.example.net", "192.0.2.11")
	z.SetPTR(t, "192.0.2.16", "evilgooglebot.com")
	z.SetHost(t, "evilgooglebot.com", "192.0.2.16")
	// Spoofed PTR: inside the suffixes, forward answer elsewhere.
	z.SetPTR(t, "192.0.2.12", "crawl-spoof.googlebot.com")
	z.SetHost(t, "crawl-spoof.googlebot.com", "198.51.100.7")
	// PTR name with no forward record.
	z.SetPTR(t, "192.0.2.15", "gone.googlebot.com")
	// Empty PTR answer (NOERROR, no data); 192.0.2.13 is NXDOMAIN.
	z.SetPTR(t, "192.0.2.14")
	// IPv6 address whose name has only an A record.
	z.SetPTR(t, "2001:db8::11", "v4only.googlebot.com")
	z.SetHost(t, "v4only.googlebot.com", "192.0.2.11")
	// Several names, one confirmed inside the suffixes, one outside.
	z.SetPTR(t, "192.0.2.30", "spoof.googlebot.com", "real.googlebot.com", "other.example.net")
	z.SetHost(t, "spoof.googlebot.com", "198.51.100.1")
	z.SetHost(t, "real.googlebot.com", "192.0.2.30")
	z.SetHost(t, "other.example.net", "192.0.2.30")
	// One name confirmed, another failing temporarily.
	z.SetPTR(t, "192.0.2.31", "ok.example.net", "broken.googlebot.com")
	z.SetHost(t, "ok.example.net", "192.0.2.31")
	z.SetRcode("broken.googlebot.com", dns.RcodeServerFailure)
	// The only name failing temporarily.
	z.SetPTR(t, "192.0.2.32", "flaky.googlebot.com")
	z.SetRcode("flaky.googlebot.com", dns.RcodeServerFailure)
	// Temporary failures of the PTR lookup itself.
	z.SetRcode(dnstest.ReverseName(t, "192.0.2.33"), dns.RcodeServerFailure)
	z.SetRcode(dnstest.ReverseName(t, "192.0.2.34"), dns.RcodeRefused)
	// More names than MaxNames: the confirmed one is past the bound.
	z.SetPTR(t, "192.0.2.35", "a.example.net", "b.example.net", "c.example.net", "d.example.net", "e.googlebot.com")
	z.SetHost(t, "e.googlebot.com", "192.0.2.35")

	google := []string{"googlebot.com", "google.com"}
	tests := []struct {
		name     string
		addr     string
		suffixes []string
		want     Verdict
		wantName string
	}{
		{"confirmed name in suffix", "192.0.2.10", google, Verified, "crawl-192-0-2-10.googlebot.com"},
		{"name equal to suffix", "192.0.2.17", google, Verified, "googlebot.com"},
		{"upper-case PTR is lower-cased", "192.0.2.18", google, Verified, "crawl-18.googlebot.com"},
		{"ipv6 confirmed by AAAA", "2001:db8::10", google, Verified, "crawl-v6.googlebot.com"},
		{"ipv4-mapped is the ipv4 address", "::ffff:192.0.2.10", google, Verified, "crawl-192-0-2-10.googlebot.com"},
		{"confirmed name outside suffixes", "192.0.2.11", google, Failed, ""},
		{"suffix without dot boundary", "192.0.2.16", google, Failed, ""},
		{"spoofed PTR", "192.0.2.12", google, Failed, ""},
		{"PTR name without forward record", "192.0.2.15", google, Failed, ""},
		{"NXDOMAIN", "192.0.2.13", google, Failed, ""},
		{"empty PTR answer", "192.0.2.14", google, Failed, ""},
		{"ipv6 name with only an A record", "2001:db8::11", google, Failed, ""},
		{"several names, confirmed one matches", "192.0.2.30", google, Verified, "real.googlebot.com"},
		{"several names, other confirmed one matches", "192.0.2.30", []string{"example.net"}, Verified, "other.example.net"},
		{"several names, none matches", "192.0.2.30", []string{"example.org"}, Failed, ""},
		{"partial, confirmed name matches", "192.0.2.31", []string{"example.net"}, Verified, "ok.example.net"},
		{"partial, unchecked name might match", "192.0.2.31", google, Unknown, ""},
		{"forward SERVFAIL", "192.0.2.32", google, Unknown, ""},
		{"PTR SERVFAIL", "192.0.2.33", google, Unknown, ""},
		{"PTR REFUSED", "192.0.2.34", google, Unknown, ""},
		{"name past MaxNames is not checked", "192.0.2.35", google, Failed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newTestResolver(t, server, Options{})
			addr := netip.MustParseAddr(tt.addr)
			v, name := r.Verify(addr, tt.suffixes)
			checkVerdict(t, v, name, Pending, "")
			v, name = waitVerdict(t, r, addr, tt.suffixes...)
			checkVerdict(t, v, name, tt.want, tt.wantName)
			if got := r.Stats().Lookups; got != 1 {
				t.Errorf("Lookups = %d, want 1", got)
			}
		})
	}
}

// TestVerifyOneLookupServesEverySuffix: the cache holds names, not verdicts,
// so a second crawler's suffixes are answered without another query.
func TestVerifyOneLookupServesEverySuffix(t *testing.T) {
	z := dnstest.NewZone()
	server := dnstest.Start(t, z)
	z.SetPTR(t, "192.0.2.30", "real.googlebot.com", "other.example.net")
	z.SetHost(t, "real.googlebot.com", "192.0.2.30")
	z.SetHost(t, "other.example.net", "192.0.2.30")
	r := newTestResolver(t, server, Options{})
	addr := netip.MustParseAddr("192.0.2.30")

	v, name := waitVerdict(t, r, addr, "googlebot.com")
	checkVerdict(t, v, name, Verified, "real.googlebot.com")
	before := z.TotalQueries()
	for range 100 {
		v, name = r.Verify(addr, []string{"yandex.ru", "example.net"})
		checkVerdict(t, v, name, Verified, "other.example.net")
		v, name = r.Verify(addr, []string{"baidu.com"})
		checkVerdict(t, v, name, Failed, "")
	}
	if got := z.TotalQueries(); got != before {
		t.Errorf("cache hits made %d queries, want 0", got-before)
	}
	if got := r.Stats().Lookups; got != 1 {
		t.Errorf("Lookups = %d, want 1", got)
	}
}

// TestVerifyIPv4MappedSharesTheEntry: the mapped form is looked up as, and
// cached as, the IPv4 address.
func TestVerifyIPv4MappedSharesTheEntry(t *testing.T) {
	z := dnstest.NewZone()
	server := dnstest.Start(t, z)
	z.SetPTR(t, "192.0.2.10", "crawl.googlebot.com")
	z.SetHost(t, "crawl.googlebot.com", "192.0.2.10")
	r := newTestResolver(t, server, Options{})
	mapped := netip.MustParseAddr("::ffff:192.0.2.10")

	v, name := waitVerdict(t, r, mapped, "googlebot.com")
	checkVerdict(t, v, name, Verified, "crawl.googlebot.com")
	if got := z.QueryCount(dns.TypePTR, dnstest.ReverseName(t, "192.0.2.10")); got != 1 {
		t.Errorf("PTR queries for the in-addr.arpa name = %d, want 1", got)
	}
	v, name = r.Verify(netip.MustParseAddr("192.0.2.10"), []string{"googlebot.com"})
	checkVerdict(t, v, name, Verified, "crawl.googlebot.com")
	if got := r.Stats().Lookups; got != 1 {
		t.Errorf("Lookups = %d, want 1", got)
	}
}

// TestVerifyIgnoresIPv6Zone: a zone is local scope, not part of the address
// DNS knows.
func TestVerifyIgnoresIPv6Zone(t *testing.T) {
	z := dnstest.NewZone()
	server := dnstest.Start(t, z)
	z.SetPTR(t, "2001:db8::10", "crawl-v6.googlebot.com")
	z.SetHost(t, "crawl-v6.googlebot.com", "2001:db8::10")
	r := newTestResolver(t, server, Options{})

	v, name := waitVerdict(t, r, netip.MustParseAddr("2001:db8::10%eth0"), "googlebot.com")
	checkVerdict(t, v, name, Verified, "crawl-v6.googlebot.com")
	v, name = r.Verify(netip.MustParseAddr("2001:db8::10"), []string{"googlebot.com"})
	checkVerdict(t, v, name, Verified, "crawl-v6.googlebot.com")
}

// TestVerifyWithoutLookup: input that nothing could verify is Failed at once
// and asks nothing.
func TestVerifyWithoutLookup(t *testing.T) {
	z := dnstest.NewZone()
	server := dnstest.Start(t, z)
	r := newTestResolver(t, server, Options{})
	tests := []struct {
		name     string
		addr     netip.Addr
		suffixes []string
	}{
		{"invalid address", netip.Addr{}, []string{"googlebot.com"}},
		{"no suffixes", netip.MustParseAddr("192.0.2.10"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, name := r.Verify(tt.addr, tt.suffixes)
			checkVerdict(t, v, name, Failed, "")
		})
	}
	if got := r.Stats().Lookups; got != 0 {
		t.Errorf("Lookups = %d, want 0", got)
	}
	if got := z.TotalQueries(); got != 0 {
		t.Errorf("queries = %d, want 0", got)
	}
}

// TestVerifyLogsOutcome: each verification leaves one debug record with what
// an operator needs to explain a verdict.
func TestVerifyLogsOutcome(t *testing.T) {
	z := dnstest.NewZone()
	server := dnstest.Start(t, z)
	z.SetPTR(t, "192.0.2.10", "spoof.googlebot.com", "crawl.googlebot.com")
	z.SetHost(t, "spoof.googlebot.com", "198.51.100.1")
	z.SetHost(t, "crawl.googlebot.com", "192.0.2.10")
	var buf syncBuffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r := newTestResolver(t, server, Options{Logger: logger})
	addr := netip.MustParseAddr("192.0.2.10")

	v, name := waitVerdict(t, r, addr, "googlebot.com")
	checkVerdict(t, v, name, Verified, "crawl.googlebot.com")
	var rec struct {
		Msg       string   `json:"msg"`
		Addr      string   `json:"addr"`
		Outcome   string   `json:"outcome"`
		PTRNames  []string `json:"ptr_names"`
		Confirmed []string `json:"confirmed"`
	}
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("log record %q: %v", buf.Bytes(), err)
	}
	if rec.Addr != "192.0.2.10" || rec.Outcome != "confirmed" ||
		len(rec.PTRNames) != 2 || len(rec.Confirmed) != 1 || rec.Confirmed[0] != "crawl.googlebot.com" {
		t.Errorf("log record = %+v", rec)
	}
}

// syncBuffer is a bytes.Buffer safe for the verification goroutine to write
// while the test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}
