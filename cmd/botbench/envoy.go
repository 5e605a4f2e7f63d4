package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// findEnvoy finds an Envoy binary: the flag, $BOTAUTHZ_ENVOY, the copy
// `make deps` installs under .tools/, envoy on PATH.
func findEnvoy(flagValue string) (string, error) {
	for _, p := range []string{flagValue, os.Getenv("BOTAUTHZ_ENVOY")} {
		if p != "" {
			return exec.LookPath(p)
		}
	}
	if _, err := os.Stat(".tools/envoy/envoy/_bin/envoy"); err == nil {
		return filepath.Abs(".tools/envoy/envoy/_bin/envoy")
	}
	p, err := exec.LookPath("envoy")
	if err != nil {
		return "", errors.New("envoy not found: pass -envoy, set BOTAUTHZ_ENVOY, or run make bench-load (it installs Envoy into .tools/)")
	}
	return p, nil
}

// envoyPorts are where one Envoy run listens and what it points at.
type envoyPorts struct {
	admin, listen, plain       int
	botauthzGRPC, botauthzHTTP int
	upstream, collector        int
}

// envoyConfig is the bootstrap at path with its ports and certificate
// paths rewritten, as envoy/harness_test.go does: loopback only, free
// ports, one trusted x-forwarded-for hop (the generator poses as many
// clients), a collector port nobody listens on (the shipped 10% trace
// sampling stays, its exports fail quietly). With extAuthz false every
// route that has ext_authz gets `disabled: true` instead: the same routes
// without it, the floor of the envoy mode.
func envoyConfig(path, certFile, keyFile string, p envoyPorts, extAuthz bool) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("envoy config: %w", err)
	}
	s := string(b)
	repl := []struct{ from, to string }{
		{"port_value: 9901 }", fmt.Sprintf("port_value: %d }", p.admin)},
		{"address: 0.0.0.0, port_value: 10443 }", fmt.Sprintf("address: 127.0.0.1, port_value: %d }", p.listen)},
		{"address: 0.0.0.0, port_value: 10000 }", fmt.Sprintf("address: 127.0.0.1, port_value: %d }", p.plain)},
		{"port_redirect: 10443", fmt.Sprintf("port_redirect: %d", p.listen)},
		{"port_value: 9001 }", fmt.Sprintf("port_value: %d }", p.botauthzGRPC)},
		{"port_value: 8080 }", fmt.Sprintf("port_value: %d }", p.botauthzHTTP)},
		{"port_value: 8000 }", fmt.Sprintf("port_value: %d }", p.upstream)},
		{"port_value: 4317 }", fmt.Sprintf("port_value: %d }", p.collector)},
		{"xff_num_trusted_hops: 0", "xff_num_trusted_hops: 1"},
		{"filename: envoy/tls/tls.crt", "filename: " + certFile},
		{"filename: envoy/tls/tls.key", "filename: " + keyFile},
	}
	for _, r := range repl {
		if n := strings.Count(s, r.from); n != 1 {
			return "", fmt.Errorf("envoy config %s: %q occurs %d times, want once", path, r.from, n)
		}
		s = strings.Replace(s, r.from, r.to, 1)
	}
	if !extAuthz {
		// A route's ext_authz settings, replaced so that the floor disables
		// ext_authz on exactly the routes that have it.
		checkSettings := regexp.MustCompile(`check_settings:\s*\n\s*context_extensions: \{ route: \w+ \}`)
		if len(checkSettings.FindAllStringIndex(s, -1)) == 0 {
			return "", fmt.Errorf("envoy config %s: no route with ext_authz check_settings to disable", path)
		}
		s = checkSettings.ReplaceAllString(s, "disabled: true")
	}
	return s, nil
}

// httpGet returns the body of a GET that answered 200.
func httpGet(url string) (string, error) {
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(body), nil
}

// envoyHealthyBotauthz says whether Envoy's health checks let it send
// Checks to botauthz.
func envoyHealthyBotauthz(admin string) error {
	body, err := httpGet(admin + "/clusters")
	if err != nil {
		return err
	}
	for line := range strings.Lines(body) {
		if strings.HasPrefix(line, "botauthz_grpc::") && strings.HasSuffix(strings.TrimSpace(line), "::health_flags::healthy") {
			return nil
		}
	}
	return errors.New("botauthz is not healthy in envoy's botauthz_grpc cluster yet")
}

// extAuthzFailures sums Envoy's counters of Checks that got no decision:
// errors (botauthz unreachable, timed out, answered garbage) and those let
// through by failure_mode_allow.
func extAuthzFailures(admin string) (int64, error) {
	body, err := httpGet(admin + "/stats?filter=ext_authz")
	if err != nil {
		return 0, fmt.Errorf("envoy stats: %w", err)
	}
	var n int64
	for line := range strings.Lines(body) {
		name, value, ok := strings.Cut(strings.TrimSpace(line), ": ")
		// The filter's own counters (http.<listener>.ext_authz.<prefix>.*);
		// cluster.* repeats some of them.
		if !ok || !strings.HasPrefix(name, "http.") ||
			!(strings.HasSuffix(name, ".error") || strings.HasSuffix(name, ".failure_mode_allowed") || strings.HasSuffix(name, ".invalid")) {
			continue
		}
		v, err := strconv.ParseInt(value, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("envoy stat %s: %w", name, err)
		}
		n += v
	}
	return n, nil
}
