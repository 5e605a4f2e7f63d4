package clearance

// Status is the outcome of Verify. Its String is a stable reason code, meant
// for metric labels and log fields.
type Status uint8

// The outcomes of Verify. The zero Status is not one of them.
const (
	// Valid: a clearance we issued, unexpired, for this network and agent.
	Valid Status = iota + 1
	// Malformed: not our format, bad encoding, or too long.
	Malformed
	// UnknownKey: the key id is not in the key set (rotated out, or made up).
	UnknownKey
	// BadSignature: the MAC does not match; the cookie was tampered with or
	// forged.
	BadSignature
	// Expired: past its expiry, or issued further in the future than clock
	// skew explains.
	Expired
	// WrongNetwork: issued to another IPv4 /24 or IPv6 /64.
	WrongNetwork
	// WrongAgent: issued to another user agent.
	WrongAgent
)

// String returns the reason code: "valid", "malformed", "unknown_key",
// "bad_signature", "expired", "wrong_network", "wrong_agent", or "unknown"
// for a value that is none of them.
func (s Status) String() string {
	switch s {
	case Valid:
		return "valid"
	case Malformed:
		return "malformed"
	case UnknownKey:
		return "unknown_key"
	case BadSignature:
		return "bad_signature"
	case Expired:
		return "expired"
	case WrongNetwork:
		return "wrong_network"
	case WrongAgent:
		return "wrong_agent"
	}
	return "unknown"
}
