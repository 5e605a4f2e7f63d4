package ratelimit

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// defaultFoldHits bounds the Hits one folded script call carries: enough
// for every Check of a pipeline under the loads measured (about 20 per
// pipeline in the harness), while a call's reply and Lua tables stay small.
const defaultFoldHits = 64

// hitFold is the combiner of a standalone (or Sentinel) Redis store: it
// folds the hit scripts of a pipeline, one per Check, into one script
// call whose segments they are (hitScriptSrc), so that Redis parses,
// dispatches and sets up the script once for many Checks, not once each.
// Each Hit still gets its own reply, and its own error if one of its keys
// cannot be read: the script isolates segments. Like the pipeline, one call
// is one atomic step for Redis; the order of the Hits is the pipeline's.
//
// A cluster's store does not fold: a script may only touch the keys of
// one slot, and the Hits of a pipeline are spread over them all.
type hitFold struct {
	sha string // the hit script's, whose calls are folded
	max int    // Hits per folded call
}

// foldedHits is one script call carrying the scripts of several Hits.
type foldedHits struct {
	*redis.Cmd
	hits []*redis.Cmd // in segment order
}

// combine implements combiner. It folds the hit script calls of cmds, in
// order, into calls of at most f.max segments; a lone hit script call,
// and any other command, goes as it is.
func (f hitFold) combine(ctx context.Context, cmds, sent []redis.Cmder) []redis.Cmder {
	var hitsBuf [defaultFoldHits]*redis.Cmd
	hits := hitsBuf[:0]
	var lone redis.Cmder // hits[0] as cmds holds it, wrapped
	flush := func() {
		switch len(hits) {
		case 0:
		case 1:
			// As it came: wrapping it again would cost an allocation
			// per Check whenever Checks come one at a time.
			sent = append(sent, lone)
		default:
			sent = append(sent, noRetryCmd{f.fold(ctx, hits)})
		}
		hits = hits[:0]
	}
	for _, c := range cmds {
		h := f.hitCmd(c)
		if h == nil {
			sent = append(sent, c)
			continue
		}
		if len(hits) == 0 {
			lone = c
		}
		hits = append(hits, h)
		if len(hits) == f.max {
			flush()
		}
	}
	flush()
	return sent
}

// hitCmd returns the hit script call that c is, unwrapped, or nil.
func (f hitFold) hitCmd(c redis.Cmder) *redis.Cmd {
	// The batcher's calls hold pointers to their wrappers.
	if w, ok := c.(*noRetryCmd); ok {
		c = w.Cmder
	}
	cmd, ok := c.(*redis.Cmd)
	if !ok {
		return nil
	}
	args := cmd.Args()
	if len(args) < 4 || args[0] != "evalsha" || args[1] != f.sha {
		return nil
	}
	if _, ok := args[2].(int); !ok {
		return nil
	}
	return cmd
}

// fold returns one script call whose segments are hits' (planHit's
// arguments: "evalsha", sha, numkeys, keys, then the segment): all the
// keys, in order, then all the segments.
func (f hitFold) fold(ctx context.Context, hits []*redis.Cmd) *foldedHits {
	size, keys := 3, 0
	for _, h := range hits {
		args := h.Args()
		size += len(args) - 3
		keys += args[2].(int)
	}
	args := make([]any, 3, size)
	args[0], args[1], args[2] = "evalsha", f.sha, keys
	for _, h := range hits {
		a := h.Args()
		args = append(args, a[3:3+a[2].(int)]...)
	}
	for _, h := range hits {
		a := h.Args()
		args = append(args, a[3+a[2].(int):]...)
	}
	return &foldedHits{Cmd: redis.NewCmd(ctx, args...), hits: append([]*redis.Cmd(nil), hits...)}
}

// split implements combiner: each folded Hit gets its segment's reply,
// shaped as the reply of a call of its own (a one-element array), or the
// folded call's error. A reply that does not have one segment per Hit
// fails them all, as a reply that could not be read: they may have run.
func (hitFold) split(sent []redis.Cmder) {
	for _, c := range sent {
		w, ok := c.(noRetryCmd)
		if !ok {
			continue
		}
		m, ok := w.Cmder.(*foldedHits)
		if !ok {
			continue
		}
		reply, err := m.Slice()
		if err == nil && len(reply) != len(m.hits) {
			err = fmt.Errorf("redis hit: a folded script call of %d Hits returned %d segments", len(m.hits), len(reply))
		}
		for i, h := range m.hits {
			if err != nil {
				h.SetErr(err)
				continue
			}
			h.SetVal(reply[i : i+1 : i+1])
		}
	}
}
