package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/redis/go-redis/v9"

	"github.com/botauthz/botauthz/internal/redistest"
	"github.com/botauthz/botauthz/policy"
	"github.com/botauthz/botauthz/ratelimit"
	"github.com/botauthz/botauthz/rollout"
)

const (
	// breakerCooldown is the Guard's default Cooldown, which newApp keeps.
	breakerCooldown = time.Second
	// failoverBudget is the -redis-budget of the failover test: wider than
	// the default 20 ms so that a scheduler stall under -race is not
	// mistaken for the outage. A dead master fails calls at once (the
	// connection is refused), so the budget does not shape the outage.
	failoverBudget = 250 * time.Millisecond
	// checkEvery paces the steady Checks: 500 a second.
	checkEvery = 2 * time.Millisecond
	// afterChecks is how many Checks the test makes from fresh addresses
	// once counting has resumed, all in one /24.
	afterChecks = 200
	// waitLong bounds every wait of the failover test; reaching it fails.
	waitLong = 30 * time.Second
)

// checkRecord is one Check of the steady stream.
type checkRecord struct {
	ip         string
	after      bool // made from the after-failover /24
	start, end time.Time
	degraded   bool
}

// steadyChecks sends a Check every checkEvery through a.authz, each from
// an address of its own, and records them.
type steadyChecks struct {
	a     *app
	after atomic.Bool  // switch to the after-failover /24
	ok    atomic.Int64 // Checks not degraded
	// afterDone counts Checks made from the after-failover /24.
	afterDone atomic.Int64

	mu      sync.Mutex
	records []checkRecord
	err     error
}

// run sends Checks until ctx ends or afterChecks after-failover Checks are
// done.
func (s *steadyChecks) run(ctx context.Context) {
	tick := time.NewTicker(checkEvery)
	defer tick.Stop()
	before, after := 0, 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		var ip string
		isAfter := s.after.Load()
		if isAfter {
			if after == afterChecks {
				return
			}
			after++
			ip = "10.2.0." + strconv.Itoa(after)
		} else {
			before++
			if before >= 250*250 {
				s.fail(fmt.Errorf("ran out of addresses after %d Checks", before))
				return
			}
			ip = fmt.Sprintf("10.1.%d.%d", before/250, before%250+1)
		}
		r := checkRecord{ip: ip, after: isAfter, start: time.Now()}
		h, _, err := check(ctx, s.a, ip, "default")
		r.end = time.Now()
		if err != nil {
			s.fail(err)
			return
		}
		r.degraded = h["x-bot-degraded"] == "true"
		if !r.degraded {
			s.ok.Add(1)
		}
		s.mu.Lock()
		s.records = append(s.records, r)
		s.mu.Unlock()
		if isAfter {
			s.afterDone.Add(1)
		}
	}
}

func (s *steadyChecks) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = err
	}
}

// firstOKAfter returns the first recorded Check that started at or after t
// and was not degraded.
func (s *steadyChecks) firstOKAfter(t time.Time) (checkRecord, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.records {
		if !r.start.Before(t) && !r.degraded {
			return r, true
		}
	}
	return checkRecord{}, false
}

// check sends one Check from ip to route and returns the upstream headers
// and the dynamic metadata's strings.
func check(ctx context.Context, a *app, ip, route string) (headers, metadata map[string]string, err error) {
	resp, err := a.authz.Check(ctx, &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
			SocketAddress: &corev3.SocketAddress{Address: ip}}}},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: "GET", Path: "/", Headers: map[string]string{"user-agent": "curl/8.5.0"}}},
		ContextExtensions: map[string]string{"route": route},
	}})
	if err != nil {
		return nil, nil, fmt.Errorf("Check from %s: %w", ip, err)
	}
	if resp.GetOkResponse() == nil {
		return nil, nil, fmt.Errorf("Check from %s: not OK under the shadow kill switch: %v", ip, resp)
	}
	headers, metadata = map[string]string{}, map[string]string{}
	for _, o := range resp.GetOkResponse().GetHeaders() {
		headers[o.GetHeader().GetKey()] = o.GetHeader().GetValue()
	}
	for k, v := range resp.GetDynamicMetadata().GetFields() {
		metadata[k] = v.GetStringValue()
	}
	return headers, metadata, nil
}

