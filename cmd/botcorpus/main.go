// Command botcorpus makes botauthz's labelled request corpus from public
// data: browser header sets, HTTP clients' defaults, captures of real
// browsers and clients, and adversarial kinds built from them. It writes
// testdata/corpus/train.jsonl (for developing and tuning detection),
// testdata/corpus/test.jsonl (from sources never used for that, so the test
// suite's gates can fail) and testdata/corpus/SOURCES.md.
//
// Usage:
//
//	go run ./cmd/botcorpus [-out testdata/corpus] [-sources testdata/corpus/sources]
//	go run ./cmd/botcorpus capture …   (see capture.go)
//
// The output is deterministic: the same sources give the same files.
package main

import (
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "capture" {
		return runCapture(args[1:], stdout, stderr)
	}
	if err := generate(args, stdout); err != nil {
		fmt.Fprintf(stderr, "botcorpus: %v\n", err)
		return 1
	}
	return 0
}
