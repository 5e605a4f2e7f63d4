package telemetry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/botauthz/botauthz/crawler"
	"github.com/botauthz/botauthz/extauthz"
	"github.com/botauthz/botauthz/internal/mmdbtest"
	"github.com/botauthz/botauthz/internal/webbotauthtest"
	"github.com/botauthz/botauthz/policy"
	"github.com/botauthz/botauthz/reputation"
	"github.com/botauthz/botauthz/scoring"
)

// crawlerDecision is a decision for headers from ip with the shipped
// directory's verdict, as extauthz makes it: a verified crawler is not
// scored.
func crawlerDecision(t *testing.T, v *crawler.Verifier, ip string, headers map[string]string) *extauthz.Decision {
	t.Helper()
	var c crawler.Claim
	v.Verify(&crawler.Request{ClientIP: netip.MustParseAddr(ip), Headers: headers}, &c)
	var d *extauthz.Decision
	if c.Verdict == crawler.Verified {
		d = &extauthz.Decision{Route: "default", Mode: policy.ModeShadow, Band: scoring.VerifiedBot, Rule: policy.RuleVerifiedBot,
			Action: policy.ActionAllow, Enforced: policy.ActionAllow}
	} else {
		d = scoredDecision(t, "default", policy.ModeShadow, headers)
	}
	d.Crawler = c
	if c.Entry >= 0 {
		d.CrawlerEntry = &v.Directory().Crawlers[c.Entry]
	}
	return d
}

