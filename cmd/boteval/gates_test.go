package main

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"testing"
)

// testCorpus is the corpus' test split, made by cmd/botcorpus from sources
// never used to develop or tune detection.
const testCorpus = "../../testdata/corpus/test.jsonl"

// minGatedRecords is the fewest records a gated class needs for its
// detection rate to mean something: at 200, one record is half a percent.
const minGatedRecords = 200

// TestCorpusGates holds detection to its promises on the test split, under
// the embedded default policy with every route enforced: at most 0.5 % of
// people stopped overall and 1 % in any human class, and at least 97 % of
// each gated kind of automation (corpus.Gated()) stopped.
func TestCorpusGates(t *testing.T) {
	if _, err := os.Stat(testCorpus); errors.Is(err, fs.ErrNotExist) {
		t.Skipf("%s does not exist yet: make it with `go run ./cmd/botcorpus`; these gates are enforced once it does", testCorpus)
	}
	cfg := &config{
		files: []string{testCorpus},
		gates: gates{
			maxHumanStopped:      percent{v: 0.5, set: true},
			classMaxHumanStopped: percent{v: 1, set: true},
			gatedMinStopped:      percent{v: 97, set: true},
		},
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
	for _, g := range failed(res.Gates) {
		if g.GotPct == nil {
			t.Errorf("-%s: %s has no records to measure, want %s stopped", g.Gate, g.Subject, g.want())
		} else {
			t.Errorf("-%s: %s stopped %s of %d records, want %s", g.Gate, g.Subject, pctText(g.GotPct), g.N, g.want())
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
