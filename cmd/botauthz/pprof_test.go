package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func adminGet(t *testing.T, a *app, path, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+a.adminLn.Addr().String()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading the body: %v", path, err)
	}
	return resp.StatusCode, string(body)
}

func TestPprofIsOffByDefault(t *testing.T) {
	a, _ := startApp(t)
	if code, _ := adminGet(t, a, "/debug/pprof/", ""); code != http.StatusNotFound {
		t.Errorf("/debug/pprof/ without -pprof: %d, want 404", code)
	}
}

// TestPprofOutlastsTheWriteTimeout: a CPU profile runs for its seconds,
// longer than the admin port's write timeout, and must still arrive whole.
func TestPprofOutlastsTheWriteTimeout(t *testing.T) {
	a, _ := startApp(t, "-pprof", "-http-write-timeout", "1s")
	code, body := adminGet(t, a, "/debug/pprof/", "")
	if code != http.StatusOK || !strings.Contains(body, "goroutine") {
		t.Fatalf("/debug/pprof/: %d %.200q", code, body)
	}
	code, body = adminGet(t, a, "/debug/pprof/profile?seconds=2", "")
	if code != http.StatusOK || len(body) == 0 {
		t.Errorf("a 2 s CPU profile with a 1 s write timeout: %d, %d bytes (%.200q)", code, len(body), body)
	}
	if code, _ := adminGet(t, a, "/debug/pprof/heap", ""); code != http.StatusOK {
		t.Errorf("/debug/pprof/heap: %d", code)
	}
	for _, bad := range []string{"0", "-1", "x", "121"} {
		if code, _ := adminGet(t, a, "/debug/pprof/profile?seconds="+bad, ""); code != http.StatusBadRequest {
			t.Errorf("seconds=%s: %d, want 400", bad, code)
		}
	}
	// The command line may carry secrets (-admin-tokens).
	if code, _ := adminGet(t, a, "/debug/pprof/cmdline", ""); code != http.StatusNotFound {
		t.Errorf("/debug/pprof/cmdline: %d, want 404", code)
	}
}

func TestPprofNeedsATokenWhenTokensAreConfigured(t *testing.T) {
	const secret = "ro-secret-0123456789abcdef"
	t.Setenv("BOTAUTHZ_ADMIN_TOKENS", "viewer:ro:"+secret)
	a, _ := startApp(t, "-pprof")
	if code, _ := adminGet(t, a, "/debug/pprof/heap", ""); code != http.StatusUnauthorized {
		t.Errorf("no token: %d, want 401", code)
	}
	if code, _ := adminGet(t, a, "/debug/pprof/heap", "wrong-secret-0123456789"); code != http.StatusUnauthorized {
		t.Errorf("a wrong token: %d, want 401", code)
	}
	if code, _ := adminGet(t, a, "/debug/pprof/heap", secret); code != http.StatusOK {
		t.Errorf("a read-only token: %d, want 200", code)
	}
}
