package redistest

import (
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

func TestStartAnswersPing(t *testing.T) {
	s := Start(t)
	if err := ping(s.Addr()); err != nil {
		t.Fatalf("ping %s: %v", s.Addr(), err)
	}
	if want := "redis://" + s.Addr() + "/0"; s.URL() != want {
		t.Errorf("URL() = %q, want %q", s.URL(), want)
	}
}

func TestPauseStopsAnswersUntilResume(t *testing.T) {
	s := Start(t)
	s.Pause()
	t.Cleanup(s.Resume)

	conn, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatalf("dial paused server: %v", err) // the kernel still accepts
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		t.Fatalf("write: %v", err)
	}
	if err := conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	if n, err := conn.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("paused server answered %q, err %v; want a read timeout", buf[:n], err)
	}

	s.Resume()
	if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if n, err := conn.Read(buf); err != nil || string(buf[:n]) != "+PONG\r\n" {
		t.Fatalf("after Resume read %q, %v; want +PONG", buf[:n], err)
	}
}

func TestStopIsIdempotentAndRestartServesAgain(t *testing.T) {
	s := Start(t)
	s.Stop()
	s.Stop()
	if err := ping(s.Addr()); err == nil {
		t.Fatal("ping after Stop succeeded")
	}
	s.Restart()
	if err := ping(s.Addr()); err != nil {
		t.Fatalf("ping after Restart: %v", err)
	}
	s.Restart() // restarting a running server replaces it
	if err := ping(s.Addr()); err != nil {
		t.Fatalf("ping after second Restart: %v", err)
	}
}

func TestStartedServersAreIndependent(t *testing.T) {
	a, b := Start(t), Start(t)
	if a.Addr() == b.Addr() {
		t.Fatalf("two servers share %s", a.Addr())
	}
	a.Stop()
	if err := ping(b.Addr()); err != nil {
		t.Fatalf("stopping one server broke the other: %v", err)
	}
}

func TestStartClusterIsReadyOnEveryNode(t *testing.T) {
	c := StartCluster(t, 3)
	addrs := c.Addrs()
	if len(addrs) != 3 || len(c.Nodes()) != 3 {
		t.Fatalf("Addrs() = %v, %d nodes; want 3", addrs, len(c.Nodes()))
	}
	for _, a := range addrs {
		if err := clusterStateOK(a); err != nil {
			t.Errorf("node %s: %v", a, err)
		}
		info, err := bulkCommand(a, "CLUSTER INFO")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(info, "cluster_slots_assigned:16384") || !strings.Contains(info, "cluster_known_nodes:3") {
			t.Errorf("node %s: CLUSTER INFO lacks 16384 assigned slots and 3 known nodes:\n%s", a, info)
		}
	}
	if want := "redis+cluster://" + strings.Join(addrs, ","); c.URL() != want {
		t.Errorf("URL() = %q, want %q", c.URL(), want)
	}
	c.Stop()
	c.Stop()
	for _, a := range addrs {
		if err := ping(a); err == nil {
			t.Errorf("node %s answers after Stop", a)
		}
	}
}

func TestStartSentinelPromotesTheReplicaWhenTheMasterDies(t *testing.T) {
	s := StartSentinel(t)
	data := s.Data()
	if len(data) != 2 || len(s.Sentinels()) != 3 {
		t.Fatalf("%d data nodes and %d sentinels, want 2 and 3", len(data), len(s.Sentinels()))
	}
	if want := "redis+sentinel://" + strings.Join(s.Addrs(), ",") + "/" + SentinelMaster; s.URL() != want {
		t.Errorf("URL() = %q, want %q", s.URL(), want)
	}
	if m := s.Master(); m != data[0] {
		t.Fatalf("the sentinels name %s, want the first master %s", m.Addr(), data[0].Addr())
	}
	if _, err := do(data[0].Addr(), "SET", "k", "v"); err != nil {
		t.Fatal(err)
	}
	s.WaitReplicated()
	if v, err := do(data[1].Addr(), "GET", "k"); err != nil || v != "v" {
		t.Fatalf("GET k on the replica after WaitReplicated: %v, %v", v, err)
	}
	if _, err := do(data[1].Addr(), "SET", "k", "w"); err == nil || !strings.Contains(err.Error(), "READONLY") {
		t.Errorf("SET on the replica: %v, want READONLY", err)
	}

	s.WaitFailoverReady()
	killed := time.Now()
	data[0].Stop()
	p := s.WaitPromoted(data[0].Addr())
	t.Logf("failover: a sentinel named the replica %v after the kill, all did and it answered as master %v after",
		p.FirstNamed.Sub(killed), p.AllNamed.Sub(killed))
	if p.Master != data[1] || s.Master() != data[1] {
		t.Fatalf("promoted %s, want the replica %s", p.Master.Addr(), data[1].Addr())
	}
	if p.FirstNamed.Before(killed) || p.AllNamed.Before(p.FirstNamed) {
		t.Errorf("killed %v, first named %v, all named %v: out of order", killed, p.FirstNamed, p.AllNamed)
	}
	if v, err := do(data[1].Addr(), "GET", "k"); err != nil || v != "v" {
		t.Errorf("GET k on the new master: %v, %v", v, err)
	}
	if _, err := do(data[1].Addr(), "SET", "k", "w"); err != nil {
		t.Errorf("SET on the new master: %v", err)
	}

	s.Stop()
	s.Stop()
	for _, n := range append(s.Sentinels(), data...) {
		if err := ping(n.Addr()); err == nil {
			t.Errorf("%s answers after Stop", n.Addr())
		}
	}
}
