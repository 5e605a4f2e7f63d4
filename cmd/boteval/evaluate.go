package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/botauthz/botauthz/extauthz"
	"github.com/botauthz/botauthz/internal/corpus"
	"github.com/botauthz/botauthz/policy"
	"github.com/botauthz/botauthz/ratelimit"
	"github.com/botauthz/botauthz/rollout"
	"github.com/botauthz/botauthz/scoring"
)

// input is one record and where it came from.
type input struct {
	corpus.Record
	// File is the file the record was read from; N its position among the
	// file's records, from 1 (blank lines do not count).
	File string
	N    int
	// client is the address the request comes from: the record's, or a
	// default of its own (see defaultClient).
	client netip.Addr
}

// where names the record for people: file and position.
func (in *input) where() string { return fmt.Sprintf("%s#%d", in.File, in.N) }

// readInputs reads the JSONL files in order and resolves each record's
// client address, so that a bad record is refused before anything runs.
func readInputs(files []string) ([]input, error) {
	var out []input
	for _, file := range files {
		recs, err := corpus.ReadFile(file)
		if err != nil {
			return nil, err
		}
		for n, r := range recs {
			in := input{Record: r, File: file, N: n + 1}
			if in.client, err = clientOf(&in.Record, len(out)); err != nil {
				return nil, fmt.Errorf("%s: %w", in.where(), err)
			}
			out = append(out, in)
		}
	}
	return out, nil
}

// outcome is what the production Check answered for one record.
type outcome struct {
	// Stopped is true when the answer was not OK: a challenge, a denial or a
	// 429.
	Stopped bool
	// Status is the HTTP status of a stopped request (302, 403, 429); 0
	// when it was allowed.
	Status int
	// Action is the enforced action. Every route runs in enforce here, so
	// it is also the decided one.
	Action policy.Action
	// Score is 1–99, 0 when not scored (a CIDR rule decided first).
	Score int
	Route string
	// Reasons are the fired signals, heaviest first, or the CIDR rule that
	// decided.
	Reasons []string
	// Certainty is the certainty rule that decided the score;
	// scoring.NoCertainty when the model did (or nothing was scored).
	Certainty scoring.Certainty
	// Model is the version of the model that scored the request; empty when
	// the Check did not say.
	Model    string
	Degraded bool
	// Observed is false when the Check did not reach its observer: it
	// panicked, and the production code allowed the request.
	Observed bool
}

// modelDecided reports whether the model, rather than a certainty rule or a
// CIDR rule, gave the record its score: what a constant model could not
// rank.
func (o *outcome) modelDecided() bool {
	return o.Observed && o.Score > 0 && o.Certainty == scoring.NoCertainty
}

// observer copies what the production Check decided into the outcome of
// the record being evaluated. Checks run one at a time, so one slot does.
type observer struct {
	out *outcome
}

// ObserveCheck implements extauthz.Observer. d is reused after it
// returns: everything is copied.
func (o *observer) ObserveCheck(_ context.Context, d *extauthz.Decision, _ *extauthz.Facts, _ time.Duration) {
	out := o.out
	out.Observed = true
	out.Score, out.Action, out.Route, out.Degraded = d.Score, d.Enforced, d.Route, d.Degraded
	out.Model = d.Model
	if d.Rule != policy.NoRule {
		out.Reasons = []string{d.Rule.String()}
		return
	}
	out.Certainty = d.Result.Certainty
	reasons := d.Result.Reasons()
	out.Reasons = make([]string, len(reasons))
	for i, r := range reasons {
		out.Reasons[i] = r.Code.String()
	}
}

// enforceAll is the rollout layer that makes "stopped" mean what it means
// in production once a route is enforced: a live default of enforce, which
// outranks every route's mode in the policy file (off, shadow and canary
// included) and is not outranked by anything, since there is no kill switch
// and no override file here.
type enforceAll struct {
	view *rollout.View
}

func newEnforceAll() enforceAll {
	return enforceAll{view: &rollout.View{Live: rollout.State{Default: &rollout.Setting{Mode: policy.ModeEnforce}}}}
}

// View implements extauthz.Rollout.
func (e enforceAll) View() *rollout.View { return e.view }

// evaluate runs every record through the production Check under p, in
// order, with fresh in-memory velocity counters, and returns what each
// got. The clock is the record's time (see clock).
func evaluate(ctx context.Context, p *policy.Policy, ins []input, enc encoding, log *slog.Logger) ([]outcome, error) {
	var (
		clk clock
		now time.Time
		obs observer
	)
	srv, err := extauthz.New(extauthz.Options{
		Policy:   p,
		Store:    ratelimit.NewMemory(ratelimit.MemoryOptions{}),
		Rollout:  newEnforceAll(),
		Observer: &obs,
		Logger:   log,
		Now:      func() time.Time { return now },
	})
	if err != nil {
		return nil, fmt.Errorf("start the Check: %w", err)
	}
	outs := make([]outcome, len(ins))
	for i := range ins {
		in := &ins[i]
		now = clk.next(&in.Record)
		obs.out = &outs[i]
		resp, err := srv.Check(ctx, checkRequest(&in.Record, i, in.client, now, enc))
		if err != nil {
			// The Check promises never to fail; if it does, the numbers
			// would be wrong, so say so rather than guess.
			return nil, fmt.Errorf("%s: Check: %w", in.where(), err)
		}
		out := &outs[i]
		out.Stopped = resp.GetStatus().GetCode() != int32(codes.OK)
		if out.Stopped {
			out.Status = int(resp.GetDeniedResponse().GetStatus().GetCode())
		}
		if !out.Observed {
			out.Action = policy.ActionAllow
			if out.Stopped {
				out.Action = policy.ActionDeny
			}
		}
	}
	return outs, nil
}
