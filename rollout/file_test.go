package rollout_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/botauthz/botauthz/policy"
	"github.com/botauthz/botauthz/rollout"
)

func TestParseOverride(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     rollout.State
		wantErr  string
	}{
		{name: "empty", in: ""},
		{name: "only comments", in: "# nothing yet\n"},
		{name: "full", in: "kill: shadow\ndefault: {mode: enforce}\nroutes:\n  login: {mode: canary, percent: 5}\n  api: {mode: off}\n",
			want: rollout.State{Kill: rollout.KillShadow, Default: &rollout.Setting{Mode: policy.ModeEnforce},
				Routes: map[string]rollout.Setting{"login": {Mode: policy.ModeCanary, Percent: 5}, "api": {Mode: policy.ModeOff}}}},
		{name: "kill none", in: "kill: none\n"},
		{name: "trailing document marker", in: "kill: bypass\n---\n", want: rollout.State{Kill: rollout.KillBypass}},
		{name: "unknown key", in: "kil: bypass\n", wantErr: "kil"},
		{name: "unknown setting key", in: "default: {mode: enforce, pct: 3}\n", wantErr: "pct"},
		{name: "version is not settable", in: "version: 9\n", wantErr: "version"},
		{name: "unknown kill", in: "kill: sideways\n", wantErr: "sideways"},
		{name: "bypass is not a mode", in: "routes: {login: {mode: bypass}}\n", wantErr: "bypass"},
		{name: "percent out of range", in: "routes: {login: {mode: canary, percent: 120}}\n", wantErr: "routes.login.percent"},
		{name: "percent without canary", in: "default: {mode: enforce, percent: 3}\n", wantErr: "default.percent"},
		{name: "two documents", in: "kill: shadow\n---\nkill: none\n", wantErr: "more than one"},
		{name: "not a mapping", in: "- kill\n", wantErr: "cannot unmarshal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := rollout.ParseOverride([]byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseOverride = %v, want an error naming %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseOverride: %v", err)
			}
			if got.Kill != tc.want.Kill || !equalSetting(got.Default, tc.want.Default) || len(got.Routes) != len(tc.want.Routes) {
				t.Fatalf("ParseOverride = %+v, want %+v", got, tc.want)
			}
			for name, s := range tc.want.Routes {
				if got.Routes[name] != s {
					t.Errorf("route %s = %v, want %v", name, got.Routes[name], s)
				}
			}
		})
	}
}

func equalSetting(a, b *rollout.Setting) bool {
	return a == nil && b == nil || a != nil && b != nil && *a == *b
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	// Write then rename, as a deployment tool would: the file is never seen
	// half written.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func fileKill(c *rollout.Controller) rollout.Kill {
	if f := c.View().File; f != nil {
		return f.Kill
	}
	return 255
}

// The file's life cycle, with no Redis at all. A refresh of an hour leaves
// the directory watch as the only way changes arrive.
func TestControllerOverrideFileLifecycle(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "override.yaml")
	rec := newLogRecorder(t)
	c := startController(t, rollout.ControllerOptions{
		Store:        rollout.NewMemoryStore(0),
		OverrideFile: path,
		Refresh:      time.Hour,
		Logger:       newLogger(rec),
	})
	if v := c.View(); v.File != nil || v.FileError != "" {
		t.Fatalf("view without a file: File %+v FileError %q, want none", v.File, v.FileError)
	}

	writeFile(t, path, "kill: shadow\nroutes: {login: {mode: enforce}}\n")
	took := eventually(t, "written file applied", func() bool { return fileKill(c) == rollout.KillShadow })
	t.Logf("file change applied after %v", took)
	if got := c.View().Resolve(&policy.Route{Name: "login", Mode: policy.ModeOff}); got.Source != rollout.SourceKill || got.Mode != policy.ModeShadow {
		t.Errorf("login resolves to %+v, want shadow by the kill switch", got)
	}

	writeFile(t, path, "kill: shadow\nroutes: {login: {mode: enforce, percent: 5}}\n")
	eventually(t, "invalid file reported", func() bool { return c.View().FileError != "" })
	v := c.View()
	if !strings.Contains(v.FileError, "routes.login.percent") || !strings.Contains(v.FileError, path) {
		t.Errorf("FileError = %q, want it to name the file and the field", v.FileError)
	}
	if v.File == nil || v.File.Kill != rollout.KillShadow || v.File.Routes["login"].Mode != policy.ModeEnforce {
		t.Errorf("after an invalid file, File = %+v, want the previous good one", v.File)
	}
	if rec.count("override file rejected") != 1 {
		t.Errorf("rejection logged %d times, want once", rec.count("override file rejected"))
	}

	writeFile(t, path, "")
	eventually(t, "empty file applied", func() bool {
		v := c.View()
		return v.FileError == "" && v.File != nil && v.File.Kill == rollout.KillNone
	})
	if f := c.View().File; f.Default != nil || len(f.Routes) != 0 {
		t.Errorf("empty file gives %+v, want an empty override", f)
	}

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	eventually(t, "deleted file no longer applies", func() bool { return c.View().File == nil })
	if v := c.View(); v.FileError != "" {
		t.Errorf("FileError after deletion = %q, want none", v.FileError)
	}
}

