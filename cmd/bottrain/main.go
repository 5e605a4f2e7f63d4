// Command bottrain trains botauthz's model from the labelled corpus: it
// learns each browser family's header order (scoring/data/header_order.yaml)
// and fits a logistic regression over the scorer's feature vector
// (scoring/data/model.yaml).
//
//	go run ./cmd/bottrain                       # retrain from testdata/corpus/train.jsonl, write both files
//	go run ./cmd/bottrain -check                # fail if the files are not what training gives
//	go run ./cmd/bottrain -log decisions.jsonl -outcomes outcomes.jsonl
//	                                            # add production labels (see the README)
//
// The same corpus, configuration and seed give byte-identical files.
//
// Only the train split is ever read: the test split's sources are never
// trained on, so that cmd/boteval measures generalisation.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// options are the command line.
type options struct {
	corpus, config, outModel, outOrder string
	log, outcomes                      string
	seed                               uint64
	check                              bool
}

func run(_ context.Context, args []string, stdout, stderr io.Writer) int {
	var o options
	fs := flag.NewFlagSet("bottrain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.corpus, "corpus", "testdata/corpus/train.jsonl", "the labelled `corpus` to train on (the train split)")
	fs.StringVar(&o.config, "config", "cmd/bottrain/config.yaml", "training `configuration`: fixed features, caps, penalties, exclusions")
	fs.StringVar(&o.outModel, "model", "scoring/data/model.yaml", "where the weights go")
	fs.StringVar(&o.outOrder, "order", "scoring/data/header_order.yaml", "where the header order goes")
	fs.StringVar(&o.log, "log", "", "a decision `log` (JSON lines) whose lines carry features, joined with -outcomes by request_id")
	fs.StringVar(&o.outcomes, "outcomes", "", "`outcomes` (JSON lines: request_id, label human|bot, how) for -log")
	fs.Uint64Var(&o.seed, "seed", 1, "`seed` of the cross-validation folds")
	fs.BoolVar(&o.check, "check", false, "write nothing; exit 1 if the files differ from what training gives")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if (o.log == "") != (o.outcomes == "") {
		fmt.Fprintln(stderr, "bottrain: -log and -outcomes go together")
		return 2
	}
	res, err := train(o)
	if err != nil {
		fmt.Fprintf(stderr, "bottrain: %v\n", err)
		return 1
	}
	res.report(stdout)
	if o.check {
		stale := false
		for _, f := range []struct {
			path string
			want []byte
		}{{o.outOrder, res.order}, {o.outModel, res.model}} {
			got, err := os.ReadFile(f.path)
			if err != nil || !bytes.Equal(got, f.want) {
				fmt.Fprintf(stderr, "bottrain: %s is not what training gives: run `make train`\n", f.path)
				stale = true
			}
		}
		if stale {
			return 1
		}
		return 0
	}
	for _, f := range []struct {
		path string
		data []byte
	}{{o.outOrder, res.order}, {o.outModel, res.model}} {
		if err := os.WriteFile(f.path, f.data, 0o644); err != nil {
			fmt.Fprintf(stderr, "bottrain: %v\n", err)
			return 1
		}
	}
	fmt.Fprintf(stdout, "wrote %s and %s\n", o.outOrder, o.outModel)
	return 0
}
