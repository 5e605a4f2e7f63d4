package reputation

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
)

// MaxFileSize bounds one list file, in bytes. The largest list published
// today, Azure's Service Tags, is about 4 MiB; AWS's ip-ranges.json about
// 2 MiB. 64 MiB leaves an order of magnitude of growth and room for an
// operator's own lists (a million prefixes a line each), while a
// misdirected file (a disk image, a log) is refused before it costs memory.
const MaxFileSize = 64 << 20

// The list formats, as a SetConfig's Format names them.
const (
	// formatPlain is one address or CIDR prefix a line, '#' (or ';', as
	// Spamhaus's DROP lists write them) starting a comment.
	formatPlain = "plain"
	// formatAWS is AWS's ip-ranges.json:
	// https://docs.aws.amazon.com/vpc/latest/userguide/aws-ip-ranges.html
	formatAWS = "aws"
	// formatGCP is Google Cloud's cloud.json:
	// https://www.gstatic.com/ipranges/cloud.json
	formatGCP = "gcp"
	// formatAzure is Azure's Service Tags file, ServiceTags_Public_*.json:
	// https://www.microsoft.com/en-us/download/details.aspx?id=56519
	formatAzure = "azure"
	// formatTor is the Tor Project's bulk exit list
	// (https://check.torproject.org/torbulkexitlist) or its exit-addresses
	// file (https://check.torproject.org/exit-addresses).
	formatTor = "tor"
)

// parser parses a whole file. Its errors name the line (text formats) or
// the element (JSON formats) at fault.
type parser func(data []byte) ([]netip.Prefix, error)

// parserFor returns the named format's parser. A switch, not a map, so that
// the table of formats needs no package state.
func parserFor(format string) (parser, bool) {
	switch format {
	case formatPlain:
		return parsePlain, true
	case formatAWS:
		return parseAWS, true
	case formatGCP:
		return parseGCP, true
	case formatAzure:
		return parseAzure, true
	case formatTor:
		return parseTor, true
	}
	return nil, false
}

// Formats returns the format names Parse knows, sorted.
func Formats() []string {
	return []string{formatAWS, formatAzure, formatGCP, formatPlain, formatTor}
}

// Parse reads a list in the named format and returns its prefixes:
// canonical (host bits cleared, IPv4-mapped IPv6 turned into IPv4, single
// addresses as /32 or /128), sorted (IPv4 first) and without duplicates.
//
// It is strict: an unknown format, a malformed line or element, a file over
// MaxFileSize and a file without a single prefix are errors, each naming the
// line or element at fault. An empty result is an error because a reload
// must never replace a good set with nothing.
func Parse(format string, r io.Reader) ([]netip.Prefix, error) {
	if _, ok := parserFor(format); !ok {
		return nil, fmt.Errorf("reputation: %w", unknownFormat(format))
	}
	data, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("reputation: read %s list: %w", format, err)
	}
	prefixes, err := parseData(format, data)
	if err != nil {
		return nil, fmt.Errorf("reputation: %w", err)
	}
	return prefixes, nil
}

func unknownFormat(format string) error {
	return fmt.Errorf("unknown list format %q (known: %s)", clip(format), strings.Join(Formats(), ", "))
}

// parseData is Parse on data already read.
func parseData(format string, data []byte) ([]netip.Prefix, error) {
	parse, ok := parserFor(format)
	if !ok {
		return nil, unknownFormat(format)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%s list is over %d bytes", format, MaxFileSize)
	}
	// A byte-order mark is what Windows editors put first; it says nothing.
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	prefixes, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s list: %w", format, err)
	}
	if len(prefixes) == 0 {
		return nil, fmt.Errorf("%s list has no prefix", format)
	}
	return canonical(prefixes), nil
}

// canonical sorts prefixes and drops duplicates, in place.
func canonical(prefixes []netip.Prefix) []netip.Prefix {
	slices.SortFunc(prefixes, comparePrefix)
	return slices.Clip(slices.Compact(prefixes))
}

// comparePrefix orders IPv4 before IPv6, then by address, then shorter
// prefixes first: every supernet of a prefix sorts before it.
func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

// errWholeFamily refuses /0: a list that names every address is a broken
// list, and taking it would mark every client at once.
var errWholeFamily = errors.New("covers every address of its family")

// parsePrefix parses a CIDR prefix or a single address into a canonical
// prefix: host bits cleared (the network is what a list means), an
// IPv4-mapped IPv6 prefix turned into the IPv4 prefix it covers (a client's
// address is unmapped before it is looked up). Zones are refused: a list of
// public addresses has no business with link-local scopes.
func parsePrefix(s string) (netip.Prefix, error) {
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return netip.Prefix{}, fmt.Errorf("bad prefix %q", clip(s))
		}
	} else {
		a, err := parseAddr(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	if a := p.Addr(); a.Is4In6() {
		if p.Bits() < 96 {
			return netip.Prefix{}, fmt.Errorf("prefix %q is wider than the IPv4-mapped range", clip(s))
		}
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	if p.Bits() == 0 {
		return netip.Prefix{}, fmt.Errorf("prefix %q %w", clip(s), errWholeFamily)
	}
	return p.Masked(), nil
}

// parseAddr parses a single address, unmapped, without a zone.
func parseAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("bad address %q", clip(s))
	}
	return a.Unmap(), nil
}

// isIPv6Literal tells the family a prefix or address is written in, which
// JSON formats fix per key.
func isIPv6Literal(s string) bool { return strings.Contains(s, ":") }

// parseFamily parses the value of a key that holds one family only
// (ip_prefix, ipv6Prefix, …): a value of the other family means the file is
// not what it claims to be.
func parseFamily(s string, v6 bool) (netip.Prefix, error) {
	if isIPv6Literal(s) != v6 {
		want := "an IPv4"
		if v6 {
			want = "an IPv6"
		}
		return netip.Prefix{}, fmt.Errorf("%q is not %s prefix", clip(s), want)
	}
	return parsePrefix(s)
}

// clip keeps a quoted bad value short enough for a log line.
func clip(s string) string {
	const limit = 64
	if len(s) <= limit {
		return s
	}
	return s[:limit] + "…"
}