// Kubernetes updates a mounted ConfigMap by pointing the ..data symlink at a
// new timestamped directory; the file itself is a symlink through ..data.
func TestControllerOverrideFileConfigMapSwap(t *testing.T) {
	dir := t.TempDir()
	mkVersion := func(name, content string) {
		t.Helper()
		if err := os.Mkdir(filepath.Join(dir, name), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name, "override.yaml"), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	swapData := func(target string) {
		t.Helper()
		tmp := filepath.Join(dir, "..data_tmp")
		if err := os.Symlink(target, tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	mkVersion("..2026_01_01_00_00_00.1", "kill: shadow\n")
	swapData("..2026_01_01_00_00_00.1")
	path := filepath.Join(dir, "override.yaml")
	if err := os.Symlink(filepath.Join("..data", "override.yaml"), path); err != nil {
		t.Fatal(err)
	}

	c := startController(t, rollout.ControllerOptions{
		Store:        rollout.NewMemoryStore(0),
		OverrideFile: path,
		Refresh:      time.Hour,
	})
	if got := fileKill(c); got != rollout.KillShadow {
		t.Fatalf("initial file kill = %v, want shadow", got)
	}

	mkVersion("..2026_01_01_00_05_00.2", "kill: bypass\ndefault: {mode: enforce}\n")
	swapData("..2026_01_01_00_05_00.2")
	eventually(t, "swapped ConfigMap applied", func() bool { return fileKill(c) == rollout.KillBypass })
}

// When the file's directory cannot be watched (here: it appears only after
// Start), the refresh still picks the file up.
func TestControllerOverrideFileRefreshFallback(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "later")
	path := filepath.Join(dir, "override.yaml")
	c := startController(t, rollout.ControllerOptions{
		Store:        rollout.NewMemoryStore(0),
		OverrideFile: path,
		Refresh:      100 * time.Millisecond,
	})
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, "kill: bypass\n")
	eventually(t, "file in a new directory applied", func() bool { return fileKill(c) == rollout.KillBypass })

	// Later changes keep arriving.
	writeFile(t, path, "kill: shadow\n")
	eventually(t, "later change applied", func() bool { return fileKill(c) == rollout.KillShadow })
}

// The file is layered over the live state: it wins where it says something.
func TestControllerOverrideFileOverLiveState(t *testing.T) {
	path := filepath.Join(t.TempDir(), "override.yaml")
	writeFile(t, path, "default: {mode: shadow}\n")
	c := startController(t, rollout.ControllerOptions{Store: rollout.NewMemoryStore(0), OverrideFile: path, Refresh: time.Hour})
	if _, err := c.Apply(t.Context(), rollout.Change{Kind: rollout.ChangeMode, Route: "login", Setting: &rollout.Setting{Mode: policy.ModeEnforce}, Actor: "sre", Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	login := &policy.Route{Name: "login", Mode: policy.ModeOff}
	if got := c.View().Resolve(login); got.Source != rollout.SourceFileDefault || got.Mode != policy.ModeShadow {
		t.Errorf("login = %+v, want shadow from the file's default over the live route", got)
	}
	if _, err := c.Apply(t.Context(), rollout.Change{Kind: rollout.ChangeKill, Kill: rollout.KillBypass, Actor: "sre", Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	if got := c.View().Resolve(login); got.Mode != policy.ModeBypass {
		t.Errorf("login = %+v, want bypass: a live kill switch beats the file's modes", got)
	}
}
