package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"strings"
)

// cmdPerfBreakdown is the sub-command that says where a server's CPU went
// in a `botbench -perf` recording, next to the reference's.
const cmdPerfBreakdown = "perf-breakdown"

// category files a perf sample by the frames on its stack: the first
// category one of whose patterns occurs in any frame wins, so the order
// says what a sample is charged to (a GC assist inside the Check is GC, a
// Redis write inside the Check is the counter store).
type category struct {
	name     string
	patterns []string
}

// categories is the breakdown BENCHMARKS.md reports.
func categories() []category {
	return []category{
		{"GC: background marking", []string{"runtime.gcBgMarkWorker"}},
		{"GC: mark assists (paid by allocating code)", []string{"runtime.gcAssistAlloc"}},
		{"GC: sweeping, scavenging", []string{"runtime.bgsweep", "runtime.bgscavenge", "runtime.sweepone"}},
		{"goroutine stack growth (morestack, copystack)", []string{"runtime.newstack", "runtime.morestack", "runtime.copystack"}},
		{"Check: counter store", []string{"botauthz/ratelimit.", "go-redis/v9"}},
		{"Check: scoring", []string{"botauthz/scoring."}},
		{"Check: metrics, decision log, tracing", []string{"botauthz/telemetry.", "go.opentelemetry.io", "prometheus/client_golang"}},
		{"Check: request facts (header_map, client IP, cookies)", []string{"extauthz.readFacts", "extauthz.(*headerBuf)", "botauthz/clientip."}},
		{"Check: response (headers, dynamic metadata)", []string{"extauthz.respond", "extauthz.allowed", "extauthz.metadata", "structpb."}},
		{"Check: rollout mode", []string{"botauthz/rollout."}},
		{"Check: clearance cookie", []string{"botauthz/clearance."}},
		{"Check: other (pooling, policy, decision)", []string{"extauthz.(*Server).Check", "extauthz.(*Server).decide", "main.noop.Check", "main.(*noopIncr).Check"}},
		{"gRPC: request decoding (protobuf)", []string{"Codec).Unmarshal", "codecV2).Unmarshal", "proto.UnmarshalOptions", "proto.Unmarshal"}},
		{"gRPC: response encoding (protobuf)", []string{"Codec).Marshal", "codecV2).Marshal", "proto.MarshalOptions", "proto.Marshal"}},
		{"syscalls: network read/write", []string{"internal/poll.(*FD).Read", "internal/poll.(*FD).Write", "internal/poll.(*FD).Writev", "syscall.read", "syscall.write"}},
		{"syscalls: thread sleep/wake (futex)", []string{"runtime.futex"}},
		{"syscalls: netpoll (epoll)", []string{"runtime.netpoll"}},
		{"runtime: sysmon", []string{"runtime.sysmon"}},
		{"gRPC: HTTP/2 transport (framing, hpack, flow control)", []string{"grpc/internal/transport", "x/net/http2"}},
		{"gRPC: server dispatch (streams, handler call)", []string{"google.golang.org/grpc."}},
		{"Go scheduler", []string{"runtime.schedule", "runtime.findRunnable", "runtime.park_m", "runtime.gosched_m", "runtime.goexit0", "runtime.mstart"}},
		{"allocation elsewhere", []string{"runtime.mallocgc", "runtime.newobject"}},
	}
}

const otherCategory = "other"

// breakdown counts the samples of a `perf script` text by category.
type breakdown struct {
	samples int
	counts  map[string]int
}

