package main

// The test split's browser signatures: curl-impersonate's
// tests/signatures, the HTTP/2 HEADERS frame (names and values in order) of
// real browsers' first navigation to a site, from lwthiker's repository
// (chrome.yaml, edge.yaml, firefox.yaml, safari.yaml: one YAML document per
// browser) and lexiforest's fork (one file per browser; those it shares
// with lwthiker's are not copied). The files are under
// sources/browsers/curl-impersonate/<owner>/ with the repository's LICENSE;
// COMMIT there names the commit they were taken at.
//
// A signature is one header set: a typed navigation (sec-fetch-site none).
// The test split varies only what the same browser varies on its own
// (browserVariants): the language list (accept-language, written as that
// browser writes it; not for Tor Browser, which always sends en-US) and
// how the page was reached — a link on the site (same-origin, with a
// referer), a search result (cross-site, with Google's origin as referer), a
// reload (Chromium: cache-control: max-age=0; Firefox sends the page's
// headers again) — with the referer and cache-control where the captures of
// Chromium and Firefox put them. Safari's variants are
// the language only: where Safari puts a referer is in no test source here.
// No version, user agent or header order is made up.

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/botauthz/botauthz/internal/corpus"
)

// signature is one browser's header set from a signature file.
type signature struct {
	name    string // e.g. chrome_116.0.5845.180_win10
	browser string // the file's browser name: chrome, edge, firefox, safari, tor
	version string
	headers []corpus.Header
}

// readSignatures reads the signatures of one YAML file (one or more documents).
func readSignatures(path string) ([]signature, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	var out []signature
	for {
		var doc struct {
			Name    string `yaml:"name"`
			Browser struct {
				Name    string `yaml:"name"`
				Version string `yaml:"version"`
			} `yaml:"browser"`
			Signature struct {
				HTTP2 struct {
					Headers []string `yaml:"headers"`
					Frames  []struct {
						Type    string   `yaml:"frame_type"`
						Headers []string `yaml:"headers"`
					} `yaml:"frames"`
				} `yaml:"http2"`
			} `yaml:"signature"`
		}
		if err := dec.Decode(&doc); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		lines := doc.Signature.HTTP2.Headers
		for _, fr := range doc.Signature.HTTP2.Frames {
			if fr.Type == "HEADERS" && lines == nil {
				lines = fr.Headers
			}
		}
		if len(lines) == 0 {
			continue
		}
		s := signature{name: doc.Name, browser: doc.Browser.Name, version: doc.Browser.Version}
		if s.name == "" {
			s.name = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
		}
		for _, l := range lines {
			k, v, ok := strings.Cut(l, ":")
			if !ok {
				return nil, fmt.Errorf("%s: %s: header line %q", path, s.name, l)
			}
			k = strings.ToLower(strings.TrimSpace(k))
			if strings.HasPrefix(k, ":") {
				continue
			}
			s.headers = append(s.headers, corpus.Header{k, strings.TrimSpace(v)})
		}
		out = append(out, s)
	}
	return out, nil
}

