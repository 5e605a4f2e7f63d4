package crawler

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"reflect"
	"slices"
	"testing"

	"go.yaml.in/yaml/v3"
)

// FuzzParseRanges feeds arbitrary bytes to every range parser. Whatever
// parses must be non-empty, sorted, free of duplicates and canonical, and
// must parse back to the same prefixes once written out again.
func FuzzParseRanges(f *testing.F) {
	formats := Formats()
	d, err := Load()
	if err != nil {
		f.Fatal(err)
	}
	for _, l := range d.Ranges {
		data, ok := Snapshot(l)
		if !ok {
			f.Fatalf("no snapshot for %s", l.Name)
		}
		f.Add(uint8(slices.Index(formats, l.Format)), data)
	}
	plain := uint8(slices.Index(formats, "plain"))
	googleJSON := uint8(slices.Index(formats, "google-json"))
	for _, seed := range []string{
		"", "#\n", "192.0.2.1\r\n2001:db8::/32 # x\n", "::ffff:1.2.3.4\n", "fe80::1%eth0", "10.0.0.1/8\n10.0.0.0/8",
	} {
		f.Add(plain, []byte(seed))
	}
	for _, seed := range []string{
		`{"prefixes":[{"ipv4Prefix":"1.2.3.4"},{"ipv6Prefix":"::ffff:1.2.3.0/120"}]}`,
		`{"prefixes":[{"ipv4Prefix":1}]}`, `{"prefixes":{}}`, `[]`, `{"creationTime":"x","prefixes":[{}]}`,
	} {
		f.Add(googleJSON, []byte(seed))
	}
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		format := formats[int(which)%len(formats)]
		got, err := ParseRanges(format, data)
		CreationTime(format, data) // must not panic either
		if err != nil {
			return
		}
		if len(got) == 0 {
			t.Fatal("ParseRanges returned no prefix and no error")
		}
		for i, p := range got {
			if !p.IsValid() || p != p.Masked() || p.Addr().Is4In6() || p.Addr().Zone() != "" {
				t.Fatalf("prefix %v is not canonical", p)
			}
			if i > 0 && comparePrefixes(got[i-1], p) >= 0 {
				t.Fatalf("prefixes not sorted and unique at %d: %v, %v", i, got[i-1], p)
			}
		}
		again, err := ParseRanges(format, renderPrefixes(t, format, got))
		if err != nil {
			t.Fatalf("reparse of %v: %v", got, err)
		}
		if !slices.Equal(again, got) {
			t.Fatalf("reparse changed the prefixes: %v, then %v", got, again)
		}
	})
}

// renderPrefixes writes prefixes in the named format.
func renderPrefixes(t *testing.T, format string, prefixes []netip.Prefix) []byte {
	switch format {
	case "plain":
		var b bytes.Buffer
		for _, p := range prefixes {
			b.WriteString(p.String())
			b.WriteByte('\n')
		}
		return b.Bytes()
	case "google-json":
		type entry struct {
			IPv4 string `json:"ipv4Prefix,omitempty"`
			IPv6 string `json:"ipv6Prefix,omitempty"`
		}
		file := struct {
			Prefixes []entry `json:"prefixes"`
		}{}
		for _, p := range prefixes {
			if p.Addr().Is4() {
				file.Prefixes = append(file.Prefixes, entry{IPv4: p.String()})
			} else {
				file.Prefixes = append(file.Prefixes, entry{IPv6: p.String()})
			}
		}
		b, err := json.Marshal(file)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	t.Fatalf("no renderer for %s", format)
	return nil
}

// FuzzParseDirectory feeds arbitrary YAML to Parse. A directory that parses
// must parse back to the same value once written out again: what the
// parser normalizes (suffixes, origins) it normalizes once and for all.
func FuzzParseDirectory(f *testing.F) {
	builtin, err := embeddedData.ReadFile(embeddedDirectoryPath)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(builtin)
	f.Add([]byte(minimalDirectory))
	for _, seed := range []string{
		"",
		"version: 2026-12-02\ncrawlers: []\n",
		"version: 2026-12-02\ncrawlers:\n  - name: a\n    operator: b\n    category: other\n    verify: {web_bot_auth: ['https://A.example:443/']}\n    sources: [http://x.example]\n",
		"version: 2026-12-02\ncrawlers:\n  - &a {name: a}\n  - *a\n",
		"crawlers:\n  - name: x\n    disabled: true\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Parse(data)
		if err != nil {
			return
		}
		if len(d.Crawlers) == 0 {
			t.Fatal("a parsed directory has no crawler")
		}
		rendered := renderDirectory(t, d)
		again, err := Parse(rendered)
		if err != nil {
			t.Fatalf("reparse failed: %v\n%s", err, rendered)
		}
		if !reflect.DeepEqual(d, again) {
			t.Fatalf("reparse changed the directory:\n%+v\n%+v\n%s", d, again, rendered)
		}
	})
}

