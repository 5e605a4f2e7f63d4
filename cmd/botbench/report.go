package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"time"
)

// Report is everything one botbench invocation measured (-json).
type Report struct {
	Machine  Machine      `json:"machine"`
	Settings Settings     `json:"settings"`
	Modes    []ModeReport `json:"modes"`
}

// Machine is where the numbers were taken.
type Machine struct {
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpu_model"`
	Kernel    string `json:"kernel"`
	GoVersion string `json:"go_version"`
	Envoy     string `json:"envoy,omitempty"`
	Redis     string `json:"redis,omitempty"`
}

// Settings are the load's.
type Settings struct {
	Command     string  `json:"command"`
	Duration    string  `json:"duration"`
	Warmup      string  `json:"warmup"`
	Reps        int     `json:"reps"`
	Conns       int     `json:"conns"`
	Concurrency int     `json:"concurrency"`
	Rate        float64 `json:"rate,omitempty"`
	Timeout     string  `json:"timeout"`
	Encoding    string  `json:"encoding"`
	Requests    int     `json:"pool_requests"`
	Profiles    string  `json:"pool_profiles"`
	Routes      string  `json:"pool_routes"`
	Policy      string  `json:"policy"`
}

// ModeReport is one mode's runs and their summary.
type ModeReport struct {
	Summary Summary `json:"summary"`
	Runs    []Run   `json:"runs"`
}

// Run is one measured run of one server.
type Run struct {
	Mode      string  `json:"mode"`
	Phase     string  `json:"phase"`
	Server    string  `json:"server"`
	Reference bool    `json:"reference"`
	Rep       int     `json:"rep"`
	Callers   int     `json:"callers,omitempty"`
	Rate      float64 `json:"rate,omitempty"`
	LoadAvg   string  `json:"loadavg"`
	// OtherCores is the CPU the rest of the machine used during the run,
	// in cores: the noise a shared machine adds.
	OtherCores float64 `json:"other_cores"`
	// Retries is how many earlier attempts of this run were dropped as
	// noisy (OtherCores over -max-other-cores); Noisy is true when this
	// one was too.
	Retries  int     `json:"retries,omitempty"`
	Noisy    bool    `json:"noisy,omitempty"`
	Requests int64   `json:"requests"`
	OK       int64   `json:"ok"`
	NotOK    int64   `json:"not_ok"`
	Degraded int64   `json:"degraded"`
	Errors   int64   `json:"errors"`
	FirstErr string  `json:"first_error,omitempty"`
	Seconds  float64 `json:"seconds"`
	// Throughput is requests answered (or failed) per second.
	Throughput float64 `json:"throughput"`
	P50Ms      float64 `json:"p50_ms"`
	P99Ms      float64 `json:"p99_ms"`
	P999Ms     float64 `json:"p999_ms"`
	MaxMs      float64 `json:"max_ms"`
	// Open loop: how late the generator sent, against its schedule.
	LagP50Ms float64 `json:"lag_p50_ms,omitempty"`
	LagP99Ms float64 `json:"lag_p99_ms,omitempty"`
	LagMaxMs float64 `json:"lag_max_ms,omitempty"`
	Behind   bool    `json:"generator_behind,omitempty"`
	// Overloaded: open loop, the server did not keep up with the rate
	// (errors, or under 95% of it answered in time); its latencies are those
	// of a growing queue and compare with nothing.
	Overloaded bool `json:"overloaded,omitempty"`
	// CPU per request, µs: the server processes' (botauthz or the
	// reference; Envoy and botauthz in the envoy mode), Redis's, the
	// generator's.
	ServerCPUUs    float64 `json:"server_cpu_us"`
	StoreCPUUs     float64 `json:"store_cpu_us,omitempty"`
	GeneratorCPUUs float64 `json:"generator_cpu_us"`
	// ServerRSSMiB is the server processes' VmRSS at the end of the run.
	ServerRSSMiB float64     `json:"server_rss_mib"`
	Procs        []ProcUsage `json:"procs"`
}

