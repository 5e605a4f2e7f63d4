package envoy

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/botauthz/botauthz/internal/redistest"
)

// replica is one botauthz process and a gRPC client to it.
type replica struct {
	name  string
	proc  *process
	admin string // http://127.0.0.1:PORT
	authz authv3.AuthorizationClient
}

// startReplica starts botauthz with the given policy file and Redis.
func startReplica(t *testing.T, name, policyFile, redisURL string) *replica {
	t.Helper()
	grpcPort, adminPort, httpPort := freePort(t), freePort(t), freePort(t)
	r := &replica{name: name, admin: fmt.Sprintf("http://127.0.0.1:%d", adminPort)}
	r.proc = startProcess(t, name, botauthzBin,
		"-grpc-addr", fmt.Sprintf("127.0.0.1:%d", grpcPort),
		"-admin-addr", fmt.Sprintf("127.0.0.1:%d", adminPort),
		"-http-addr", fmt.Sprintf("127.0.0.1:%d", httpPort),
		"-config", policyFile, "-redis", redisURL, "-log-format", "text")
	waitFor(t, name+" ready", 20*time.Second, func() error { return expectStatus(r.admin+"/readyz", 200) })
	conn, err := grpc.NewClient(fmt.Sprintf("127.0.0.1:%d", grpcPort), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	r.authz = authv3.NewAuthorizationClient(conn)
	return r
}

// botCheck asks the replica about a curl request to route from ip and
// returns whether it was stopped and the mode it ran in.
func (r *replica) botCheck(t *testing.T, route, ip string) (enforced bool, mode string) {
	t.Helper()
	enforced, mode, err := r.tryCheck(route, ip)
	if err != nil {
		t.Fatal(err)
	}
	return enforced, mode
}

// tryCheck is botCheck for goroutines, which must not call t.Fatal.
func (r *replica) tryCheck(route, ip string) (enforced bool, mode string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := r.authz.Check(ctx, &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
			SocketAddress: &corev3.SocketAddress{Address: ip}}}},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: "GET", Path: "/" + route, Scheme: "http",
			Headers: map[string]string{"user-agent": "curl/8.5.0", "accept": "text/html"},
		}},
		ContextExtensions: map[string]string{"route": route},
	}})
	if err != nil {
		return false, "", fmt.Errorf("%s Check: %w", r.name, err)
	}
	return resp.GetStatus().GetCode() != int32(codes.OK), resp.GetDynamicMetadata().GetFields()["bot_mode"].GetStringValue(), nil
}

// botctl runs the real botctl binary against a replica's admin address.
func botctl(t *testing.T, admin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(botctlBin, append([]string{"-addr", admin}, args...)...)
	cmd.Env = append(os.Environ(), "BOTCTL_ACTOR=e2e")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("botctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// routeState reads what the replica says a route runs in.
func (r *replica) routeState(t *testing.T, route string) (mode string, percent float64) {
	t.Helper()
	body, err := get(r.admin + "/v1/state")
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Routes []struct {
			Route   string  `json:"route"`
			Mode    string  `json:"mode"`
			Percent float64 `json:"percent"`
		} `json:"routes"`
	}
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("%s /v1/state: %v: %s", r.name, err, body)
	}
	for _, rs := range st.Routes {
		if rs.Route == route {
			return rs.Mode, rs.Percent
		}
	}
	t.Fatalf("%s /v1/state has no route %s: %s", r.name, route, body)
	return "", 0
}

