package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/botauthz/botauthz/internal/mmdbtest"
	"github.com/botauthz/botauthz/scoring"
)

// readmeExample writes the README's policy example, the one with every key,
// to a file and returns its path.
func readmeExample(t *testing.T) string {
	t.Helper()
	doc, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "<!-- policy-example -->\n```yaml\n")
	if !ok {
		t.Fatal("README.md has no policy example")
	}
	example, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatal("README.md policy example is not closed")
	}
	// The example's files under /etc/botauthz/ exist here, in a folder of
	// the test's: the reputation sets as their publishers' formats (real
	// published files from reputation/testdata) and an ASN database.
	dir := t.TempDir()
	example = strings.ReplaceAll(example, "/etc/botauthz/", dir+"/")
	if err := os.MkdirAll(filepath.Join(dir, "reputation"), 0o700); err != nil {
		t.Fatal(err)
	}
	for name, from := range map[string]string{
		"reputation/aws-ip-ranges.json": "../../reputation/testdata/aws-ip-ranges.json",
		"reputation/torbulkexitlist":    "../../reputation/testdata/torbulkexitlist",
	} {
		data, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "reputation/abuse.txt"), []byte("192.0.2.0/24\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mmdbtest.Write(t, filepath.Join(dir, "GeoLite2-ASN.mmdb"), "GeoLite2-ASN", []mmdbtest.ASN{{Network: "198.51.100.0/24", Number: 64500, Organization: "Example"}})
	path := filepath.Join(dir, "readme-example.yaml")
	if err := os.WriteFile(path, []byte(example), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// -check-config must pass exactly the files botauthz starts with: every
// fixture and the README example, with the CAPTCHA secret's variable empty
// and set. Bad fixtures (the empty file among them) must fail both; good ones
// pass both, unless they name a secret that is not set.
func TestCheckConfigAgreesWithStart(t *testing.T) {
	files, err := filepath.Glob("../../policy/testdata/*/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	files = append(files, readmeExample(t))
	for _, secret := range []string{"", "a-turnstile-secret"} {
		t.Setenv("BOTAUTHZ_TURNSTILE_SECRET", secret)
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			want := !strings.Contains(f, "/testdata/bad/") && (secret != "" || !bytes.Contains(data, []byte("secret_env")))

			var out bytes.Buffer
			checked := run(context.Background(), []string{"-check-config", f}, &out, &out) == 0

			c, err := parseFlags([]string{"-config", f, "-grpc-addr", "127.0.0.1:0", "-admin-addr", "127.0.0.1:0", "-http-addr", "127.0.0.1:0"}, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			a, startErr := newApp(t.Context(), c, slog.New(slog.DiscardHandler), nil, nil)
			if startErr == nil {
				a.closeListeners()
				if err := a.close(t.Context()); err != nil {
					t.Errorf("%s: release: %v", f, err)
				}
			}
			if checked != (startErr == nil) || checked != want {
				t.Errorf("secret %q, %s: -check-config passed=%v (%q), start err = %v; want both to pass=%v",
					secret, f, checked, out.String(), startErr, want)
			}
		}
	}
}

// The case: the README example with its CAPTCHA secret unset.
func TestCheckConfigRefusesWhatStartRefuses(t *testing.T) {
	t.Setenv("BOTAUTHZ_TURNSTILE_SECRET", "")
	var out bytes.Buffer
	code := run(context.Background(), []string{"-check-config", readmeExample(t)}, &out, &out)
	if code != 1 || !strings.Contains(out.String(), "environment variable BOTAUTHZ_TURNSTILE_SECRET is empty") {
		t.Errorf("exit %d, output %q; want exit 1 naming the empty variable", code, out.String())
	}
}

// The replica a file is checked for holds its ports: the check binds none.
func TestCheckConfigBindsNoPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	var out bytes.Buffer
	code := run(context.Background(), []string{"-check-config", "../../policy/testdata/good/full.yaml",
		"-grpc-addr", addr, "-admin-addr", addr, "-http-addr", addr}, &out, &out)
	if code != 0 || !strings.Contains(out.String(), "route login") {
		t.Errorf("exit %d, output %q; want exit 0 with the ports taken", code, out.String())
	}
}

// -check-config names the model the file tunes and each route's tuned
// weights, so a reviewer sees what a deploy changes.
func TestCheckConfigShowsTheModelAndTunedWeights(t *testing.T) {
	m, err := scoring.Load()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if code := run(context.Background(), []string{"-check-config", "../../policy/testdata/good/full.yaml"}, &out, &out); code != 0 {
		t.Fatalf("exit %d: %s", code, out.String())
	}
	for _, want := range []string{
		"model " + m.Version() + " feature_set=" + strconv.Itoa(scoring.FeatureSet) + " behind_proxy=true tls_trusted=false",
		"weights=fetch.missing:0,ua.other:-5,protocol.http1:0 verified_bots=default:allow unverified_crawlers=allow\n",
		"weights=fetch.missing:0,ua.other:-3.5 verified_bots=default:allow unverified_crawlers=allow\n",
		"  history window=5m0s escalate_after=20 session_networks=4\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// -check-config says which routes require proof.
func TestCheckConfigShowsRoutesThatRequireProof(t *testing.T) {
	var out bytes.Buffer
	if code := run(context.Background(), []string{"-check-config", "../../policy/testdata/good/require-proof.yaml"}, &out, &out); code != 0 {
		t.Fatalf("exit %d: %s", code, out.String())
	}
	for line := range strings.Lines(out.String()) {
		name := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "route "))
		if !strings.HasPrefix(strings.TrimSpace(line), "route ") || len(name) == 0 {
			continue
		}
		if want := name[0] != "api"; strings.Contains(line, " require_proof") != want {
			t.Errorf("route %s: %q, want require_proof shown: %v", name[0], line, want)
		}
	}
}

// -check-config shows the crawler directory a file verifies with, its own
// override merged, and each route's crawler settings; a broken override
// fails the check.
func TestCheckConfigShowsCrawlers(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "policy.yaml")
	override, err := filepath.Abs("../../crawler/testdata/override/crawlers.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(`
crawlers: {directory: `+override+`, reverse_dns: false}
routes:
  default: {verified_bots: {ai_crawler: deny}}
  login: {unverified_crawlers: challenge}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if code := run(context.Background(), []string{"-check-config", file}, &out, &out); code != 0 {
		t.Fatalf("exit %d: %s", code, out.String())
	}
	for _, want := range []string{
		"  crawlers 64 crawlers, 14 range lists (oldest published ",
		"reverse_dns=false network=false\n",
		"route login        mode=shadow  challenge_below=30 deny_below=2 limits=3 verified_bots=ai_crawler:deny,default:allow unverified_crawlers=challenge\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}

	if err := os.WriteFile(file, []byte("crawlers: {directory: "+filepath.Join(dir, "missing.yaml")+"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if code := run(context.Background(), []string{"-check-config", file}, &out, &out); code != 1 || !strings.Contains(out.String(), "crawlers.directory") {
		t.Errorf("a missing directory file: exit %d, output %q; want exit 1 naming crawlers.directory", code, out.String())
	}
}
