package scoring

import (
	"slices"
	"testing"
)

func TestCodeNamesRoundTrip(t *testing.T) {
	codes := Codes()
	if len(codes) != int(numCodes)-1 {
		t.Fatalf("Codes() has %d codes, want %d", len(codes), numCodes-1)
	}
	seen := map[string]bool{}
	for i, c := range codes {
		if c != Code(i+1) {
			t.Errorf("Codes()[%d] = %d, want %d: codes must be in order", i, c, i+1)
		}
		name := c.String()
		if seen[name] {
			t.Errorf("name %q used twice", name)
		}
		seen[name] = true
		if got, ok := ParseCode(name); !ok || got != c {
			t.Errorf("ParseCode(%q) = %v, %v; want %v, true", name, got, ok, c)
		}
	}
}

func TestCodeNamesAreTheContract(t *testing.T) {
	// Dashboards, decision logs and policy files use these names.
	want := []string{
		"ua.missing", "ua.library", "ua.headless", "ua.crawler",
		"accept.missing", "accept_language.missing", "accept_encoding.missing",
		"hints.missing", "hints.mismatch", "hints.headless",
		"fetch.missing", "fetch.inconsistent",
		"velocity.ip", "velocity.subnet", "velocity.session", "velocity.route_ip", "clearance.valid", "clearance.invalid",
		"browser.headers_missing",
		"ua.other", "accept.unlike_browser", "accept_encoding.unlike_browser", "upgrade_insecure_requests.missing",
		"priority.missing", "order.unlike_browser", "protocol.http1",
		"tls.mismatch", "tls.library",
		"crawler.impersonation", "crawler.unverified",
		"ip.datacenter", "ip.tor", "ip.listed", "asn.hosting",
		"history.denied", "history.ratelimited", "history.challenge_failed", "session.many_networks", "session.not_kept",
	}
	var got []string
	for _, c := range Codes() {
		got = append(got, c.String())
	}
	if !slices.Equal(got, want) {
		t.Errorf("code names %v, want %v", got, want)
	}
}

func TestParseCodeRejectsUnknownNames(t *testing.T) {
	for _, s := range []string{"", "ua", "UA.LIBRARY", "ua.library ", "code(0)", "velocity"} {
		if c, ok := ParseCode(s); ok {
			t.Errorf("ParseCode(%q) = %v, true; want false", s, c)
		}
	}
}

func TestInvalidCodeStringNamesTheNumber(t *testing.T) {
	if got := Code(0).String(); got != "code(0)" {
		t.Errorf("Code(0).String() = %q", got)
	}
	if got := numCodes.String(); got != "code(40)" {
		t.Errorf("numCodes.String() = %q", got)
	}
}

func TestBandOf(t *testing.T) {
	tests := []struct {
		score int
		want  Band
	}{
		{-5, NotScored}, {0, NotScored}, {1, Automated}, {2, LikelyAutomated},
		{29, LikelyAutomated}, {30, LikelyHuman}, {99, LikelyHuman}, {150, LikelyHuman},
	}
	for _, tt := range tests {
		if got := BandOf(tt.score); got != tt.want {
			t.Errorf("BandOf(%d) = %v, want %v", tt.score, got, tt.want)
		}
	}
}

func TestBandNames(t *testing.T) {
	tests := []struct {
		band Band
		want string
	}{
		{NotScored, "not_scored"}, {Automated, "automated"}, {LikelyAutomated, "likely_automated"},
		{LikelyHuman, "likely_human"}, {VerifiedBot, "verified_bot"}, {Band(9), "band(9)"},
	}
	for _, tt := range tests {
		if got := tt.band.String(); got != tt.want {
			t.Errorf("Band(%d).String() = %q, want %q", tt.band, got, tt.want)
		}
	}
}