// waitFor polls cond every checkEvery until it holds, failing the test
// after waitLong.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	tick := time.NewTicker(checkEvery)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, waitLong)
		}
		<-tick.C
	}
}

// ipHits returns, per address, the hits its ip counter (the 60s lane of
// its key) holds on c.
func ipHits(t *testing.T, c *redis.Client, ips []string) map[string]int64 {
	t.Helper()
	cmds := make([]*redis.MapStringStringCmd, len(ips))
	lanes := make([]string, len(ips))
	lane := ratelimit.VelocityLane(ratelimit.DimIP, "", time.Minute)
	_, err := c.Pipelined(t.Context(), func(p redis.Pipeliner) error {
		for i, ip := range ips {
			// The client's counters are lanes of its network's hash.
			hash, field := ratelimit.RedisField(ratelimit.IdentityKey(ratelimit.DimIP, ip), lane)
			cmds[i], lanes[i] = p.HGetAll(t.Context(), hash), field
		}
		return nil
	})
	if err != nil {
		t.Fatalf("HGETALL of %d networks: %v", len(ips), err)
	}
	out := make(map[string]int64, len(ips))
	for i, cmd := range cmds {
		out[ips[i]] = laneHits(t, cmd.Val(), lanes[i])
	}
	return out
}

// laneHits returns the hits a lane holds in both its buckets: fields of its
// hash named "<lane>@<bucket>", each holding a count, beside the lane's
// marker "<lane>@" (see ratelimit's redis.go). A lane with no fields holds
// none.
func laneHits(t *testing.T, fields map[string]string, lane string) int64 {
	t.Helper()
	var n int64
	for f, v := range fields {
		b, ok := strings.CutPrefix(f, lane+"@")
		if !ok {
			continue
		}
		if _, err := strconv.ParseInt(b, 10, 64); err != nil {
			continue // the marker, a part, or another lane's
		}
		c, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatalf("%s holds %q, not a count", f, v)
		}
		n += c
	}
	return n
}

