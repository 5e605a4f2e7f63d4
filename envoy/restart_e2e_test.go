package envoy

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"
)

// load sends steady traffic through Envoy and tallies how each request was
// decided.
type load struct {
	h    *harness
	rate int // requests per second

	mu sync.Mutex
	// phase names what the replicas were doing when a request was sent;
	// tallies are kept per phase.
	phase  string
	phases map[string]*tally
}

// tally is what happened to the requests of one phase.
type tally struct {
	sent, failOpen, errors int
	// failOpenFirst and failOpenLast bound the failed-open requests' send times.
	failOpenFirst, failOpenLast time.Time
	latencies                   []time.Duration
}

func (t *tally) p99() time.Duration {
	if len(t.latencies) == 0 {
		return 0
	}
	s := slices.Clone(t.latencies)
	slices.Sort(s)
	return s[(len(s)*99)/100]
}

func (t *tally) String() string {
	return fmt.Sprintf("%d requests, %d failed open, %d errors, p99 %s", t.sent, t.failOpen, t.errors, t.p99().Round(100*time.Microsecond))
}

// setPhase starts counting requests sent from now on under name.
func (l *load) setPhase(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.phase = name
	if l.phases[name] == nil {
		l.phases[name] = &tally{}
	}
}

// run sends l.rate requests a second, each on its own schedule (an open
// loop: a slow answer does not delay the next request), until ctx is done,
// then waits for the answers.
func (l *load) run(ctx context.Context) {
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / time.Duration(l.rate))
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-tick.C:
		}
		l.mu.Lock()
		tl := l.phases[l.phase]
		tl.sent++
		l.mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			failOpen, err := l.one(fmt.Sprintf("198.51.100.%d", i%200))
			elapsed := time.Since(start)
			l.mu.Lock()
			defer l.mu.Unlock()
			tl.latencies = append(tl.latencies, elapsed)
			switch {
			case err != nil:
				tl.errors++
			case failOpen:
				tl.failOpen++
				if tl.failOpenFirst.IsZero() {
					tl.failOpenFirst = start
				}
				tl.failOpenLast = start
			}
		}()
	}
}

// one sends a browser's request and reports whether Envoy let it through
// on its failure mode, without botauthz's decision.
func (l *load) one(ip string) (failOpen bool, err error) {
	req, err := http.NewRequest("GET", l.h.proxy+"/", nil)
	if err != nil {
		return false, err
	}
	for k, v := range chrome {
		req.Header.Set(k, v)
	}
	req.Header.Set("X-Forwarded-For", ip)
	resp, err := l.h.client.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return false, fmt.Errorf("status %d", resp.StatusCode)
	}
	// The upstream echoes what it got: the failure-mode header, or
	// botauthz's score.
	var echoed http.Header
	if err := json.NewDecoder(resp.Body).Decode(&echoed); err != nil {
		return false, err
	}
	if echoed.Get("X-Envoy-Auth-Failure-Mode-Allowed") != "" {
		return true, nil
	}
	if echoed.Get("X-Bot-Score") == "" {
		return false, fmt.Errorf("upstream got neither a score nor the failure-mode header: %v", echoed)
	}
	return false, nil
}

// waitSent waits until n requests of phase were sent.
func (l *load) waitSent(t *testing.T, phase string, n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d requests of phase %s", n, phase), 30*time.Second, func() error {
		l.mu.Lock()
		defer l.mu.Unlock()
		if sent := l.phases[phase].sent; sent < n {
			return fmt.Errorf("%d sent", sent)
		}
		return nil
	})
}

// startLoad runs l until the test ends or stop is called.
func startLoad(t *testing.T, h *harness, rate int) (l *load, stop func()) {
	l = &load{h: h, rate: rate, phases: map[string]*tally{}}
	l.setPhase("steady")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.run(ctx); close(done) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return l, stop
}

// restart stops a replica with SIGTERM, as Kubernetes does in a rolling
// update, starts it again on the same ports and waits until Envoy routes to
// it again.
func (h *harness) restart(t *testing.T, r *botReplica) {
	t.Helper()
	t.Logf("%s: SIGTERM at %s", r.name, time.Now().Format("15:04:05.000"))
	if err := r.proc.stop(t, 30*time.Second); err != nil {
		t.Errorf("%s exit: %v", r.name, err)
	}
	t.Logf("%s: exited at %s", r.name, time.Now().Format("15:04:05.000"))
	r.start(t)
	t.Logf("%s: ready at %s", r.name, time.Now().Format("15:04:05.000"))
	h.waitHealthy(t, len(h.replicas))
	t.Logf("%s: healthy at %s", r.name, time.Now().Format("15:04:05.000"))
}

// TestRollingRestartNeverFailsOpen restarts each of three replicas in turn,
// with the shipped Envoy config and botauthz's defaults, under steady
// traffic through the real Envoy: no request may pass on Envoy's failure
// mode, since two healthy replicas could always have decided it.
func TestRollingRestartNeverFailsOpen(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	h := startHarnessOpts(t, harnessOptions{replicas: 3})
	l, stop := startLoad(t, h, 200)
	l.waitSent(t, "steady", 400) // two seconds of traffic before anything happens
	for _, r := range h.replicas {
		phase := "restarting " + r.name
		l.setPhase(phase)
		h.restart(t, r)
		// Keep the load on a while after the restart: a replica that came
		// back too early would fail Checks now.
		l.waitSent(t, phase, 1000)
	}
	stop()

	var total tally
	for name, tl := range l.phases {
		t.Logf("%s: %s", name, tl)
		total.sent += tl.sent
		total.failOpen += tl.failOpen
		total.errors += tl.errors
		if name != "steady" {
			total.latencies = append(total.latencies, tl.latencies...)
		}
	}
	t.Logf("during the restarts: p99 %s", total.p99().Round(100*time.Microsecond))
	if total.failOpen != 0 || total.errors != 0 {
		t.Errorf("of %d requests, %d passed on Envoy's failure mode and %d failed; want every one decided by botauthz",
			total.sent, total.failOpen, total.errors)
		// What Envoy saw of the botauthz cluster says why.
		if body, err := get(h.envoyAdmin + "/stats?filter=(botauthz_grpc|ext_authz)"); err == nil {
			t.Logf("envoy stats:\n%s", body)
		}
	}
	if total.sent < 200 {
		t.Errorf("only %d requests sent: the restarts were not under load", total.sent)
	}
}

// TestSingleReplicaRestartGap measures what one replica cannot avoid: while
// it restarts nobody can decide, and Envoy's failure mode (allow, as
// shipped) keeps the site up. Every request must still be answered.
func TestSingleReplicaRestartGap(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	h := startHarnessOpts(t, harnessOptions{})
	l, stop := startLoad(t, h, 200)
	l.setPhase("restart")
	h.restart(t, h.replicas[0])
	stop()

	tl := l.phases["restart"]
	gap := time.Duration(0)
	if tl.failOpen > 0 {
		gap = tl.failOpenLast.Sub(tl.failOpenFirst)
	}
	t.Logf("one replica restarting: %s; requests failed open for %s", tl, gap.Round(time.Millisecond))
	if tl.errors != 0 {
		t.Errorf("%d of %d requests failed: failure_mode_allow must keep them flowing", tl.errors, tl.sent)
	}
}
