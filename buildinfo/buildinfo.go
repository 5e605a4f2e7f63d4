// Package buildinfo says which botauthz a binary is: its release version,
// the commit it was built from and the Go that built it. The binaries
// print it for -version, telemetry exports it as botauthz_build_info and
// as the OpenTelemetry resource's service.version, and support asks for it
// first.
package buildinfo

import (
	"runtime/debug"
	"strings"
)

// Version is the release this source tree is. The release commit changes
// it, adds its CHANGELOG.md section and is tagged v<Version>; a test keeps
// the three and the Helm chart's appVersion in step.
const Version = "0.1.0"

// Values stamped at link time by builds that have no VCS information for
// the Go command to record, such as a container build whose context leaves
// .git out (the Dockerfile passes them as build arguments):
//
//	-ldflags "-X github.com/botauthz/botauthz/buildinfo.revision=<commit>
//	          -X github.com/botauthz/botauthz/buildinfo.version=<describe>"
//
// They are written by the linker and never by the program, so they are
// constants in all but syntax.
var (
	revision string // the commit; overrides vcs.revision
	version  string // e.g. 0.1.0-3-gabcdef1 from git describe; overrides Version
)

// Info is what Read reports.
type Info struct {
	// Version is the release, or what git describe said at build time for
	// a commit after it.
	Version string
	// Revision is the full commit hash, or "unknown" when the build
	// recorded none (go run, or a build outside a git checkout that was not
	// stamped).
	Revision string
	// Modified reports a build from a working tree with uncommitted
	// changes.
	Modified bool
	// GoVersion is the Go toolchain that built the binary, e.g. go1.26.0.
	GoVersion string
}

// Read returns the running binary's build information.
func Read() Info {
	bi, _ := debug.ReadBuildInfo()
	return fromBuildInfo(bi, version, revision)
}

// fromBuildInfo is Read's logic with its inputs given, for tests.
func fromBuildInfo(bi *debug.BuildInfo, stampedVersion, stampedRevision string) Info {
	info := Info{Version: Version, Revision: "unknown", GoVersion: "unknown"}
	if bi != nil {
		info.GoVersion = bi.GoVersion
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				info.Revision = s.Value
			case "vcs.modified":
				info.Modified = s.Value == "true"
			}
		}
	}
	if v := strings.TrimPrefix(stampedVersion, "v"); v != "" {
		info.Version = v
	}
	if stampedRevision != "" {
		info.Revision = stampedRevision
	}
	return info
}

// String is the one line -version prints, e.g.
// "botauthz 0.1.0 (commit 1f3a9c2e…, go1.26.0)".
func (i Info) String() string {
	var b strings.Builder
	b.WriteString("botauthz ")
	b.WriteString(i.Version)
	b.WriteString(" (commit ")
	b.WriteString(i.Revision)
	if i.Modified {
		b.WriteString(", modified")
	}
	b.WriteString(", ")
	b.WriteString(i.GoVersion)
	b.WriteString(")")
	return b.String()
}

// ServiceVersion is the version telemetry reports as service.version: the
// release, with "+dirty" for a build from a modified tree.
func (i Info) ServiceVersion() string {
	if i.Modified {
		return i.Version + "+dirty"
	}
	return i.Version
}
