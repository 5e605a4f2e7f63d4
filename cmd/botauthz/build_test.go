package main

import (
	"debug/elf"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestMakeBuildCrossCompilesAndStamps runs `make build`, the release
// binaries' recipe: both platforms the image is for must build, and the
// version and commit it stamps must be what -version prints. -X with a
// misspelled variable is silently ignored by the linker, so only running
// the binary proves the stamp.
func TestMakeBuildCrossCompilesAndStamps(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-compiles botauthz and botctl twice")
	}
	bin := t.TempDir()
	mk := exec.Command("make", "--no-print-directory", "-C", "../..", "build", "BIN="+bin, "VERSION=9.9.9-test", "REVISION=0123abcd")
	if out, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("make build: %v\n%s", err, out)
	}
	for arch, machine := range map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64} {
		for _, name := range []string{"botauthz", "botctl"} {
			path := filepath.Join(bin, "linux_"+arch, name)
			f, err := elf.Open(path)
			if err != nil {
				t.Errorf("%s: %v", path, err)
				continue
			}
			if f.Machine != machine {
				t.Errorf("%s: machine %s, want %s", path, f.Machine, machine)
			}
			f.Close()
		}
	}
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" {
		t.Skipf("cannot run a linux binary on %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	out, err := exec.Command(filepath.Join(bin, "linux_"+runtime.GOARCH, "botauthz"), "-version").CombinedOutput()
	if err != nil {
		t.Fatalf("botauthz -version: %v\n%s", err, out)
	}
	if want := "botauthz 9.9.9-test (commit 0123abcd, go"; !strings.HasPrefix(string(out), want) {
		t.Errorf("botauthz -version = %q, want it to start with %q", out, want)
	}
}