func newBreakdown(r io.Reader) (*breakdown, error) {
	b := &breakdown{counts: map[string]int{}}
	cats := categories()
	var frames []string
	flush := func() {
		if frames == nil {
			return
		}
		b.samples++
		b.counts[categorize(cats, frames)]++
		frames = nil
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.TrimSpace(line) == "":
			flush()
		case line[0] != ' ' && line[0] != '\t':
			// A sample's header: "comm pid time: period event:".
			flush()
			frames = []string{}
		case frames != nil:
			// "\t  3919a runtime.tryDeferToSpanScan+0xfa (/path/binary)"
			f := strings.Fields(line)
			if len(f) >= 2 {
				frames = append(frames, f[1])
			}
		}
	}
	flush()
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read perf script: %w", err)
	}
	if b.samples == 0 {
		return nil, errors.New("no samples in the perf script output")
	}
	return b, nil
}

func categorize(cats []category, frames []string) string {
	for _, c := range cats {
		for _, p := range c.patterns {
			for _, f := range frames {
				if strings.Contains(f, p) {
					return c.name
				}
			}
		}
	}
	return otherCategory
}

// perfScript returns the `perf script` text of a recording (a .data file),
// or the file as it is (already `perf script` output).
func perfScript(ctx context.Context, path string) (io.Reader, error) {
	if !strings.HasSuffix(path, ".data") {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		return bytes.NewReader(b), nil
	}
	out, err := exec.CommandContext(ctx, "perf", "script", "-i", path).Output()
	if err != nil {
		return nil, fmt.Errorf("perf script -i %s: %w", path, err)
	}
	return bytes.NewReader(out), nil
}

// perfBreakdownMain prints, for the reference and the subject, how many
// µs per request each category cost, and what the subject costs more.
func perfBreakdownMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("botbench "+cmdPerfBreakdown, flag.ContinueOnError)
	fs.SetOutput(stderr)
	refFile := fs.String("ref", "", "the reference's recording (.perf.data from botbench -perf, or perf script output)")
	refUs := fs.Float64("ref-us", 0, "the reference's server CPU per request in that run (µs), from the run's row")
	subFile := fs.String("subject", "", "botauthz's recording")
	subUs := fs.Float64("subject-us", 0, "botauthz's server CPU per request in that run (µs)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *refFile == "" || *subFile == "" || *refUs <= 0 || *subUs <= 0 {
		fmt.Fprintln(stderr, "botbench perf-breakdown: -ref, -ref-us, -subject and -subject-us are all needed")
		return 2
	}
	var bs [2]*breakdown
	for i, f := range []string{*refFile, *subFile} {
		r, err := perfScript(ctx, f)
		if err == nil {
			bs[i], err = newBreakdown(r)
		}
		if err != nil {
			fmt.Fprintf(stderr, "botbench perf-breakdown: %s: %v\n", f, err)
			return 1
		}
	}
	printBreakdown(stdout, bs[0], *refUs, bs[1], *subUs)
	return 0
}

func printBreakdown(w io.Writer, ref *breakdown, refUs float64, sub *breakdown, subUs float64) {
	us := func(b *breakdown, total float64, cat string) float64 {
		return total * float64(b.counts[cat]) / float64(b.samples)
	}
	fmt.Fprintf(w, "| where the CPU goes | reference µs/req | botauthz µs/req | difference µs/req | share of the difference |\n")
	fmt.Fprintf(w, "|---|---:|---:|---:|---:|\n")
	diff := subUs - refUs
	names := []string{}
	for _, c := range categories() {
		names = append(names, c.name)
	}
	for _, name := range append(names, otherCategory) {
		r, s := us(ref, refUs, name), us(sub, subUs, name)
		if math.Abs(r) < 0.05 && math.Abs(s) < 0.05 {
			continue
		}
		share := "–"
		if diff > 0 {
			share = fmt.Sprintf("%.0f%%", 100*(s-r)/diff)
		}
		fmt.Fprintf(w, "| %s | %.1f | %.1f | %+.1f | %s |\n", name, r, s, s-r, share)
	}
	fmt.Fprintf(w, "| **total** (%d and %d samples) | %.1f | %.1f | %+.1f | 100%% |\n", ref.samples, sub.samples, refUs, subUs, diff)
}
