// Package redistest starts a real, throwaway redis-server, a Redis Cluster
// of several, or a master with a replica watched by three redis-sentinel
// processes, for tests.
//
// Tests talk to the same server binary production uses, so behaviour such as
// script caching, TTLs, slot routing and connection failures is the real one,
// not a mock's. The servers keep no data on disk and are killed when the test
// ends.
package redistest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	// EnvServer names the redis-server binary to use instead of the one on PATH.
	EnvServer = "BOTAUTHZ_REDIS_SERVER"
	// EnvCLI names the redis-cli binary StartCluster uses instead of the one
	// on PATH or, failing that, the one next to redis-server.
	EnvCLI = "BOTAUTHZ_REDIS_CLI"
	// EnvSentinel names the redis-sentinel binary StartSentinel uses instead
	// of the one on PATH or, failing that, the one next to redis-server.
	EnvSentinel = "BOTAUTHZ_REDIS_SENTINEL"
	// EnvRequire, set to "1", turns a missing redis-server, redis-cli or
	// redis-sentinel into a test failure instead of a skip, so CI cannot silently pass without
	// running these tests.
	EnvRequire = "BOTAUTHZ_TEST_REQUIRE"

	readyTimeout = 10 * time.Second
	pollInterval = 5 * time.Millisecond
	portAttempts = 5

	// clusterBusOffset is how far above its data port a cluster node listens
	// for the cluster bus (Redis's default, which every version supports).
	clusterBusOffset = 10000
	maxPort          = 65535
	// freePortAttempts bounds the search for a port whose bus port is free too.
	freePortAttempts = 50
	// clusterCreateTimeout bounds redis-cli --cluster create, which polls
	// until the nodes agree on the slot map.
	clusterCreateTimeout = 30 * time.Second
)

// Server is a running redis-server owned by one test.
// Its methods may be called from several goroutines.
type Server struct {
	tb          testing.TB
	bin         string
	dir         string
	port        int
	debugOption bool
	role        role

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed once cmd has been waited for
}

// Start starts a redis-server on a free loopback port and registers a cleanup
// that kills it. It skips the test when no redis-server is installed, unless
// BOTAUTHZ_TEST_REQUIRE=1.
func Start(tb testing.TB) *Server {
	tb.Helper()
	bin := requireBinary(tb, findBinary)
	return startServer(tb, bin, role{})
}

// requireBinary returns what find finds, or skips the test (fails it under
// BOTAUTHZ_TEST_REQUIRE=1) if find fails.
func requireBinary(tb testing.TB, find func() (string, error)) string {
	tb.Helper()
	bin, err := find()
	if err != nil {
		if os.Getenv(EnvRequire) == "1" {
			tb.Fatalf("redistest: %v (%s=1 requires it)", err, EnvRequire)
		}
		tb.Skipf("redistest: %v; run make test", err)
	}
	return bin
}

// role is what a server is started as: a standalone server by default.
type role struct {
	cluster   bool   // a node with cluster mode enabled
	replicaOf string // a replica of this "127.0.0.1:port"
	// monitor makes bin a redis-sentinel watching the master at this
	// "127.0.0.1:port" as SentinelMaster.
	monitor string
}

// startServer starts bin on a free port in role r, and registers a cleanup
// that kills it.
func startServer(tb testing.TB, bin string, r role) *Server {
	tb.Helper()
	s := &Server{
		tb:          tb,
		bin:         bin,
		dir:         tb.TempDir(),
		debugOption: r.monitor == "" && supportsDebugOption(bin),
		role:        r,
	}
	cluster := r.cluster
	tb.Cleanup(s.Stop)

	var lastErr error
	for range portAttempts {
		port, err := freePort(cluster)
		if err != nil {
			tb.Fatalf("redistest: pick a port: %v", err)
		}
		s.port = port
		lastErr = s.start()
		if lastErr == nil {
			return s
		}
		// Another process may have taken the port (or the cluster bus port)
		// between our probe and the server's bind; only that race is worth
		// another try.
		if !errors.Is(lastErr, errPortInUse) {
			break
		}
	}
	tb.Fatalf("redistest: %v", lastErr)
	return nil
}

// Addr returns the server's address, "127.0.0.1:port".
func (s *Server) Addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
}

// URL returns a redis:// URL for database 0 of the server.
func (s *Server) URL() string {
	return "redis://" + s.Addr() + "/0"
}

// Pause freezes the server (SIGSTOP): connections stay open but nothing is
// answered, which is how a stalled Redis looks to a client.
func (s *Server) Pause() {
	s.tb.Helper()
	s.signal(syscall.SIGSTOP)
}

// Resume continues a paused server (SIGCONT).
func (s *Server) Resume() {
	s.tb.Helper()
	s.signal(syscall.SIGCONT)
}

// Stop kills the server and waits for it to exit. It may be called more than
// once and also works on a paused server.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
}

// Restart starts the server again on the same port, stopping it first if it
// is still running, and returns once it answers PING. Data is not kept.
func (s *Server) Restart() {
	s.tb.Helper()
	s.Stop()
	if err := s.start(); err != nil {
		s.tb.Fatalf("redistest: restart: %v", err)
	}
}

