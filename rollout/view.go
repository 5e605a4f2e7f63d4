package rollout

import (
	"crypto/sha256"
	"encoding/binary"

	"github.com/botauthz/botauthz/policy"
)

// Source says which layer decided a route's mode.
type Source uint8

// Sources, from strongest to weakest.
const (
	SourceKill        Source = iota + 1 // the kill switch
	SourceFileRoute                     // the override file's route setting
	SourceFileDefault                   // the override file's default setting
	SourceLiveRoute                     // the shared live state's route setting
	SourceLiveDefault                   // the shared live state's default setting
	SourcePolicy                        // the policy file (the route, else its default route)

	sourceEnd // one past the last source
)

// MaxSource is the last source: a table indexed by Source has MaxSource+1
// entries, and loops over the sources run from SourceKill to it.
const MaxSource = sourceEnd - 1

var sourceNames = [sourceEnd]string{
	SourceKill: "kill", SourceFileRoute: "override-file", SourceFileDefault: "override-file-default",
	SourceLiveRoute: "live", SourceLiveDefault: "live-default", SourcePolicy: "policy",
}

// String names the source for status output.
func (s Source) String() string {
	if int(s) < len(sourceNames) && sourceNames[s] != "" {
		return sourceNames[s]
	}
	return "unknown"
}

// Applied is the mode a route runs in right now.
type Applied struct {
	// Mode is off, shadow, canary, enforce, or bypass (kill switch only).
	Mode policy.Mode
	// Percent is the canary share with ModeCanary.
	Percent float64
	Source  Source
}

// View is the merged rollout state a replica decides with: the override
// file layered over the shared live state, layered over the policy file.
// It is immutable; the Controller swaps whole views.
type View struct {
	// Live is the shared state from the Store.
	Live State
	// File is the override file's state; nil when there is no file.
	File *State
	// FileError says why the override file was last rejected (the previous
	// good one stays in force); empty when it was fine.
	FileError string
}

// Kill returns the kill switch in force: the stronger of the override
// file's and the live state's (bypass > shadow > none). Unlike the mode
// overrides, the file does not replace the live kill switch: an emergency
// stop an SRE set in one layer must not be weakened by the other, so the
// file can only add to it.
func (v *View) Kill() Kill {
	if v.File != nil {
		return max(v.File.Kill, v.Live.Kill)
	}
	return v.Live.Kill
}

// Resolve returns the mode route runs in. Precedence: kill switch (the
// stronger of the file's and the live one, see Kill) > override file
// (route, then default) > live state (route, then default) > policy file
// route (which policy.Policy.Route already falls back to the default route
// for).
func (v *View) Resolve(route *policy.Route) Applied {
	switch v.Kill() {
	case KillBypass:
		return Applied{Mode: policy.ModeBypass, Source: SourceKill}
	case KillShadow:
		return Applied{Mode: policy.ModeShadow, Source: SourceKill}
	}
	if v.File != nil {
		if s, ok := v.File.Routes[route.Name]; ok {
			return Applied{Mode: s.Mode, Percent: s.Percent, Source: SourceFileRoute}
		}
		if s := v.File.Default; s != nil {
			return Applied{Mode: s.Mode, Percent: s.Percent, Source: SourceFileDefault}
		}
	}
	if s, ok := v.Live.Routes[route.Name]; ok {
		return Applied{Mode: s.Mode, Percent: s.Percent, Source: SourceLiveRoute}
	}
	if s := v.Live.Default; s != nil {
		return Applied{Mode: s.Mode, Percent: s.Percent, Source: SourceLiveDefault}
	}
	return Applied{Mode: route.Mode, Percent: route.CanaryPercent, Source: SourcePolicy}
}

// Canary picks the clients a canary enforces for. A client's bucket is a
// stable hash of the salt and its key, so every replica agrees on it and
// raising the percent only adds clients.
type Canary struct {
	salt string
}

// NewCanary returns a Canary keyed by salt.
func NewCanary(salt string) Canary { return Canary{salt: salt} }

// Bucket returns the client's position in [0, 100).
func (c Canary) Bucket(key string) float64 {
	// A stack buffer keeps the hot path free of allocations for ordinary
	// keys; a longer key only costs one.
	var buf [256]byte
	b := append(buf[:0], c.salt...)
	b = append(b, 0) // so that salt "a" + key "bc" differs from "ab" + "c"
	b = append(b, key...)
	sum := sha256.Sum256(b)
	// 53 bits fit a float64 exactly.
	return float64(binary.BigEndian.Uint64(sum[:8])>>11) / (1 << 53) * 100
}

// Enforced reports whether the client with key is inside a canary of
// percent.
func (c Canary) Enforced(key string, percent float64) bool {
	switch {
	case percent <= 0:
		return false
	case percent >= 100:
		return true
	}
	return c.Bucket(key) < percent
}
