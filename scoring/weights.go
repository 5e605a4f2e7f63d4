package scoring

import (
	"bytes"
	"fmt"

	"go.yaml.in/yaml/v3"
)

// maxWeight is the largest weight a signal can carry: with the highest base
// (99), a weight of 99 already drives the score to the floor.
const maxWeight = 99

// Weights gives each code the points it subtracts from the base score; 0
// disables the signal. It is indexed by Code; index 0 is unused.
type Weights [numCodes]int

// DefaultWeights returns the default weights, read from the embedded
// data/weights.yaml.
//
// It panics if that file is invalid: the file is compiled in and the
// package's tests parse it, so this is a build defect, never an input error.
func DefaultWeights() Weights {
	w, err := parseWeights(weightsYAML)
	if err != nil {
		panic(fmt.Sprintf("scoring: embedded data/weights.yaml: %v", err))
	}
	return w
}

// parseWeights reads a YAML mapping from reason code name to weight. Every
// code must be present exactly once, so a new code cannot ship without a
// default.
func parseWeights(data []byte) (Weights, error) {
	var raw map[string]int
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&raw); err != nil {
		return Weights{}, fmt.Errorf("parse weights: %w", err)
	}
	var w Weights
	var seen [numCodes]bool
	for name, v := range raw {
		c, ok := ParseCode(name)
		if !ok {
			return Weights{}, fmt.Errorf("parse weights: unknown reason code %q", name)
		}
		w[c], seen[c] = v, true
	}
	for c := Code(1); c < numCodes; c++ {
		if !seen[c] {
			return Weights{}, fmt.Errorf("parse weights: no weight for %s", c)
		}
	}
	if err := w.validate(); err != nil {
		return Weights{}, fmt.Errorf("parse weights: %w", err)
	}
	return w, nil
}

// validate checks that every weight is in 0..maxWeight. The bound also keeps
// the sum of all weights far from overflowing.
func (w *Weights) validate() error {
	for c := Code(1); c < numCodes; c++ {
		if w[c] < 0 || w[c] > maxWeight {
			return fmt.Errorf("weight %d for %s out of range 0-%d", w[c], c, maxWeight)
		}
	}
	return nil
}