// ProcUsage is one process's share of a run.
type ProcUsage struct {
	Name       string  `json:"name"`
	Role       string  `json:"role"`
	CPUUs      float64 `json:"cpu_us_per_request"`
	Cores      float64 `json:"cores"`
	RSSMiB     float64 `json:"rss_mib"`
	PeakRSSMiB float64 `json:"peak_rss_mib"`
}

// Summary is a mode's medians and ratios.
type Summary struct {
	Mode          string  `json:"mode"`
	Reference     string  `json:"reference"`
	Subject       string  `json:"subject"`
	Rate          float64 `json:"rate,omitempty"`
	LoadAvgBefore string  `json:"loadavg_before"`
	LoadAvgAfter  string  `json:"loadavg_after"`
	Rows          []Row   `json:"rows"`
	// Overloaded names the servers that did not keep up with the open-loop
	// rate in some run.
	Overloaded []string `json:"overloaded,omitempty"`
	// MaxOtherCores is the most CPU the rest of the machine used in any run
	// kept; Retried counts the runs dropped and repeated as noisy; Noisy
	// lists the runs kept although noisy.
	MaxOtherCores float64  `json:"max_other_cores"`
	Retried       int      `json:"retried,omitempty"`
	Noisy         []string `json:"noisy,omitempty"`
	// Behind is true when the generator fell behind its open-loop schedule
	// in some run (the machine was short of CPU).
	Behind bool `json:"generator_behind,omitempty"`
}

// Row is one metric: the median of each side's runs and subject ÷
// reference (NaN, printed as –, where the reference has none).
type Row struct {
	Metric    string  `json:"metric"`
	Unit      string  `json:"unit"`
	Reference float64 `json:"reference"`
	Subject   float64 `json:"subject"`
	Ratio     float64 `json:"ratio"`
}

// MarshalJSON writes NaN (no value) as null.
func (r Row) MarshalJSON() ([]byte, error) {
	orNull := func(v float64) *float64 {
		if math.IsNaN(v) {
			return nil
		}
		return &v
	}
	return json.Marshal(struct {
		Metric    string   `json:"metric"`
		Unit      string   `json:"unit"`
		Reference *float64 `json:"reference"`
		Subject   *float64 `json:"subject"`
		Ratio     *float64 `json:"ratio"`
	}{r.Metric, r.Unit, orNull(r.Reference), orNull(r.Subject), orNull(r.Ratio)})
}

// overloadedShare: an open-loop run that answered under this share of its
// rate was overloaded.
const overloadedShare = 0.95

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// newRun turns a load result and the processes' counters before and after
// it into a Run. The last sample is botbench's own.
func newRun(mode, phase string, v variant, rep int, rate float64, callers int, res *loadResult,
	procs []measured, before, after []procSample) *Run {
	r := &Run{
		Mode: mode, Phase: phase, Server: v.name, Reference: v.reference, Rep: rep,
		Requests: res.sent, OK: res.ok, NotOK: res.notOK, Degraded: res.degraded, Errors: res.errors,
		FirstErr: res.firstErr, Seconds: res.elapsed.Seconds(),
		P50Ms: ms(quantile(res.latencies, 0.50)), P99Ms: ms(quantile(res.latencies, 0.99)),
		P999Ms: ms(quantile(res.latencies, 0.999)), MaxMs: ms(quantile(res.latencies, 1)),
	}
	if phase == phaseOpen {
		r.Rate = rate
		r.LagP50Ms, r.LagP99Ms, r.LagMaxMs = ms(quantile(res.lags, 0.5)), ms(quantile(res.lags, 0.99)), ms(quantile(res.lags, 1))
		r.Behind = res.behind()
	} else {
		r.Callers = callers
	}
	if r.Seconds > 0 {
		r.Throughput = float64(res.sent) / r.Seconds
	}
	if phase == phaseOpen {
		r.Overloaded = res.errors > 0 || r.Throughput < overloadedShare*rate
	}
	perRequest := func(d time.Duration) float64 {
		if res.sent == 0 {
			return 0
		}
		return float64(d) / float64(time.Microsecond) / float64(res.sent)
	}
	for i, m := range procs {
		cpu := after[i].cpu - before[i].cpu
		u := ProcUsage{
			Name: m.name, Role: m.role, CPUUs: perRequest(cpu),
			RSSMiB: float64(after[i].rssKB) / 1024, PeakRSSMiB: float64(after[i].hwmKB) / 1024,
		}
		if r.Seconds > 0 {
			u.Cores = cpu.Seconds() / r.Seconds
		}
		r.Procs = append(r.Procs, u)
		switch m.role {
		case roleServer:
			r.ServerCPUUs += u.CPUUs
			r.ServerRSSMiB += u.RSSMiB
		case roleStore:
			r.StoreCPUUs += u.CPUUs
		}
	}
	self := len(procs)
	r.GeneratorCPUUs = perRequest(after[self].cpu - before[self].cpu)
	return r
}

