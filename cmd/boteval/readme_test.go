package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/botauthz/botauthz/internal/corpus"
)

// readmeSection returns the README's "Evaluating detection" section.
func readmeSection(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "\n## Evaluating detection\n")
	if !ok {
		t.Fatal(`README.md has no "Evaluating detection" section`)
	}
	section, _, _ := strings.Cut(rest, "\n## ")
	return section
}

// TestReadmeDocumentsTheFormat: the README's example line is a record, and
// every field of the format is in its table.
func TestReadmeDocumentsTheFormat(t *testing.T) {
	doc := readmeSection(t)
	_, rest, ok := strings.Cut(doc, "<!-- corpus-example -->\n```json\n")
	if !ok {
		t.Fatal("the section has no corpus example")
	}
	example, _, _ := strings.Cut(rest, "```")
	recs, err := corpus.Read(strings.NewReader(example))
	if err != nil || len(recs) != 1 {
		t.Fatalf("the README's example is not one record: %v", err)
	}
	if _, err := clientOf(&recs[0], 0); err != nil {
		t.Errorf("the README's example: %v", err)
	}
	typ := reflect.TypeFor[corpus.Record]()
	for i := range typ.NumField() {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		if !strings.Contains(doc, "| `"+name+"`") && !strings.Contains(doc, "`"+name+"`,") && !strings.Contains(doc, ", `"+name+"` |") {
			t.Errorf("the README's field table does not document %q", name)
		}
	}
}

// TestReadmeDocumentsEveryFlag: each flag is in the README's table.
func TestReadmeDocumentsEveryFlag(t *testing.T) {
	doc := readmeSection(t)
	fs, _ := newFlagSet(&config{}, io.Discard)
	fs.VisitAll(func(f *flag.Flag) {
		if !strings.Contains(doc, "| `-"+f.Name) {
			t.Errorf("the README does not document -%s", f.Name)
		}
	})
}

// masked is a line of the text output with what a retrained model changes
// turned into "#" — every number, the model's name, an empty cell ("-"), a
// gate's verdict — and runs of spaces into one, so that the README's
// example is compared by its shape, labels and columns.
func masked(line string) string {
	fields := strings.Fields(varying.ReplaceAllString(line, "#"))
	for i, f := range fields {
		if f == "-" || i == 0 && (f == "ok" || f == "FAIL") {
			fields[i] = "#"
		}
	}
	return strings.Join(fields, " ")
}

// varying matches a model's name and numbers (counts, shares, ratios).
var varying = regexp.MustCompile(`lr-[0-9a-f]+|[0-9][0-9.]*%?`)

// TestReadmeShowsTheOutput: every line of the README's example output is a
// line boteval prints on the test split (numbers aside), and the example
// shows the class table's columns, the model-decided section, the
// reliability table and the model AUC gate.
func TestReadmeShowsTheOutput(t *testing.T) {
	needTestSplit(t)
	_, rest, ok := strings.Cut(readmeSection(t), "<!-- boteval-output -->\n```text\n")
	if !ok {
		t.Fatal("the section has no example output")
	}
	example, _, _ := strings.Cut(rest, "```")

	var out, errOut bytes.Buffer
	if code := run(context.Background(), testSplitArgs(""), &out, &errOut); code == exitUsage {
		t.Fatalf("boteval: %s", errOut.String())
	}
	// The README runs it from the repository's root.
	text := strings.ReplaceAll(out.String(), testCorpus, strings.TrimPrefix(testCorpus, "../../"))
	printed := map[string]bool{}
	for line := range strings.Lines(text) {
		printed[masked(line)] = true
	}
	shown := map[string]bool{}
	for line := range strings.Lines(example) {
		m := masked(line)
		if m == "" || m == "…" {
			continue
		}
		shown[m] = true
		if !printed[m] {
			t.Errorf("the README's example shows a line boteval does not print:\n  %s", strings.TrimRight(line, "\n"))
		}
	}
	for _, want := range []string{
		masked(strings.Join(classHeader, " ")),
		"model-decided records (no certainty rule decided: the score is the model's own judgement):",
		masked("SCORE PEOPLE AUTOMATION WEIGHT PREDICTED OBSERVED"),
		"automation the model must judge",
		"-min-model-auc",
	} {
		found := false
		for line := range shown {
			found = found || strings.Contains(line, want)
		}
		if !found {
			t.Errorf("the README's example lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("boteval printed:\n%s", text)
	}
}
