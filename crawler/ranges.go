package crawler

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"time"
)

// MaxRangeFileSize bounds a published IP range file, in bytes. The largest
// crawler list operators publish today (Google's user-triggered fetchers) is
// about 75 KiB; 16 MiB leaves two orders of magnitude of growth while keeping
// a misdirected download (an HTML error page, a whole cloud's address plan)
// from costing more than a fraction of a second to reject.
const MaxRangeFileSize = 16 << 20

// The range file formats. Each name is what a directory's ranges[].format
// says; rangeFormatByName is the one place that maps a name to its parser.
const (
	// formatGoogleJSON is Google's {"creationTime": …, "prefixes": [{"ipv4Prefix": …},
	// {"ipv6Prefix": …}]} layout, which Bing, OpenAI, Apple, Perplexity,
	// DuckDuckGo, Anthropic and Ahrefs publish too (Ahrefs without creationTime).
	// See https://developers.google.com/crawling/docs/crawlers-fetchers/verifying-googlebot.
	formatGoogleJSON = "google-json"
	// formatPlain is one address or CIDR prefix a line, as Better Stack serves
	// https://uptime.betterstack.com/ips.txt.
	formatPlain = "plain"
)

// rangeFormat describes one published range file layout.
type rangeFormat struct {
	parse func(data []byte) ([]netip.Prefix, error)
	// creationTime reports the file's own publication time; nil when the
	// layout carries none.
	creationTime func(data []byte) (time.Time, bool)
}

// rangeFormatByName returns the layout named name. It is a switch, not a
// map, so that the table needs no package state.
func rangeFormatByName(name string) (rangeFormat, bool) {
	switch name {
	case formatGoogleJSON:
		return rangeFormat{parse: parseGoogleJSONRanges, creationTime: googleJSONCreationTime}, true
	case formatPlain:
		return rangeFormat{parse: parsePlainRanges}, true
	}
	return rangeFormat{}, false
}

// Formats returns the known format names, sorted.
func Formats() []string {
	return []string{formatGoogleJSON, formatPlain}
}

// ParseRanges parses a published IP range file in the named format into
// prefixes (addresses become /32 or /128), deduplicated and sorted (IPv4
// first). IPv4-mapped IPv6 prefixes become IPv4 prefixes, and host bits are
// cleared. An unknown format, a malformed file or a file with no prefix at all
// is an error: a refresh must never replace a good list with an empty one.
func ParseRanges(format string, data []byte) ([]netip.Prefix, error) {
	f, ok := rangeFormatByName(format)
	if !ok {
		return nil, fmt.Errorf("crawler: unknown range format %q (known: %s)", format, strings.Join(Formats(), ", "))
	}
	if len(data) > MaxRangeFileSize {
		return nil, fmt.Errorf("crawler: %s range file of %d bytes is over the limit of %d", format, len(data), MaxRangeFileSize)
	}
	prefixes, err := f.parse(data)
	if err != nil {
		return nil, fmt.Errorf("crawler: %s range file: %w", format, err)
	}
	if len(prefixes) == 0 {
		return nil, fmt.Errorf("crawler: %s range file has no prefix", format)
	}
	slices.SortFunc(prefixes, comparePrefixes)
	return slices.Compact(prefixes), nil
}

// CreationTime returns the publication time a range file states about itself
// (google-json's creationTime), for the snapshot-age metric. It reports false
// when the format carries no such time, the file lacks it, or it does not
// parse. A time without a zone is taken as UTC, as Google, Bing and OpenAI
// publish them.
func CreationTime(format string, data []byte) (time.Time, bool) {
	f, ok := rangeFormatByName(format)
	if !ok || f.creationTime == nil || len(data) > MaxRangeFileSize {
		return time.Time{}, false
	}
	return f.creationTime(data)
}

