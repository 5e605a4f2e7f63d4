package challenge

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

func TestScriptServed(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name, target, ifNoneMatch string
		wantCode                  int
		wantCache                 string
	}{
		{"versioned URL is immutable", ScriptPath + "?v=" + e.h.scriptVersion, "", http.StatusOK, "public, max-age=31536000, immutable"},
		{"bare URL revalidates", ScriptPath, "", http.StatusOK, "no-cache"},
		{"stale version revalidates", ScriptPath + "?v=0000", "", http.StatusOK, "no-cache"},
		{"matching ETag", ScriptPath, e.h.scriptETag, http.StatusNotModified, "no-cache"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := httptestGet(c.target)
			if c.ifNoneMatch != "" {
				req.Header.Set("If-None-Match", c.ifNoneMatch)
			}
			rec := httptestRecord(e.h, req)
			if rec.Code != c.wantCode {
				t.Fatalf("status %d, want %d", rec.Code, c.wantCode)
			}
			hdr := rec.Header()
			if got := hdr.Get("Cache-Control"); got != c.wantCache {
				t.Errorf("Cache-Control = %q, want %q", got, c.wantCache)
			}
			if hdr.Get("ETag") != e.h.scriptETag {
				t.Errorf("ETag = %q, want %q", hdr.Get("ETag"), e.h.scriptETag)
			}
			if c.wantCode != http.StatusOK {
				return
			}
			if got := hdr.Get("Content-Type"); got != "text/javascript; charset=utf-8" {
				t.Errorf("Content-Type = %q", got)
			}
			if hdr.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("X-Content-Type-Options = %q", hdr.Get("X-Content-Type-Options"))
			}
			if !bytes.Equal(rec.Body.Bytes(), script) {
				t.Error("body is not the embedded script")
			}
		})
	}
	sum := sha256.Sum256(script)
	if want := hex.EncodeToString(sum[:8]); e.h.scriptVersion != want {
		t.Errorf("version %q is not the script's content hash %q", e.h.scriptVersion, want)
	}
}

// nodeHarness loads the served script as a CommonJS module, without a DOM,
// and prints the hashes of the inputs and a nonce solving a challenge.
const nodeHarness = `
const m = require(process.argv[2]);
const req = JSON.parse(require("fs").readFileSync(process.argv[3], "utf8"));
process.stdout.write(JSON.stringify({
  hashes: req.inputs.map(m.sha256Hex),
  nonce: m.search(req.challenge + ":", req.difficulty, 0, 1 << 24),
}));
`

// TestScriptSHA256MatchesGo runs the script's SHA-256 and solver under node
// and checks them against crypto/sha256 and powSolved.
func TestScriptSHA256MatchesGo(t *testing.T) {
	node := nodeForTest(t, "the script's SHA-256 is not checked")
	inputs := []string{
		"",
		"abc",
		"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
		strings.Repeat("a", 55), // the longest single-block message
		strings.Repeat("a", 56), // the padding spills into a second block
		strings.Repeat("a", 63),
		strings.Repeat("a", 64),
		strings.Repeat("0123456789", 100),
		"0f1e2d3c4b5a69788796a5b4c3d2e1f0:12345",
		"héllo wörld ☃ 🎉", // 2-, 3- and 4-byte UTF-8
	}
	const challenge, difficulty = "00112233445566778899aabbccddeeff", 3

	out := runScript(t, node, nodeHarness, map[string]any{"inputs": inputs, "challenge": challenge, "difficulty": difficulty})
	var got struct {
		Hashes []string `json:"hashes"`
		Nonce  int      `json:"nonce"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("node output %q: %v", out, err)
	}
	if len(got.Hashes) != len(inputs) {
		t.Fatalf("node returned %d hashes for %d inputs", len(got.Hashes), len(inputs))
	}
	for i, in := range inputs {
		sum := sha256.Sum256([]byte(in))
		if want := hex.EncodeToString(sum[:]); got.Hashes[i] != want {
			t.Errorf("sha256Hex(%.20q…) = %s, want %s", in, got.Hashes[i], want)
		}
	}
	if got.Nonce < 0 || !powSolved(challenge, strconv.Itoa(got.Nonce), difficulty) {
		t.Errorf("script's nonce %d does not solve %s at difficulty %d for Go", got.Nonce, challenge, difficulty)
	}
	if want := solve(t, challenge, difficulty); strconv.Itoa(got.Nonce) != want {
		t.Errorf("script found nonce %d, Go's first is %s: they disagree on an earlier one", got.Nonce, want)
	}
}