// median of values; NaN for none.
func median(values []float64) float64 {
	if len(values) == 0 {
		return math.NaN()
	}
	v := slices.Clone(values)
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// metric is one row of a summary: a value of each run of one phase.
type metric struct {
	name, unit, phase string
	value             func(*Run) (float64, bool)
}

func procCPU(name string) func(*Run) (float64, bool) {
	return func(r *Run) (float64, bool) {
		for _, p := range r.Procs {
			if p.Name == name {
				return p.CPUUs, true
			}
		}
		return 0, false
	}
}

func always(f func(*Run) float64) func(*Run) (float64, bool) {
	return func(r *Run) (float64, bool) { return f(r), true }
}

// summarize fills s.Rows with the medians of runs and their ratios.
func summarize(s *Summary, runs []Run) {
	for _, r := range runs {
		if r.Overloaded && !slices.Contains(s.Overloaded, r.Server) {
			s.Overloaded = append(s.Overloaded, r.Server)
		}
		s.Behind = s.Behind || r.Behind
		s.MaxOtherCores = max(s.MaxOtherCores, r.OtherCores)
		s.Retried += r.Retries
		if r.Noisy {
			s.Noisy = append(s.Noisy, fmt.Sprintf("%s %s %d", r.Phase, r.Server, r.Rep))
		}
	}
	hasStore, several := false, false
	procNames := []string{}
	for _, r := range runs {
		hasStore = hasStore || r.StoreCPUUs > 0
		n := 0
		for _, p := range r.Procs {
			if p.Role == roleStore {
				continue
			}
			n++
			if !slices.Contains(procNames, p.Name) {
				procNames = append(procNames, p.Name)
			}
		}
		// Envoy and its ext_authz server, the upstream: worth a row each.
		several = several || n > 1
	}
	rate := fmt.Sprintf("%.0f/s", s.Rate)
	metrics := []metric{
		{"throughput, closed loop", "req/s", phaseClosed, always(func(r *Run) float64 { return r.Throughput })},
		{"server CPU per request, closed loop", "µs", phaseClosed, always(func(r *Run) float64 { return r.ServerCPUUs })},
	}
	if hasStore {
		metrics = append(metrics,
			metric{"Redis CPU per request, closed loop", "µs", phaseClosed, always(func(r *Run) float64 { return r.StoreCPUUs })},
			metric{"server + Redis CPU per request, closed loop", "µs", phaseClosed, always(func(r *Run) float64 { return r.ServerCPUUs + r.StoreCPUUs })})
	}
	if several {
		for _, name := range procNames {
			metrics = append(metrics, metric{name + " CPU per request, closed loop", "µs", phaseClosed, procCPU(name)})
		}
	}
	metrics = append(metrics,
		metric{"p50 latency, closed loop", "ms", phaseClosed, always(func(r *Run) float64 { return r.P50Ms })},
		metric{"p99 latency, closed loop", "ms", phaseClosed, always(func(r *Run) float64 { return r.P99Ms })},
		metric{"p99.9 latency, closed loop", "ms", phaseClosed, always(func(r *Run) float64 { return r.P999Ms })},
		metric{"server RSS after the closed loop", "MiB", phaseClosed, always(func(r *Run) float64 { return r.ServerRSSMiB })},
		metric{"p50 latency, open loop at " + rate, "ms", phaseOpen, always(func(r *Run) float64 { return r.P50Ms })},
		metric{"p99 latency, open loop at " + rate, "ms", phaseOpen, always(func(r *Run) float64 { return r.P99Ms })},
		metric{"p99.9 latency, open loop at " + rate, "ms", phaseOpen, always(func(r *Run) float64 { return r.P999Ms })},
		metric{"server CPU per request, open loop at " + rate, "µs", phaseOpen, always(func(r *Run) float64 { return r.ServerCPUUs })},
		metric{"achieved rate, open loop", "req/s", phaseOpen, always(func(r *Run) float64 { return r.Throughput })},
	)
	for _, m := range metrics {
		var ref, sub []float64
		for i := range runs {
			r := &runs[i]
			if r.Phase != m.phase {
				continue
			}
			v, ok := m.value(r)
			if !ok {
				continue
			}
			if r.Reference {
				ref = append(ref, v)
			} else {
				sub = append(sub, v)
			}
		}
		if len(ref) == 0 && len(sub) == 0 {
			continue
		}
		row := Row{Metric: m.name, Unit: m.unit, Reference: median(ref), Subject: median(sub), Ratio: math.NaN()}
		if row.Reference > 0 && !math.IsNaN(row.Subject) {
			row.Ratio = row.Subject / row.Reference
		}
		s.Rows = append(s.Rows, row)
	}
}

// Ratio returns the ratio of the summary's row named metric, NaN if none.
func (s *Summary) Ratio(metric string) float64 {
	for _, r := range s.Rows {
		if r.Metric == metric {
			return r.Ratio
		}
	}
	return math.NaN()
}

func settings(c *config, p *pool) Settings {
	profiles := map[string]int{}
	routes := map[string]int{}
	for _, r := range p.reqs {
		profiles[r.profile]++
		routes[r.route]++
	}
	share := func(m map[string]int) string {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b string) int { return m[b] - m[a] })
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%s %.0f%%", k, 100*float64(m[k])/float64(len(p.reqs)))
		}
		return strings.Join(parts, ", ")
	}
	policy := c.policyFile
	if policy == "" {
		policy = "embedded defaults"
	}
	return Settings{
		Command:  c.command,
		Duration: c.duration.String(), Warmup: c.warmup.String(), Reps: c.reps, Conns: c.conns,
		Concurrency: c.concurrency, Rate: c.rate, Timeout: c.timeout.String(), Encoding: c.encoding,
		Requests: len(p.reqs), Profiles: share(profiles), Routes: share(routes), Policy: policy,
	}
}

