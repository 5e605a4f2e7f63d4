package reputation

import (
	"bytes"
	"errors"
	"fmt"
	"iter"
	"net/netip"
	"strings"
	"time"
)

// textLines yields each line's number (from 1) and its text with any
// comment (from a byte in comment on) and surrounding space removed; the
// \r of CRLF files goes with the space. Empty lines are skipped.
func textLines(data []byte, comment string) iter.Seq2[int, string] {
	return func(yield func(int, string) bool) {
		n := 0
		for line := range bytes.Lines(data) {
			n++
			if i := bytes.IndexAny(line, comment); i >= 0 {
				line = line[:i]
			}
			line = bytes.TrimSpace(line)
			if len(line) == 0 {
				continue
			}
			if !yield(n, string(line)) {
				return
			}
		}
	}
}

// parsePlain reads one address or CIDR prefix a line. '#' starts a comment,
// and so does ';', which Spamhaus's DROP lists use ("1.10.16.0/20 ; SBL…").
// Anything else on a line is an error: a list with a second column is not a
// plain list, and guessing which column counts would be wrong half the time.
func parsePlain(data []byte) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for n, line := range textLines(data, "#;") {
		p, err := parsePrefix(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// errTorPrefix refuses a prefix in a Tor list: the Tor Project lists relays
// by address, so a prefix means the file is something else.
var errTorPrefix = errors.New("a Tor exit list holds addresses, not prefixes")

// parseTor reads the Tor Project's exit lists: the bulk exit list (one
// address a line) and the exit-addresses file, whose records are
//
//	ExitNode <40 hex digits fingerprint>
//	Published <date> <time>
//	LastStatus <date> <time>
//	ExitAddress <address> <date> <time>
//
// Only ExitAddress lines carry addresses; the others are checked for shape,
// so that a file of another kind is refused rather than read as empty.
func parseTor(data []byte) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for n, line := range textLines(data, "#") {
		fields := strings.Fields(line)
		if len(fields) == 1 {
			if strings.Contains(fields[0], "/") {
				return nil, fmt.Errorf("line %d: %q: %w", n, clip(fields[0]), errTorPrefix)
			}
			a, err := parseAddr(fields[0])
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", n, err)
			}
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		a, err := parseExitAddressesLine(fields)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if a.IsValid() {
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	return out, nil
}

// parseExitAddressesLine checks one line of an exit-addresses file and
// returns its address (ExitAddress lines) or the zero Addr (the others).
func parseExitAddressesLine(fields []string) (netip.Addr, error) {
	keyword := fields[0]
	switch keyword {
	case "ExitNode":
		if len(fields) != 2 || !isFingerprint(fields[1]) {
			return netip.Addr{}, fmt.Errorf("ExitNode wants a 40-digit hex fingerprint, got %q", clip(strings.Join(fields[1:], " ")))
		}
		return netip.Addr{}, nil
	case "Published", "LastStatus":
		if len(fields) != 3 || !isTimestamp(fields[1], fields[2]) {
			return netip.Addr{}, fmt.Errorf("%s wants a date and a time, got %q", keyword, clip(strings.Join(fields[1:], " ")))
		}
		return netip.Addr{}, nil
	case "ExitAddress":
		if len(fields) != 4 || !isTimestamp(fields[2], fields[3]) {
			return netip.Addr{}, fmt.Errorf("ExitAddress wants an address, a date and a time, got %q", clip(strings.Join(fields[1:], " ")))
		}
		if strings.Contains(fields[1], "/") {
			return netip.Addr{}, fmt.Errorf("%q: %w", clip(fields[1]), errTorPrefix)
		}
		return parseAddr(fields[1])
	}
	return netip.Addr{}, fmt.Errorf("neither an address nor an exit-addresses keyword: %q", clip(keyword))
}

func isFingerprint(s string) bool {
	if len(s) != 40 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'F' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func isTimestamp(date, clock string) bool {
	_, err := time.Parse(time.DateTime, date+" "+clock)
	return err == nil
}
