package main

// The test split's captures: requests of real headful browsers on this
// machine (under Xvfb), recorded by `botcorpus capture` (capture.go), stored
// as its JSON Lines under sources/browsers/captures/<browser>-<version>.jsonl
// (captures/README.md says how they were made). Each raw record's note
// names its session: browser and version, language list, window size,
// protocol (h2, h1 or plain http) and date.
//
// Of the plain-http sessions only the navigations are used.
//
// The generator needs no browser: it reads the stored captures and keeps
// what Envoy would pass on (hop-by-hop headers dropped, as
// ConnectionManagerUtility::mutateRequestHeaders drops them), the request
// line, the protocol and the JA4 the capture computed; the address becomes
// one of the documentation ranges and the time is dropped.

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"

	"github.com/botauthz/botauthz/internal/corpus"
)

// captureMeta is what a capture note says.
type captureMeta struct {
	session, browser, version, lang, window, mode, date string
}

func parseCaptureNote(note string) captureMeta {
	var m captureMeta
	for _, f := range strings.Fields(note) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "session":
			m.session = v
		case "browser":
			m.browser, m.version, _ = strings.Cut(v, "/")
		case "lang":
			m.lang = v
		case "window":
			m.window = v
		case "mode":
			m.mode = v
		case "date":
			m.date = v
		}
	}
	return m
}

// captureClass is the class of a captured browser: the class its user
// agent and hints give, except that Debian's Chromium is other-browser also
// over plain http, where it sends no sec-ch-ua to tell it from Chrome.
func captureClass(browser string, hs []corpus.Header) (string, string) {
	switch browser {
	case "chromium":
		return corpus.OtherBrowser, ""
	case "firefox":
		return classify(hs)
	}
	return "", "unknown captured browser " + browser
}

// requestKind is navigate, fetch or subresource, by fetch metadata where
// the request has it.
func requestKind(hs []corpus.Header, path string) string {
	if m, ok := hget(hs, "sec-fetch-mode"); ok {
		switch m {
		case "navigate":
			return "navigate"
		case "cors", "same-origin":
			return "fetch"
		}
		return "subresource"
	}
	if a, _ := hget(hs, "accept"); strings.HasPrefix(a, "text/html") {
		return "navigate"
	}
	if strings.HasPrefix(path, "/api/") {
		return "fetch"
	}
	return "subresource"
}

func captureSets(dir string, rng *rand.Rand) ([]bset, []corpus.Source, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	if err != nil {
		return nil, nil, err
	}
	slices.Sort(files)
	var out []bset
	var srcs []corpus.Source
	for _, f := range files {
		recs, err := corpus.ReadFile(f)
		if err != nil {
			return nil, nil, err
		}
		if len(recs) == 0 {
			continue
		}
		first := parseCaptureNote(recs[0].Note)
		if first.browser == "" || first.version == "" || first.date == "" {
			return nil, nil, fmt.Errorf("%s: the first record's note names no browser, version and date", f)
		}
		id := "capture-" + first.browser + "-" + first.version
		sessions := map[string]bool{}
		langs := map[string]bool{}
		modes := map[string]int{}
		skipped := 0
		for _, r := range recs {
			m := parseCaptureNote(r.Note)
			if m.browser != first.browser || m.version != first.version {
				return nil, nil, fmt.Errorf("%s: records of %s/%s and %s/%s in one file", f, first.browser, first.version, m.browser, m.version)
			}
			hs := hdel(r.Headers, hopByHop...)
			class, why := captureClass(m.browser, hs)
			if why == "" {
				why = inconsistency(hs, r.Scheme)
			}
			if why != "" {
				skipped++
				continue
			}
			kind := requestKind(hs, r.Path)
			if r.Scheme == "http" && kind != "navigate" {
				// Plain http is rare on the web: keep its navigations only, so
				// that a third of the test requests are not plain http.
				continue
			}
			sessions[m.session] = true
			langs[m.lang] = true
			modes[m.mode]++
			out = append(out, bset{
				class:    class,
				source:   id,
				desc:     fmt.Sprintf("%s %s capture, %s %s %s", m.browser, m.version, m.mode, r.Method, r.Path),
				method:   r.Method,
				scheme:   r.Scheme,
				path:     r.Path,
				protocol: r.Protocol,
				headers:  hs,
				tls:      r.TLS,
				kind:     kind,
			})
		}
		what := fmt.Sprintf("headful %s %s under Xvfb, driven by command line and keyboard (xdotool), no automation protocol: "+
			"%d sessions, %d language lists, window sizes varied, HTTPS over h2 and http/1.1 and plain http; "+
			"navigations (typed, link, reload), subresources, fetch and POST: %d requests captured", first.browser, first.version,
			len(sessions), len(langs), len(recs))
		if skipped > 0 {
			what += fmt.Sprintf(" (%d left out as inconsistent)", skipped)
		}
		srcs = append(srcs, corpus.Source{
			ID:    id,
			What:  what,
			Where: fmt.Sprintf("capture: botcorpus capture (cmd/botcorpus/capture.go), %s %s (Debian 12 package), %s; sources/browsers/captures/%s", first.browser, first.version, first.date, filepath.Base(f)),
			Split: "test",
		})
	}
	return out, srcs, nil
}
