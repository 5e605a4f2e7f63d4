package envoy

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestNetworkReputationThroughEnvoy runs reputation sets through the real
// Envoy, clients posing as addresses through the trusted x-forwarded-for
// hop: the same browser request scores lower from a listed data centre
// than from elsewhere; a denied set is refused before any score; a set's
// file rewritten while botauthz runs moves an address into it.
func TestNetworkReputationThroughEnvoy(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	dir := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		// By rename, as the README asks of files botauthz watches.
		tmp := filepath.Join(dir, "."+name+".tmp")
		if err := os.WriteFile(tmp, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	write("cloud.txt", "198.51.100.0/24\n")
	write("abuse.txt", "192.0.2.0/26\n")
	policyFile := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policyFile, []byte(fmt.Sprintf(`
version: reputation-e2e
reputation:
  refresh: 1s
  sets:
    cloud: {kind: datacenter, format: plain, files: [%[1]s/cloud.txt]}
    abuse: {kind: listed, format: plain, files: [%[1]s/abuse.txt]}
rules:
  sets: {abuse: deny}
routes:
  default: {mode: enforce}
`, dir)), 0o600); err != nil {
		t.Fatal(err)
	}
	h := startHarnessWith(t, policyFile)

	home, _ := h.score(t, "203.0.113.10", chrome)
	t.Run("a data centre address scores lower", func(t *testing.T) {
		cloud, reasons := h.score(t, "198.51.100.7", chrome)
		if cloud >= home || !strings.Contains(reasons, "ip.datacenter") {
			t.Errorf("from the cloud set: %d (%s), from elsewhere %d: want lower, naming ip.datacenter", cloud, reasons, home)
		}
	})
	t.Run("a denied set is refused before any score", func(t *testing.T) {
		api := maps.Clone(chrome)
		api["Accept"] = "application/json"
		r := h.do(t, "GET", "/", "192.0.2.9", api)
		var body struct{ Reason string }
		if err := json.Unmarshal([]byte(r.body), &body); err != nil || r.status != 403 || body.Reason != "rule.set_deny" {
			t.Fatalf("status %d body %q, want 403 naming rule.set_deny", r.status, r.body)
		}
	})
	t.Run("a set file rewritten while running", func(t *testing.T) {
		write("cloud.txt", "198.51.100.0/24\n203.0.113.0/24\n")
		waitFor(t, "203.0.113.10's network in the cloud set", 30*time.Second, func() error {
			if got, reasons := h.score(t, "203.0.113.10", chrome); got >= home || !strings.Contains(reasons, "ip.datacenter") {
				return fmt.Errorf("still scores %d (%s)", got, reasons)
			}
			return nil
		})
		// A broken file keeps the last good set, and /readyz says so.
		write("cloud.txt", "not a network\n")
		waitFor(t, "the refused file on /readyz", 30*time.Second, func() error {
			body, err := get(h.botAdmin + "/readyz")
			if err != nil {
				return err
			}
			if !strings.Contains(body, "newest files refused") {
				return fmt.Errorf("readyz %s", body)
			}
			return nil
		})
		if got, reasons := h.score(t, "198.51.100.7", chrome); !strings.Contains(reasons, "ip.datacenter") {
			t.Errorf("after a broken rewrite: %d (%s), want the last good set in force", got, reasons)
		}
	})
}
