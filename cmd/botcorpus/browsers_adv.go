package main

// The adversarial bot classes, built per split from that split's human
// browser sets only (train from header-generator's, test from the
// signatures and captures), over https. Each record's note says what was
// changed and from which set.
//
// hint-contradiction, four ways in turn:
//   - version: sec-ch-ua's Chromium (and Chrome or Edge) brand version is
//     not the user agent's major (a script with a stale or made-up brand
//     list);
//   - platform: sec-ch-ua-platform names another system than the user agent;
//   - mobile: sec-ch-ua-mobile says the opposite of the user agent;
//   - foreign: a Firefox or Safari set with a Chromium set's client hints
//     (of the same split) put where Chromium sends them, first.
//
// missing-headers, four ways in turn, each from a browser whose version
// always sends the headers over https:
//   - no fetch metadata: every sec-fetch-* dropped (Chrome and Edge ≥ 80,
//     Firefox ≥ 90, Safari ≥ 16.4);
//   - no client hints: sec-ch-ua dropped, or all three sec-ch-ua* (Chromium ≥ 90);
//   - no accept and no accept-language, both dropped;
//   - the user agent alone, or with an HTTP library's own other headers
//     (curl's accept: */*; python-requests' accept-encoding and accept; Go's
//     accept-encoding: gzip), over HTTP/1.1.
//
// copied-browser: a browser set exactly as it is, sent by a script. Headers
// cannot tell it; it is there to show that limit.

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/botauthz/botauthz/internal/corpus"
)

