// Command botfacts writes the extract of @mdn/browser-compat-data (BCD)
// that scoring/data/browsers.yaml cites: the http.headers entries its facts
// rest on, for the browsers of its families, with BCD's version. The
// extract is checked in as scoring/testdata/bcd-http-headers.json, and a
// test in package scoring compares every fact that names a BCD feature
// with it. BCD is CC0, so the extract may be.
//
// Usage:
//
//	cd /tmp/bcd && npm install @mdn/browser-compat-data
//	go run ./cmd/botfacts -bcd /tmp/bcd/node_modules/@mdn/browser-compat-data \
//		-out scoring/testdata/bcd-http-headers.json
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// features are the BCD features browsers.yaml cites.
var features = []string{
	"http.headers.Accept",
	"http.headers.Accept-Encoding",
	"http.headers.Accept-Encoding.br",
	"http.headers.Accept-Encoding.zstd",
	"http.headers.Accept-Language",
	"http.headers.Priority",
	"http.headers.Sec-CH-UA",
	"http.headers.Sec-CH-UA-Mobile",
	"http.headers.Sec-CH-UA-Platform",
	"http.headers.Sec-Fetch-Dest",
	"http.headers.Sec-Fetch-Mode",
	"http.headers.Sec-Fetch-Site",
	"http.headers.Sec-Fetch-User",
	"http.headers.Upgrade-Insecure-Requests",
}

// browsers are the BCD browsers of the facts' families: Chromium (by Chrome
// major, with the members it names), Firefox, and WebKit (Safari by its
// version, every iOS browser by the iOS version).
var browsers = []string{
	"chrome", "chrome_android", "edge", "opera", "opera_android",
	"samsunginternet_android", "webview_android",
	"firefox", "firefox_android",
	"safari", "safari_ios", "webview_ios",
}

// extract is the file botfacts writes.
type extract struct {
	About     string             `json:"about"`
	Version   string             `json:"bcd_version"`
	Timestamp string             `json:"bcd_timestamp"`
	Features  map[string]feature `json:"features"`
}

// feature is one BCD feature's compat data, with every browser's support
// as a list of statements (BCD writes a lone statement as an object).
type feature struct {
	SpecURL json.RawMessage              `json:"spec_url,omitempty"`
	Status  json.RawMessage              `json:"status,omitempty"`
	Support map[string][]json.RawMessage `json:"support"`
}

func main() {
	bcd := flag.String("bcd", "", "the @mdn/browser-compat-data package directory (holding data.json)")
	out := flag.String("out", "scoring/testdata/bcd-http-headers.json", "the extract to write")
	flag.Parse()
	if *bcd == "" || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*bcd, *out); err != nil {
		fmt.Fprintln(os.Stderr, "botfacts:", err)
		os.Exit(1)
	}
}

// run reads BCD's data.json in dir and writes the extract to out.
func run(dir, out string) error {
	f, err := os.Open(filepath.Join(dir, "data.json"))
	if err != nil {
		return err
	}
	defer f.Close()
	b, err := extractFrom(f)
	if err != nil {
		return err
	}
	return os.WriteFile(out, b, 0o644)
}

// extractFrom reads BCD's data.json and returns the extract, indented, with
// a final newline.
func extractFrom(r io.Reader) ([]byte, error) {
	var data map[string]json.RawMessage
	if err := json.NewDecoder(r).Decode(&data); err != nil {
		return nil, fmt.Errorf("data.json: %w", err)
	}
	var meta struct {
		Version   string `json:"version"`
		Timestamp string `json:"timestamp"`
	}
	if err := json.Unmarshal(data["__meta"], &meta); err != nil || meta.Version == "" {
		return nil, errors.New("data.json: no __meta.version")
	}
	x := extract{
		About: "An extract of @mdn/browser-compat-data " + meta.Version +
			" (CC0-1.0, https://github.com/mdn/browser-compat-data): the features scoring/data/browsers.yaml cites. Written by cmd/botfacts; do not edit.",
		Version:   meta.Version,
		Timestamp: meta.Timestamp,
		Features:  map[string]feature{},
	}
	for _, path := range features {
		ft, err := lookup(data, path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		x.Features[path] = ft
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // BCD's notes hold HTML such as <code>
	enc.SetIndent("", "  ")
	if err := enc.Encode(x); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// lookup finds a feature by its dotted path ("http.headers.Accept-Encoding.br")
// and keeps its spec, status and the support of browsers.
func lookup(data map[string]json.RawMessage, path string) (feature, error) {
	node := data
	for _, key := range strings.Split(path, ".") {
		raw, ok := node[key]
		if !ok {
			return feature{}, fmt.Errorf("no %q", key)
		}
		node = nil
		if err := json.Unmarshal(raw, &node); err != nil {
			return feature{}, fmt.Errorf("%q: %w", key, err)
		}
	}
	var compat struct {
		SpecURL json.RawMessage            `json:"spec_url"`
		Status  json.RawMessage            `json:"status"`
		Support map[string]json.RawMessage `json:"support"`
	}
	if err := json.Unmarshal(node["__compat"], &compat); err != nil || compat.Support == nil {
		return feature{}, errors.New("no __compat.support")
	}
	ft := feature{SpecURL: compat.SpecURL, Status: compat.Status, Support: map[string][]json.RawMessage{}}
	for _, b := range browsers {
		raw, ok := compat.Support[b]
		if !ok {
			continue
		}
		raw = bytes.TrimSpace(raw)
		if len(raw) > 0 && raw[0] == '[' {
			var list []json.RawMessage
			if err := json.Unmarshal(raw, &list); err != nil {
				return feature{}, fmt.Errorf("support.%s: %w", b, err)
			}
			ft.Support[b] = list
		} else {
			ft.Support[b] = []json.RawMessage{raw}
		}
	}
	return ft, nil
}
