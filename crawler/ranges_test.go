package crawler

import (
	"bytes"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

func mustPrefixes(t *testing.T, ss ...string) []netip.Prefix {
	t.Helper()
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

func TestParseRangesGoogleJSON(t *testing.T) {
	tests := []struct {
		name string
		data string
		want []string
	}{
		{
			name: "both families, sorted with IPv4 first",
			data: `{"creationTime": "2026-08-21T14:45:42.000000", "prefixes": [
				{"ipv6Prefix": "2001:4860:4801:10::/64"},
				{"ipv4Prefix": "66.249.66.0/27"},
				{"ipv4Prefix": "34.22.85.0/27"}]}`,
			want: []string{"34.22.85.0/27", "66.249.66.0/27", "2001:4860:4801:10::/64"},
		},
		{
			name: "single addresses become host prefixes",
			data: `{"prefixes": [{"ipv4Prefix": "104.43.54.127"}, {"ipv6Prefix": "2001:db8::1"}]}`,
			want: []string{"104.43.54.127/32", "2001:db8::1/128"},
		},
		{
			name: "duplicates collapse and host bits are cleared",
			data: `{"prefixes": [{"ipv4Prefix": "10.0.0.1/24"}, {"ipv4Prefix": "10.0.0.0/24"}, {"ipv4Prefix": "10.0.0.0/24"}]}`,
			want: []string{"10.0.0.0/24"},
		},
		{
			name: "IPv4-mapped IPv6 becomes IPv4",
			data: `{"prefixes": [{"ipv6Prefix": "::ffff:192.0.2.0/120"}]}`,
			want: []string{"192.0.2.0/24"},
		},
		{
			name: "leading blank line and unknown keys are fine (Perplexity's files start with a newline)",
			data: "\n{\"syncToken\": \"1\", \"prefixes\": [{\"ipv4Prefix\": \"18.97.9.96/29\", \"service\": \"x\"}]}\n",
			want: []string{"18.97.9.96/29"},
		},
		{
			name: "no creationTime (Ahrefs)",
			data: `{"prefixes": [{ "ipv4Prefix": "5.39.1.224/27" }]}`,
			want: []string{"5.39.1.224/27"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRanges("google-json", []byte(tt.data))
			if err != nil {
				t.Fatalf("ParseRanges: %v", err)
			}
			if want := mustPrefixes(t, tt.want...); !slices.Equal(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
}

func TestParseRangesGoogleJSONErrors(t *testing.T) {
	tests := []struct {
		name, data, want string
	}{
		{"empty file", "", "empty file"},
		{"blank file", "  \n\t", "empty file"},
		{"not an object", `[{"ipv4Prefix": "1.2.3.0/24"}]`, "not a JSON object"},
		{"no prefixes key", `{"creationTime": "2026-01-01T00:00:00"}`, `no "prefixes" array`},
		{"empty prefixes", `{"prefixes": []}`, "has no prefix"},
		{"null prefixes", `{"prefixes": null}`, `no "prefixes" array`},
		{"syntax error names the line", "{\n\"prefixes\": [\n{\"ipv4Prefix\": \"1.2.3.0/24\"},,\n]}", "line 3"},
		{"number instead of string names the line", "{\"prefixes\": [\n{\"ipv4Prefix\": 42}]}", "line 2: prefixes.ipv4Prefix: a JSON number"},
		{"string instead of an element", "{\"prefixes\": [\"192.0.2.0/24\"]}", "prefixes: a JSON string where an object was expected"},
		{"prefixes not a list", "{\n\"prefixes\": {}}", "line 2: prefixes: a JSON object where a list was expected"},
		{"element neither key", `{"prefixes": [{"ipv4Prefix": "1.2.3.0/24"}, {"cidr": "1.2.3.0/24"}]}`, "prefixes[1]: neither ipv4Prefix nor ipv6Prefix"},
		{"element both keys", `{"prefixes": [{"ipv4Prefix": "1.2.3.0/24", "ipv6Prefix": "2001:db8::/32"}]}`, "both ipv4Prefix and ipv6Prefix"},
		{"IPv6 under ipv4Prefix", `{"prefixes": [{"ipv4Prefix": "2001:db8::/32"}]}`, "is not IPv4"},
		{"IPv4 under ipv6Prefix", `{"prefixes": [{"ipv6Prefix": "1.2.3.0/24"}]}`, "is not IPv6"},
		{"bad prefix", `{"prefixes": [{"ipv4Prefix": "1.2.3.0/33"}]}`, `prefixes[0].ipv4Prefix: bad prefix "1.2.3.0/33"`},
		{"bad address", `{"prefixes": [{"ipv4Prefix": "1.2.3"}]}`, `bad address "1.2.3"`},
		{"trailing garbage", `{"prefixes": [{"ipv4Prefix": "1.2.3.0/24"}]} x`, "invalid character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRanges("google-json", []byte(tt.data))
			if err == nil {
				t.Fatalf("ParseRanges = %v, want an error containing %q", got, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestParseRangesPlain(t *testing.T) {
	data := "# UptimeRobot-style list\r\n" +
		"216.144.250.150\r\n" +
		"\r\n" +
		"  69.162.124.224/28   # a comment after the prefix\r\n" +
		"2607:ff68:107::/48\n" +
		"2a01:4ff:f0:abcd::1\n" +
		"216.144.250.150\n" + // a duplicate
		"   \n" +
		"::ffff:198.51.100.7" // last line without a newline, IPv4-mapped
	got, err := ParseRanges("plain", []byte(data))
	if err != nil {
		t.Fatalf("ParseRanges: %v", err)
	}
	want := mustPrefixes(t, "69.162.124.224/28", "198.51.100.7/32", "216.144.250.150/32", "2607:ff68:107::/48", "2a01:4ff:f0:abcd::1/128")
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestParseRangesPlainErrors(t *testing.T) {
	tests := []struct {
		name, data, want string
	}{
		{"empty", "", "has no prefix"},
		{"only comments and blanks", "# nothing\n\n   # still nothing\r\n", "has no prefix"},
		{"bad line names its number", "192.0.2.1\n# ok\n192.0.2.300\n", `line 3: bad address "192.0.2.300"`},
		{"two values on a line", "192.0.2.0/24 198.51.100.0/24\n", "line 1: bad prefix"},
		{"zoned address", "fe80::1%eth0\n", `line 1: bad address "fe80::1%eth0"`},
		{"hostname", "crawl.example.com\n", "line 1: bad address"},
		{"mapped prefix wider than the mapped range", "::ffff:0.0.0.0/80\n", "wider than the IPv4-mapped range"},
		{"CRLF file reports the right line", "192.0.2.1\r\n\r\nnope\r\n", "line 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRanges("plain", []byte(tt.data))
			if err == nil {
				t.Fatalf("ParseRanges = %v, want an error containing %q", got, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestParseRangesRefusesUnknownFormat(t *testing.T) {
	_, err := ParseRanges("xml", []byte("192.0.2.0/24"))
	if err == nil || !strings.Contains(err.Error(), `unknown range format "xml"`) {
		t.Fatalf("error = %v, want unknown range format", err)
	}
}

func TestParseRangesRefusesHugeFiles(t *testing.T) {
	// A file one byte over the limit, made of valid lines: only the size
	// can be the reason it is refused.
	line := []byte("192.0.2.0/24\n")
	data := bytes.Repeat(line, MaxRangeFileSize/len(line)+1)[:MaxRangeFileSize+1]
	for _, format := range Formats() {
		_, err := ParseRanges(format, data)
		if err == nil || !strings.Contains(err.Error(), "over the limit") {
			t.Errorf("%s: error = %v, want over the limit", format, err)
		}
		if _, ok := CreationTime(format, data); ok {
			t.Errorf("%s: CreationTime of an oversized file reported a time", format)
		}
	}
	// Exactly at the limit is parsed.
	atLimit := bytes.Repeat(line, MaxRangeFileSize/len(line))
	got, err := ParseRanges("plain", atLimit)
	if err != nil || len(got) != 1 {
		t.Errorf("ParseRanges at the limit = %d prefixes, %v; want 1 prefix", len(got), err)
	}
}

func TestCreationTime(t *testing.T) {
	tests := []struct {
		name, format, data string
		want               time.Time
		ok                 bool
	}{
		{"Google's zoneless microseconds", "google-json", `{"creationTime": "2026-08-21T14:45:42.000000", "prefixes": []}`,
			time.Date(2026, 8, 21, 14, 45, 42, 0, time.UTC), true},
		{"OpenAI's fractional seconds", "google-json", `{"creationTime": "2026-04-29T21:03:15.207621"}`,
			time.Date(2026, 4, 29, 21, 3, 15, 207621000, time.UTC), true},
		{"Anthropic's RFC 3339", "google-json", `{"creationTime": "2026-10-07T00:00:00Z"}`,
			time.Date(2026, 10, 7, 0, 0, 0, 0, time.UTC), true},
		{"zone offset converted to UTC", "google-json", `{"creationTime": "2026-10-07T02:00:00+02:00"}`,
			time.Date(2026, 10, 7, 0, 0, 0, 0, time.UTC), true},
		{"absent", "google-json", `{"prefixes": [{"ipv4Prefix": "192.0.2.0/24"}]}`, time.Time{}, false},
		{"not a time", "google-json", `{"creationTime": "yesterday"}`, time.Time{}, false},
		{"not a string", "google-json", `{"creationTime": 1700000000}`, time.Time{}, false},
		{"broken file", "google-json", `{"creationTime": "2026-10-07T00:00:00Z"`, time.Time{}, false},
		{"plain carries none", "plain", "# 2026-10-07\n192.0.2.0/24\n", time.Time{}, false},
		{"unknown format", "xml", `{"creationTime": "2026-10-07T00:00:00Z"}`, time.Time{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := CreationTime(tt.format, []byte(tt.data))
			if ok != tt.ok || !got.Equal(tt.want) {
				t.Errorf("CreationTime = %v, %v; want %v, %v", got, ok, tt.want, tt.ok)
			}
			if ok && got.Location() != time.UTC {
				t.Errorf("location = %v, want UTC", got.Location())
			}
		})
	}
}

func TestFormatsAreAllParsers(t *testing.T) {
	formats := Formats()
	if len(formats) == 0 {
		t.Fatal("no formats")
	}
	if !slices.IsSorted(formats) {
		t.Errorf("Formats() = %v, want sorted", formats)
	}
	for _, f := range formats {
		if _, ok := rangeFormatByName(f); !ok {
			t.Errorf("format %q has no parser", f)
		}
	}
	formats[0] = "mutated"
	if Formats()[0] == "mutated" {
		t.Error("Formats returns shared state")
	}
}

// BenchmarkParseRanges measures a refresh's parse of Google's common-crawlers
// list, one of the larger lists the directory ships (315 prefixes, 21 KiB).
func BenchmarkParseRanges(b *testing.B) {
	data, ok := Snapshot(RangeList{Snapshot: "ranges/google-common-crawlers.json"})
	if !ok {
		b.Fatal("no snapshot")
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseRanges("google-json", data); err != nil {
			b.Fatal(err)
		}
	}
}