// renderDirectory writes a directory back in the file's schema.
func renderDirectory(t *testing.T, d *Directory) []byte {
	type verify struct {
		Ranges     []string `yaml:"ranges,omitempty"`
		RDNS       []string `yaml:"rdns,omitempty"`
		WebBotAuth []string `yaml:"web_bot_auth,omitempty"`
	}
	type crawler struct {
		Name     string   `yaml:"name"`
		Operator string   `yaml:"operator"`
		Category string   `yaml:"category"`
		Tokens   []string `yaml:"tokens,omitempty"`
		Verify   *verify  `yaml:"verify,omitempty"`
		Sources  []string `yaml:"sources"`
		Note     string   `yaml:"note,omitempty"`
	}
	type rangeList struct {
		Name           string `yaml:"name"`
		Format         string `yaml:"format"`
		URL            string `yaml:"url"`
		Snapshot       string `yaml:"snapshot,omitempty"`
		Retrieved      string `yaml:"retrieved,omitempty"`
		SnapshotSource string `yaml:"snapshot_source,omitempty"`
	}
	file := struct {
		Version  string      `yaml:"version"`
		Crawlers []crawler   `yaml:"crawlers"`
		Ranges   []rangeList `yaml:"ranges,omitempty"`
	}{Version: d.Version}
	for _, e := range d.Crawlers {
		c := crawler{Name: e.Name, Operator: e.Operator, Category: string(e.Category), Tokens: e.Tokens, Sources: e.Sources, Note: e.Note}
		if e.Verifiable() {
			c.Verify = &verify{Ranges: e.Ranges, RDNS: e.RDNS, WebBotAuth: e.WebBotAuth}
		}
		file.Crawlers = append(file.Crawlers, c)
	}
	for _, l := range d.Ranges {
		file.Ranges = append(file.Ranges, rangeList{Name: l.Name, Format: l.Format, URL: l.URL, Snapshot: l.Snapshot, Retrieved: l.Retrieved, SnapshotSource: l.SnapshotSource})
	}
	b, err := yaml.Marshal(file)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRenderDirectoryRoundTrip runs the fuzz property on the built-in file,
// so that a plain test run checks it too.
func TestRenderDirectoryRoundTrip(t *testing.T) {
	d := loadEmbedded(t)
	again, err := Parse(renderDirectory(t, d))
	if err != nil {
		t.Fatalf("reparse: %v", err)
	}
	if !reflect.DeepEqual(d, again) {
		t.Error("the built-in directory does not survive a write and reparse")
	}
}

// FuzzMatch checks the matcher against the slow obvious rule on any user
// agent: the longest token it contains, ignoring ASCII case, the leftmost
// among equally long ones.
func FuzzMatch(f *testing.F) {
	d, err := Load()
	if err != nil {
		f.Fatal(err)
	}
	m := newMatcher(d.Crawlers)
	for _, ua := range []string{benchChrome, benchGooglebot, "", "g", "GOOGLEBOT", "adidxbot bingbot", "Googlebot-Image Googlebot", "\xffbingbot\x00"} {
		f.Add(ua)
	}
	f.Fuzz(func(t *testing.T, ua string) {
		if got, want := matchName(d, m, ua), longestTokenMatch(d, ua); got != want {
			t.Errorf("match(%q) = %q, want %q", ua, got, want)
		}
	})
}
