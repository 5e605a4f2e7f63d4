package crawler

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/botauthz/botauthz/internal/dnstest"
	"github.com/botauthz/botauthz/internal/webbotauthtest"
)

// testDirectory is a directory of one crawler per way of verifying one,
// with the range list in a plain file next to it.
const testDirectory = `
version: 2026-12-02
crawlers:
  - {name: rangebot, operator: Test, category: search, tokens: [RangeBot], verify: {ranges: [test-ranges]}, sources: [https://rangebot.example/]}
  - {name: dnsbot, operator: Test, category: search, tokens: [DNSBot], verify: {rdns: [crawl.dnsbot.example]}, sources: [https://dnsbot.example/]}
  - {name: bothbot, operator: Test, category: ai_crawler, tokens: [BothBot], verify: {ranges: [test-ranges], rdns: [bothbot.example]}, sources: [https://bothbot.example/]}
  - {name: signbot, operator: Test, category: ai_assistant, tokens: [SignBot], verify: {web_bot_auth: ["https://signbot.example"]}, sources: [https://signbot.example/]}
  - {name: plainbot, operator: Test, category: feed, tokens: [PlainBot], sources: [https://plainbot.example/], note: publishes nothing}
ranges:
  - name: test-ranges
    format: plain
    url: %s
    snapshot: ranges.txt
    retrieved: 2026-11-01
    snapshot_source: https://github.com/botauthz/test/blob/0123456789abcdef0123456789abcdef01234567/ranges.txt
`

