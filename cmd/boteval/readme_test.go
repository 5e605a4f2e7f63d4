package main

import (
	"flag"
	"io"
	"os"
	"reflect"
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
