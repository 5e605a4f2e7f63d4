package reputation

import (
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func parseFile(t *testing.T, format, name string) []netip.Prefix {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	prefixes, err := Parse(format, f)
	if err != nil {
		t.Fatalf("Parse(%s, %s): %v", format, name, err)
	}
	return prefixes
}

// TestParsePublishedFiles parses the real published files in testdata (see
// testdata/SOURCES.md). The expected counts come from an independent
// reading of the same files with Python's json and ipaddress modules
// (distinct networks, host bits cleared), not from this parser.
func TestParsePublishedFiles(t *testing.T) {
	tests := []struct {
		format, file  string
		total, v4, v6 int
		first, last   string
		contains      []string // addresses that must be covered
	}{
		{formatAWS, "aws-ip-ranges.json", 9066, 6850, 2216, "1.178.4.0/24", "2a05:d07f:e000::/40", []string{"3.5.140.1", "15.190.244.9"}},
		{formatGCP, "gcp-cloud.json", 782, 736, 46, "8.34.208.0/23", "2600:1901:81f0::/44", []string{"34.35.200.1", "34.1.208.5"}},
		{formatAzure, "azure-servicetags-excerpt.json", 955, 675, 280, "4.145.74.52/30", "2a01:111:f403:e201::/64", []string{"4.145.74.53", "2603:1000:4::10d"}},
		{formatTor, "torbulkexitlist", 1174, 1174, 0, "2.57.122.58/32", "217.160.88.146/32", []string{"185.241.208.232", "141.98.168.54"}},
		{formatTor, "tor-exit-addresses", 1174, 1174, 0, "2.57.122.58/32", "217.160.88.146/32", []string{"185.241.208.232", "141.98.168.54"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got := parseFile(t, tt.format, tt.file)
			v4 := 0
			for _, p := range got {
				if p.Addr().Is4() {
					v4++
				}
			}
			if len(got) != tt.total || v4 != tt.v4 || len(got)-v4 != tt.v6 {
				t.Errorf("got %d prefixes (%d IPv4, %d IPv6), want %d (%d, %d)", len(got), v4, len(got)-v4, tt.total, tt.v4, tt.v6)
			}
			if got[0].String() != tt.first || got[len(got)-1].String() != tt.last {
				t.Errorf("first %v, last %v; want %s, %s", got[0], got[len(got)-1], tt.first, tt.last)
			}
			assertCanonical(t, got)
			for _, s := range tt.contains {
				a := netip.MustParseAddr(s)
				if !slices.ContainsFunc(got, func(p netip.Prefix) bool { return p.Contains(a) }) {
					t.Errorf("%s is not covered", s)
				}
			}
		})
	}
}

// TestTorListsAgree: the bulk exit list and the exit-addresses file of the
// same day list the same relays, each in its own format.
func TestTorListsAgree(t *testing.T) {
	bulk := parseFile(t, formatTor, "torbulkexitlist")
	exits := parseFile(t, formatTor, "tor-exit-addresses")
	if !slices.Equal(bulk, exits) {
		t.Fatalf("the two Tor lists differ: %d and %d addresses", len(bulk), len(exits))
	}
}

func assertCanonical(t *testing.T, prefixes []netip.Prefix) {
	t.Helper()
	for i, p := range prefixes {
		if !p.IsValid() || p != p.Masked() || p.Addr().Is4In6() || p.Addr().Zone() != "" || p.Bits() == 0 {
			t.Fatalf("prefix %v is not canonical", p)
		}
		if i > 0 && comparePrefix(prefixes[i-1], p) >= 0 {
			t.Fatalf("not sorted and unique at %d: %v, %v", i, prefixes[i-1], p)
		}
	}
}

func TestParseEdgeCases(t *testing.T) {
	tests := []struct {
		name, format, data string
		want               []string // nil: wantErr
		wantErr            string
	}{
		// plain
		{"plain: comments, blanks, CRLF, BOM", formatPlain, "\xef\xbb\xbf# head\r\n10.0.0.0/8 # tail\r\n\r\n2001:db8::/32\r\n", []string{"10.0.0.0/8", "2001:db8::/32"}, ""},
		{"plain: Spamhaus ; comments", formatPlain, "; Spamhaus DROP\n1.10.16.0/20 ; SBL256894\n", []string{"1.10.16.0/20"}, ""},
		{"plain: addresses become host prefixes", formatPlain, "192.0.2.1\n2001:db8::1\n", []string{"192.0.2.1/32", "2001:db8::1/128"}, ""},
		{"plain: host bits cleared, duplicates merged", formatPlain, "10.1.2.3/8\n10.0.0.0/8\n", []string{"10.0.0.0/8"}, ""},
		{"plain: IPv4-mapped becomes IPv4", formatPlain, "::ffff:192.0.2.0/120\n::ffff:198.51.100.7\n", []string{"192.0.2.0/24", "198.51.100.7/32"}, ""},
		{"plain: sorted, IPv4 first", formatPlain, "2001:db8::/32\n10.0.0.0/8\n9.0.0.0/8\n", []string{"9.0.0.0/8", "10.0.0.0/8", "2001:db8::/32"}, ""},
		{"plain: second column", formatPlain, "10.0.0.0/8 cloud\n", nil, "line 1: bad prefix"},
		{"plain: bad line named", formatPlain, "10.0.0.0/8\n\n10.0.0.256\n", nil, "line 3: bad address \"10.0.0.256\""},
		{"plain: zone refused", formatPlain, "fe80::1%eth0\n", nil, "bad address"},
		{"plain: /0 refused", formatPlain, "0.0.0.0/0\n", nil, "covers every address"},
		{"plain: mapped too wide", formatPlain, "::ffff:0:0/80\n", nil, "wider than the IPv4-mapped range"},
		{"plain: only comments", formatPlain, "# nothing\n\n", nil, "has no prefix"},
		{"plain: empty", formatPlain, "", nil, "has no prefix"},
		// aws
		{"aws: both families", formatAWS, `{"syncToken":"1","prefixes":[{"ip_prefix":"3.5.140.0/22","service":"AMAZON"}],"ipv6_prefixes":[{"ipv6_prefix":"2600:1f18::/33"}]}`, []string{"3.5.140.0/22", "2600:1f18::/33"}, ""},
		{"aws: no ipv6_prefixes", formatAWS, `{"prefixes":[{"ip_prefix":"3.5.140.0/22"}]}`, []string{"3.5.140.0/22"}, ""},
		{"aws: duplicates across services", formatAWS, `{"prefixes":[{"ip_prefix":"3.5.140.0/22","service":"AMAZON"},{"ip_prefix":"3.5.140.0/22","service":"EC2"}]}`, []string{"3.5.140.0/22"}, ""},
		{"aws: no prefixes", formatAWS, `{"syncToken":"1"}`, nil, `no "prefixes" array`},
		{"aws: empty prefixes", formatAWS, `{"prefixes":[],"ipv6_prefixes":[]}`, nil, "has no prefix"},
		{"aws: element without ip_prefix", formatAWS, `{"prefixes":[{"ip_prefix":"3.5.140.0/22"},{"region":"x"}]}`, nil, "prefixes[1]: no ip_prefix"},
		{"aws: wrong family", formatAWS, `{"prefixes":[{"ip_prefix":"2600:1f18::/33"}]}`, nil, "prefixes[0].ip_prefix: \"2600:1f18::/33\" is not an IPv4 prefix"},
		{"aws: bad ipv6", formatAWS, `{"prefixes":[],"ipv6_prefixes":[{"ipv6_prefix":"2600:zz::/33"}]}`, nil, "ipv6_prefixes[0].ipv6_prefix: bad prefix"},
		{"aws: wrong type, with line", formatAWS, "{\n\"prefixes\": [\n{\"ip_prefix\": 3}]}", nil, "line 3: prefixes.ip_prefix: a JSON number where a string was expected"},
		{"aws: syntax error, with line", formatAWS, "{\n\"prefixes\": [\n{\"ip_prefix\": \"3.5.140.0/22\",}]}", nil, "line 3:"},
		{"aws: not an object", formatAWS, `[{"ip_prefix":"3.5.140.0/22"}]`, nil, "not a JSON object"},
		{"aws: trailing data", formatAWS, `{"prefixes":[{"ip_prefix":"3.5.140.0/22"}]} {}`, nil, "after top-level value"},
		// gcp
		{"gcp: both families", formatGCP, `{"creationTime":"x","prefixes":[{"ipv4Prefix":"34.1.208.0/20","scope":"africa-south1"},{"ipv6Prefix":"2600:1900:8000::/44"}]}`, []string{"34.1.208.0/20", "2600:1900:8000::/44"}, ""},
		{"gcp: both keys in one element", formatGCP, `{"prefixes":[{"ipv4Prefix":"34.1.208.0/20","ipv6Prefix":"2600:1900:8000::/44"}]}`, nil, "prefixes[0]: both"},
		{"gcp: neither key", formatGCP, `{"prefixes":[{"scope":"x"}]}`, nil, "prefixes[0]: neither"},
		{"gcp: null element", formatGCP, `{"prefixes":[null]}`, nil, "prefixes[0]: neither"},
		{"gcp: wrong family", formatGCP, `{"prefixes":[{"ipv6Prefix":"34.1.208.0/20"}]}`, nil, "prefixes[0].ipv6Prefix: \"34.1.208.0/20\" is not an IPv6 prefix"},
		{"gcp: prefixes not an array", formatGCP, `{"prefixes":{}}`, nil, "line 1: prefixes: a JSON object where an array was expected"},
		// azure
		{"azure: mixed families, empty tag", formatAzure, `{"changeNumber":1,"cloud":"Public","values":[{"name":"A","properties":{"addressPrefixes":["4.145.74.52/30","2603:1000:4::10c/126"]}},{"name":"B","properties":{"addressPrefixes":[]}}]}`, []string{"4.145.74.52/30", "2603:1000:4::10c/126"}, ""},
		{"azure: no values", formatAzure, `{"cloud":"Public"}`, nil, `no "values" array`},
		{"azure: no properties", formatAzure, `{"values":[{"name":"A"}]}`, nil, `values[0] ("A"): no properties`},
		{"azure: no addressPrefixes", formatAzure, `{"values":[{"name":"A","properties":{"region":""}}]}`, nil, `values[0] ("A"): no properties.addressPrefixes`},
		{"azure: bad prefix named", formatAzure, `{"values":[{"name":"A","properties":{"addressPrefixes":["4.145.74.52/30"]}},{"name":"B","properties":{"addressPrefixes":["1.2.3.4/33"]}}]}`, nil, `values[1] ("B").properties.addressPrefixes[0]: bad prefix "1.2.3.4/33"`},
		{"azure: null prefix", formatAzure, `{"values":[{"name":"A","properties":{"addressPrefixes":[null]}}]}`, nil, "addressPrefixes[0]: null"},
		// tor
		{"tor: bulk list", formatTor, "185.220.101.4\n2a0b:f4c2::1\n", []string{"185.220.101.4/32", "2a0b:f4c2::1/128"}, ""},
		{"tor: exit-addresses", formatTor, "ExitNode FE39F07EBE7870DCE124AB30DF3ABD0700A43F75\nPublished 2024-03-11 13:07:19\nLastStatus 2024-03-12 08:00:00\nExitAddress 185.241.208.232 2024-03-12 08:10:51\nExitAddress 185.241.208.233 2024-03-12 08:10:51\n", []string{"185.241.208.232/32", "185.241.208.233/32"}, ""},
		{"tor: both formats, CRLF", formatTor, "185.220.101.4\r\nExitAddress 185.220.101.5 2026-11-30 12:00:00\r\n", []string{"185.220.101.4/32", "185.220.101.5/32"}, ""},
		{"tor: prefix refused", formatTor, "185.220.101.0/24\n", nil, "line 1: \"185.220.101.0/24\": a Tor exit list holds addresses"},
		{"tor: ExitAddress prefix refused", formatTor, "ExitAddress 185.220.101.0/24 2026-11-30 12:00:00\n", nil, "holds addresses, not prefixes"},
		{"tor: ExitAddress without time", formatTor, "ExitAddress 185.220.101.5 2026-11-30\n", nil, "line 1: ExitAddress wants an address, a date and a time"},
		{"tor: ExitAddress bad date", formatTor, "ExitAddress 185.220.101.5 2026-13-30 12:00:00\n", nil, "ExitAddress wants"},
		{"tor: ExitAddress bad address", formatTor, "ExitAddress 185.220.101.500 2026-11-30 12:00:00\n", nil, "bad address"},
		{"tor: bad fingerprint", formatTor, "ExitNode XYZ\n", nil, "ExitNode wants a 40-digit hex fingerprint"},
		{"tor: unknown keyword", formatTor, "185.220.101.4\nRouter 185.220.101.5 9001\n", nil, "line 2: neither an address nor an exit-addresses keyword"},
		{"tor: records without addresses", formatTor, "ExitNode FE39F07EBE7870DCE124AB30DF3ABD0700A43F75\nPublished 2024-03-11 13:07:19\n", nil, "has no prefix"},
		{"tor: an HTML page", formatTor, "<html><body>Not found</body></html>\n", nil, "line 1:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.format, strings.NewReader(tt.data))
			if tt.want == nil {
				if err == nil {
					t.Fatalf("got %v, want an error containing %q", got, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %q does not contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var want []netip.Prefix
			for _, s := range tt.want {
				want = append(want, netip.MustParsePrefix(s))
			}
			if !slices.Equal(got, want) {
				t.Fatalf("got %v, want %v", got, want)
			}
		})
	}
}

func TestParseUnknownFormat(t *testing.T) {
	_, err := Parse("csv", strings.NewReader("10.0.0.0/8\n"))
	if err == nil || !strings.Contains(err.Error(), `unknown list format "csv"`) || !strings.Contains(err.Error(), "aws, azure, gcp, plain, tor") {
		t.Fatalf("got %v", err)
	}
}

// endless is a reader that never ends: Parse must stop reading at its bound.
type endless struct{ read int64 }

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = '#'
		if i%64 == 63 {
			p[i] = '\n'
		}
	}
	e.read += int64(len(p))
	return len(p), nil
}

func TestParseIsBounded(t *testing.T) {
	r := &endless{}
	_, err := Parse(formatPlain, r)
	if err == nil || !strings.Contains(err.Error(), "over 67108864 bytes") {
		t.Fatalf("got %v, want the size refused", err)
	}
	if r.read > MaxFileSize+64<<10 {
		t.Fatalf("read %d bytes for a bound of %d", r.read, MaxFileSize)
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestParseReadError(t *testing.T) {
	_, err := Parse(formatPlain, io.MultiReader(strings.NewReader("10.0.0.0/8\n"), failingReader{}))
	if err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("got %v", err)
	}
}

func TestKindNames(t *testing.T) {
	for _, k := range []Kind{Datacenter, Tor, Listed} {
		got, ok := ParseKind(k.String())
		if !ok || got != k {
			t.Errorf("ParseKind(%q) = %v, %v", k.String(), got, ok)
		}
	}
	if Datacenter.String() != "datacenter" || Tor.String() != "tor" || Listed.String() != "listed" {
		t.Errorf("names: %v %v %v", Datacenter, Tor, Listed)
	}
	for _, s := range []string{"", "Datacenter", "cloud", "kind(1)"} {
		if _, ok := ParseKind(s); ok {
			t.Errorf("ParseKind(%q) accepted", s)
		}
	}
	if Kind(0).String() != "kind(0)" || Kind(9).String() != "kind(9)" {
		t.Errorf("invalid kinds: %v %v", Kind(0), Kind(9))
	}
}
