package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/botauthz/botauthz/scoring"
)

// testCorpus is the corpus' test split, made by cmd/botcorpus from sources
// never used to develop or tune detection.
const testCorpus = "../../testdata/corpus/test.jsonl"

// The promises detection keeps on the test split (TestCorpusGates).
const (
	// maxPeopleStoppedPct bounds the people stopped overall, in percent;
	// maxHumanClassStoppedPct those of each human class.
	maxPeopleStoppedPct     = 0.5
	maxHumanClassStoppedPct = 1
	// minGatedStoppedPct is the least share of each gated class stopped.
	minGatedStoppedPct = 97
	// minModelAUC is the least ROC AUC of the score over the records the
	// model decided (no certainty rule did); a constant model gets 0.5.
	// The shipped model measures 0.754 on the test split with the records'
	// TLS fingerprints. It measured 0.824 while the self-declared crawlers
	// were the model's to judge (they scored 87, below every browser);
	// since the crawler rule decides them (crawler.unverified, at most 29)
	// they are no longer in this set, the weights unchanged. Most of what
	// the model cannot tell apart is automation neither headers nor TLS
	// reveal (copied-browser).
	minModelAUC = 0.75
)

// minGatedRecords is the fewest records a gated class needs for its
// detection rate to mean something: at 200, one record is half a percent.
const minGatedRecords = 200

// minModelDecided is the fewest model-decided records each label needs
// for the model-decided AUC to mean something.
const minModelDecided = 200

// testSplitArgs are the command line that holds the test split to its
// promises under the policy file policyPath ("" for the embedded
// defaults), as make eval runs it.
func testSplitArgs(policyPath string) []string {
	args := []string{
		"-max-human-stopped", strconv.FormatFloat(maxPeopleStoppedPct, 'f', -1, 64),
		"-max-human-class-stopped", strconv.FormatFloat(maxHumanClassStoppedPct, 'f', -1, 64),
		"-gated-min-stopped", strconv.FormatFloat(minGatedStoppedPct, 'f', -1, 64),
		"-min-model-auc", strconv.FormatFloat(minModelAUC, 'f', -1, 64),
	}
	if policyPath != "" {
		args = append(args, "-policy", policyPath)
	}
	return append(args, testCorpus)
}

// needTestSplit skips the test until the test split exists.
func needTestSplit(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(testCorpus); errors.Is(err, fs.ErrNotExist) {
		t.Skipf("%s does not exist yet: make it with `go run ./cmd/botcorpus`; these gates are enforced once it does", testCorpus)
	}
}

