package fcrdns

import "strconv"

// Verdict is what is known about an address against a set of suffixes.
type Verdict uint8

const (
	// Pending means a verification is running (started by this call or an
	// earlier one); ask again later.
	Pending Verdict = iota + 1
	// Verified means a forward-confirmed name ends in one of the suffixes.
	Verified
	// Failed is definitive: no PTR (NXDOMAIN / empty answer), or no
	// confirmed name ends in a suffix, or the forward lookup of the matching
	// names does not contain the address.
	Failed
	// Unknown means the last verification failed temporarily (timeout,
	// SERVFAIL, network), or MaxInFlight was reached: never definitive.
	Unknown
)

// String returns the verdict's name as used in logs and metrics labels.
func (v Verdict) String() string {
	switch v {
	case Pending:
		return "pending"
	case Verified:
		return "verified"
	case Failed:
		return "failed"
	case Unknown:
		return "unknown"
	default:
		return "Verdict(" + strconv.Itoa(int(v)) + ")"
	}
}