func printHeader(w io.Writer, r *Report) {
	m, s := r.Machine, r.Settings
	fmt.Fprintf(w, "# %s\n\n", s.Command)
	fmt.Fprintf(w, "machine: %d CPUs, %s, Linux %s, %s", m.CPUs, m.CPUModel, m.Kernel, m.GoVersion)
	if m.Envoy != "" {
		fmt.Fprintf(w, ", %s", m.Envoy)
	}
	if m.Redis != "" {
		fmt.Fprintf(w, ", %s", m.Redis)
	}
	fmt.Fprintf(w, "\nload: %s runs after %s warm-up, %d repetitions alternating; %d gRPC connections, %d closed-loop callers, timeout %s; CheckRequests with %s\n",
		s.Duration, s.Warmup, s.Reps, s.Conns, s.Concurrency, s.Timeout, s.Encoding)
	fmt.Fprintf(w, "pool: %d requests (one per client address); %s; routes %s; botauthz policy: %s\n",
		s.Requests, s.Profiles, s.Routes, s.Policy)
}

func printRunHeader(w io.Writer, mode string) {
	fmt.Fprintf(w, "\n## %s: runs\n\n", mode)
	fmt.Fprintln(w, "| phase | server | rep | load | requests | req/s | p50 ms | p99 ms | p99.9 ms | server CPU µs/req | server RSS MiB | CPU µs/req by process | generator CPU µs/req | other CPU (cores) | not OK | degraded | errors | send lag p99 ms |")
	fmt.Fprintln(w, "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|")
}

