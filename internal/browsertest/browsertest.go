// Package browsertest finds the headless Chromium that browser tests drive.
package browsertest

import (
	"os"
	"os/exec"
	"testing"
)

// Chromium returns the path of Debian's Chromium (BOTAUTHZ_CHROMIUM, else
// chromium or chromium-browser on PATH). Without one it skips the test, or
// fails it under BOTAUTHZ_TEST_REQUIRE=1, which make test sets.
func Chromium(t testing.TB) string {
	t.Helper()
	for _, name := range []string{os.Getenv("BOTAUTHZ_CHROMIUM"), "chromium", "chromium-browser"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("BOTAUTHZ_TEST_REQUIRE") == "1" {
		t.Fatal("chromium not found (BOTAUTHZ_TEST_REQUIRE=1 requires it); `make chromium` installs it")
	}
	t.Skip("chromium not found; run `make chromium` to install it")
	return ""
}
