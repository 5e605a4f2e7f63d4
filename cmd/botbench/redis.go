package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisNode is a redis-server botbench started: no persistence, loopback.
type redisNode struct {
	proc *proc
	addr string
}

// clusterBusOffset is how far above its port a cluster node listens for the
// cluster bus (Redis's default).
const clusterBusOffset = 10000

// startRedisNode starts bin on a free port (whose bus port is free too for
// a cluster node) and waits until it answers PING. dir holds its files.
func startRedisNode(ctx context.Context, bin, dir string, cluster bool) (*redisNode, error) {
	var lastErr error
	for range 5 {
		port, err := redisPort(cluster)
		if err != nil {
			return nil, err
		}
		n, err := tryRedisNode(ctx, bin, dir, port, cluster)
		if err == nil {
			return n, nil
		}
		// Another process may have taken the port between the probe and
		// the bind: only that is worth another try.
		if !strings.Contains(err.Error(), "Address already in use") {
			return nil, err
		}
		lastErr = err
	}
	return nil, lastErr
}

func redisPort(cluster bool) (int, error) {
	for range 50 {
		port, err := freePort()
		if err != nil {
			return 0, err
		}
		if !cluster {
			return port, nil
		}
		if port+clusterBusOffset > 65535 {
			continue
		}
		if ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+clusterBusOffset)); err == nil {
			ln.Close()
			return port, nil
		}
	}
	return 0, errors.New("no free port with a free cluster bus port")
}

func tryRedisNode(ctx context.Context, bin, dir string, port int, cluster bool) (*redisNode, error) {
	args := []string{
		"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", dir,
	}
	if cluster {
		args = append(args,
			"--cluster-enabled", "yes",
			"--cluster-config-file", filepath.Join(dir, "nodes-"+strconv.Itoa(port)+".conf"),
			"--cluster-node-timeout", "2000",
		)
	}
	p, err := startProc("redis-server:"+strconv.Itoa(port), bin, args, nil)
	if err != nil {
		return nil, err
	}
	n := &redisNode{proc: p, addr: "127.0.0.1:" + strconv.Itoa(port)}
	client := redis.NewClient(&redis.Options{Addr: n.addr, MaxRetries: -1})
	defer client.Close()
	err = poll(10*time.Second, n.proc.name+" answers PING", p.exited, func() error {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		return client.Ping(pctx).Err()
	})
	if err != nil {
		_ = p.stop(time.Second)
		return nil, err
	}
	return n, nil
}

// redisSetup is the Redis of a redis or cluster mode: started by botbench
// (and flushed between runs, so every run starts from the same empty
// store), or the operator's (never flushed).
type redisSetup struct {
	url   string
	nodes []*redisNode
}

func (s *redisSetup) procs() []*proc {
	var ps []*proc
	for _, n := range s.nodes {
		ps = append(ps, n.proc)
	}
	return ps
}

// flush empties a Redis botbench started.
func (s *redisSetup) flush(ctx context.Context) error {
	for _, n := range s.nodes {
		c := redis.NewClient(&redis.Options{Addr: n.addr})
		err := c.FlushAll(ctx).Err()
		c.Close()
		if err != nil {
			return fmt.Errorf("flush %s: %w", n.addr, err)
		}
	}
	return nil
}

func (s *redisSetup) stop() {
	for _, n := range s.nodes {
		_ = n.proc.stop(2 * time.Second)
	}
}

// startRedis starts one redis-server.
func startRedis(ctx context.Context, bin, dir string) (*redisSetup, error) {
	n, err := startRedisNode(ctx, bin, dir, false)
	if err != nil {
		return nil, err
	}
	return &redisSetup{url: "redis://" + n.addr + "/0", nodes: []*redisNode{n}}, nil
}

// startCluster starts masters redis-server processes in cluster mode, joins
// them with redis-cli --cluster create (which spreads the 16384 slots
// evenly) and waits until every node says cluster_state:ok.
func startCluster(ctx context.Context, bin, cli, dir string, masters int) (_ *redisSetup, err error) {
	s := &redisSetup{}
	defer func() {
		if err != nil {
			s.stop()
		}
	}()
	addrs := make([]string, 0, masters)
	for range masters {
		n, err := startRedisNode(ctx, bin, dir, true)
		if err != nil {
			return nil, err
		}
		s.nodes = append(s.nodes, n)
		addrs = append(addrs, n.addr)
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-yes")
	if out, err := exec.CommandContext(cctx, cli, args...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%s %s: %w\n%s", cli, strings.Join(args, " "), err, out)
	}
	for _, n := range s.nodes {
		c := redis.NewClient(&redis.Options{Addr: n.addr})
		err := poll(15*time.Second, n.addr+" cluster_state:ok", n.proc.exited, func() error {
			pctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			info, err := c.ClusterInfo(pctx).Result()
			if err != nil {
				return err
			}
			if !strings.Contains(info, "cluster_state:ok") {
				return errors.New("cluster_state is not ok yet")
			}
			return nil
		})
		c.Close()
		if err != nil {
			return nil, err
		}
	}
	s.url = "redis+cluster://" + strings.Join(addrs, ",")
	return s, nil
}

// findRedisServer finds redis-server: the flag, $BOTAUTHZ_REDIS_SERVER, PATH.
func findRedisServer(flagValue string) (string, error) {
	name := flagValue
	if name == "" {
		name = os.Getenv("BOTAUTHZ_REDIS_SERVER")
	}
	if name == "" {
		name = "redis-server"
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("redis-server (make bench-load installs it): %w", err)
	}
	return path, nil
}

// findRedisCLI finds redis-cli: the flag, $BOTAUTHZ_REDIS_CLI, PATH, next
// to redis-server.
func findRedisCLI(flagValue, serverBin string) (string, error) {
	name := flagValue
	if name == "" {
		name = os.Getenv("BOTAUTHZ_REDIS_CLI")
	}
	if name != "" {
		return exec.LookPath(name)
	}
	if path, err := exec.LookPath("redis-cli"); err == nil {
		return path, nil
	}
	path, err := exec.LookPath(filepath.Join(filepath.Dir(serverBin), "redis-cli"))
	if err != nil {
		return "", fmt.Errorf("redis-cli not on PATH nor next to %s: %w", serverBin, err)
	}
	return path, nil
}
