package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/botauthz/botauthz/internal/corpus"
	"github.com/botauthz/botauthz/policy"
)

// chromeHeaders is a complete Chrome 142 navigation over https on Windows,
// in Chrome's order: whatever the scoring model's weights, this is a
// person.
var chromeHeaders = []corpus.Header{
	{"sec-ch-ua", `"Chromium";v="142", "Google Chrome";v="142", "Not_A Brand";v="99"`},
	{"sec-ch-ua-mobile", "?0"},
	{"sec-ch-ua-platform", `"Windows"`},
	{"upgrade-insecure-requests", "1"},
	{"user-agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36"},
	{"accept", "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"},
	{"sec-fetch-site", "none"},
	{"sec-fetch-mode", "navigate"},
	{"sec-fetch-user", "?1"},
	{"sec-fetch-dest", "document"},
	{"accept-encoding", "gzip, deflate, br, zstd"},
	{"accept-language", "en-US,en;q=0.9"},
	{"priority", "u=0, i"},
}

// human is a Chrome navigation from client (empty: a default address).
func human(class, client string) corpus.Record {
	return corpus.Record{Label: corpus.Human, Class: class, Method: "GET", Scheme: "https", Host: "shop.example",
		Path: "/", Protocol: "HTTP/2", Headers: chromeHeaders, Client: client}
}

// bot is a request with no user agent at all from client: whatever the
// weights, automation.
func bot(class, client string) corpus.Record {
	return corpus.Record{Label: corpus.Bot, Class: class, Method: "GET", Scheme: "https", Host: "shop.example",
		Path: "/", Protocol: "HTTP/1.1", Headers: []corpus.Header{{"accept", "*/*"}}, Client: client}
}

// copiedBrowser is a script that sends a real Chrome navigation's exact
// headers, in Chrome's order, from client: automation that headers cannot
// tell from the person.
func copiedBrowser(client string) corpus.Record {
	r := human(corpus.CopiedBrowser, client)
	r.Label = corpus.Bot
	return r
}

// at returns r made at t.
func at(r corpus.Record, t time.Time) corpus.Record {
	r.Time = &t
	return r
}

// writeRecords writes recs to a JSONL file in a temporary folder.
func writeRecords(t *testing.T, recs ...corpus.Record) string {
	t.Helper()
	var b bytes.Buffer
	if err := corpus.Write(&b, recs); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "records.jsonl")
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// writePolicy writes a policy file and returns its path.
func writePolicy(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// rulesPolicy decides by client network alone, so the outcome does not
// depend on the scoring model: 198.51.100.0/24 is allowed, 203.0.113.0/24
// denied. The route is in shadow, as the defaults are, to show that the
// evaluation enforces anyway.
const rulesPolicy = `
rules:
  allow_cidrs: [198.51.100.0/24]
  deny_cidrs: [203.0.113.0/24]
routes:
  default:
    mode: shadow
`

const (
	allowedNet = "198.51.100.7"
	deniedNet  = "203.0.113.7"
)

// evalRecords evaluates recs under the policy in yaml ("" for the
// defaults) and returns the inputs and outcomes.
func evalRecords(t *testing.T, yaml string, enc encoding, recs ...corpus.Record) ([]input, []outcome) {
	t.Helper()
	p := policy.Default()
	if yaml != "" {
		var err error
		if p, err = policy.Parse([]byte(yaml)); err != nil {
			t.Fatal(err)
		}
	}
	ins, err := readInputs([]string{writeRecords(t, recs...)})
	if err != nil {
		t.Fatal(err)
	}
	outs, err := evaluate(context.Background(), p, ins, enc, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return ins, outs
}
