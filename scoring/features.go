package scoring

import (
	"fmt"
	"math/bits"
	"strings"
)

// Features is the model's feature vector for one request: every feature is
// 0 or 1, so the vector is the set of feature codes that fired (FeatureSet
// says which codes are features). Velocity and clearance are features too;
// the certainty rules' signals are not.
type Features uint64

// Has reports whether feature c fired.
func (f Features) Has(c Code) bool { return c.valid() && signals(f).has(c) }

// Len is the number of features that fired.
func (f Features) Len() int { return bits.OnesCount64(uint64(f)) }

// AppendNames appends the fired features' codes, comma-separated in Code
// order ("accept.missing,protocol.http1"), to dst.
func (f Features) AppendNames(dst []byte) []byte {
	first := true
	for s := uint64(f); s != 0; s &= s - 1 {
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, codeNames[bits.TrailingZeros64(s)]...)
	}
	return dst
}

// String is AppendNames' text.
func (f Features) String() string { return string(f.AppendNames(nil)) }

// ParseFeatures reads AppendNames' text back. Every name must be a model
// feature of this build's FeatureSet.
func ParseFeatures(s string) (Features, error) {
	var f Features
	if s == "" {
		return 0, nil
	}
	for name := range strings.SplitSeq(s, ",") {
		c, ok := ParseCode(name)
		if !ok || !IsFeature(c) {
			return 0, fmt.Errorf("scoring: %q is not a feature of feature set %d", name, FeatureSet)
		}
		f |= 1 << c
	}
	return f, nil
}

// FeatureCodes returns the model's features in Code order.
func FeatureCodes() []Code {
	var out []Code
	for c := Code(1); c < numCodes; c++ {
		if IsFeature(c) {
			out = append(out, c)
		}
	}
	return out
}
