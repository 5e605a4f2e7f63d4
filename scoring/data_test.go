package scoring

import (
	"strings"
	"testing"
)

func TestEmbeddedWeightsParseAndCoverEveryCode(t *testing.T) {
	w, err := parseWeights(weightsYAML)
	if err != nil {
		t.Fatalf("data/weights.yaml: %v", err)
	}
	for _, c := range Codes() {
		if w[c] <= 0 {
			t.Errorf("default weight of %s is %d: every shipped signal should count", c, w[c])
		}
	}
}

func TestDefaultWeightsAreTheDocumentedDefaults(t *testing.T) {
	want := map[Code]int{
		UAMissing: 70, UALibrary: 60, UAHeadless: 60, UACrawler: 40,
		AcceptMissing: 10, AcceptLanguageMissing: 15, AcceptEncodingMissing: 10,
		HintsMissing: 35, HintsMismatch: 30, HintsHeadless: 60,
		FetchMissing: 25, FetchInconsistent: 20,
		VelocityIP: 30, VelocitySubnet: 20, VelocitySession: 30, VelocityRouteIP: 30,
		ClearanceValid: 70, ClearanceInvalid: 5, BrowserHeadersMissing: 30,
	}
	w := DefaultWeights()
	for _, c := range Codes() {
		if w[c] != want[c] {
			t.Errorf("default weight of %s = %d, want %d", c, w[c], want[c])
		}
	}
}

func TestParseWeightsRejectsBadFiles(t *testing.T) {
	full := string(weightsYAML)
	tests := []struct {
		name    string
		data    string
		wantErr string
	}{
		{"unknown code", full + "ua.typo: 5\n", `unknown reason code "ua.typo"`},
		{"missing code", strings.Replace(full, "velocity.route_ip: 30", "", 1), "no weight for velocity.route_ip"},
		{"duplicate code", full + "ua.library: 5\n", "already defined"},
		{"negative weight", strings.Replace(full, "ua.crawler: 40", "ua.crawler: -1", 1), "out of range"},
		{"weight above 99", strings.Replace(full, "ua.crawler: 40", "ua.crawler: 100", 1), "out of range"},
		{"not a number", strings.Replace(full, "ua.crawler: 40", "ua.crawler: lots", 1), "cannot unmarshal"},
		{"not a mapping", "- ua.missing\n", "cannot unmarshal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseWeights([]byte(tt.data))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseWeights: error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestEmbeddedUserAgentListsParse(t *testing.T) {
	m, err := loadAgentMatcher(userAgentsYAML)
	if err != nil {
		t.Fatalf("data/user_agents.yaml: %v", err)
	}
	var kinds tokenKind
	for _, tok := range m.tokens {
		kinds |= tok.kind
		if tok.text != strings.ToLower(tok.text) {
			t.Errorf("token %q not lower-cased", tok.text)
		}
	}
	if kinds != kindLibrary|kindHeadless|kindCrawler || len(m.prefixes) == 0 || len(m.exceptions) == 0 {
		t.Errorf("a list is empty: kinds %b, %d prefixes, %d exceptions", kinds, len(m.prefixes), len(m.exceptions))
	}
}

func TestLoadAgentMatcherRejectsBadFiles(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		wantErr string
	}{
		{"unknown key", "library:\n  prefixes: [curl/]\nheadles: [x]\n", "field headles not found"},
		{"empty token", "headless: [\"\"]\n", "headless[0] is empty"},
		{"blank prefix", "library:\n  prefixes: [\"  \"]\n", "library.prefixes[0] is empty"},
		{"one-byte token", "crawler:\n  tokens: [bot, b]\n", `crawler.tokens[1] "b" is shorter than 2 bytes`},
		{"list is a string", "crawler:\n  tokens: bot\n", "cannot unmarshal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadAgentMatcher([]byte(tt.data))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("loadAgentMatcher: error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}
