package fcrdns

import "strings"

// matchSuffix returns the first name that equals one of suffixes or ends in
// "."+suffix, and whether there was one. The dot rule keeps
// "evilgooglebot.com" from matching "googlebot.com". It compares without
// building "."+suffix so that Verify's cache hit does not allocate; EqualFold
// tolerates a caller's upper-case suffix at no cost.
func matchSuffix(names, suffixes []string) (string, bool) {
	for _, name := range names {
		for _, suffix := range suffixes {
			if hasDomainSuffix(name, suffix) {
				return name, true
			}
		}
	}
	return "", false
}

// hasDomainSuffix reports whether name is suffix or a subdomain of it. An
// empty suffix matches nothing: stored names are never empty.
func hasDomainSuffix(name, suffix string) bool {
	if suffix == "" {
		return false
	}
	switch {
	case len(name) == len(suffix):
		return strings.EqualFold(name, suffix)
	case len(name) > len(suffix):
		cut := len(name) - len(suffix)
		return name[cut-1] == '.' && strings.EqualFold(name[cut:], suffix)
	default:
		return false
	}
}