func adversarial(split, from string, sets []bset, rng *rand.Rand) ([]corpus.Record, []corpus.Source) {
	var https, chromium, withPlatform, withMobile, foreign, fetchMeta, hints []bset
	for _, b := range sets {
		if b.scheme != "https" {
			continue
		}
		https = append(https, b)
		ua, _ := hget(b.headers, "user-agent")
		u := parseUA(ua)
		_, hasCH := hget(b.headers, "sec-ch-ua")
		if u.engine == "chromium" && hasCH {
			chromium = append(chromium, b)
			if hhas(b.headers, "sec-ch-ua-platform") {
				withPlatform = append(withPlatform, b)
			}
			if hhas(b.headers, "sec-ch-ua-mobile") {
				withMobile = append(withMobile, b)
			}
		}
		if (u.engine == "firefox" || u.engine == "safari") && b.kind == "navigate" {
			foreign = append(foreign, b)
		}
		if sendsSecFetch(u) && hhas(b.headers, "sec-fetch-site") {
			fetchMeta = append(fetchMeta, b)
		}
		if sendsHints(u) && hasCH {
			hints = append(hints, b)
		}
	}
	pick := func(pool []bset) bset { return pool[rng.IntN(len(pool))] }
	ids := map[string]string{
		corpus.HintContradiction: "adv-hints-" + split,
		corpus.MissingHeaders:    "adv-missing-" + split,
		corpus.CopiedBrowser:     "adv-copied-" + split,
	}
	var out []corpus.Record
	emit := func(class string, b bset, hs []corpus.Header, protocol, note string) {
		b.headers = hs
		r := baseRecord(b, rng)
		r.Label, r.Class, r.Source = corpus.Bot, class, ids[class]
		r.TLS = "" // the script's TLS is not the browser's, and unknown
		if protocol != "" {
			r.Protocol = protocol
		}
		r.Note = note + "; from " + b.desc
		out = append(out, r)
	}

	// hint-contradiction
	if len(chromium) > 0 {
		for i := 0; i < advPerClass; i++ {
			way := i % 4
			if way == 1 && len(withPlatform) == 0 || way == 2 && len(withMobile) == 0 || way == 3 && len(foreign) == 0 {
				way = 0
			}
			switch way {
			case 0:
				b := pick(chromium)
				ua, _ := hget(b.headers, "user-agent")
				major := parseUA(ua).major
				deltas := []int{-1, 1, -2, 2, -3, 5, -10, -20, 10}
				v := major + deltas[rng.IntN(len(deltas))]
				ch, _ := hget(b.headers, "sec-ch-ua")
				emit(corpus.HintContradiction, b, hset(b.headers, "sec-ch-ua", setBrandVersion(ch, strconv.Itoa(v))), "",
					fmt.Sprintf("sec-ch-ua brand version %d, user agent Chrome %d", v, major))
			case 1:
				b := pick(withPlatform)
				p, _ := hget(b.headers, "sec-ch-ua-platform")
				ua, _ := hget(b.headers, "user-agent")
				uaOS := parseUA(ua).os
				others := slices.DeleteFunc([]string{`"Windows"`, `"macOS"`, `"Linux"`, `"Android"`, `"Chrome OS"`}, func(s string) bool {
					return s == p || realPlatform(uaOS, strings.Trim(s, `"`))
				})
				q := others[rng.IntN(len(others))]
				emit(corpus.HintContradiction, b, hset(b.headers, "sec-ch-ua-platform", q), "",
					"sec-ch-ua-platform "+p+" changed to "+q)
			case 2:
				b := pick(withMobile)
				m, _ := hget(b.headers, "sec-ch-ua-mobile")
				q := "?1"
				if m == "?1" {
					q = "?0"
				}
				emit(corpus.HintContradiction, b, hset(b.headers, "sec-ch-ua-mobile", q), "",
					"sec-ch-ua-mobile "+m+" changed to "+q)
			case 3:
				b := pick(foreign)
				c := pick(chromium)
				var add []corpus.Header
				for _, n := range []string{"sec-ch-ua", "sec-ch-ua-mobile", "sec-ch-ua-platform"} {
					if v, ok := hget(c.headers, n); ok {
						add = append(add, corpus.Header{n, v})
					}
				}
				ua, _ := hget(b.headers, "user-agent")
				emit(corpus.HintContradiction, b, append(add, b.headers...), "",
					"client hints of "+c.desc+" added to a "+parseUA(ua).engine+" user agent")
			}
		}
	}

	// missing-headers
	libs := []struct {
		name  string
		extra []corpus.Header
		after bool // the library's headers after the user agent
	}{
		{"the user agent alone", nil, true},
		{"curl's accept: */*", []corpus.Header{{"accept", "*/*"}}, true},
		{"python-requests' accept-encoding and accept", []corpus.Header{{"accept-encoding", "gzip, deflate"}, {"accept", "*/*"}}, true},
		{"Go net/http's accept-encoding: gzip", []corpus.Header{{"accept-encoding", "gzip"}}, true},
	}
	for i := 0; i < advPerClass && len(https) > 0; i++ {
		switch i % 4 {
		case 0:
			if len(fetchMeta) == 0 {
				continue
			}
			b := pick(fetchMeta)
			emit(corpus.MissingHeaders, b, hdel(b.headers, "sec-fetch-site", "sec-fetch-mode", "sec-fetch-user", "sec-fetch-dest"), "",
				"every sec-fetch-* dropped")
		case 1:
			if len(hints) == 0 {
				continue
			}
			b := pick(hints)
			if rng.IntN(2) == 0 {
				emit(corpus.MissingHeaders, b, hdel(b.headers, "sec-ch-ua"), "", "sec-ch-ua dropped")
			} else {
				emit(corpus.MissingHeaders, b, hdel(b.headers, "sec-ch-ua", "sec-ch-ua-mobile", "sec-ch-ua-platform"), "",
					"sec-ch-ua, sec-ch-ua-mobile and sec-ch-ua-platform dropped")
			}
		case 2:
			b := pick(https)
			emit(corpus.MissingHeaders, b, hdel(b.headers, "accept", "accept-language"), "", "accept and accept-language dropped")
		case 3:
			b := pick(https)
			ua, _ := hget(b.headers, "user-agent")
			l := libs[(i/4)%len(libs)]
			hs := append([]corpus.Header{{"user-agent", ua}}, l.extra...)
			emit(corpus.MissingHeaders, b, hs, "HTTP/1.1", "only the browser's user agent kept, with "+l.name)
		}
	}

	// copied-browser
	for i := 0; i < advPerClass && len(https) > 0; i++ {
		b := pick(https)
		emit(corpus.CopiedBrowser, b, slices.Clone(b.headers), "", "the browser's exact header set, sent by a script")
	}

	srcs := []corpus.Source{
		{ID: ids[corpus.HintContradiction], Split: split,
			What:  "client hints made to contradict the user agent (brand version, platform, mobile, or Chromium hints on a Firefox or Safari user agent), from " + from,
			Where: "constructed: cmd/botcorpus/browsers_adv.go from the " + split + " split's browser sets"},
		{ID: ids[corpus.MissingHeaders], Split: split,
			What:  "browser sets over https without headers their version always sends (sec-fetch-*, sec-ch-ua, accept and accept-language, or all but the user agent), from " + from,
			Where: "constructed: cmd/botcorpus/browsers_adv.go from the " + split + " split's browser sets"},
		{ID: ids[corpus.CopiedBrowser], Split: split,
			What:  "browser sets unchanged, labelled bot: what a script copying a browser's headers sends (headers cannot tell), from " + from,
			Where: "constructed: cmd/botcorpus/browsers_adv.go from the " + split + " split's browser sets"},
	}
	return out, srcs
}

// setBrandVersion sets the version of the Chromium, Chrome and Edge brands
// of a sec-ch-ua value, keeping its form.
func setBrandVersion(v, version string) string {
	return reBrand.ReplaceAllStringFunc(v, func(m string) string {
		sm := reBrand.FindStringSubmatch(m)
		if sm[1] == "Chromium" || vendorBrands[sm[1]] != "" {
			return strings.Replace(m, `"`+sm[2]+`"`, `"`+version+`"`, 1)
		}
		return m
	})
}

// realPlatform reports whether a real browser sends sec-ch-ua-platform hint
// with a user agent naming the system uaOS: its own, and the pairs real
// Chromium produces — Chrome on Android's desktop-site mode sends a Linux
// user agent with "Android", and ChromeOS builds have reported "Linux" or
// "Chrome OS". A contradiction built from such a pair would be no
// contradiction at all.
func realPlatform(uaOS, hint string) bool {
	switch {
	case uaOS == hint:
		return true
	case uaOS == "Linux":
		return hint == "Android" || hint == "Chrome OS"
	case uaOS == "Chrome OS":
		return hint == "Linux"
	}
	return false
}