// TestRolloutAcrossReplicas runs three botauthz replicas on one real Redis
// and drives them with the real botctl.
func TestRolloutAcrossReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test skipped in -short mode")
	}
	redis := redistest.Start(t)
	dir := t.TempDir()
	override := filepath.Join(dir, "override.yaml")
	policyFile := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policyFile, []byte(`
rollout:
  override_file: `+override+`
  refresh: 1s
routes:
  login:
    mode: enforce
    limits: []
`), 0o600); err != nil {
		t.Fatal(err)
	}
	replicas := []*replica{
		startReplica(t, "replica-a", policyFile, redis.URL()),
		startReplica(t, "replica-b", policyFile, redis.URL()),
		startReplica(t, "replica-c", policyFile, redis.URL()),
	}
	a := replicas[0]
	for _, r := range replicas {
		if enforced, _ := r.botCheck(t, "login", "192.0.2.1"); !enforced {
			t.Fatalf("%s does not enforce login before any change", r.name)
		}
	}

	t.Run("kill bypass sent to one replica is obeyed by all", func(t *testing.T) {
		start := time.Now()
		botctl(t, a.admin, "kill", "bypass", "--reason", "e2e: propagation")
		var wg sync.WaitGroup
		for _, r := range replicas[1:] {
			wg.Add(1)
			go func() {
				defer wg.Done()
				deadline := time.Now().Add(5 * time.Second)
				for {
					_, mode, err := r.tryCheck("login", "192.0.2.1")
					if err != nil {
						t.Error(err)
						return
					}
					if mode == "bypass" {
						t.Logf("%s obeyed kill bypass %s after botctl was started on replica-a", r.name, time.Since(start))
						return
					}
					if time.Now().After(deadline) {
						t.Errorf("%s did not obey kill bypass within 5s", r.name)
						return
					}
				}
			}()
		}
		wg.Wait()
		if out := botctl(t, replicas[2].admin, "status"); !strings.Contains(out, "bypass") {
			t.Errorf("botctl status on replica-c does not show the kill switch:\n%s", out)
		}
		botctl(t, replicas[1].admin, "unkill", "--reason", "e2e: done")
		for _, r := range replicas {
			waitFor(t, r.name+" enforcing again", 5*time.Second, func() error {
				if enforced, mode := r.botCheck(t, "login", "192.0.2.1"); !enforced {
					return fmt.Errorf("mode %s", mode)
				}
				return nil
			})
		}
	})

	t.Run("canary picks the same stable share on every replica", func(t *testing.T) {
		const clients = 10000
		ips := make([]string, clients)
		for i := range ips {
			ips[i] = fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
		}
		setCanary := func(percent string) {
			botctl(t, a.admin, "mode", "login", "canary", percent, "--reason", "e2e: canary "+percent)
			for _, r := range replicas {
				waitFor(t, r.name+" at canary "+percent, 5*time.Second, func() error {
					if mode, p := r.routeState(t, "login"); mode != "canary" || fmt.Sprint(p) != percent {
						return fmt.Errorf("login is %s %v", mode, p)
					}
					return nil
				})
			}
		}
		enforcedSet := func(r *replica) map[string]bool {
			set := map[string]bool{}
			var mu sync.Mutex
			var wg sync.WaitGroup
			work := make(chan string)
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for ip := range work {
						enforced, mode, err := r.tryCheck("login", ip)
						if err != nil {
							t.Error(err)
							continue
						}
						if enforced != (mode == "canary") {
							t.Errorf("%s %s: enforced=%v in mode %s", r.name, ip, enforced, mode)
						}
						if enforced {
							mu.Lock()
							set[ip] = true
							mu.Unlock()
						}
					}
				}()
			}
			for _, ip := range ips {
				work <- ip
			}
			close(work)
			wg.Wait()
			return set
		}

		setCanary("10")
		first := enforcedSet(a)
		share := 100 * float64(len(first)) / clients
		t.Logf("canary 10%%: %d of %d clients enforced (%.2f%%)", len(first), clients, share)
		if math.Abs(share-10) > 1.5 {
			t.Errorf("enforced share %.2f%%, want 10 ± 1.5%%", share)
		}
		for _, r := range replicas[1:] {
			if got := enforcedSet(r); !sameSet(got, first) {
				t.Errorf("%s enforces a different set of clients (%d vs %d)", r.name, len(got), len(first))
			}
		}

		setCanary("20")
		second := enforcedSet(replicas[1])
		t.Logf("canary 20%%: %d of %d clients enforced", len(second), clients)
		for ip := range first {
			if !second[ip] {
				t.Fatalf("client %s was in the 10%% canary but not in the 20%% one", ip)
			}
		}
		if share := 100 * float64(len(second)) / clients; math.Abs(share-20) > 2 {
			t.Errorf("enforced share at 20%% is %.2f%%", share)
		}
		botctl(t, a.admin, "mode", "login", "inherit", "--reason", "e2e: canary done")
	})

	t.Run("with redis down replicas keep the last state and obey the override file", func(t *testing.T) {
		botctl(t, a.admin, "kill", "shadow", "--reason", "e2e: before redis goes away")
		for _, r := range replicas {
			waitFor(t, r.name+" in kill shadow", 5*time.Second, func() error {
				if enforced, mode := r.botCheck(t, "login", "192.0.2.2"); enforced || mode != "shadow" {
					return fmt.Errorf("enforced=%v mode=%s", enforced, mode)
				}
				return nil
			})
		}
		// A replica that restarts reads the live state back from Redis.
		if err := replicas[2].proc.stop(t, 20*time.Second); err != nil {
			t.Fatalf("replica-c exit: %v", err)
		}
		replicas[2] = startReplica(t, "replica-c2", policyFile, redis.URL())
		if enforced, mode := replicas[2].botCheck(t, "login", "192.0.2.2"); enforced || mode != "shadow" {
			t.Fatalf("restarted replica: enforced=%v mode=%s, want the kill switch it missed", enforced, mode)
		}

		redis.Stop()
		// Each replica re-reads the live state every second; wait until every
		// one has failed a re-read, then look again.
		for _, r := range replicas {
			waitFor(t, r.name+" noticing redis is gone", 15*time.Second, func() error {
				if !strings.Contains(r.proc.out.String(), "rollout: store unreachable; keeping the last known state") {
					return fmt.Errorf("no log line yet")
				}
				return nil
			})
			if enforced, mode := r.botCheck(t, "login", "192.0.2.2"); enforced || mode != "shadow" {
				t.Errorf("%s with redis down: enforced=%v mode=%s, want the kill switch kept", r.name, enforced, mode)
			}
		}

		if err := os.WriteFile(override, []byte("kill: bypass\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, r := range replicas {
			waitFor(t, r.name+" obeying the override file", 5*time.Second, func() error {
				if _, mode := r.botCheck(t, "login", "192.0.2.2"); mode != "bypass" {
					return fmt.Errorf("mode %s", mode)
				}
				return nil
			})
		}
		if err := os.Remove(override); err != nil {
			t.Fatal(err)
		}
		for _, r := range replicas {
			waitFor(t, r.name+" back to the live state without the file", 5*time.Second, func() error {
				if _, mode := r.botCheck(t, "login", "192.0.2.2"); mode != "shadow" {
					return fmt.Errorf("mode %s", mode)
				}
				return nil
			})
		}
	})
}

func sameSet(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}
