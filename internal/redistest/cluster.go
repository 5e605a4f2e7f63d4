package redistest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// minClusterMasters is the fewest masters redis-cli --cluster create accepts.
const minClusterMasters = 3

// Cluster is a running Redis Cluster of masters only, owned by one test.
// Its methods may be called from several goroutines.
type Cluster struct {
	nodes []*Server
}

// StartCluster starts masters redis-server processes in cluster mode on free
// loopback ports, joins them with redis-cli --cluster create (which spreads
// the 16384 slots evenly), waits until every node reports cluster_state:ok
// and registers a cleanup that kills them all. masters must be at least 3.
// It skips the test when redis-server or redis-cli is missing, unless
// BOTAUTHZ_TEST_REQUIRE=1.
func StartCluster(tb testing.TB, masters int) *Cluster {
	tb.Helper()
	if masters < minClusterMasters {
		tb.Fatalf("redistest: StartCluster(%d): redis-cli needs at least %d masters", masters, minClusterMasters)
	}
	bin := requireBinary(tb, findBinary)
	cli := requireBinary(tb, func() (string, error) { return findCompanion(EnvCLI, "redis-cli", bin) })

	c := &Cluster{nodes: make([]*Server, masters)}
	tb.Cleanup(c.Stop)
	for i := range c.nodes {
		c.nodes[i] = startServer(tb, bin, role{cluster: true})
	}

	ctx, cancel := context.WithTimeout(context.Background(), clusterCreateTimeout)
	defer cancel()
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-yes")
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		tb.Fatalf("redistest: %s %s: %v\n%s", cli, strings.Join(args, " "), err, out)
	}
	if err := c.waitOK(); err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	return c
}

// Addrs returns the nodes' addresses, "127.0.0.1:port", in start order.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		addrs[i] = n.Addr()
	}
	return addrs
}

// URL returns a redis+cluster:// URL listing every node, the form
// ratelimit.DialRedis reads.
func (c *Cluster) URL() string {
	return "redis+cluster://" + strings.Join(c.Addrs(), ",")
}

// Nodes returns the nodes in start order, to pause or stop one of them. Each
// is a master; which slots it serves is up to redis-cli.
func (c *Cluster) Nodes() []*Server {
	return append([]*Server(nil), c.nodes...)
}

// Stop kills every node and waits for them to exit. It may be called more
// than once.
func (c *Cluster) Stop() {
	for _, n := range c.nodes {
		if n != nil {
			n.Stop()
		}
	}
}

// waitOK polls CLUSTER INFO on every node until each says cluster_state:ok,
// which it does once it knows an owner for every slot.
func (c *Cluster) waitOK() error {
	deadline := time.Now().Add(readyTimeout)
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	for {
		var notOK error
		for _, n := range c.nodes {
			if err := clusterStateOK(n.Addr()); err != nil {
				notOK = err
				break
			}
		}
		if notOK == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cluster not ready after %v: %v", readyTimeout, notOK)
		}
		<-ticker.C
	}
}

// clusterStateOK asks addr for CLUSTER INFO and reports an error unless it
// says cluster_state:ok.
func clusterStateOK(addr string) error {
	info, err := bulkCommand(addr, "CLUSTER INFO")
	if err != nil {
		return fmt.Errorf("CLUSTER INFO on %s: %w", addr, err)
	}
	for line := range strings.Lines(info) {
		if state, ok := strings.CutPrefix(strings.TrimSpace(line), "cluster_state:"); ok {
			if state == "ok" {
				return nil
			}
			return fmt.Errorf("%s: cluster_state:%s", addr, state)
		}
	}
	return fmt.Errorf("%s: CLUSTER INFO has no cluster_state", addr)
}

// bulkCommand sends one inline command and returns its bulk-string reply.
func bulkCommand(addr, command string) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(time.Second)); err != nil {
		return "", err
	}
	if _, err := conn.Write([]byte(command + "\r\n")); err != nil {
		return "", err
	}
	rd := bufio.NewReader(conn)
	header, err := rd.ReadString('\n')
	if err != nil {
		return "", err
	}
	header = strings.TrimSpace(header)
	if !strings.HasPrefix(header, "$") {
		return "", fmt.Errorf("reply %q is not a bulk string", header)
	}
	n, err := strconv.Atoi(header[1:])
	if err != nil || n < 0 {
		return "", fmt.Errorf("bad bulk length in %q", header)
	}
	body := make([]byte, n+2) // the payload and its CRLF
	if _, err := io.ReadFull(rd, body); err != nil {
		return "", err
	}
	return string(body[:n]), nil
}

// findCompanion finds a binary that ships beside redis-server (redis-cli,
// redis-sentinel): the one the environment variable env names, else name on
// PATH, else next to serverBin.
func findCompanion(env, name, serverBin string) (string, error) {
	if bin := os.Getenv(env); bin != "" {
		path, err := exec.LookPath(bin)
		if err != nil {
			return "", fmt.Errorf("%s=%s: %w", env, bin, err)
		}
		return path, nil
	}
	if path, err := exec.LookPath(name); err == nil {
		return path, nil
	}
	sibling := filepath.Join(filepath.Dir(serverBin), name)
	if path, err := exec.LookPath(sibling); err == nil {
		return path, nil
	}
	return "", errors.New(name + " not found on PATH or next to " + serverBin)
}
