package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// SentinelMaster is the name the sentinels of StartSentinel know the master
// by: the path of Sentinel.URL.
const SentinelMaster = "botauthz"

const (
	// sentinelCount sentinels watch the master; sentinelQuorum of them must
	// agree that it is down, and a majority must elect the one that fails
	// it over.
	sentinelCount  = 3
	sentinelQuorum = 2
	// SentinelDownAfter is how long the master must not answer before a
	// sentinel considers it down (down-after-milliseconds). Production
	// setups use seconds; tests want the failover soon.
	SentinelDownAfter = 500 * time.Millisecond
	// sentinelFailoverTimeout is failover-timeout: how long a failover may
	// take before another is tried (after twice as long).
	sentinelFailoverTimeout = 2 * time.Second
	// failoverWait bounds waiting for a promotion: a few failover tries.
	failoverWait = 30 * time.Second
)

// Sentinel is a master and one replica watched by three redis-sentinel
// processes, all on loopback and owned by one test. Its methods may be
// called from several goroutines.
type Sentinel struct {
	tb        testing.TB
	data      []*Server // the first master, then its replica
	sentinels []*Server
}

// StartSentinel starts a redis-server master, a replica of it and three
// redis-sentinel processes watching it as SentinelMaster (quorum 2,
// down-after SentinelDownAfter, failover-timeout 2s), each on a free
// loopback port in its own directory. It returns once the replica is in
// sync and every sentinel names the master, and registers a cleanup that
// kills them all. A failover needs more: see WaitFailoverReady.
// It skips the test when redis-server or redis-sentinel is missing, unless
// BOTAUTHZ_TEST_REQUIRE=1.
func StartSentinel(tb testing.TB) *Sentinel {
	tb.Helper()
	bin := requireBinary(tb, findBinary)
	sentinelBin := requireBinary(tb, func() (string, error) { return findCompanion(EnvSentinel, "redis-sentinel", bin) })

	s := &Sentinel{tb: tb}
	tb.Cleanup(s.Stop)
	master := startServer(tb, bin, role{})
	replica := startServer(tb, bin, role{replicaOf: master.Addr()})
	s.data = []*Server{master, replica}
	if err := waitUntil(func() error { return linkUp(replica.Addr()) }); err != nil {
		tb.Fatalf("redistest: replica %s of %s: %v", replica.Addr(), master.Addr(), err)
	}
	for range sentinelCount {
		s.sentinels = append(s.sentinels, startServer(tb, sentinelBin, role{monitor: master.Addr()}))
	}
	err := waitUntil(func() error {
		for _, sn := range s.sentinels {
			addr, err := masterAddrFrom(sn.Addr())
			if err != nil {
				return err
			}
			if addr != master.Addr() {
				return fmt.Errorf("sentinel %s names master %s, want %s", sn.Addr(), addr, master.Addr())
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	return s
}

// URL returns the redis+sentinel:// URL of the master: every sentinel, and
// SentinelMaster as the path.
func (s *Sentinel) URL() string {
	return "redis+sentinel://" + strings.Join(s.Addrs(), ",") + "/" + SentinelMaster
}

// Addrs returns the sentinels' addresses, "127.0.0.1:port".
func (s *Sentinel) Addrs() []string {
	addrs := make([]string, len(s.sentinels))
	for i, sn := range s.sentinels {
		addrs[i] = sn.Addr()
	}
	return addrs
}

// Data returns the data nodes: the first master, then its replica. Which
// one is the master now is Master's to say.
func (s *Sentinel) Data() []*Server { return slices.Clone(s.data) }

// Sentinels returns the sentinel processes.
func (s *Sentinel) Sentinels() []*Server { return slices.Clone(s.sentinels) }

// Master returns the data node that the first sentinel to answer names as
// the master.
func (s *Sentinel) Master() *Server {
	s.tb.Helper()
	var errs []error
	for _, sn := range s.sentinels {
		addr, err := masterAddrFrom(sn.Addr())
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if n := s.node(addr); n != nil {
			return n
		}
		errs = append(errs, fmt.Errorf("sentinel %s names %s, which is no data node of this setup", sn.Addr(), addr))
	}
	s.tb.Fatalf("redistest: no master: %v", errors.Join(errs...))
	return nil
}

func (s *Sentinel) node(addr string) *Server {
	for _, n := range s.data {
		if n.Addr() == addr {
			return n
		}
	}
	return nil
}

// WaitFailoverReady waits until a failover could happen: every sentinel
// sees the master up, knows the other two sentinels and sees the replica
// up and linked to the master. Sentinels find each other through the
// master's hello channel, every 2 s, so this takes up to a few seconds
// after StartSentinel.
func (s *Sentinel) WaitFailoverReady() {
	s.tb.Helper()
	err := waitUntil(func() error {
		for _, sn := range s.sentinels {
			if err := failoverReady(sn.Addr()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.tb.Fatalf("redistest: sentinels not ready to fail over: %v", err)
	}
}

// failoverReady asks one sentinel about the master and its replicas.
func failoverReady(sentinel string) error {
	reply, err := do(sentinel, "SENTINEL", "MASTER", SentinelMaster)
	if err != nil {
		return fmt.Errorf("sentinel %s: SENTINEL MASTER: %w", sentinel, err)
	}
	m := fields(reply)
	if m["flags"] != "master" || m["num-other-sentinels"] != strconv.Itoa(sentinelCount-1) {
		return fmt.Errorf("sentinel %s: master flags %q, %s other sentinels", sentinel, m["flags"], m["num-other-sentinels"])
	}
	reply, err = do(sentinel, "SENTINEL", "REPLICAS", SentinelMaster)
	if err != nil {
		return fmt.Errorf("sentinel %s: SENTINEL REPLICAS: %w", sentinel, err)
	}
	replicas, _ := reply.([]any)
	for _, r := range replicas {
		if f := fields(r); f["flags"] == "slave" && f["master-link-status"] == "ok" {
			return nil
		}
	}
	return fmt.Errorf("sentinel %s: no replica up and linked among %d", sentinel, len(replicas))
}

// WaitReplicated waits until every replica of the current master has
// acknowledged all that the master has written so far, by replication
// offset: what was written before the call survives the master's death.
func (s *Sentinel) WaitReplicated() {
	s.tb.Helper()
	master := s.Master()
	info, err := infoFields(master.Addr(), "replication")
	if err != nil {
		s.tb.Fatalf("redistest: %v", err)
	}
	target, err := strconv.ParseInt(info["master_repl_offset"], 10, 64)
	if err != nil {
		s.tb.Fatalf("redistest: master %s: master_repl_offset %q", master.Addr(), info["master_repl_offset"])
	}
	err = waitUntil(func() error {
		info, err := infoFields(master.Addr(), "replication")
		if err != nil {
			return err
		}
		replicas := 0
		for k, v := range info {
			if !strings.HasPrefix(k, "slave") || !strings.Contains(v, "offset=") {
				continue
			}
			replicas++
			for kv := range strings.SplitSeq(v, ",") {
				if o, ok := strings.CutPrefix(kv, "offset="); ok {
					if n, err := strconv.ParseInt(o, 10, 64); err != nil || n < target {
						return fmt.Errorf("replica %s: offset %s, want %d", k, o, target)
					}
				}
			}
		}
		if replicas == 0 {
			return fmt.Errorf("master %s has no replica", master.Addr())
		}
		return nil
	})
	if err != nil {
		s.tb.Fatalf("redistest: replication: %v", err)
	}
}

// Promotion is what WaitPromoted saw of a failover.
type Promotion struct {
	// Master is the data node the sentinels now name.
	Master *Server
	// FirstNamed is when a sentinel first named a master other than the
	// old one; AllNamed is when every sentinel named Master and Master
	// answered as a master.
	FirstNamed, AllNamed time.Time
}

// WaitPromoted polls the sentinels until every one names a master other
// than old (an address, "127.0.0.1:port") and that node answers INFO as a
// master, and returns when that was first and last seen. It fails the test
// if no failover completes within 30 s.
func (s *Sentinel) WaitPromoted(old string) Promotion {
	s.tb.Helper()
	var p Promotion
	err := waitUntil(func() error {
		named := make([]string, len(s.sentinels))
		for i, sn := range s.sentinels {
			addr, err := masterAddrFrom(sn.Addr())
			if err != nil {
				return err
			}
			if addr != old && p.FirstNamed.IsZero() {
				p.FirstNamed = time.Now()
			}
			named[i] = addr
		}
		if named[0] == old || slices.ContainsFunc(named, func(a string) bool { return a != named[0] }) {
			return fmt.Errorf("sentinels name %v", named)
		}
		info, err := infoFields(named[0], "replication")
		if err != nil {
			return err
		}
		if info["role"] != "master" {
			return fmt.Errorf("%s is still a %s", named[0], info["role"])
		}
		if p.Master = s.node(named[0]); p.Master == nil {
			return fmt.Errorf("sentinels name %s, which is no data node of this setup", named[0])
		}
		p.AllNamed = time.Now()
		return nil
	}, failoverWait)
	if err != nil {
		s.tb.Fatalf("redistest: no failover from %s: %v", old, err)
	}
	return p
}

// Stop kills the sentinels, then the data nodes. It may be called more than
// once.
func (s *Sentinel) Stop() {
	for _, n := range slices.Concat(s.sentinels, s.data) {
		if n != nil {
			n.Stop()
		}
	}
}

// sentinelConfig writes the configuration a sentinel on s.port starts with,
// unless it exists: a sentinel rewrites it with what it learns, which a
// Restart keeps.
func (s *Server) sentinelConfig() (string, error) {
	path := filepath.Join(s.dir, "sentinel-"+strconv.Itoa(s.port)+".conf")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	host, port, err := net.SplitHostPort(s.role.monitor)
	if err != nil {
		return "", fmt.Errorf("sentinel monitoring %q: %w", s.role.monitor, err)
	}
	conf := fmt.Sprintf(`port %d
bind 127.0.0.1
dir %q
sentinel monitor %s %s %s %d
sentinel down-after-milliseconds %[3]s %[7]d
sentinel failover-timeout %[3]s %[8]d
sentinel parallel-syncs %[3]s 1
`, s.port, s.dir, SentinelMaster, host, port, sentinelQuorum,
		SentinelDownAfter.Milliseconds(), sentinelFailoverTimeout.Milliseconds())
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		return "", fmt.Errorf("write sentinel config: %w", err)
	}
	return path, nil
}

// waitUntil polls cond until it returns nil or the deadline (readyTimeout,
// or the one given) passes, and then returns cond's last error.
func waitUntil(cond func() error, timeout ...time.Duration) error {
	wait := readyTimeout
	if len(timeout) > 0 {
		wait = timeout[0]
	}
	deadline := time.Now().Add(wait)
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %v: %w", wait, err)
		}
		<-ticker.C
	}
}

// masterAddrFrom asks a sentinel where SentinelMaster is.
func masterAddrFrom(sentinel string) (string, error) {
	reply, err := do(sentinel, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", SentinelMaster)
	if err != nil {
		return "", fmt.Errorf("sentinel %s: %w", sentinel, err)
	}
	hp, ok := reply.([]any)
	if !ok || len(hp) != 2 {
		return "", fmt.Errorf("sentinel %s: master address reply %v", sentinel, reply)
	}
	host, _ := hp[0].(string)
	port, _ := hp[1].(string)
	return net.JoinHostPort(host, port), nil
}

// linkUp reports an error unless the replica at addr is in sync with its
// master.
func linkUp(addr string) error {
	info, err := infoFields(addr, "replication")
	if err != nil {
		return err
	}
	if info["master_link_status"] != "up" {
		return fmt.Errorf("%s: master_link_status %q", addr, info["master_link_status"])
	}
	return nil
}

// infoFields returns the "key:value" lines of INFO section on addr.
func infoFields(addr, section string) (map[string]string, error) {
	reply, err := do(addr, "INFO", section)
	if err != nil {
		return nil, fmt.Errorf("INFO %s on %s: %w", section, addr, err)
	}
	text, _ := reply.(string)
	out := map[string]string{}
	for line := range strings.Lines(text) {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			out[k] = v
		}
	}
	return out, nil
}

// fields turns a flat array reply [k1, v1, k2, v2, ...] into a map.
func fields(reply any) map[string]string {
	arr, _ := reply.([]any)
	out := make(map[string]string, len(arr)/2)
	for i := 0; i+1 < len(arr); i += 2 {
		k, _ := arr[i].(string)
		v, _ := arr[i+1].(string)
		out[k] = v
	}
	return out
}

// do sends one command to addr and returns its RESP2 reply: a string for a
// simple or bulk string, an int64, nil for a null, []any for an array; an
// error reply is returned as an error.
func do(addr string, args ...string) (any, error) {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(time.Second)); err != nil {
		return nil, err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(conn, b.String()); err != nil {
		return nil, err
	}
	return readReply(bufio.NewReader(conn))
}

// errReply is an error reply from the server.
type errReply string

func (e errReply) Error() string { return string(e) }

// maxReplyElems bounds an array or bulk length read from a reply.
const maxReplyElems = 1 << 20

func readReply(rd *bufio.Reader) (any, error) {
	line, err := rd.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return nil, errors.New("empty reply line")
	}
	body := line[1:]
	switch line[0] {
	case '+':
		return body, nil
	case '-':
		return nil, errReply(body)
	case ':':
		return strconv.ParseInt(body, 10, 64)
	case '$', '*':
		n, err := strconv.Atoi(body)
		if err != nil || n > maxReplyElems {
			return nil, fmt.Errorf("bad length in %q", line)
		}
		if n < 0 {
			return nil, nil
		}
		if line[0] == '$' {
			buf := make([]byte, n+2)
			if _, err := io.ReadFull(rd, buf); err != nil {
				return nil, err
			}
			return string(buf[:n]), nil
		}
		arr := make([]any, n)
		for i := range arr {
			if arr[i], err = readReply(rd); err != nil {
				return nil, err
			}
		}
		return arr, nil
	}
	return nil, fmt.Errorf("unknown reply %q", line)
}