// loadTestDirectory writes testDirectory (its range list's refresh URL
// rangeURL) and returns it as a directory of its own.
func loadTestDirectory(t *testing.T, rangeURL string) *Directory {
	t.Helper()
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("crawlers.yaml", fmt.Sprintf(testDirectory, rangeURL))
	write("ranges.txt", "# the test's crawler addresses\n192.0.2.0/28\n2001:db8:1::/48\n")
	o, err := LoadOverride(filepath.Join(dir, "crawlers.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := (&Directory{}).Merge(o)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// claimOf verifies one request.
func claimOf(v *Verifier, ip, ua string, headers ...string) Claim {
	h := map[string]string{"user-agent": ua}
	for i := 0; i+1 < len(headers); i += 2 {
		h[headers[i]] = headers[i+1]
	}
	var c Claim
	v.Verify(&Request{ClientIP: netip.MustParseAddr(ip), Method: "GET", Scheme: "https", Authority: "shop.example", Path: "/", Headers: h}, &c)
	return c
}

// describe is a claim as a test reads it.
func describe(d *Directory, c Claim) string {
	name := "-"
	if c.Entry >= 0 {
		name = d.Crawlers[c.Entry].Name
	}
	return fmt.Sprintf("%s %s by %s", name, c.Verdict, c.Method)
}

// waitClaim polls until ip's claim is no longer an answer still pending.
func waitClaim(t *testing.T, v *Verifier, ip, ua string) Claim {
	t.Helper()
	var c Claim
	poll(t, ua+" from "+ip+" answered", func() bool {
		c = claimOf(v, ip, ua)
		return c.Verdict != Unverified || c.Detail != "pending"
	})
	return c
}

func TestVerifyByRangesAndReverseDNS(t *testing.T) {
	zone := dnstest.NewZone()
	// A real dnsbot, a spoofed PTR (the forward lookup says otherwise), an
	// address with no PTR, and a bothbot address outside the ranges.
	zone.SetPTR(t, "198.51.100.7", "crawl-7.crawl.dnsbot.example")
	zone.SetHost(t, "crawl-7.crawl.dnsbot.example", "198.51.100.7")
	zone.SetPTR(t, "198.51.100.8", "crawl-8.crawl.dnsbot.example")
	zone.SetHost(t, "crawl-8.crawl.dnsbot.example", "203.0.113.200")
	zone.SetPTR(t, "198.51.100.10", "fetch-10.bothbot.example")
	zone.SetHost(t, "fetch-10.bothbot.example", "198.51.100.10")
	d := loadTestDirectory(t, "https://ranges.example/list.txt")
	v, err := New(Config{Directory: d, ReverseDNS: true, DNSServer: dnstest.Start(t, zone)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)

	tests := []struct {
		name, ip, ua string
		first, final string
	}{
		{"an address in the range list", "192.0.2.9", "Mozilla/5.0 (compatible; RangeBot/1.0)", "rangebot verified by ranges", ""},
		{"IPv6 in the range list", "2001:db8:1::42", "rangebot/2", "rangebot verified by ranges", ""},
		{"outside the only range list", "203.0.113.9", "RangeBot/1.0", "rangebot impersonation by ranges", ""},
		{"confirmed reverse DNS", "198.51.100.7", "DNSBot/1.0", "dnsbot unverified by reverse_dns", "dnsbot verified by reverse_dns"},
		{"spoofed PTR", "198.51.100.8", "DNSBot/1.0", "dnsbot unverified by reverse_dns", "dnsbot impersonation by reverse_dns"},
		{"no PTR at all", "198.51.100.9", "DNSBot/1.0", "dnsbot unverified by reverse_dns", "dnsbot impersonation by reverse_dns"},
		{"in the ranges: reverse DNS not asked", "192.0.2.1", "BothBot/1.0", "bothbot verified by ranges", ""},
		{"outside the ranges, reverse DNS vouches", "198.51.100.10", "BothBot/1.0", "bothbot unverified by reverse_dns", "bothbot verified by reverse_dns"},
		{"outside the ranges and reverse DNS says no", "198.51.100.11", "BothBot/1.0", "bothbot unverified by reverse_dns", "bothbot impersonation by reverse_dns"},
		// One lookup serves every crawler: dnsbot's answer for this address
		// is bothbot's too, at once.
		{"an address looked up for another crawler", "198.51.100.9", "BothBot/1.0", "bothbot impersonation by reverse_dns", ""},
		{"an operator that publishes nothing", "203.0.113.9", "PlainBot/1.0", "plainbot unverified by ", ""},
		{"a key directory not configured", "203.0.113.9", "SignBot/1.0", "signbot unverified by ", ""},
		{"a browser claims nothing", "203.0.113.9", "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "- " + " by ", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := describe(d, claimOf(v, tt.ip, tt.ua)); got != tt.first {
				t.Fatalf("first claim: %q, want %q", got, tt.first)
			}
			if tt.final == "" {
				return
			}
			if got := describe(d, waitClaim(t, v, tt.ip, tt.ua)); got != tt.final {
				t.Fatalf("once reverse DNS answered: %q, want %q", got, tt.final)
			}
		})
	}
	if got := zone.QueryCount(dns.TypePTR, dnstest.ReverseName(t, "192.0.2.1")); got != 0 {
		t.Errorf("an address the ranges vouch for was looked up %d times", got)
	}
}

func TestVerifyWithoutReverseDNS(t *testing.T) {
	d := loadTestDirectory(t, "https://ranges.example/list.txt")
	v, err := New(Config{Directory: d})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	// Without reverse DNS the ranges decide alone where they exist; a
	// crawler only reverse DNS could verify stays unverified, never an
	// impersonator for want of a method.
	for ua, want := range map[string]string{
		"BothBot/1.0": "bothbot impersonation by ranges",
		"DNSBot/1.0":  "dnsbot unverified by ",
	} {
		if got := describe(d, claimOf(v, "198.51.100.9", ua)); got != want {
			t.Errorf("%s: %q, want %q", ua, got, want)
		}
	}
	if got := describe(d, claimOf(v, "192.0.2.3", "BothBot/1.0")); got != "bothbot verified by ranges" {
		t.Errorf("in range: %q", got)
	}
	var c Claim
	v.Verify(&Request{Headers: map[string]string{"user-agent": "RangeBot/1.0"}}, &c)
	if got := describe(d, c); got != "rangebot unverified by " {
		t.Errorf("no client address: %q, want unverified", got)
	}
}

func TestVerifyWebBotAuth(t *testing.T) {
	signer := webbotauthtest.NewSigner(t)
	key, stranger := webbotauthtest.NewKey(t), webbotauthtest.NewKey(t)
	jwks := filepath.Join(t.TempDir(), "signbot-keys.json")
	if err := os.WriteFile(jwks, webbotauthtest.JWKS(t, key), 0o600); err != nil {
		t.Fatal(err)
	}
	d := loadTestDirectory(t, "https://ranges.example/list.txt")
	v, err := New(Config{Directory: d, KeyDirectories: map[string]string{"https://signbot.example": "file://" + jwks}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	v.Start(ctx)
	t.Cleanup(func() { cancel(); v.Close() })

	now := time.Now().Unix()
	sign := func(k webbotauthtest.Key) map[string]string {
		return signer.Sign(t, webbotauthtest.Job{JWK: k.PrivateJWK(), URL: "https://shop.example/", SignatureAgent: `"https://signbot.example"`,
			Created: now - 5, Expires: now + 300}).Headers
	}
	headers := func(h map[string]string) []string {
		var out []string
		for k, v := range h {
			out = append(out, k, v)
		}
		return out
	}
	good, bad := headers(sign(key)), headers(sign(stranger))
	chrome := "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	// The key directory is read in the background.
	poll(t, "a good signature verified", func() bool { return claimOf(v, "203.0.113.9", chrome, good...).Verdict == Verified })
	// The signature names its agent whatever the user agent says.
	for _, tt := range []struct {
		name, ua string
		headers  []string
		want     string
	}{
		{"signed, with a browser's user agent", chrome, good, "signbot verified by web_bot_auth"},
		{"signed, claiming another crawler", "RangeBot/1.0", good, "signbot verified by web_bot_auth"},
		{"signed by a key not in the directory", chrome, bad, "signbot impersonation by web_bot_auth"},
		{"not signed, claiming the signing crawler", "SignBot/1.0", nil, "signbot unverified by "},
	} {
		if got := describe(d, claimOf(v, "203.0.113.9", tt.ua, tt.headers...)); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestRangeRefresh(t *testing.T) {
	var body atomic.Value
	body.Store("198.51.100.0/24\n")
	var served atomic.Int64
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		b := body.Load().(string)
		if b == "" {
			http.Error(w, "maintenance", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, b)
	}))
	t.Cleanup(srv.Close)
	d := loadTestDirectory(t, srv.URL+"/ranges.txt")
	v, err := New(Config{Directory: d, Network: true, Refresh: 10 * time.Millisecond, Client: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	if got := describe(d, claimOf(v, "192.0.2.9", "RangeBot/1")); got != "rangebot verified by ranges" {
		t.Fatalf("from the snapshot: %q", got)
	}
	state := v.Ranges()[0]
	if state.Source != "embedded" || state.Prefixes != 2 || state.Published.Format(time.DateOnly) != "2026-11-01" {
		t.Fatalf("snapshot state %+v", state)
	}
	ctx, cancel := context.WithCancel(context.Background())
	v.Start(ctx)
	t.Cleanup(func() { cancel(); v.Close() })
	poll(t, "the fetched list in force", func() bool { return v.Ranges()[0].Source == srv.URL+"/ranges.txt" })
	if got := describe(d, claimOf(v, "198.51.100.9", "RangeBot/1")); got != "rangebot verified by ranges" {
		t.Errorf("an address of the fetched list: %q", got)
	}
	if got := describe(d, claimOf(v, "192.0.2.9", "RangeBot/1")); got != "rangebot impersonation by ranges" {
		t.Errorf("an address only the snapshot had: %q", got)
	}
	// A failing operator, then one serving garbage: the last good list
	// stays, and the failures are counted.
	body.Store("")
	poll(t, "a failed refresh", func() bool { return v.Ranges()[0].Failures > 0 })
	body.Store("not an address\n")
	before := v.Ranges()[0].Failures
	poll(t, "a refused list", func() bool {
		s := v.Ranges()[0]
		return s.Failures > before && strings.Contains(s.LastError, "not an address")
	})
	if s := v.Ranges()[0]; s.Prefixes != 1 || s.Fetched.IsZero() {
		t.Errorf("after failures: %+v, want the fetched list kept", s)
	}
	if got := describe(d, claimOf(v, "198.51.100.9", "RangeBot/1")); got != "rangebot verified by ranges" {
		t.Errorf("after failures: %q, want the last good list", got)
	}
}

// poll checks cond every few milliseconds until it holds, failing the test
// after a deadline.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(20 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("waited 20s for %s", what)
		case <-tick.C:
		}
	}
}

// TestRefreshServesEveryShippedFormat serves every shipped range list
// from an httptest server, byte for byte as its operator publishes it, and
// refreshes the shipped directory from there: each list is replaced by
// the fetched one, with the same prefixes and its own publication time.
func TestRefreshServesEveryShippedFormat(t *testing.T) {
	builtin, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	var override strings.Builder
	override.WriteString("version: 2026-12-02\nranges:\n")
	srv := httptest.NewTLSServer(mux)
	t.Cleanup(srv.Close)
	for _, l := range builtin.Ranges {
		body, ok := Snapshot(l)
		if !ok {
			t.Fatalf("%s: no snapshot", l.Name)
		}
		contentType := "application/json"
		if l.Format == "plain" {
			contentType = "text/plain; charset=utf-8"
		}
		mux.HandleFunc("/"+l.Name, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", contentType)
			w.Write(body)
		})
		// The same list, fetched from the test server instead of the
		// operator, with no snapshot: only a refresh can fill it.
		fmt.Fprintf(&override, "  - {name: %s, format: %s, url: %q}\n", l.Name, l.Format, srv.URL+"/"+l.Name)
	}
	file := filepath.Join(t.TempDir(), "crawlers.yaml")
	if err := os.WriteFile(file, []byte(override.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	o, err := LoadOverride(file)
	if err != nil {
		t.Fatal(err)
	}
	d, err := builtin.Merge(o)
	if err != nil {
		t.Fatal(err)
	}
	v, err := New(Config{Directory: d, Network: true, Refresh: time.Hour, Client: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range v.Ranges() {
		if s.Prefixes != 0 {
			t.Fatalf("%s has %d prefixes before any refresh", s.Name, s.Prefixes)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	v.Start(ctx)
	t.Cleanup(func() { cancel(); v.Close() })
	poll(t, "every list fetched", func() bool {
		for _, s := range v.Ranges() {
			if s.Fetched.IsZero() {
				return false
			}
		}
		return true
	})
	for i, s := range v.Ranges() {
		l := builtin.Ranges[i]
		body, _ := Snapshot(l)
		want, err := ParseRanges(l.Format, body)
		if err != nil {
			t.Fatal(err)
		}
		published, ok := CreationTime(l.Format, body)
		if s.Name != l.Name || s.Prefixes != len(want) || s.Source != srv.URL+"/"+l.Name || s.Failures != 0 ||
			ok && !s.Published.Equal(published) {
			t.Errorf("%s: %+v, want %d prefixes from the test server published %v", l.Name, s, len(want), published)
		}
	}
	if got := describe(d, claimOf(v, "66.249.66.1", benchGooglebot)); got != "googlebot verified by ranges" {
		t.Errorf("Googlebot after the refresh: %q", got)
	}
}