func printRun(w io.Writer, r *Run) {
	load := fmt.Sprintf("%d callers", r.Callers)
	lag := "–"
	if r.Phase == phaseOpen {
		load = fmt.Sprintf("%.0f/s", r.Rate)
		lag = fmt.Sprintf("%.2f", r.LagP99Ms)
		if r.Behind {
			lag += " (behind)"
		}
		if r.Overloaded {
			load += " (overloaded)"
		}
	}
	var byProc []string
	for _, p := range r.Procs {
		byProc = append(byProc, fmt.Sprintf("%s %.1f", p.Name, p.CPUUs))
	}
	if r.Noisy {
		load += " (noisy)"
	}
	errs := fmt.Sprint(r.Errors)
	if r.Errors > 0 && r.FirstErr != "" {
		first := r.FirstErr
		if len(first) > 80 {
			first = first[:80] + "…"
		}
		errs += " (" + strings.ReplaceAll(first, "|", "/") + ")"
	}
	fmt.Fprintf(w, "| %s | %s | %d | %s | %d | %.0f | %.3f | %.3f | %.3f | %.1f | %.1f | %s | %.1f | %.2f | %d | %d | %s | %s |\n",
		r.Phase, r.Server, r.Rep, load, r.Requests, r.Throughput, r.P50Ms, r.P99Ms, r.P999Ms,
		r.ServerCPUUs, r.ServerRSSMiB, strings.Join(byProc, ", "), r.GeneratorCPUUs, r.OtherCores, r.NotOK, r.Degraded, errs, lag)
}

func printSummary(w io.Writer, s *Summary) {
	fmt.Fprintf(w, "\n## %s: %s vs %s (medians)\n\n", s.Mode, s.Subject, s.Reference)
	fmt.Fprintf(w, "load average before %s, after %s; other processes used at most %.2f cores in a run kept (%d noisy runs repeated)",
		s.LoadAvgBefore, s.LoadAvgAfter, s.MaxOtherCores, s.Retried)
	if s.Rate > 0 {
		fmt.Fprintf(w, "; open loop at %.0f requests/s", s.Rate)
	}
	fmt.Fprintf(w, "\n\n| metric | %s | %s | ratio |\n|---|---:|---:|---:|\n", s.Reference, s.Subject)
	for _, r := range s.Rows {
		ratio := "–"
		if !math.IsNaN(r.Ratio) {
			ratio = fmt.Sprintf("%.2f×", r.Ratio)
		}
		fmt.Fprintf(w, "| %s (%s) | %s | %s | %s |\n", r.Metric, r.Unit, number(r.Reference, r.Unit), number(r.Subject, r.Unit), ratio)
	}
	if len(s.Overloaded) > 0 {
		fmt.Fprintf(w, "\n**overloaded at %.0f/s: %s** (errors, or under %.0f%% of the rate answered): the open-loop latencies are a growing queue's; pass a lower -rate or -rate-share.\n",
			s.Rate, strings.Join(s.Overloaded, ", "), 100*overloadedShare)
	}
	if len(s.Noisy) > 0 {
		fmt.Fprintf(w, "\n**noisy runs kept** (other processes busy through every repetition): %s.\n", strings.Join(s.Noisy, "; "))
	}
	if s.Behind {
		fmt.Fprintln(w, "\nthe generator fell behind its open-loop schedule in some run (over 1% of sends more than 5 ms late): the machine was short of CPU.")
	}
}

func number(v float64, unit string) string {
	switch {
	case math.IsNaN(v):
		return "–"
	case unit == "req/s":
		return fmt.Sprintf("%.0f", v)
	case unit == "ms":
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.1f", v)
	}
}

func writeJSON(path string, r *Report) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("-json: %w", err)
	}
	return nil
}
