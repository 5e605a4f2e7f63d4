package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestCorpusIsUpToDate regenerates the corpus from the stored sources and
// compares it with the committed files: the corpus is what the generator
// makes of its sources, nothing edited by hand, and reproducible.
func TestCorpusIsUpToDate(t *testing.T) {
	if testing.Short() {
		t.Skip("regenerating the corpus is skipped in -short mode")
	}
	out := t.TempDir()
	if code := run([]string{"-out", out, "-sources", "../../testdata/corpus/sources"}, io.Discard, os.Stderr); code != 0 {
		t.Fatalf("botcorpus exited %d", code)
	}
	for _, name := range []string{"train.jsonl", "test.jsonl", "SOURCES.md"} {
		got, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join("../../testdata/corpus", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("testdata/corpus/%s is not what the generator makes of its sources: run go run ./cmd/botcorpus", name)
		}
	}
}