// TestSentinelFailoverUnderSteadyChecks runs botauthz on a master with a
// replica behind three real sentinels, sends a steady stream of Checks,
// SIGKILLs the master and follows the failover: Checks are degraded only
// between the kill and the first count on the promoted replica, which comes
// at most go-redis's redial period plus one breaker cooldown (plus a Check)
// after the sentinels name it; counting and the housekeeping resume there, with no script cache; no hit is
// counted twice; the live rollout state survives.
func TestSentinelFailoverUnderSteadyChecks(t *testing.T) {
	sn := redistest.StartSentinel(t)
	oldMaster, replica := sn.Data()[0], sn.Data()[1]
	a, _ := startApp(t, "-redis", sn.URL(), "-redis-budget", failoverBudget.String())
	ctx := t.Context()

	// The live state the failover must not lose: a mode override and the
	// kill switch (shadow, which still counts every Check).
	changes := []rollout.Change{
		{Kind: rollout.ChangeMode, Route: "login", Setting: &rollout.Setting{Mode: policy.ModeEnforce}, Actor: "test", Reason: "sentinel failover test"},
		{Kind: rollout.ChangeKill, Kill: rollout.KillShadow, Actor: "test", Reason: "sentinel failover test"},
	}
	for _, ch := range changes {
		if _, err := a.rollout.Apply(ctx, ch); err != nil {
			t.Fatalf("apply %v: %v", ch, err)
		}
	}
	if _, md, err := check(ctx, a, "192.0.2.1", "login"); err != nil || md["bot_mode_source"] != "kill" {
		t.Fatalf("before the failover, a login Check: metadata %v, %v; want the kill switch in force", md, err)
	}

	steady := &steadyChecks{a: a}
	runCtx, stopRun := context.WithCancel(ctx)
	ran := make(chan struct{})
	go func() { defer close(ran); steady.run(runCtx) }()
	t.Cleanup(func() { stopRun(); <-ran })

	// Counting before the kill; then make sure the replica holds the live
	// state and lacks the housekeeping script, which neither counting nor a
	// new lane's housekeeping needs.
	waitFor(t, "100 counted Checks before the kill", func() bool { return steady.ok.Load() >= 100 })
	sn.WaitReplicated()
	replicaClient := redis.NewClient(&redis.Options{Addr: replica.Addr()})
	t.Cleanup(func() { _ = replicaClient.Close() })
	if err := replicaClient.ScriptFlush(ctx).Err(); err != nil {
		t.Fatalf("SCRIPT FLUSH on the replica: %v", err)
	}
	sn.WaitFailoverReady()

	killed := time.Now()
	oldMaster.Stop() // SIGKILL
	p := sn.WaitPromoted(oldMaster.Addr())
	if p.Master != replica {
		t.Fatalf("promoted %s, want the replica %s", p.Master.Addr(), replica.Addr())
	}
	var firstOK checkRecord
	waitFor(t, "a counted Check after the failover", func() bool {
		var ok bool
		firstOK, ok = steady.firstOKAfter(killed)
		return ok
	})
	steady.after.Store(true)
	waitFor(t, "the after-failover Checks", func() bool { return steady.afterDone.Load() == afterChecks })
	stopRun()
	<-ran
	if steady.err != nil {
		t.Fatal(steady.err)
	}

	// What the stream saw.
	var degraded, beforeKill int
	var firstDegraded, lastDegradedEnd time.Time
	var maxGap, maxCheck time.Duration
	var prev time.Time
	for _, r := range steady.records {
		if !prev.IsZero() {
			maxGap = max(maxGap, r.start.Sub(prev))
		}
		prev = r.start
		maxCheck = max(maxCheck, r.end.Sub(r.start))
		if r.start.Before(killed) {
			beforeKill++
		}
		if !r.degraded {
			continue
		}
		degraded++
		if firstDegraded.IsZero() {
			firstDegraded = r.start
		}
		lastDegradedEnd = r.end
		// A Check in flight at the kill may go either way.
		if r.end.Before(killed) {
			t.Errorf("a Check that ended at kill%v was degraded while the master answered", r.end.Sub(killed))
		}
		if !r.start.Before(firstOK.start) {
			t.Errorf("a Check at kill+%v was degraded after counting resumed at kill+%v", r.start.Sub(killed), firstOK.start.Sub(killed))
		}
	}
	stats := a.guard.Stats()
	t.Logf("failover: a sentinel named the replica at kill+%v, all sentinels at kill+%v (down-after %v)",
		p.FirstNamed.Sub(killed), p.AllNamed.Sub(killed), redistest.SentinelDownAfter)
	if degraded > 0 {
		t.Logf("degraded: %d of %d Checks (%d before the kill), from kill+%v to kill+%v; first counted Check at kill+%v, all-named+%v",
			degraded, len(steady.records), beforeKill, firstDegraded.Sub(killed), lastDegradedEnd.Sub(killed),
			firstOK.start.Sub(killed), firstOK.start.Sub(p.AllNamed))
	}
	t.Logf("breaker: %d Checks refused while open, %d over budget, cooldown %v; longest Check %v, longest gap between Checks %v",
		stats.BreakerOpenRejects, stats.BudgetExceeded, breakerCooldown, maxCheck, maxGap)

	if degraded == 0 || stats.BreakerOpenRejects == 0 {
		t.Errorf("%d degraded Checks, %d refused by the breaker: the outage was not seen", degraded, stats.BreakerOpenRejects)
	}
	// Nothing can be promoted before the sentinels think the master down.
	if firstOK.end.Sub(killed) < redistest.SentinelDownAfter {
		t.Errorf("a Check counted at kill+%v, before any sentinel could think the master down (%v)", firstOK.end.Sub(killed), redistest.SentinelDownAfter)
	}
	// The bound the issue sets: degraded for at most the failover time plus
	// one breaker cooldown. Once every sentinel names the new master, the
	// breaker's next probe — at most one cooldown after the last failed one,
	// plus the gap to the next Check — dials it and counts; the probe itself
	// takes at most the longest Check.
	if bound := p.AllNamed.Add(breakerCooldown + maxCheck + maxGap); firstOK.start.After(bound) {
		t.Errorf("counting resumed at kill+%v, later than all-named + cooldown + longest Check + longest gap = kill+%v",
			firstOK.start.Sub(killed), bound.Sub(killed))
	}

	// The counts on the new master.
	master := redis.NewClient(&redis.Options{Addr: p.Master.Addr()})
	t.Cleanup(func() { _ = master.Close() })
	ips := make([]string, len(steady.records))
	for i, r := range steady.records {
		ips[i] = r.ip
	}
	hits := ipHits(t, master, ips)
	var lost int
	for _, r := range steady.records {
		n := hits[r.ip]
		switch {
		case n > 1:
			t.Errorf("Check from %s at kill%+v (degraded %v) counted %d times", r.ip, r.start.Sub(killed), r.degraded, n)
		case n == 0 && !r.degraded && !r.start.Before(firstOK.start):
			t.Errorf("Check from %s at kill+%v counted on the new master, yet its hit is not there", r.ip, r.start.Sub(killed))
		case n == 0 && r.start.Before(killed):
			lost++ // written to the old master, not yet replicated
		}
	}
	t.Logf("hits made before the kill and lost with the old master (asynchronous replication): %d of %d", lost, beforeKill)
	subnetKey := ratelimit.IdentityKey(ratelimit.DimSubnet, "10.2.0.0/24")
	subnetLane := ratelimit.VelocityLane(ratelimit.DimSubnet, "", time.Minute)
	subnet, err := master.HGetAll(ctx, subnetKey).Result()
	if err != nil {
		t.Fatal(err)
	}
	subnetHits := laneHits(t, subnet, subnetLane)
	if subnetHits != afterChecks {
		t.Errorf("the after-failover /24 holds %d hits on the new master, want exactly the %d Checks made from it", subnetHits, afterChecks)
	}
	// The housekeeping ran on the new master: the after-failover /24's lane,
	// new there, got its marker (HSETNX, no script: the script's reload
	// after a failover is ratelimit's Sentinel test's). It runs beside the
	// Checks, so it is waited for.
	waitFor(t, "the after-failover /24's marker on the new master", func() bool {
		m, err := master.HGet(ctx, subnetKey, subnetLane+"@").Result()
		return err == nil && m != ""
	})

	// The live state survived on the new master: the state and the audit
	// of both changes (a replica's restore puts the state back, never the
	// audit, so the audit proves replication).
	store := rollout.NewRedisStore(master, rollout.RedisStoreOptions{})
	st, err := store.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Kill != rollout.KillShadow || st.Routes["login"].Mode != policy.ModeEnforce {
		t.Errorf("state on the new master: kill %v, login %v; want shadow and an enforce override", st.Kill, st.Routes["login"])
	}
	if audit, err := store.Audit(ctx, 0); err != nil || len(audit) != len(changes) {
		t.Errorf("audit on the new master: %d entries, %v; want %d", len(audit), err, len(changes))
	}
	// A replica that starts now reads it from the new master.
	fresh, _ := startApp(t, "-redis", sn.URL())
	if k := fresh.rollout.View().Kill(); k != rollout.KillShadow {
		t.Errorf("a replica started after the failover sees kill %v, want shadow", k)
	}
	for _, app := range []*app{a, fresh} {
		h, md, err := check(ctx, app, "192.0.2.2", "login")
		if err != nil {
			t.Fatal(err)
		}
		if md["bot_mode_source"] != "kill" || h["x-bot-mode"] != "shadow" || h["x-bot-degraded"] != "" {
			t.Errorf("a login Check after the failover: headers %v, metadata %v; want the kill switch, not degraded", h, md)
		}
	}
}
