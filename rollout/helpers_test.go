package rollout_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/botauthz/botauthz/rollout"
)

// waitFor bounds every wait for something asynchronous. Reaching it fails
// the test; it is not a performance threshold.
const waitFor = 15 * time.Second

// eventually polls cond until it holds, failing the test after waitFor, and
// returns how long it took.
func eventually(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	tick := time.NewTicker(500 * time.Microsecond)
	defer tick.Stop()
	deadline := time.NewTimer(waitFor)
	defer deadline.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("%s: not within %v", what, waitFor)
		}
	}
	return time.Since(start)
}

// logRecorder is a slog.Handler that keeps every record's message and
// writes the records to the test's output.
type logRecorder struct {
	text slog.Handler
	mu   *sync.Mutex
	msgs *[]string
}

func newLogRecorder(t *testing.T) *logRecorder {
	return &logRecorder{
		text: slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}),
		mu:   new(sync.Mutex),
		msgs: new([]string),
	}
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (r *logRecorder) Handle(ctx context.Context, rec slog.Record) error {
	r.mu.Lock()
	*r.msgs = append(*r.msgs, rec.Message)
	r.mu.Unlock()
	return r.text.Handle(ctx, rec)
}

func (r *logRecorder) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &logRecorder{text: r.text.WithAttrs(attrs), mu: r.mu, msgs: r.msgs}
}

func (r *logRecorder) WithGroup(name string) slog.Handler {
	return &logRecorder{text: r.text.WithGroup(name), mu: r.mu, msgs: r.msgs}
}

// count returns how many messages contain substr.
func (r *logRecorder) count(substr string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range *r.msgs {
		if strings.Contains(m, substr) {
			n++
		}
	}
	return n
}

// startController starts a Controller on opts and stops it when the test
// ends. opts.Logger defaults to one writing to the test's output.
func startController(t *testing.T, opts rollout.ControllerOptions) *rollout.Controller {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(newLogRecorder(t))
	}
	c := rollout.NewController(opts)
	ctx, cancel := context.WithCancel(context.Background())
	if err := c.Start(ctx); err != nil {
		cancel()
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		c.Wait()
	})
	return c
}

func newLogger(r *logRecorder) *slog.Logger { return slog.New(r) }
