package buildinfo

import (
	"os"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	vcs := &debug.BuildInfo{GoVersion: "go1.26.0", Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "1f3a9c2e"},
		{Key: "vcs.modified", Value: "true"},
	}}
	for _, tc := range []struct {
		name             string
		bi               *debug.BuildInfo
		version, commit  string
		want             Info
		wantLine, wantSV string
	}{
		{"no build info", nil, "", "", Info{Version, "unknown", false, "unknown"},
			"botauthz " + Version + " (commit unknown, unknown)", Version},
		{"from the git checkout", vcs, "", "", Info{Version, "1f3a9c2e", true, "go1.26.0"},
			"botauthz " + Version + " (commit 1f3a9c2e, modified, go1.26.0)", Version + "+dirty"},
		{"stamped by the Dockerfile", &debug.BuildInfo{GoVersion: "go1.26.0"}, "v0.1.0-3-gabcdef1", "abcdef1234", Info{"0.1.0-3-gabcdef1", "abcdef1234", false, "go1.26.0"},
			"botauthz 0.1.0-3-gabcdef1 (commit abcdef1234, go1.26.0)", "0.1.0-3-gabcdef1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := fromBuildInfo(tc.bi, tc.version, tc.commit)
			if got != tc.want {
				t.Errorf("fromBuildInfo = %+v, want %+v", got, tc.want)
			}
			if s := got.String(); s != tc.wantLine {
				t.Errorf("String() = %q, want %q", s, tc.wantLine)
			}
			if s := got.ServiceVersion(); s != tc.wantSV {
				t.Errorf("ServiceVersion() = %q, want %q", s, tc.wantSV)
			}
		})
	}
}

// TestVersionIsReleased keeps Version, the CHANGELOG's newest release and
// semantic versioning in step: a release commit changes them together.
func TestVersionIsReleased(t *testing.T) {
	if !regexp.MustCompile(`^\d+\.\d+\.\d+$`).MatchString(Version) {
		t.Fatalf("Version %q is not MAJOR.MINOR.PATCH", Version)
	}
	log, err := os.ReadFile("../CHANGELOG.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^## \[(\d+\.\d+\.\d+)\]`).FindSubmatch(log)
	if m == nil {
		t.Fatal("CHANGELOG.md has no release heading like ## [0.1.0] - 2026-12-02")
	}
	if string(m[1]) != Version {
		t.Errorf("CHANGELOG.md's newest release is %s, Version is %s", m[1], Version)
	}
	if !strings.Contains(string(log), "## [Unreleased]") {
		t.Error("CHANGELOG.md has no [Unreleased] section for changes after the release")
	}
}