func comparePrefixes(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

// googleJSONFile is the part of a google-json file the parser reads. Other
// top-level keys (Google's cloud.json has syncToken) are ignored.
type googleJSONFile struct {
	CreationTime *string           `json:"creationTime"`
	Prefixes     []googleJSONEntry `json:"prefixes"`
}

// googleJSONEntry is one element of prefixes. Pointers tell a missing key
// from an empty string.
type googleJSONEntry struct {
	IPv4 *string `json:"ipv4Prefix"`
	IPv6 *string `json:"ipv6Prefix"`
}

func parseGoogleJSONRanges(data []byte) ([]netip.Prefix, error) {
	file, err := decodeGoogleJSON(data)
	if err != nil {
		return nil, err
	}
	if file.Prefixes == nil {
		return nil, errors.New(`no "prefixes" array`)
	}
	out := make([]netip.Prefix, 0, len(file.Prefixes))
	for i, e := range file.Prefixes {
		switch {
		case e.IPv4 != nil && e.IPv6 != nil:
			return nil, fmt.Errorf("prefixes[%d]: both ipv4Prefix and ipv6Prefix", i)
		case e.IPv4 != nil:
			p, err := parseFamilyPrefix(*e.IPv4, false)
			if err != nil {
				return nil, fmt.Errorf("prefixes[%d].ipv4Prefix: %w", i, err)
			}
			out = append(out, p)
		case e.IPv6 != nil:
			p, err := parseFamilyPrefix(*e.IPv6, true)
			if err != nil {
				return nil, fmt.Errorf("prefixes[%d].ipv6Prefix: %w", i, err)
			}
			out = append(out, p)
		default:
			return nil, fmt.Errorf("prefixes[%d]: neither ipv4Prefix nor ipv6Prefix", i)
		}
	}
	return out, nil
}

// parseFamilyPrefix parses the value of an ipv4Prefix (v6 false) or
// ipv6Prefix (v6 true) key, refusing a literal of the other family: a file
// that mixes them up is malformed, whatever the addresses mean. The family is
// judged by the literal as written, so an IPv4-mapped IPv6 prefix belongs
// under ipv6Prefix (and still becomes an IPv4 prefix).
func parseFamilyPrefix(s string, v6 bool) (netip.Prefix, error) {
	if strings.Contains(s, ":") != v6 {
		want := "IPv4"
		if v6 {
			want = "IPv6"
		}
		return netip.Prefix{}, fmt.Errorf("%q is not %s", clipValue(s), want)
	}
	return parsePrefixOrAddr(s)
}

func decodeGoogleJSON(data []byte) (googleJSONFile, error) {
	var file googleJSONFile
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return file, errors.New("empty file")
	}
	if trimmed[0] != '{' {
		return file, errors.New("not a JSON object")
	}
	if err := json.Unmarshal(data, &file); err != nil {
		return file, withJSONLine(data, err)
	}
	return file, nil
}

func googleJSONCreationTime(data []byte) (time.Time, bool) {
	file, err := decodeGoogleJSON(data)
	if err != nil || file.CreationTime == nil {
		return time.Time{}, false
	}
	return parseCreationTime(*file.CreationTime)
}

// parseCreationTime accepts the spellings the operators use: RFC 3339 with a
// zone (Anthropic: 2026-10-07T00:00:00Z) and a zoneless time with up to
// nanoseconds (Google: 2026-08-21T14:45:42.000000, OpenAI and Bing: six
// fractional digits).
func parseCreationTime(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

func parsePlainRanges(data []byte) ([]netip.Prefix, error) {
	var out []netip.Prefix
	line := 0
	for len(data) > 0 {
		line++
		var text []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			text, data = data[:i], data[i+1:]
		} else {
			text, data = data, nil
		}
		if i := bytes.IndexByte(text, '#'); i >= 0 {
			text = text[:i]
		}
		// TrimSpace also drops the \r of CRLF files.
		text = bytes.TrimSpace(text)
		if len(text) == 0 {
			continue
		}
		p, err := parsePrefixOrAddr(string(text))
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// parsePrefixOrAddr parses a CIDR prefix or a single address (a /32 or
// /128), clears host bits and turns an IPv4-mapped IPv6 prefix into the IPv4
// prefix it covers, so that a lookup of the client's (unmapped) address finds
// it.
func parsePrefixOrAddr(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return netip.Prefix{}, fmt.Errorf("bad prefix %q", clipValue(s))
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("bad address %q", clipValue(s))
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if a := p.Addr(); a.Is4In6() {
		if p.Bits() < 96 {
			return netip.Prefix{}, fmt.Errorf("prefix %q is wider than the IPv4-mapped range", clipValue(s))
		}
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

// withJSONLine adds the line of a syntax or type error, which
// encoding/json reports only as a byte offset.
func withJSONLine(data []byte, err error) error {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return fmt.Errorf("line %d: %s", jsonLineAt(data, syn.Offset), syn.Error())
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		return fmt.Errorf("line %d: %s", jsonLineAt(data, typ.Offset), plainJSONError(err))
	}
	return err
}

// plainJSONError says what was wrong without the Go type names
// encoding/json puts in its messages.
func plainJSONError(err error) error {
	var typ *json.UnmarshalTypeError
	if !errors.As(err, &typ) {
		return err
	}
	field := typ.Field
	if field == "" {
		field = "file"
	}
	want := "another type"
	if typ.Type != nil {
		switch typ.Type.Kind() {
		case reflect.String:
			want = "a string"
		case reflect.Struct:
			want = "an object"
		case reflect.Slice:
			want = "a list"
		}
	}
	return fmt.Errorf("%s: a JSON %s where %s was expected", field, typ.Value, want)
}

func jsonLineAt(data []byte, offset int64) int {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	if offset < 0 {
		offset = 0
	}
	return bytes.Count(data[:offset], []byte{'\n'}) + 1
}

// clipValue keeps a quoted bad value short enough for a log line.
func clipValue(s string) string {
	const limit = 64
	if len(s) <= limit {
		return s
	}
	return s[:limit] + "…"
}