// readCommit reads the COMMIT file beside copied files: "owner/repo@sha".
func readCommit(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, "COMMIT"))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// signatureSets makes the test sets of both repositories' signatures.
func signatureSets(dir string, rng *rand.Rand) ([]bset, []corpus.Source, error) {
	var out []bset
	var srcs []corpus.Source
	for _, owner := range []string{"lwthiker", "lexiforest"} {
		odir := filepath.Join(dir, owner)
		commit, err := readCommit(odir)
		if err != nil {
			return nil, nil, err
		}
		files, err := filepath.Glob(filepath.Join(odir, "*.yaml"))
		if err != nil {
			return nil, nil, err
		}
		slices.Sort(files)
		id := "curl-impersonate-" + owner
		var used, skipped []string
		for _, f := range files {
			sigs, err := readSignatures(f)
			if err != nil {
				return nil, nil, err
			}
			for _, s := range sigs {
				class, why := classify(s.headers)
				if why == "" {
					why = inconsistency(s.headers, "https")
				}
				if why != "" {
					skipped = append(skipped, s.name+" ("+why+")")
					continue
				}
				if s.browser == "tor" {
					class = corpus.OtherBrowser // Tor Browser: Firefox ESR's user agent
				}
				used = append(used, s.name)
				base := bset{
					class:    class,
					source:   id,
					desc:     "curl-impersonate signature " + s.name,
					method:   "GET",
					scheme:   "https",
					protocol: "HTTP/2",
					headers:  s.headers,
					kind:     "navigate",
				}
				out = append(out, browserVariants(base, s.browser == "tor")...)
			}
		}
		what := fmt.Sprintf("curl-impersonate's browser signatures (the HTTP/2 headers of a real browser's first navigation): %d header sets "+
			"(%s), each varied by language list and by how the page was reached (see browsers_sig.go)", len(used), strings.Join(used, ", "))
		if len(skipped) > 0 {
			what += "; left out: " + strings.Join(skipped, "; ")
		}
		srcs = append(srcs, corpus.Source{
			ID:    id,
			What:  what,
			Where: "github.com/" + commit + ":tests/signatures/ (MIT)",
			Split: "test",
		})
	}
	return out, srcs, nil
}

// browserVariants are the requests the browser of a typed navigation makes
// to other pages and in other languages: see the comment at the top.
func browserVariants(base bset, fixedLanguage bool) []bset {
	ua, _ := hget(base.headers, "user-agent")
	u := parseUA(ua)
	lists := localeLists
	if fixedLanguage {
		lists = nil
	}
	var out []bset
	langs := []string{""}
	for _, l := range lists {
		var v string
		switch u.engine {
		case "chromium":
			v = chromiumAcceptLanguage(l)
		case "firefox":
			v = firefoxAcceptLanguage(l, u.major)
		case "safari":
			v = safariAcceptLanguage(l)
		}
		if v != "" && !slices.Contains(langs, v) {
			langs = append(langs, v)
		}
	}
	kinds := []string{"typed", "link", "search", "reload"}
	switch u.engine {
	case "safari":
		kinds = kinds[:1]
	case "firefox":
		kinds = kinds[:3] // Firefox's reload sends the page's headers again (the captures)
	}
	for _, lang := range langs {
		for _, kind := range kinds {
			b := base
			b.headers = slices.Clone(base.headers)
			if lang != "" {
				b.headers = hset(b.headers, "accept-language", lang)
			}
			b.headers = navigation(b.headers, u.engine, kind, b.scheme)
			if lang != "" || kind != "typed" {
				b.desc = base.desc + " (" + kind
				if lang != "" {
					b.desc += ", " + strings.SplitN(lang, ",", 2)[0]
				}
				b.desc += ")"
			}
			out = append(out, b)
		}
	}
	return out
}

// navigation turns a typed navigation's headers into those of another way
// to reach a page, where Chromium and Firefox put them (the captures).
func navigation(hs []corpus.Header, engine, kind, scheme string) []corpus.Header {
	site, referer := "", ""
	switch kind {
	case "typed":
		return hs
	case "link":
		site, referer = "same-origin", scheme+"://shop.example/"
	case "search":
		site, referer = "cross-site", "https://www.google.com/"
	case "reload":
		// Chromium puts cache-control: max-age=0 first (the captures).
		return append([]corpus.Header{{"cache-control", "max-age=0"}}, hs...)
	}
	if hhas(hs, "sec-fetch-site") {
		hs = hset(hs, "sec-fetch-site", site)
	}
	switch engine {
	case "chromium":
		return hinsertAfter(hs, "referer", referer, "sec-fetch-dest", "accept")
	case "firefox":
		return hinsertAfter(hs, "referer", referer, "accept-encoding")
	}
	return hs
}
