package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	"github.com/botauthz/botauthz/internal/redistest"
)

// botauthzBin and botbenchBin are built once by TestMain: the harness runs
// real binaries, and its servers are botbench's own sub-commands.
var botauthzBin, botbenchBin string

func TestMain(m *testing.M) {
	// As main does: go-redis's dial failures (TestNoop stops its Redis on
	// purpose) are not test output.
	redis.SetLogger(quietRedis{})
	dir, err := os.MkdirTemp("", "botbench-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	botauthzBin, botbenchBin = filepath.Join(dir, "botauthz"), filepath.Join(dir, "botbench")
	build := exec.Command("go", "build", "-o", dir, "../botauthz", ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build botauthz and botbench:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// required says whether a missing tool fails the test instead of skipping.
func required() bool { return os.Getenv(redistest.EnvRequire) == "1" }

// need finds a tool, or skips (fails under BOTAUTHZ_TEST_REQUIRE=1).
func need(t *testing.T, what string, find func() (string, error)) string {
	t.Helper()
	p, err := find()
	if err != nil {
		if required() {
			t.Fatalf("%s: %v (%s=1 requires it)", what, err, redistest.EnvRequire)
		}
		t.Skipf("%s: %v; make bench-load installs it", what, err)
	}
	return p
}

// TestModes runs every mode briefly, end to end, and checks that the
// report is complete and well-formed. It asserts no timing: only that
// every number that must exist exists and is consistent.
func TestModes(t *testing.T) {
	for _, mode := range allModes() {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			report := filepath.Join(t.TempDir(), "report.json")
			args := []string{
				"-mode", mode, "-duration", "500ms", "-warmup", "0s", "-reps", "1",
				"-conns", "2", "-concurrency", "4", "-rate", "40", "-clients", "200", "-ipv6-clients", "20",
				// Errors are asserted away: a machine busy with other tests
				// must not turn a slow answer into one.
				"-timeout", "20s",
				// The modes run in parallel: each is the others' noise.
				"-max-other-cores", "0",
				"-botauthz", botauthzBin, "-server-bin", botbenchBin,
				"-json", report,
			}
			switch mode {
			case modeRedis:
				need(t, "redis-server", func() (string, error) { return findRedisServer("") })
			case modeCluster:
				bin := need(t, "redis-server", func() (string, error) { return findRedisServer("") })
				need(t, "redis-cli", func() (string, error) { return findRedisCLI("", bin) })
			case modeEnvoy, modeEnvoyNoop:
				envoy := need(t, "envoy", func() (string, error) {
					if p := os.Getenv("BOTAUTHZ_ENVOY"); p != "" {
						return findEnvoy(p)
					}
					if p, err := filepath.Abs("../../.tools/envoy/envoy/_bin/envoy"); err == nil {
						if _, err := os.Stat(p); err == nil {
							return p, nil
						}
					}
					return findEnvoy("")
				})
				args = append(args, "-envoy", envoy, "-envoy-config", "../../envoy/front-proxy.yaml")
			}
			var stdout, stderr bytes.Buffer
			if code := run(t.Context(), args, &stdout, &stderr); code != 0 {
				t.Fatalf("botbench %s: exit %d\n%s\n%s", strings.Join(args, " "), code, stdout.String(), stderr.String())
			}
			rep := readReport(t, report)
			checkReport(t, mode, rep)
			if want := "## " + mode + ": "; !strings.Contains(stdout.String(), want) {
				t.Errorf("stdout lacks %q:\n%s", want, stdout.String())
			}
		})
	}
}

func readReport(t *testing.T, path string) *Report {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rep := &Report{}
	if err := json.Unmarshal(b, rep); err != nil {
		t.Fatalf("report: %v\n%s", err, b)
	}
	return rep
}

func checkReport(t *testing.T, mode string, rep *Report) {
	t.Helper()
	if rep.Machine.CPUs < 1 || rep.Machine.GoVersion == "" {
		t.Errorf("machine = %+v", rep.Machine)
	}
	if len(rep.Modes) != 1 {
		t.Fatalf("%d modes in the report, want 1", len(rep.Modes))
	}
	m := rep.Modes[0]
	wantRef := map[string]string{modeMemory: "noop", modeRedis: "noop+incr", modeCluster: "noop+incr", modeEnvoy: "envoy", modeEnvoyNoop: "envoy+noop"}[mode]
	wantSub := map[string]string{modeMemory: "botauthz", modeRedis: "botauthz", modeCluster: "botauthz", modeEnvoy: "envoy+botauthz", modeEnvoyNoop: "envoy+botauthz"}[mode]
	if m.Summary.Reference != wantRef || m.Summary.Subject != wantSub {
		t.Errorf("compares %s with %s, want %s with %s", m.Summary.Subject, m.Summary.Reference, wantSub, wantRef)
	}
	// One repetition: reference then botauthz, closed loop then open loop.
	want := []struct {
		phase, server string
	}{{phaseClosed, wantRef}, {phaseClosed, wantSub}, {phaseOpen, wantRef}, {phaseOpen, wantSub}}
	if len(m.Runs) != len(want) {
		t.Fatalf("%d runs, want %d", len(m.Runs), len(want))
	}
	for i, r := range m.Runs {
		if r.Phase != want[i].phase || r.Server != want[i].server || r.Mode != mode {
			t.Errorf("run %d is %s %s %s, want %s %s", i, r.Mode, r.Phase, r.Server, want[i].phase, want[i].server)
		}
		if r.Requests <= 0 || r.Errors != 0 || r.OK+r.NotOK+r.Errors != r.Requests || r.Degraded > r.OK {
			t.Errorf("run %d (%s %s): requests %d ok %d not ok %d degraded %d errors %d (%s)",
				i, r.Phase, r.Server, r.Requests, r.OK, r.NotOK, r.Degraded, r.Errors, r.FirstErr)
		}
		if !(r.Throughput > 0 && r.Seconds > 0 && r.P50Ms > 0 && r.P50Ms <= r.P99Ms && r.P99Ms <= r.P999Ms && r.P999Ms <= r.MaxMs) {
			t.Errorf("run %d (%s %s): throughput %g in %gs, p50 %g p99 %g p99.9 %g max %g",
				i, r.Phase, r.Server, r.Throughput, r.Seconds, r.P50Ms, r.P99Ms, r.P999Ms, r.MaxMs)
		}
		if r.Phase == phaseOpen && (r.Rate != 40 || r.Requests != 20) {
			t.Errorf("run %d: open loop at %g/s sent %d, want 40/s and 20 requests", i, r.Rate, r.Requests)
		}
		if r.Phase == phaseClosed && r.Callers != 4 {
			t.Errorf("run %d: %d callers, want 4", i, r.Callers)
		}
		if math.IsNaN(r.ServerCPUUs) || r.ServerCPUUs < 0 || r.GeneratorCPUUs <= 0 || r.ServerRSSMiB <= 0 || r.OtherCores < 0 || r.LoadAvg == "" {
			t.Errorf("run %d: server CPU %g µs/req, generator CPU %g µs/req, server RSS %g MiB, other %g cores, load %q",
				i, r.ServerCPUUs, r.GeneratorCPUUs, r.ServerRSSMiB, r.OtherCores, r.LoadAvg)
		}
		roles := map[string]int{}
		for _, p := range r.Procs {
			roles[p.Role]++
			if p.RSSMiB <= 0 || p.PeakRSSMiB < p.RSSMiB || p.CPUUs < 0 || p.Cores < 0 {
				t.Errorf("run %d: process %+v", i, p)
			}
		}
		wantRoles := map[string]int{roleServer: 1}
		switch {
		case mode == modeRedis:
			wantRoles[roleStore] = 1
		case mode == modeCluster:
			wantRoles[roleStore] = 3
		case mode == modeEnvoyNoop || (mode == modeEnvoy && r.Server == wantSub):
			wantRoles = map[string]int{roleServer: 2, roleUpstream: 1} // envoy and botauthz or noop
		case mode == modeEnvoy:
			wantRoles = map[string]int{roleServer: 1, roleUpstream: 1}
		}
		if fmt.Sprint(roles) != fmt.Sprint(wantRoles) {
			t.Errorf("run %d (%s): processes by role %v, want %v", i, r.Server, roles, wantRoles)
		}
	}
	if m.Summary.Rate != 40 {
		t.Errorf("summary rate %g, want 40", m.Summary.Rate)
	}
	// Not the CPU ratio: a 0.5 s run may see no clock tick of the floor's
	// CPU, and then there is no ratio.
	for _, metric := range []string{"throughput, closed loop", "p99 latency, open loop at 40/s"} {
		if ratio := m.Summary.Ratio(metric); math.IsNaN(ratio) || ratio <= 0 {
			t.Errorf("summary %q ratio = %g; rows %+v", metric, ratio, m.Summary.Rows)
		}
	}
	if m.Summary.LoadAvgBefore == "" || m.Summary.LoadAvgAfter == "" {
		t.Errorf("summary has no load average: %+v", m.Summary)
	}
}

// TestNoop checks the references are what BENCHMARKS.md says: an empty OK,
// and with Redis, one INCR per Check.
func TestNoop(t *testing.T) {
	resp, err := noop{}.Check(t.Context(), &authv3.CheckRequest{})
	if err != nil || !proto.Equal(resp, &authv3.CheckResponse{Status: resp.GetStatus()}) || resp.GetStatus().GetCode() != 0 ||
		resp.GetStatus().GetMessage() != "" || len(resp.GetStatus().GetDetails()) != 0 {
		t.Errorf("noop answered %v, %v; want an empty OK", resp, err)
	}

	srv := redistest.Start(t)
	client, err := newRedisClient(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	n := newNoopIncr(client)
	for range 3 {
		resp, err := n.Check(t.Context(), &authv3.CheckRequest{})
		if err != nil || resp.GetStatus().GetCode() != 0 {
			t.Fatalf("noop+incr answered %v, %v", resp, err)
		}
	}
	var total int64
	for _, k := range n.keys[:4] {
		v, err := client.Get(t.Context(), k).Int64()
		if err != nil && err != redis.Nil {
			t.Fatal(err)
		}
		total += v
	}
	if total != 3 {
		t.Errorf("3 Checks made %d INCRs, want 3", total)
	}
	srv.Stop()
	if _, err := n.Check(t.Context(), &authv3.CheckRequest{}); err == nil {
		t.Error("noop+incr answered OK without Redis; want an error")
	}
}

// sleepTarget answers after d, one request at a time.
type sleepTarget struct {
	mu sync.Mutex
	d  time.Duration
	n  int
}

func (s *sleepTarget) send(ctx context.Context, _ int, _ *request) (outcome, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	time.Sleep(s.d) // the slow server under test, not a wait for a condition
	s.n++
	if s.n%4 == 0 {
		return outNotOK, nil
	}
	return outOK, nil
}

func (*sleepTarget) close() error { return nil }

// TestOpenLoopCountsQueueing: a server that takes 20 ms per request, one
// at a time (50/s), under 100/s for 0.3 s. A generator that waited for
// answers would see 20 ms; measured from the intended send times, the last
// of the 30 requests was due at 290 ms and cannot be answered before
// 30 × 20 ms = 600 ms, so at least 310 ms.
func TestOpenLoopCountsQueueing(t *testing.T) {
	p := testPool(t, encodingHeaderMap)
	tgt := &sleepTarget{d: 20 * time.Millisecond}
	res, err := runLoad(t.Context(), tgt, p, loadSpec{duration: 300 * time.Millisecond, rate: 100, timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.sent != 30 || len(res.latencies) != 30 || len(res.lags) != 30 {
		t.Fatalf("sent %d (%d latencies, %d lags), want 30", res.sent, len(res.latencies), len(res.lags))
	}
	if got := quantile(res.latencies, 1); got < 310*time.Millisecond {
		t.Errorf("slowest latency %s, want at least 310ms: queueing behind a slow server went uncounted", got)
	}
	if res.ok+res.notOK != 30 || res.notOK != 7 {
		t.Errorf("ok %d, not ok %d; want 23 and 7", res.ok, res.notOK)
	}
}

// TestClosedLoop: callers keep going for the duration, and every answer is
// counted once.
func TestClosedLoop(t *testing.T) {
	p := testPool(t, encodingHeaderMap)
	tgt := &sleepTarget{d: time.Millisecond}
	res, err := runLoad(t.Context(), tgt, p, loadSpec{duration: 100 * time.Millisecond, concurrency: 3, timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.sent == 0 || int(res.sent) != tgt.n || int(res.sent) != len(res.latencies) || res.ok+res.notOK != res.sent {
		t.Errorf("sent %d, served %d, %d latencies, ok %d, not ok %d", res.sent, tgt.n, len(res.latencies), res.ok, res.notOK)
	}
	if res.elapsed < 100*time.Millisecond {
		t.Errorf("ran %s, want the 100ms asked for", res.elapsed)
	}
}

func testPool(t *testing.T, encoding string) *pool {
	t.Helper()
	p, err := newPool(poolOptions{clients4: 1000, clients6: 100, seed: 7, encoding: encoding})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPool: the pool is deterministic, one request per client, a mix of
// browsers and automation on every route, and each CheckRequest carries
// the client as Envoy would say it.
func TestPool(t *testing.T) {
	a, b := testPool(t, encodingHeaderMap), testPool(t, encodingHeaderMap)
	if len(a.reqs) != 1100 {
		t.Fatalf("%d requests, want 1100", len(a.reqs))
	}
	clients := map[string]bool{}
	var automation, sessions, v6 int
	routes := map[string]int{}
	for i := range a.reqs {
		r := &a.reqs[i]
		if !bytes.Equal(r.check, b.reqs[i].check) {
			t.Fatalf("request %d differs between two pools of one seed", i)
		}
		clients[r.client.String()] = true
		routes[r.route]++
		if r.client.Is6() {
			v6++
		}
		for _, p := range profiles() {
			if p.name == r.profile && p.automation {
				automation++
			}
		}
		msg := &authv3.CheckRequest{}
		if err := proto.Unmarshal(r.check, msg); err != nil {
			t.Fatal(err)
		}
		attrs := msg.GetAttributes()
		hm := map[string]string{}
		for _, h := range attrs.GetRequest().GetHttp().GetHeaderMap().GetHeaders() {
			hm[h.GetKey()] = string(h.GetRawValue())
		}
		if hm["x-envoy-external-address"] != r.client.String() || hm[":path"] != r.path ||
			attrs.GetContextExtensions()["route"] != r.route || hm["user-agent"] == "" ||
			attrs.GetSource().GetAddress().GetSocketAddress().GetAddress() != r.client.String() {
			t.Fatalf("request %d: %v", i, msg)
		}
		if strings.Contains(hm["cookie"], sessionCookie+"=") {
			sessions++
		}
	}
	if len(clients) != 1100 || v6 != 100 {
		t.Errorf("%d distinct clients (%d IPv6), want 1100 (100)", len(clients), v6)
	}
	if automation < 200 || automation > 450 || sessions < 150 || sessions > 450 {
		t.Errorf("%d automation, %d with a session, of 1100", automation, sessions)
	}
	if routes["default"] == 0 || routes["login"] == 0 || routes["api"] == 0 {
		t.Errorf("routes %v, want all three", routes)
	}

	msg := &authv3.CheckRequest{}
	if err := proto.Unmarshal(testPool(t, encodingHeaders).reqs[0].check, msg); err != nil {
		t.Fatal(err)
	}
	h := msg.GetAttributes().GetRequest().GetHttp()
	if len(h.GetHeaderMap().GetHeaders()) != 0 || h.GetHeaders()[":path"] == "" || h.GetHeaders()["x-envoy-external-address"] == "" {
		t.Errorf("-encoding headers: %v", h)
	}
}

// TestEnvoyConfig: the floor is the shipped bootstrap with ext_authz
// disabled on exactly the routes that had it, and both listen on loopback
// only.
func TestEnvoyConfig(t *testing.T) {
	ports := envoyPorts{admin: 1001, listen: 1002, plain: 1003, botauthzGRPC: 1004, botauthzHTTP: 1005, upstream: 1006, collector: 1007}
	with, err := envoyConfig("../../envoy/front-proxy.yaml", "/c.crt", "/c.key", ports, true)
	if err != nil {
		t.Fatal(err)
	}
	without, err := envoyConfig("../../envoy/front-proxy.yaml", "/c.crt", "/c.key", ports, false)
	if err != nil {
		t.Fatal(err)
	}
	routes := strings.Count(with, "context_extensions:")
	if routes < 3 || strings.Count(without, "context_extensions:") != 0 ||
		strings.Count(without, "disabled: true") != strings.Count(with, "disabled: true")+routes {
		t.Errorf("with ext_authz: %d routes; without: %d context_extensions, %d disabled (was %d)", routes,
			strings.Count(without, "context_extensions:"), strings.Count(without, "disabled: true"), strings.Count(with, "disabled: true"))
	}
	for _, conf := range []string{with, without} {
		for _, want := range []string{"port_value: 1002 }", "port_value: 1004 }", "port_value: 1006 }", "filename: /c.crt", "xff_num_trusted_hops: 1"} {
			if !strings.Contains(conf, want) {
				t.Errorf("config lacks %q", want)
			}
		}
		if strings.Contains(conf, "0.0.0.0") {
			t.Error("config listens beyond loopback")
		}
	}
}

// TestReadProc reads botbench's own counters and sees its CPU time grow.
func TestReadProc(t *testing.T) {
	tick := clockTicks()
	if tick <= 0 {
		t.Fatalf("clock ticks %d", tick)
	}
	first, err := readProc(0, tick)
	if err != nil {
		t.Fatal(err)
	}
	if first.rssKB <= 0 || first.hwmKB < first.rssKB {
		t.Errorf("RSS %d kB, peak %d kB", first.rssKB, first.hwmKB)
	}
	deadline := time.Now().Add(10 * time.Second)
	x := 1.0
	for {
		for range 1_000_000 {
			x = math.Sqrt(x + 1)
		}
		s, err := readProc(0, tick)
		if err != nil {
			t.Fatal(err)
		}
		if s.cpu > first.cpu {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("CPU time stayed %s while computing (%g)", s.cpu, x)
		}
	}
}

// TestSummarize: medians per side and their ratios.
func TestSummarize(t *testing.T) {
	var runs []Run
	for i, tput := range []float64{100, 300, 200} {
		runs = append(runs,
			Run{Phase: phaseClosed, Server: "noop", Reference: true, Rep: i + 1, Throughput: tput, ServerCPUUs: 10},
			Run{Phase: phaseClosed, Server: "botauthz", Rep: i + 1, Throughput: tput / 2, ServerCPUUs: 15},
			Run{Phase: phaseOpen, Server: "noop", Reference: true, Rep: i + 1, Throughput: 50, P99Ms: 2},
			Run{Phase: phaseOpen, Server: "botauthz", Rep: i + 1, Throughput: 40, P99Ms: 8, Overloaded: i == 0})
	}
	s := &Summary{Rate: 50}
	summarize(s, runs)
	for metric, want := range map[string]float64{
		"throughput, closed loop":             0.5,
		"server CPU per request, closed loop": 1.5,
		"p99 latency, open loop at 50/s":      4,
	} {
		if got := s.Ratio(metric); got != want {
			t.Errorf("%s ratio %g, want %g", metric, got, want)
		}
	}
	if s.Rows[0].Reference != 200 || s.Rows[0].Subject != 100 {
		t.Errorf("medians %g and %g, want 200 and 100", s.Rows[0].Reference, s.Rows[0].Subject)
	}
	if fmt.Sprint(s.Overloaded) != "[botauthz]" {
		t.Errorf("overloaded %v, want [botauthz]", s.Overloaded)
	}
	if _, err := json.Marshal(s); err != nil {
		t.Errorf("summary does not encode: %v", err)
	}
}

// TestFlags refuses settings that cannot measure anything.
func TestFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-mode", "disk"}, {"-duration", "0s"}, {"-reps", "0"}, {"-conns", "0"}, {"-rate", "-1"},
		{"-rate-share", "0"}, {"-encoding", "xml"}, {"-phases", "warm"}, {"extra"},
	} {
		var stderr bytes.Buffer
		if code := run(t.Context(), args, &bytes.Buffer{}, &stderr); code != 2 {
			t.Errorf("botbench %v: exit %d, want 2 (%s)", args, code, stderr.String())
		}
	}
}

// TestPerfBreakdown files perf samples by the frames on their stacks, the
// first matching category winning.
func TestPerfBreakdown(t *testing.T) {
	script := `botauthz 12735  2953.730881:    1001001 cpu-clock:ppp: 
	           3919a runtime.tryDeferToSpanScan+0xfa (/tmp/bb/botauthz)
	           3377f runtime.gcBgMarkWorker+0x1df (/tmp/bb/botauthz)
	           93661 runtime.goexit.abi0+0x1 (/tmp/bb/botauthz)

botauthz 12735  2953.731880:    1001001 cpu-clock:ppp: 
	           363e5 runtime.gcAssistAlloc+0x2a5 (/tmp/bb/botauthz)
	           27606 runtime.mallocgc+0x46 (/tmp/bb/botauthz)
	           11111 github.com/botauthz/botauthz/scoring.Score+0x46 (/tmp/bb/botauthz)
	           22222 github.com/botauthz/botauthz/extauthz.(*Server).Check+0x46 (/tmp/bb/botauthz)

botauthz 12735  2953.746942:    1001001 cpu-clock:ppp: 
	           11111 github.com/botauthz/botauthz/scoring.Score+0x46 (/tmp/bb/botauthz)
	           22222 github.com/botauthz/botauthz/extauthz.(*Server).Check+0x46 (/tmp/bb/botauthz)

botauthz 12735  2953.747943:    1001001 cpu-clock:ppp: 
	ffffffff8a1b2c3d finish_task_switch.isra.0+0x9d ([kernel.kallsyms])
	           33333 internal/runtime/syscall/linux.Syscall6+0x2e (/tmp/bb/botauthz)
	           44444 internal/poll.(*FD).Write+0x2e (/tmp/bb/botauthz)
	           55555 google.golang.org/grpc/internal/transport.(*loopyWriter).run+0x2e (/tmp/bb/botauthz)

botauthz 12735  2953.748943:    1001001 cpu-clock:ppp: 
	           66666 main.unknownThing+0x1 (/tmp/bb/botauthz)
`
	b, err := newBreakdown(strings.NewReader(script))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{
		"GC: background marking":                     1,
		"GC: mark assists (paid by allocating code)": 1,
		"Check: scoring":                             1,
		"syscalls: network read/write":               1,
		otherCategory:                                1,
	}
	if b.samples != 5 || fmt.Sprint(b.counts) != fmt.Sprint(want) {
		t.Errorf("%d samples %v, want 5 %v", b.samples, b.counts, want)
	}
	var out bytes.Buffer
	printBreakdown(&out, b, 10, b, 20)
	if !strings.Contains(out.String(), "| Check: scoring | 2.0 | 4.0 | +2.0 | 20% |") {
		t.Errorf("breakdown table:\n%s", out.String())
	}
	if _, err := newBreakdown(strings.NewReader("")); err == nil {
		t.Error("an empty perf script was accepted")
	}
}

// TestMeasureQuietly repeats a run while other processes were busy, keeps
// the last attempt, and flags it when every attempt was noisy.
func TestMeasureQuietly(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, c := range []struct {
		other       []float64
		wantCalls   int
		wantRetries int
		wantNoisy   bool
	}{
		{[]float64{0.1}, 1, 0, false},
		{[]float64{0.9, 0.1}, 2, 1, false},
		{[]float64{0.9, 0.8, 0.7}, 3, 2, true},
	} {
		calls := 0
		r, err := measureQuietly(0.25, 2, log, func() (*Run, error) {
			calls++
			return &Run{OtherCores: c.other[calls-1]}, nil
		})
		if err != nil || calls != c.wantCalls || r.Retries != c.wantRetries || r.Noisy != c.wantNoisy || r.OtherCores != c.other[calls-1] {
			t.Errorf("other %v: %d calls, run %+v, %v; want %d calls, %d retries, noisy %t",
				c.other, calls, r, err, c.wantCalls, c.wantRetries, c.wantNoisy)
		}
	}
}

// TestExtAuthzFailures adds up the Checks Envoy gave up on, from its admin
// stats, and nothing else.
func TestExtAuthzFailures(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("filter") != "ext_authz" {
			http.Error(w, "unexpected filter", http.StatusBadRequest)
			return
		}
		io.WriteString(w, `cluster.app.ext_authz.botauthz.error: 100
http.ingress_http.ext_authz.botauthz.denied: 7
http.ingress_http.ext_authz.botauthz.error: 2
http.ingress_http.ext_authz.botauthz.failure_mode_allowed: 3
http.ingress_http.ext_authz.botauthz.invalid: 1
http.ingress_http.ext_authz.botauthz.ok: 6087
http.ingress_http.ext_authz.botauthz.shadow_error: 9
`)
	}))
	defer srv.Close()
	n, err := extAuthzFailures(srv.URL)
	if err != nil || n != 6 {
		t.Errorf("extAuthzFailures = %d, %v; want 6", n, err)
	}
}

// TestStartTakingPortsStartsAgainOnlyForATakenPort: a start whose server
// found its port taken is tried again, up to the bound; any other failure,
// and success, end it at once.
func TestStartTakingPortsStartsAgainOnlyForATakenPort(t *testing.T) {
	taken := errors.New("botauthz ready: botauthz exited (exit status 1):\n-http-addr: listen tcp 127.0.0.1:18313: bind: address already in use")
	tests := []struct {
		name      string
		fails     []error // the starts' errors, in order; then success
		wantCalls int
		wantErr   bool
	}{
		{"success", nil, 1, false},
		{"taken once", []error{taken}, 2, false},
		{"taken twice", []error{taken, taken}, 3, false},
		{"taken every time", []error{taken, taken, taken, taken}, 3, true},
		{"another failure", []error{errors.New("envoy exited (exit status 1)")}, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls, retried := 0, 0
			inst, err := startTakingPorts(3, func() (*instance, error) {
				calls++
				if calls <= len(tt.fails) {
					return nil, tt.fails[calls-1]
				}
				return &instance{}, nil
			}, func(error) { retried++ })
			if calls != tt.wantCalls || retried != calls-1 || (err != nil) != tt.wantErr || (inst == nil) != tt.wantErr {
				t.Errorf("%d starts, %d retries, err %v; want %d starts, an error %v", calls, retried, err, tt.wantCalls, tt.wantErr)
			}
		})
	}
}