func (s *Server) signal(sig syscall.Signal) {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		s.tb.Fatalf("redistest: %v: server is not running", sig)
	}
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.tb.Fatalf("redistest: %v: %v", sig, err)
	}
}

func (s *Server) stopLocked() {
	if s.cmd == nil {
		return
	}
	// SIGKILL also ends a stopped (paused) process; nothing needs flushing
	// because persistence is off.
	_ = s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

var errPortInUse = errors.New("port already in use")

func (s *Server) logPath() string { return filepath.Join(s.dir, "redis.log") }

// start runs the server on s.port and waits until it answers PING.
func (s *Server) start() error {
	args := []string{
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", s.dir,
		// A replica's first sync starts at once instead of after 5 s.
		"--repl-diskless-sync", "yes",
		"--repl-diskless-sync-delay", "0",
	}
	if s.role.monitor != "" {
		conf, err := s.sentinelConfig()
		if err != nil {
			return err
		}
		// A sentinel rewrites its configuration file (what it learns, the
		// master after a failover), so the file is its only configuration.
		args = []string{conf}
	}
	if s.debugOption {
		args = append(args, "--enable-debug-command", "yes")
	}
	if s.role.replicaOf != "" {
		host, port, err := net.SplitHostPort(s.role.replicaOf)
		if err != nil {
			return fmt.Errorf("replica of %q: %w", s.role.replicaOf, err)
		}
		args = append(args, "--replicaof", host, port)
	}
	if s.role.cluster {
		// The node config is the node's identity and slot map; it lives
		// next to the log so a Restart keeps the node in the cluster.
		args = append(args,
			"--cluster-enabled", "yes",
			"--cluster-config-file", filepath.Join(s.dir, "nodes-"+strconv.Itoa(s.port)+".conf"),
			"--cluster-node-timeout", "2000",
		)
	}
	logFile, err := os.OpenFile(s.logPath(), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("open server log: %w", err)
	}
	defer logFile.Close() // the child has its own descriptor

	cmd := exec.Command(s.bin, args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.bin, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()

	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()

	if err := s.waitReady(exited); err != nil {
		s.Stop()
		return err
	}
	return nil
}

// waitReady polls PING until the server answers, the process exits, or the
// deadline passes.
func (s *Server) waitReady(exited <-chan struct{}) error {
	deadline := time.Now().Add(readyTimeout)
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	for {
		err := ping(s.Addr())
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s on %s not ready after %v: %v\n%s", filepath.Base(s.bin), s.Addr(), readyTimeout, err, s.logTail())
		}
		select {
		case <-exited:
			out := s.logTail()
			if strings.Contains(out, "Address already in use") {
				return fmt.Errorf("%s on %s: %w", filepath.Base(s.bin), s.Addr(), errPortInUse)
			}
			return fmt.Errorf("%s on %s exited before it was ready:\n%s", filepath.Base(s.bin), s.Addr(), out)
		case <-ticker.C:
		}
	}
}

func (s *Server) logTail() string {
	b, err := os.ReadFile(s.logPath())
	if err != nil {
		return "(no server log: " + err.Error() + ")"
	}
	const tail = 4 << 10
	if len(b) > tail {
		b = b[len(b)-tail:]
	}
	return string(b)
}

// ping sends one inline PING and expects +PONG. A loading or misconfigured
// server answers with an error and is not ready yet.
func ping(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(time.Second)); err != nil {
		return err
	}
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}
	return nil
}

func findBinary() (string, error) {
	if bin := os.Getenv(EnvServer); bin != "" {
		path, err := exec.LookPath(bin)
		if err != nil {
			return "", fmt.Errorf("%s=%s: %w", EnvServer, bin, err)
		}
		return path, nil
	}
	path, err := exec.LookPath("redis-server")
	if err != nil {
		return "", fmt.Errorf("redis-server not found on PATH: %w", err)
	}
	return path, nil
}

var versionPattern = regexp.MustCompile(`v=(\d+)\.`)

// supportsDebugOption reports whether the binary knows enable-debug-command
// (Redis 7.0+); older servers refuse to start with an unknown option.
func supportsDebugOption(bin string) bool {
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		return false
	}
	m := versionPattern.FindSubmatch(out)
	if m == nil {
		return false
	}
	major, err := strconv.Atoi(string(bytes.TrimSpace(m[1])))
	return err == nil && major >= 7
}

// freePort asks the kernel for a free loopback port; withBus also wants the
// cluster bus port above it free. The ports are released before the server
// binds them, so callers retry if someone else wins the race.
func freePort(withBus bool) (int, error) {
	for range freePortAttempts {
		port, err := listenFree(0)
		if err != nil {
			return 0, err
		}
		if !withBus {
			return port, nil
		}
		if port+clusterBusOffset > maxPort {
			continue
		}
		if _, err := listenFree(port + clusterBusOffset); err == nil {
			return port, nil
		}
	}
	return 0, fmt.Errorf("no free port with a free cluster bus port (port+%d) in %d attempts", clusterBusOffset, freePortAttempts)
}

// listenFree listens on a loopback port (0: any free one), closes it at once
// and returns the port.
func listenFree(port int) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
