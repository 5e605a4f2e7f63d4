// Command boteval measures botauthz's detection on a labelled request
// corpus: it runs the production Check in process — the same code, the
// given policy file, in-memory velocity counters, the records' times as the
// clock — over JSON Lines records (internal/corpus, described in the
// README) and prints, per class, how many were stopped, their score
// quantiles, ROC AUC against the other label and top reasons; overall the
// share of people and of automation stopped, precision and recall at the
// policy's thresholds and the ROC AUC of the score; and the model's own
// judgement: the records no certainty rule decided, their ROC AUC (a
// constant model's is 0.5) and a reliability table of their scores.
//
// Usage:
//
//	boteval [-policy policy.yaml] [-o text|json] [-compare other.yaml] [-list 50]
//	        [-headers-map] [-max-human-stopped 0.5] [-max-human-class-stopped 1]
//	        [-min-bot-stopped 97] [-gated-min-stopped 97] [-min-model-auc 0.75] FILE.jsonl…
//
// Every route is evaluated in enforce, whatever the policy file says:
// "stopped" means the non-OK answer a route gives in enforce (a challenge,
// a denial or a 429). -compare evaluates the records under a second policy
// too and lists the requests whose enforced action changes. The stop-rate
// gate flags take percentages (0–100), -min-model-auc a ratio (0–1); a gate
// that is not met makes boteval exit 1.
//
// Exit codes: 0 done (and every gate met), 1 a gate not met, 2 usage or
// input error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/botauthz/botauthz/internal/corpus"
	"github.com/botauthz/botauthz/policy"
)

// Exit codes.
const (
	exitOK    = 0
	exitGates = 1
	exitUsage = 2
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// config is what the command line asks for.
type config struct {
	policyPath  string
	comparePath string
	output      string
	enc         encoding
	// tls trusts the records' JA4 as the shipped front proxy's header
	// (-tls, on by default).
	tls bool
	// listLimit bounds the changes the text output lists; 0 lists all.
	listLimit int
	gates     gates
	files     []string
}

// run is the command: it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "boteval: %v\n", err)
		return exitUsage
	}
	// The Check logs only what goes wrong inside it (a recovered panic):
	// that belongs on stderr, beside the report.
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	res, err := evaluateAll(ctx, cfg, log)
	if err != nil {
		fmt.Fprintf(stderr, "boteval: %v\n", err)
		return exitUsage
	}
	if cfg.output == "json" {
		err = writeJSON(stdout, res)
	} else {
		err = writeText(stdout, res, cfg.listLimit)
	}
	if err != nil {
		fmt.Fprintf(stderr, "boteval: %v\n", err)
		return exitUsage
	}
	if bad := failed(res.Gates); len(bad) > 0 {
		fmt.Fprintf(stderr, "boteval: %d of %d gates not met\n", len(bad), len(res.Gates))
		return exitGates
	}
	return exitOK
}

