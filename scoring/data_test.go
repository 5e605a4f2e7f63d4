package scoring

import (
	"strconv"
	"strings"
	"testing"
)

func TestEmbeddedModelParsesAndWeighsEveryFeature(t *testing.T) {
	w, err := ParseWeights(modelYAML)
	if err != nil {
		t.Fatalf("data/model.yaml: %v", err)
	}
	if !strings.HasPrefix(w.Model, "lr-") {
		t.Errorf("model name %q", w.Model)
	}
	for _, c := range Codes() {
		if !IsFeature(c) && w.Of(c) != 0 {
			t.Errorf("certainty signal %s has a weight", c)
		}
	}
	if _, err := compileOrder(headerOrderYAML); err != nil {
		t.Errorf("data/header_order.yaml: %v", err)
	}
}

func TestEncodeThenParseWeightsRoundTrips(t *testing.T) {
	var w Weights
	w.Bias = 2.123456
	if err := w.Set(AcceptMissing, -1.5); err != nil {
		t.Fatal(err)
	}
	data, err := w.Encode([]string{"a test"}, map[string]any{"corpus": "none"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseWeights(data)
	if err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	if got.Bias != 2.1235 || got.Of(AcceptMissing) != -1.5 || got.Model != w.name() {
		t.Errorf("round trip: bias %v, accept.missing %v, model %q (want %q)", got.Bias, got.Of(AcceptMissing), got.Model, w.name())
	}
}

func TestParseWeightsRejectsBadFiles(t *testing.T) {
	full := string(modelYAML)
	line := func(c Code) string {
		for l := range strings.SplitSeq(full, "\n") {
			if strings.HasPrefix(strings.TrimSpace(l), c.String()+":") {
				return l
			}
		}
		t.Fatalf("no line for %s", c)
		return ""
	}
	tests := []struct {
		name    string
		data    string
		wantErr string
	}{
		{"unknown feature", strings.Replace(full, "weights:\n", "weights:\n  ua.typo: 1\n", 1), `unknown feature "ua.typo"`},
		{"a certainty signal", strings.Replace(full, "weights:\n", "weights:\n  hints.mismatch: -1\n", 1), "not a model feature"},
		{"missing feature", strings.Replace(full, line(VelocityRouteIP)+"\n", "", 1), "no weight for velocity.route_ip"},
		{"weight out of range", strings.Replace(full, line(AcceptMissing), "  accept.missing: -13", 1), "out of range"},
		{"edited weight", strings.Replace(full, line(AcceptMissing), "  accept.missing: -0.1234", 1), "does not name these weights"},
		{"another feature set", strings.Replace(full, "feature_set: "+strconv.Itoa(FeatureSet), "feature_set: 1", 1), "retrain"},
		{"not a number", strings.Replace(full, line(AcceptMissing), "  accept.missing: lots", 1), "cannot unmarshal"},
		{"unknown key", full + "extra: 1\n", "not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseWeights([]byte(tt.data))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseWeights: error %v, want one containing %q", err, tt.wantErr)
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
