package policy

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

func TestRules(t *testing.T) {
	p, err := Parse([]byte(`
rules:
  allow_cidrs: ["10.0.0.0/8", "2001:db8:1::/48", "192.0.2.9"]
  deny_cidrs: ["10.1.0.0/16", "198.51.100.0/24", "2001:db8::/32"]
`))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		ip   string
		want Rule
	}{
		{"10.9.9.9", RuleAllowCIDR},
		{"10.1.2.3", RuleAllowCIDR}, // allow is checked first
		{"198.51.100.77", RuleDenyCIDR},
		{"2001:db8:1::5", RuleAllowCIDR},
		{"2001:db8:2::5", RuleDenyCIDR},
		{"192.0.2.9", RuleAllowCIDR}, // a bare address is its own /32
		{"192.0.2.10", NoRule},
		{"203.0.113.1", NoRule},
	}
	for _, c := range cases {
		if got := p.Rules.Match(netip.MustParseAddr(c.ip)); got != c.want {
			t.Errorf("Match(%s) = %v, want %v", c.ip, got, c.want)
		}
	}
	if got := p.Rules.Match(netip.Addr{}); got != NoRule {
		t.Errorf("an unknown client matched %v", got)
	}
	if Default().Rules.Match(netip.MustParseAddr("10.0.0.1")) != NoRule {
		t.Error("the defaults have rules")
	}
}

func TestBadRules(t *testing.T) {
	many := make([]string, MaxRuleCIDRs+1)
	for i := range many {
		many[i] = fmt.Sprintf(`"10.%d.%d.0/24"`, i/256, i%256)
	}
	cases := map[string]string{
		`rules: {deny_cidrs: ["not-a-net"]}`:                     "rules.deny_cidrs[0]",
		`rules: {allow_cidrs: ["10.0.0.0/8", "10.0.0.1/8"]}`:     "rules.allow_cidrs[1]: \"10.0.0.1/8\" has host bits set; did you mean 10.0.0.0/8?",
		`rules: {deny_cidrs: [` + strings.Join(many, ",") + `]}`: "at most 1024",
		`rules: {block: ["10.0.0.0/8"]}`:                         "rules.block: unknown key",
	}
	for doc, want := range cases {
		if _, err := Parse([]byte(doc)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%.60s: error %v, want %q", doc, err, want)
		}
	}
}