// parseArgs reads the command line. Flags may come before, between or
// after the files.
func parseArgs(args []string, stderr io.Writer) (*config, error) {
	cfg := &config{}
	fs, headers := newFlagSet(cfg, stderr)
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		cfg.files = append(cfg.files, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if *headers {
		cfg.enc = headersMap
	}
	switch {
	case len(cfg.files) == 0:
		fs.Usage()
		return nil, errors.New("no JSONL file given")
	case cfg.output != "text" && cfg.output != "json":
		return nil, fmt.Errorf("-o %q: want text or json", cfg.output)
	case cfg.listLimit < 0:
		return nil, fmt.Errorf("-list %d: want 0 or more", cfg.listLimit)
	}
	return cfg, nil
}

// newFlagSet declares the flags into cfg; headers is -headers-map.
func newFlagSet(cfg *config, stderr io.Writer) (fs *flag.FlagSet, headers *bool) {
	fs = flag.NewFlagSet("boteval", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.policyPath, "policy", "", "policy `file` to evaluate (default: the embedded defaults)")
	fs.StringVar(&cfg.output, "o", "text", "output `format`: text or json")
	fs.StringVar(&cfg.comparePath, "compare", "", "a second policy `file`: also evaluate under it and list the requests whose decision changes")
	fs.IntVar(&cfg.listLimit, "list", 50, "with -compare, list at most `n` changed requests in text (0: all; json lists all)")
	fs.BoolVar(&cfg.tls, "tls", true, "send each record's JA4 in "+ja4Header+" and trust it, as envoy/front-proxy.yaml does (false: an Envoy without TLS fingerprinting)")
	headers = fs.Bool("headers-map", false, "send the headers in the plain headers map (Envoy's default, Istio) instead of header_map")
	fs.Var(&cfg.gates.maxHumanStopped, "max-human-stopped", "fail (exit 1) when more than this `percent` of human records is stopped")
	fs.Var(&cfg.gates.maxHumanClassStopped, "max-human-class-stopped", "fail when more than this `percent` of any human class is stopped")
	fs.Var(&cfg.gates.maxHumanClassStopped, "class-max-human-stopped", "the former name of -max-human-class-stopped (`percent`)")
	fs.Var(&cfg.gates.minBotStopped, "min-bot-stopped", "fail when less than this `percent` of bot records is stopped")
	fs.Var(&cfg.gates.gatedMinStopped, "gated-min-stopped", "fail when less than this `percent` of any gated class ("+strings.Join(corpus.Gated(), ", ")+") is stopped, or one has no records")
	fs.Var(&cfg.gates.minModelAUC, "min-model-auc", "fail when the ROC AUC over the records the model decided (no certainty rule did) is below this `ratio` (0-1; a constant model gets 0.5), or there are no such records of a label")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: boteval [flags] FILE.jsonl…\n\n"+
			"Runs botauthz's production Check in process over labelled JSONL records, every route in enforce,\n"+
			"and reports per class and overall how many were stopped. Exit codes: 0 ok, 1 a gate not met,\n"+
			"2 usage or input error.\n\n")
		fs.PrintDefaults()
	}
	return fs, headers
}

// loadPolicy reads a policy file with the production loader; an empty path
// is the embedded defaults.
func loadPolicy(path string) (*policy.Policy, PolicyInfo, error) {
	if path == "" {
		p := policy.Default()
		return p, PolicyInfo{Source: "embedded defaults", Version: p.Version}, nil
	}
	p, err := policy.Load(path)
	if err != nil {
		return nil, PolicyInfo{}, err
	}
	return p, PolicyInfo{Source: path, Version: p.Version}, nil
}

// trustTLS returns p reading the JA4 header as the shipped front proxy
// sets it (on), or ignoring it (off).
func trustTLS(p *policy.Policy, on bool) *policy.Policy {
	c := *p
	c.TLS.Trusted = on
	c.TLS.JA4Header = ja4Header
	return &c
}

// evaluateAll runs the evaluation the configuration asks for: the records
// under the policy, under the compared one when asked, and the gates.
func evaluateAll(ctx context.Context, cfg *config, log *slog.Logger) (*result, error) {
	pa, infoA, err := loadPolicy(cfg.policyPath)
	if err != nil {
		return nil, err
	}
	pa = trustTLS(pa, cfg.tls)
	var (
		pb    *policy.Policy
		infoB PolicyInfo
	)
	if cfg.comparePath != "" {
		if pb, infoB, err = loadPolicy(cfg.comparePath); err != nil {
			return nil, fmt.Errorf("-compare: %w", err)
		}
		pb = trustTLS(pb, cfg.tls)
	}
	ins, err := readInputs(cfg.files)
	if err != nil {
		return nil, err
	}

	outA, err := evaluate(ctx, pa, ins, cfg.enc, log)
	if err != nil {
		return nil, err
	}
	res := &result{Report: summarize(infoA, pa, ins, outA, cfg.files, cfg.enc)}
	res.Gates = cfg.gates.check(res.Report)
	if pb != nil {
		outB, err := evaluate(ctx, pb, ins, cfg.enc, log)
		if err != nil {
			return nil, err
		}
		res.Compare = compare(ins, outA, outB, summarize(infoB, pb, ins, outB, cfg.files, cfg.enc))
	}
	return res, nil
}
