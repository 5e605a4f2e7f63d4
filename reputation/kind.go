package reputation

import "strconv"

// Kind is what a set says about its addresses. The kinds are fixed so that
// the score's features stay a fixed set: set names go to reasons and logs,
// never to the feature vector.
type Kind uint8

// The kinds of set. The zero Kind is invalid, so that a SetConfig whose kind
// was never set is refused rather than taken for one of these.
const (
	// Datacenter sets hold addresses of cloud and hosting providers (AWS,
	// Google Cloud, Azure, …): servers, not people's devices.
	Datacenter Kind = iota + 1
	// Tor sets hold Tor exit relays.
	Tor
	// Listed sets hold addresses the operator lists for its own reasons.
	Listed
)

// numKinds is the number of valid kinds; Match.Kinds has one bit per kind.
const numKinds = 3

// ParseKind returns the Kind named s: "datacenter", "tor" or "listed".
func ParseKind(s string) (Kind, bool) {
	for k := Datacenter; k <= Listed; k++ {
		if k.String() == s {
			return k, true
		}
	}
	return 0, false
}

// String returns the kind's name, or "kind(N)" for an invalid one.
func (k Kind) String() string {
	switch k {
	case Datacenter:
		return "datacenter"
	case Tor:
		return "tor"
	case Listed:
		return "listed"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

func (k Kind) valid() bool { return k >= Datacenter && k <= Listed }

// bit is k's bit in Match.Kinds: bit k-1. It is 0 for an invalid kind, so
// that Match.Has of an invalid kind is false.
func (k Kind) bit() uint8 {
	if !k.valid() {
		return 0
	}
	return 1 << (k - 1)
}