// TestCorpusGates holds detection to its promises on the test split, under
// the embedded default policy with every route enforced: at most 0.5 % of
// people stopped overall and 1 % in any human class, at least 97 % of each
// gated kind of automation (corpus.Gated()) stopped, and a model-decided
// ROC AUC of at least minModelAUC.
func TestCorpusGates(t *testing.T) {
	needTestSplit(t)
	cfg, err := parseArgs(testSplitArgs(""), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	res, err := evaluateAll(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	var report strings.Builder
	if err := writeText(&report, res, 0); err != nil {
		t.Fatal(err)
	}

	bad := false
	for _, g := range res.Gated {
		if g.N < minGatedRecords {
			t.Errorf("gated class %s has %d records in %s, want at least %d", g.Class, g.N, testCorpus, minGatedRecords)
			bad = true
		}
	}
	if m := res.ModelDecided; m.Humans < minModelDecided || m.Bots < minModelDecided {
		t.Errorf("the model decided %d human and %d bot records of %s, want at least %d of each", m.Humans, m.Bots, testCorpus, minModelDecided)
		bad = true
	}
	if len(res.Models) != 1 {
		t.Errorf("the decisions name the models %q, want one", res.Models)
		bad = true
	}
	want := map[string]bool{"max-human-stopped": true, "max-human-class-stopped": true, "gated-min-stopped": true, "min-model-auc": true}
	for _, g := range res.Gates {
		delete(want, g.Gate)
	}
	for gate := range want {
		t.Errorf("-%s was not checked", gate)
		bad = true
	}
	for _, g := range failed(res.Gates) {
		if g.Got == nil {
			t.Errorf("-%s: %s has no records to measure, want %s", g.Gate, g.Subject, g.want())
		} else {
			t.Errorf("-%s: %s got %s over %d records, want %s", g.Gate, g.Subject, g.got(), g.N, g.want())
		}
		bad = true
	}
	if res.Degraded > 0 || res.Panicked > 0 {
		t.Errorf("%d decisions degraded, %d Checks panicked: the evaluation is not sound", res.Degraded, res.Panicked)
		bad = true
	}
	if bad || testing.Verbose() {
		t.Logf("evaluation of %s:\n%s", testCorpus, report.String())
	}
}

// constantModelPolicy is a policy file that sets every model feature's
// weight to 0: the model then gives every request it decides the score of
// its bias alone, and only the certainty rules still tell requests apart.
func constantModelPolicy() string {
	var b strings.Builder
	b.WriteString("version: constant-model\nscore:\n  weights:\n")
	for _, c := range scoring.FeatureCodes() {
		fmt.Fprintf(&b, "    %s: 0\n", c)
	}
	return b.String()
}

// TestGatesFailWithConstantModel proves the gates depend on the model: with
// every feature's weight at 0, the test split's run of the same gates as
// TestCorpusGates must fail, the model-decided AUC gate among them, since
// a model that scores every request alike ranks none above another.
func TestGatesFailWithConstantModel(t *testing.T) {
	needTestSplit(t)
	if len(scoring.FeatureCodes()) == 0 {
		t.Fatal("scoring.FeatureCodes() lists no features: nothing to turn off")
	}
	path := writePolicy(t, constantModelPolicy())
	var out, errOut bytes.Buffer
	code := run(context.Background(), append(testSplitArgs(path), "-o", "json"), &out, &errOut)
	if code != exitGates {
		t.Fatalf("exit %d with every feature's weight 0, want %d (a gate not met)\nstderr: %s", code, exitGates, errOut.String())
	}
	if !strings.Contains(errOut.String(), "gates not met") {
		t.Errorf("stderr %q does not say which gates failed", errOut.String())
	}
	var res result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if res.Policy.Source != path {
		t.Fatalf("evaluated %q, want the constant model's policy %s", res.Policy.Source, path)
	}

	// The model decided records of both labels, and scored them all alike.
	m := res.ModelDecided
	if m.Humans == 0 || m.Bots == 0 {
		t.Fatalf("the model decided %d human and %d bot records: the AUC gate would fail for want of records, not for the model", m.Humans, m.Bots)
	}
	if m.AUC == nil || *m.AUC != 0.5 {
		t.Errorf("model-decided AUC %v with every weight 0, want exactly 0.5", deref(m.AUC))
	}
	filled := 0
	for _, b := range res.Reliability.Bins {
		if b.Humans+b.Bots > 0 {
			filled++
		}
	}
	if filled != 1 {
		t.Errorf("model-decided scores fall in %d score bands, want 1 (one score for all): %+v", filled, res.Reliability.Bins)
	}

	var modelGate *GateResult
	for i, g := range res.Gates {
		if g.Gate == "min-model-auc" {
			modelGate = &res.Gates[i]
		}
	}
	if modelGate == nil {
		t.Fatalf("-min-model-auc was not checked: %+v", res.Gates)
	}
	if modelGate.OK {
		t.Errorf("-min-model-auc passed with a constant model: got %s, want %s", modelGate.got(), modelGate.want())
	}
	for _, g := range failed(res.Gates) {
		t.Logf("not met with a constant model: -%s %s got %s, want %s", g.Gate, g.Subject, g.got(), g.want())
	}
}