func shippedVerifier(t *testing.T) *crawler.Verifier {
	t.Helper()
	dir, err := crawler.Load()
	if err != nil {
		t.Fatal(err)
	}
	v, err := crawler.New(crawler.Config{Directory: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v
}

// liveVerifier is the shipped directory with every kind of verification
// on: reverse DNS (never asked here) and a Web Bot Auth key directory read
// from a file, fetched before it returns.
func liveVerifier(t *testing.T) *crawler.Verifier {
	t.Helper()
	dir, err := crawler.Load()
	if err != nil {
		t.Fatal(err)
	}
	keys := filepath.Join(t.TempDir(), "keys.json")
	if err := os.WriteFile(keys, webbotauthtest.JWKS(t, webbotauthtest.NewKey(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	v, err := crawler.New(crawler.Config{Directory: dir, ReverseDNS: true, DNSServer: "127.0.0.1:1",
		KeyDirectories: map[string]string{"https://chatgpt.com": "file://" + keys}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	v.Start(ctx)
	t.Cleanup(func() { cancel(); v.Close() })
	// The directory is read in the background.
	deadline := time.NewTimer(20 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for v.KeyDirectories()[0].LastSuccess.IsZero() {
		select {
		case <-deadline.C:
			t.Fatalf("key directory never read: %+v", v.KeyDirectories())
		case <-tick.C:
		}
	}
	return v
}

var googlebotHeaders = map[string]string{"user-agent": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "accept": "*/*"}

func TestRecorderCountsCrawlerClaims(t *testing.T) {
	r, p := newTestRecorder(t, RecorderOptions{})
	v := shippedVerifier(t)
	ctx := context.Background()
	for _, c := range []struct{ ip, ua string }{
		{"66.249.66.1", googlebotHeaders["user-agent"]},                                           // verified, search
		{"203.0.113.9", googlebotHeaders["user-agent"]},                                           // impersonation (reverse DNS off)
		{"203.0.113.9", "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"},             // unverified, social_preview
		{"203.0.113.9", "HomeGrownBot/0.1 (+https://example.org/bot)"},                            // unverified, no entry
		{"203.0.113.9", "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"}, // no claim
	} {
		r.ObserveCheck(ctx, crawlerDecision(t, v, c.ip, map[string]string{"user-agent": c.ua, "accept": "*/*"}), nil, time.Millisecond)
	}
	want := map[string]float64{
		"category=search,verdict=verified":           1,
		"category=search,verdict=impersonation":      1,
		"category=social_preview,verdict=unverified": 1,
		"category=none,verdict=unverified":           1,
	}
	// Every other verdict and category is exported at zero.
	if diff := mapDiff(nonZero(scrape(t, p.MetricsHandler()).values("botauthz_crawler_claims_total")), want); diff != "" {
		t.Errorf("botauthz_crawler_claims_total:%s", diff)
	}
}

func TestRecorderObservesCrawlerVerification(t *testing.T) {
	r, p := newTestRecorder(t, RecorderOptions{})
	v := shippedVerifier(t)
	if err := r.ObserveCrawlers(v); err != nil {
		t.Fatal(err)
	}
	if err := r.ObserveCrawlers(v); err == nil {
		t.Error("a second ObserveCrawlers was accepted")
	}
	e := scrape(t, p.MetricsHandler())
	prefixes, age := e.values("botauthz_crawler_ranges_prefixes"), e.values("botauthz_crawler_ranges_age_seconds")
	for _, s := range v.Ranges() {
		key := "list=" + s.Name
		if prefixes[key] != float64(s.Prefixes) || s.Prefixes == 0 {
			t.Errorf("%s: prefixes %v, the list has %d", s.Name, prefixes[key], s.Prefixes)
		}
		// Age from the list's publication: at least the time since then as
		// the test saw it before scraping.
		if min := time.Since(s.Published).Seconds(); age[key] < min-1 || age[key] <= 0 {
			t.Errorf("%s: age %v s, published %s", s.Name, age[key], s.Published)
		}
	}
	if n := len(e.values("botauthz_crawler_ranges_refresh_failures_total")); n != len(v.Ranges()) {
		t.Errorf("refresh failures reported for %d lists, want all %d at zero", n, len(v.Ranges()))
	}
	if got := e.values("botauthz_crawler_reverse_dns_lookups_total"); got != nil {
		t.Errorf("reverse DNS is off, yet lookups are reported: %v", got)
	}
}

func TestDecisionLogNamesTheCrawler(t *testing.T) {
	r, buf := decisionLog(t, RecorderOptions{AllowSample: 1})
	v := shippedVerifier(t)
	r.ObserveCheck(context.Background(), crawlerDecision(t, v, "66.249.66.1", googlebotHeaders), nil, time.Millisecond)
	r.ObserveCheck(context.Background(), crawlerDecision(t, v, "203.0.113.9", googlebotHeaders), nil, time.Millisecond)
	lines := logLines(t, buf)
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2", len(lines))
	}
	for i, want := range []map[string]any{
		{"name": "googlebot", "category": "search", "verdict": "verified", "method": "ranges", "detail": "google-common-crawlers"},
		{"name": "googlebot", "category": "search", "verdict": "impersonation", "method": "ranges"},
	} {
		got, _ := lines[i]["crawler"].(map[string]any)
		if len(got) != len(want) {
			t.Errorf("line %d crawler = %v, want %v", i, got, want)
			continue
		}
		for k, w := range want {
			if got[k] != w {
				t.Errorf("line %d crawler.%s = %v, want %v", i, k, got[k], w)
			}
		}
	}
	if lines[0]["band"] != "verified_bot" || lines[0]["rule"] != "rule.verified_bot" {
		t.Errorf("verified line: band %v rule %v", lines[0]["band"], lines[0]["rule"])
	}
}

// liveReputation is one set loaded from a file and an ASN database
// written by mmdbwriter.
func liveReputation(t *testing.T) (*reputation.Sets, *reputation.ASNDB) {
	t.Helper()
	dir := t.TempDir()
	list := filepath.Join(dir, "cloud.txt")
	if err := os.WriteFile(list, []byte("198.51.100.0/24\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sets, err := reputation.Load(context.Background(), []reputation.SetConfig{
		{Name: "cloud", Kind: reputation.Datacenter, Format: "plain", Files: []string{list}}}, reputation.Options{})
	if err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "asn.mmdb")
	mmdbtest.Write(t, db, "GeoLite2-ASN", []mmdbtest.ASN{{Network: "198.51.100.0/24", Number: 16509, Organization: "AMAZON-02"}})
	asn, err := reputation.OpenASN(db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { asn.Close() })
	return sets, asn
}

func TestRecorderObservesReputation(t *testing.T) {
	r, p := newTestRecorder(t, RecorderOptions{})
	sets, asn := liveReputation(t)
	if err := r.ObserveReputation(sets, asn); err != nil {
		t.Fatal(err)
	}
	r.ReputationReloaded("cloud", nil)
	r.ReputationReloaded("/etc/botauthz/asn.mmdb", errors.New("truncated"))
	e := scrape(t, p.MetricsHandler())
	if diff := mapDiff(e.values("botauthz_reputation_set_prefixes"), map[string]float64{"kind=datacenter,set=cloud": 1}); diff != "" {
		t.Errorf("prefixes:%s", diff)
	}
	// Both results of every set start at zero: the first error counts.
	if diff := mapDiff(e.values("botauthz_reputation_reloads_total"), map[string]float64{
		"result=ok,set=cloud": 1, "result=error,set=cloud": 0,
		"result=ok,set=asn_database": 0, "result=error,set=asn_database": 1}); diff != "" {
		t.Errorf("reloads:%s", diff)
	}
	if age := e.values("botauthz_reputation_asn_database_age_seconds")[""]; age < 0 || age > 3600 {
		t.Errorf("ASN database age %v s, want the few seconds since the test wrote it", age)
	}
}

func TestDecisionLogNamesTheNetwork(t *testing.T) {
	sets, asn := liveReputation(t)
	var buf bytes.Buffer
	r, _ := newTestRecorder(t, RecorderOptions{DecisionLog: slog.New(slog.NewJSONHandler(&buf, nil)), AllowSample: 1,
		ASNOrganization: asn.Organization})
	d := scoredDecision(t, "default", policy.ModeShadow, googlebotHeaders)
	ip := netip.MustParseAddr("198.51.100.7")
	d.ReputationTable = sets.Table()
	d.Reputation = d.ReputationTable.Lookup(ip)
	d.ASN, _ = asn.Lookup(ip)
	d.HostingASN = true
	r.ObserveCheck(context.Background(), d, &extauthz.Facts{ClientIP: ip}, time.Millisecond)
	lines := logLines(t, &buf)
	got, _ := lines[0]["network"].(map[string]any)
	if fmt.Sprint(got["sets"]) != "[cloud]" || got["asn"] != float64(16509) || got["org"] != "AMAZON-02" || got["hosting"] != true {
		t.Errorf("network = %v", got)
	}
}
