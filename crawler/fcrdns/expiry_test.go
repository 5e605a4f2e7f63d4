package fcrdns

import (
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/botauthz/botauthz/internal/dnstest"
)

// TestVerifyTemporaryFailureRetriedAfterErrorTTL: a SERVFAIL is Unknown, is
// not asked again before ErrorTTL, and is asked again after it.
func TestVerifyTemporaryFailureRetriedAfterErrorTTL(t *testing.T) {
	z := dnstest.NewZone()
	server := dnstest.Start(t, z)
	arpa := dnstest.ReverseName(t, "192.0.2.40")
	z.SetRcode(arpa, dns.RcodeServerFailure)
	clock := newTestClock()
	r := newTestResolver(t, server, Options{Now: clock.Now, ErrorTTL: 30 * time.Second})
	addr := netip.MustParseAddr("192.0.2.40")

	v, name := waitVerdict(t, r, addr, "googlebot.com")
	checkVerdict(t, v, name, Unknown, "")
	queried := z.QueryCount(dns.TypePTR, arpa)
	if queried == 0 {
		t.Fatal("no PTR query reached the server")
	}

	// The server recovers, but the Unknown stands until ErrorTTL.
	z.SetRcode(arpa, dns.RcodeSuccess)
	z.SetPTR(t, "192.0.2.40", "crawl.googlebot.com")
	z.SetHost(t, "crawl.googlebot.com", "192.0.2.40")
	clock.Advance(30*time.Second - time.Nanosecond)
	v, name = r.Verify(addr, []string{"googlebot.com"})
	checkVerdict(t, v, name, Unknown, "")
	if got := z.QueryCount(dns.TypePTR, arpa); got != queried {
		t.Fatalf("PTR queries before ErrorTTL = %d, want %d", got, queried)
	}

	clock.Advance(time.Nanosecond)
	v, name = r.Verify(addr, []string{"googlebot.com"})
	checkVerdict(t, v, name, Pending, "")
	v, name = waitVerdict(t, r, addr, "googlebot.com")
	checkVerdict(t, v, name, Verified, "crawl.googlebot.com")
	if got := z.QueryCount(dns.TypePTR, arpa); got != queried+1 {
		t.Errorf("PTR queries after ErrorTTL = %d, want %d", got, queried+1)
	}
	if s := r.Stats(); s.Unknown != 1 || s.Confirmed != 1 || s.Lookups != 2 {
		t.Errorf("Stats = %+v, want 2 lookups: 1 unknown, 1 confirmed", s)
	}
}

// TestVerifyExpiry: each kind of answer is kept exactly for its TTL, then
// looked up again.
func TestVerifyExpiry(t *testing.T) {
	const (
		ttl         = time.Hour
		negativeTTL = 15 * time.Minute
		errorTTL    = 30 * time.Second
	)
	z := dnstest.NewZone()
	server := dnstest.Start(t, z)
	z.SetPTR(t, "192.0.2.50", "crawl.googlebot.com")
	z.SetHost(t, "crawl.googlebot.com", "192.0.2.50")
	z.SetPTR(t, "192.0.2.51", "spoof.googlebot.com") // no forward record
	z.SetPTR(t, "192.0.2.52", "ok.example.net", "flaky.googlebot.com")
	z.SetHost(t, "ok.example.net", "192.0.2.52")
	z.SetRcode("flaky.googlebot.com", dns.RcodeServerFailure)

	tests := []struct {
		name string
		addr string // 192.0.2.53 is NXDOMAIN
		want Verdict
		keep time.Duration
	}{
		{"confirmed name keeps TTL", "192.0.2.50", Verified, ttl},
		{"no PTR keeps TTL", "192.0.2.53", Failed, ttl},
		{"unconfirmed names keep NegativeTTL", "192.0.2.51", Failed, negativeTTL},
		{"partial result keeps ErrorTTL", "192.0.2.52", Unknown, errorTTL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newTestClock()
			r := newTestResolver(t, server, Options{
				Now: clock.Now, TTL: ttl, NegativeTTL: negativeTTL, ErrorTTL: errorTTL,
			})
			addr := netip.MustParseAddr(tt.addr)
			arpa := dnstest.ReverseName(t, tt.addr)

			v, _ := waitVerdict(t, r, addr, "googlebot.com")
			if v != tt.want {
				t.Fatalf("verdict = %v, want %v", v, tt.want)
			}
			clock.Advance(tt.keep - time.Nanosecond)
			if v, _ := r.Verify(addr, []string{"googlebot.com"}); v != tt.want {
				t.Fatalf("verdict just before expiry = %v, want %v", v, tt.want)
			}
			if got := z.QueryCount(dns.TypePTR, arpa); got != 1 {
				t.Fatalf("PTR queries before expiry = %d, want 1", got)
			}
			clock.Advance(time.Nanosecond)
			if v, _ := r.Verify(addr, []string{"googlebot.com"}); v != Pending {
				t.Fatalf("verdict at expiry = %v, want pending", v)
			}
			if v, _ := waitVerdict(t, r, addr, "googlebot.com"); v != tt.want {
				t.Fatalf("verdict after the new lookup = %v, want %v", v, tt.want)
			}
			if got := z.QueryCount(dns.TypePTR, arpa); got != 2 {
				t.Errorf("PTR queries after expiry = %d, want 2", got)
			}
			z.ResetQueries()
		})
	}
}
