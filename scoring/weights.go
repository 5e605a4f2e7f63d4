package scoring

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// FeatureSet is the version of the feature vector: which codes are model
// features and what each means. A weights file trained for another feature
// set is refused. Bump it when a feature is added, removed or changes
// meaning, and retrain. Set 2 added tls.mismatch and tls.library; set 3
// the network reputation features ip.datacenter, ip.tor, ip.listed and
// asn.hosting; set 4 the history features history.denied,
// history.ratelimited, history.challenge_failed, session.many_networks and
// session.not_kept.
const FeatureSet = 4

// MaxWeight bounds a feature's weight and the bias, in log-odds: e^12 is
// odds of 160,000 to 1, past anything a corpus can support, and the bound
// keeps every sum far from overflowing.
const MaxWeight = 12.0

// modelFeatures are the codes the model weighs: every code that is not a
// certainty rule's. The rules decide first, so the model never needs them.
const modelFeatures = (1<<numCodes - 2) &^ (declaredSignals | contradictionSignals | impersonationSignals | unverifiedSignals)

// IsFeature reports whether c is one of the model's features (a weight can
// be set for it), rather than a certainty rule's signal.
func IsFeature(c Code) bool { return c.valid() && signals(modelFeatures).has(c) }

// Weights are the logistic model's parameters: the log-odds that a request
// is a human's before any feature (Bias), and each feature's weight in
// log-odds, negative towards automated. Index 0 and the certainty rules'
// codes are always 0.
type Weights struct {
	// Model names this set of weights: "lr-" and the first 8 hex digits of
	// the SHA-256 of the weights file's body, so equal weights have equal
	// names.
	Model string
	// Bias is the log-odds of a human when no feature fires.
	Bias float64
	// PriorHuman is the share of people among the requests the model
	// decides that the bias assumes (the base rate its probabilities are
	// calibrated at); 0 when the file does not say.
	PriorHuman float64
	w          [numCodes]float64
}

// Of returns c's weight; 0 for a code that is not a feature.
func (w *Weights) Of(c Code) float64 {
	if !IsFeature(c) {
		return 0
	}
	return w.w[c]
}

// Set sets c's weight. It refuses a code that is not a feature and a value
// that is not finite or beyond ±MaxWeight.
func (w *Weights) Set(c Code, v float64) error {
	if !IsFeature(c) {
		return fmt.Errorf("%s is not a model feature", c)
	}
	if err := checkWeight(v); err != nil {
		return fmt.Errorf("weight of %s: %w", c, err)
	}
	w.w[c] = v
	return nil
}

func checkWeight(v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < -MaxWeight || v > MaxWeight {
		return fmt.Errorf("%v out of range ±%v", v, MaxWeight)
	}
	return nil
}

// modelFile is the shape of data/model.yaml.
type modelFile struct {
	Model      string             `yaml:"model"`
	FeatureSet int                `yaml:"feature_set"`
	PriorHuman float64            `yaml:"prior_human"`
	Bias       float64            `yaml:"bias"`
	Weights    map[string]float64 `yaml:"weights"`
	// Training says how the weights were made, for people; the scorer
	// does not read it.
	Training map[string]any `yaml:"training"`
}

// DefaultWeights returns the shipped weights, read from the embedded
// data/model.yaml.
//
// It panics if that file is invalid: the file is compiled in and the
// package's tests parse it, so this is a build defect, never an input error.
func DefaultWeights() Weights {
	w, err := ParseWeights(modelYAML)
	if err != nil {
		panic(fmt.Sprintf("scoring: embedded data/model.yaml: %v", err))
	}
	return w
}

// ParseWeights reads a weights file as cmd/bottrain writes it. Every model
// feature must have a weight, the feature set must be this build's, and the
// model name must match the body, so a hand-edited file says so.
func ParseWeights(data []byte) (Weights, error) {
	var f modelFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return Weights{}, fmt.Errorf("parse weights: %w", err)
	}
	if f.FeatureSet != FeatureSet {
		return Weights{}, fmt.Errorf("parse weights: feature set %d, this build scores feature set %d: retrain", f.FeatureSet, FeatureSet)
	}
	w := Weights{Model: f.Model, Bias: f.Bias, PriorHuman: f.PriorHuman}
	if err := checkWeight(f.Bias); err != nil {
		return Weights{}, fmt.Errorf("parse weights: bias: %w", err)
	}
	if f.PriorHuman < 0 || f.PriorHuman >= 1 {
		return Weights{}, fmt.Errorf("parse weights: prior_human %v out of range [0, 1)", f.PriorHuman)
	}
	for name, v := range f.Weights {
		c, ok := ParseCode(name)
		if !ok {
			return Weights{}, fmt.Errorf("parse weights: unknown feature %q", name)
		}
		if err := w.Set(c, v); err != nil {
			return Weights{}, fmt.Errorf("parse weights: %w", err)
		}
	}
	for c := Code(1); c < numCodes; c++ {
		if _, ok := f.Weights[c.String()]; IsFeature(c) && !ok {
			return Weights{}, fmt.Errorf("parse weights: no weight for %s", c)
		}
	}
	if want := w.name(); f.Model != want {
		return Weights{}, fmt.Errorf("parse weights: model %q does not name these weights (%q): regenerate the file with cmd/bottrain", f.Model, want)
	}
	return w, nil
}

// Encode writes w as a weights file: header (comment lines, each starting
// with "# "), then model, feature set, bias and every feature's weight in
// Code order with four decimals, then training (free-form notes, written in
// key order). The output depends on nothing but its arguments.
func (w *Weights) Encode(header []string, training map[string]any) ([]byte, error) {
	var b bytes.Buffer
	for _, l := range header {
		b.WriteString("# " + l + "\n")
	}
	b.WriteString("model: " + w.name() + "\n")
	b.Write(w.body())
	if len(training) > 0 {
		t, err := yaml.Marshal(map[string]any{"training": training})
		if err != nil {
			return nil, fmt.Errorf("encode weights: %w", err)
		}
		b.Write(t)
	}
	return b.Bytes(), nil
}

// body is the part of the file the model name is the hash of.
func (w *Weights) body() []byte {
	var b []byte
	b = append(b, "feature_set: "...)
	b = strconv.AppendInt(b, FeatureSet, 10)
	if w.PriorHuman > 0 {
		b = append(b, "\nprior_human: "...)
		b = appendWeight(b, w.PriorHuman)
	}
	b = append(b, "\nbias: "...)
	b = appendWeight(b, w.Bias)
	b = append(b, "\nweights:\n"...)
	for c := Code(1); c < numCodes; c++ {
		if !IsFeature(c) {
			continue
		}
		b = append(b, "  "...)
		b = append(b, codeNames[c]...)
		b = append(b, ": "...)
		b = appendWeight(b, w.w[c])
		b = append(b, '\n')
	}
	return b
}

// appendWeight writes v with four decimals: finer than any corpus supports,
// and coarse enough that the last bits of a platform's exp() never show.
func appendWeight(b []byte, v float64) []byte {
	v = math.Round(v*1e4) / 1e4
	if v == 0 {
		v = 0 // no "-0.0000"
	}
	return strconv.AppendFloat(b, v, 'f', 4, 64)
}

// name is "lr-" and the first 8 hex digits of the SHA-256 of the body, with
// every weight rounded as the file writes it.
func (w *Weights) name() string {
	sum := sha256.Sum256(w.body())
	return "lr-" + hex.EncodeToString(sum[:4])
}
