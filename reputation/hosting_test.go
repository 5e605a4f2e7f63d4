package reputation

import (
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestHostingASNsBuiltIn(t *testing.T) {
	l, err := HostingASNs()
	if err != nil {
		t.Fatal(err)
	}
	for asn, operator := range map[uint32]string{
		16509: "Amazon Web Services", 14618: "Amazon Web Services", 8075: "Microsoft", 45102: "Alibaba Cloud",
		14061: "DigitalOcean", 20473: "Vultr (The Constant Company)", 63949: "Akamai Connected Cloud (Linode)",
		16276: "OVHcloud", 12876: "Scaleway", 31898: "Oracle Cloud Infrastructure", 14544: "Oracle Cloud Infrastructure",
		200350: "Yandex Cloud", 33425: "CoreWeave", 21859: "Zenlayer", 13884: "IBM Cloud",
	} {
		if !l.IsHosting(asn) || l.Operator(asn) != operator {
			t.Errorf("AS%d: IsHosting %v, operator %q; want %q", asn, l.IsHosting(asn), l.Operator(asn), operator)
		}
	}
	// Google's own network carries Googlebot and Google's users' fetches,
	// Cloudflare's carries WARP's users, M247's many VPNs' users: left out
	// on purpose (see the file's header).
	for _, asn := range []uint32{15169, 13335, 9009, 0, 64500, 7922} {
		if l.IsHosting(asn) {
			t.Errorf("AS%d is listed", asn)
		}
	}
	if l.Len() != 15 {
		t.Errorf("Len() = %d", l.Len())
	}
	// Every built-in entry names its source: apply refuses one without, and
	// the raw file says so too.
	var f hostingFile
	if err := yaml.Unmarshal([]byte(hostingYAML), &f); err != nil {
		t.Fatal(err)
	}
	for _, e := range f.ASNs {
		if !strings.HasPrefix(e.Source, "https://") {
			t.Errorf("AS%d: source %q", e.ASN, e.Source)
		}
	}
}

func TestLoadHostingASNsExtends(t *testing.T) {
	dir := t.TempDir()
	ops := filepath.Join(dir, "hosting.yaml")
	writeFile(t, ops, `
asns:
  - asn: 24940
    operator: Hetzner Online
  - asn: 51167
    operator: Contabo
    source: https://www.peeringdb.com/asn/51167
  - asn: 8075
    disabled: true
`)
	more := filepath.Join(dir, "more.yaml")
	writeFile(t, more, "version: 2026-12-01\nasns:\n  - asn: 24940\n    operator: Hetzner\n")
	l, err := LoadHostingASNs(ops, more)
	if err != nil {
		t.Fatal(err)
	}
	if !l.IsHosting(24940) || l.Operator(24940) != "Hetzner" || !l.IsHosting(51167) || l.IsHosting(8075) || !l.IsHosting(16509) {
		t.Errorf("merged list wrong: %v", l.operators)
	}
	// The built-in list is not changed by an extension.
	builtIn, err := HostingASNs()
	if err != nil {
		t.Fatal(err)
	}
	if want := builtIn.Len() + 2 - 1; l.Len() != want {
		t.Errorf("Len() = %d, want %d (built-in %d, two added, one disabled)", l.Len(), want, builtIn.Len())
	}
	if !builtIn.IsHosting(8075) || builtIn.IsHosting(24940) || builtIn.IsHosting(51167) {
		t.Error("an extension changed the built-in list")
	}
}

func TestLoadHostingASNsRefuses(t *testing.T) {
	dir := t.TempDir()
	tests := map[string]string{
		"asns:\n  - asn: 64512\n    operator: Private\n":                            "AS64512): not a public autonomous system number",
		"asns:\n  - asn: 0\n    operator: Zero\n":                                   "not a public",
		"asns:\n  - asn: 4200000001\n    operator: Private\n":                       "not a public",
		"asns:\n  - asn: 23456\n    operator: AS_TRANS\n":                           "not a public",
		"asns:\n  - asn: 24940\n    operator: A\n  - asn: 24940\n    operator: B\n": "listed twice",
		"asns:\n  - asn: 24940\n":                                                   "no operator",
		"asns:\n  - asn: 24940\n    operator: A\n    source: peeringdb\n":           `source "peeringdb" is not a URL`,
		"asns:\n  - asn: 24940\n    operator: A\n    url: https://x\n":              "field url not found",
		"asns:\n  - asn: 1\n    disabled: true\n":                                   "disabled, but not listed",
		"asns:\n  - asn: -5\n    operator: A\n":                                     "cannot unmarshal",
		"version: yesterday\nasns:\n  - asn: 24940\n    operator: A\n":              `version "yesterday"`,
		"asns: []\n": "no entry",
	}
	i := 0
	for content, want := range tests {
		i++
		path := filepath.Join(dir, "f"+string(rune('a'+i))+".yaml")
		writeFile(t, path, content)
		_, err := LoadHostingASNs(path)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want %q", content, err, want)
		}
	}
	if _, err := LoadHostingASNs(filepath.Join(dir, "absent.yaml")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("absent file: %v", err)
	}
}

// TestHostingBuiltInRules: the rules the built-in list alone must meet.
func TestHostingBuiltInRules(t *testing.T) {
	l := &HostingList{operators: map[uint32]string{}}
	for content, want := range map[string]string{
		"asns:\n  - asn: 24940\n    operator: A\n    source: https://x\n":                                          `version ""`,
		"version: 2026-12-02\nasns:\n  - asn: 24940\n    operator: A\n":                                            "no source",
		"version: 2026-12-02\nasns:\n  - asn: 24940\n    operator: A\n    source: https://x\n    disabled: true\n": "disables nothing",
	} {
		if err := l.apply([]byte(content), true); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want %q", content, err, want)
		}
	}
}

func TestHostingNil(t *testing.T) {
	var l *HostingList
	if l.IsHosting(16509) || l.Operator(16509) != "" || l.Len() != 0 {
		t.Error("a nil list answered")
	}
}
