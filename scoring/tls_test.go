package scoring

import (
	"path/filepath"
	"testing"

	"github.com/botauthz/botauthz/internal/corpus"
)

func TestJA4CipherHash(t *testing.T) {
	for in, want := range map[string]string{
		"t13d1516h2_8daaf6152771_02713d6af862": "8daaf6152771",
		"t13i1516h2_8daaf6152771_02713d6af862": "8daaf6152771", // no SNI: same stack
		"q13d0312h3_55b375c5d22e_06cda9e17597": "55b375c5d22e",
		"t13d1516h2_8daaf6152771":              "",
		"t13d1516h2-8daaf6152771-02713d6af862": "",
		"x13d1516h2_8daaf6152771_02713d6af862": "",
		"":                                     "",
		"t13d1516h2_8daaf6152771_02713d6af86":  "",
	} {
		if got := ja4CipherHash(in); got != want {
			t.Errorf("ja4CipherHash(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTLSSignals(t *testing.T) {
	m := defaultModel(t)
	const (
		chromeTLS  = "t13d1516h2_8daaf6152771_02713d6af862"
		firefoxTLS = "t13d1715h2_5b57614c22b0_5c2c66f702b0"
		safariTLS  = "t13d2014h2_a09f3c656075_14788d8d241b"
		pythonTLS  = "t13d1812h1_85036bcba153_b26ce05bbdd6"
		goTLS      = "t13d1312h2_f57a46bbacb6_ab7e3b40a677"
		unknownTLS = "t13d1516h2_0123456789ab_02713d6af862"
	)
	chromeNav := with(navChrome, "user-agent", uaChromeWindows)
	const uaFirefox155 = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:155.0) Gecko/20100101 Firefox/155.0"
	tests := []struct {
		name              string
		h                 map[string]string
		tls               string
		mismatch, library bool
	}{
		{name: "Chrome over Chrome's stack", h: chromeNav, tls: chromeTLS},
		{name: "Edge over Chromium's stack", h: with(chromeNav, "user-agent", uaEdge, "sec-ch-ua", `"Microsoft Edge";v="131", "Chromium";v="131", "Not_A Brand";v="24"`), tls: chromeTLS},
		{name: "Firefox over NSS", h: with(navFirefox, "user-agent", uaFirefox), tls: firefoxTLS},
		{name: "Safari over Apple's stack", h: with(navSafari, "user-agent", uaSafari), tls: safariTLS},
		{name: "Chrome on iOS is WebKit over Apple's stack", h: with(navSafari, "user-agent", uaChromeIOS), tls: safariTLS},
		{name: "Chrome's headers over Python's stack", h: chromeNav, tls: pythonTLS, mismatch: true, library: true},
		{name: "Firefox's headers over Go's stack", h: with(navFirefox, "user-agent", uaFirefox), tls: goTLS, mismatch: true, library: true},
		{name: "a Firefox user agent over Chromium's stack (curl_cffi's firefox target)", h: with(navFirefox, "user-agent", uaFirefox), tls: chromeTLS, mismatch: true},
		{name: "a Firefox newer than the data over Chromium's stack: its own stack is unknown", h: with(navFirefox, "user-agent", uaFirefox155), tls: chromeTLS},
		{name: "a Firefox newer than the data over a library's stack", h: with(navFirefox, "user-agent", uaFirefox155), tls: pythonTLS, mismatch: true, library: true},
		{name: "an app's own user agent over a library's stack", h: hdr("user-agent", "ShopApp/5.2", "accept", "*/*", "accept-language", "en", "accept-encoding", "gzip"), tls: goTLS, library: true},
		{name: "Android WebView is an app: no mismatch", h: with(plainHTTP(navChrome), "user-agent", uaAndroidWebView), tls: pythonTLS, library: true},
		{name: "an unknown stack fires nothing", h: chromeNav, tls: unknownTLS},
		{name: "no fingerprint fires nothing", h: chromeNav},
		{name: "garbage fires nothing", h: chromeNav, tls: "definitely chrome"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Result
			m.Score(&Request{Method: "GET", Scheme: "https", Protocol: "HTTP/2", Headers: tt.h, TLS: tt.tls}, &r)
			checkResult(t, m, &r)
			if got := r.Features.Has(TLSMismatch); got != tt.mismatch {
				t.Errorf("tls.mismatch %v, want %v (features %v)", got, tt.mismatch, r.Features)
			}
			if got := r.Features.Has(TLSLibrary); got != tt.library {
				t.Errorf("tls.library %v, want %v (features %v)", got, tt.library, r.Features)
			}
		})
	}
	// Alone, a mismatch challenges and never denies; a clearance outweighs it.
	var r Result
	m.Score(&Request{Method: "GET", Scheme: "https", Protocol: "HTTP/2", Headers: chromeNav, TLS: unknownTLS[:11] + "f57a46bbacb6" + unknownTLS[23:]}, &r)
	if r.Band != LikelyAutomated || r.Score < 2 {
		t.Errorf("a Chrome navigation over Go's stack scores %d (%v), want the challenge band", r.Score, r.Band)
	}
	m.Score(&Request{Method: "GET", Scheme: "https", Protocol: "HTTP/2", Headers: chromeNav, TLS: pythonTLS, Clearance: ValidClearance}, &r)
	if r.Band != LikelyHuman {
		t.Errorf("with a valid clearance: %d (%v), want likely human", r.Score, r.Band)
	}
}

func TestParseTLSFamiliesRejectsBadFiles(t *testing.T) {
	for name, data := range map[string]string{
		"unknown key":               "families: {x: {browser: chromium, through: '1', cipher_hashes: [{hash: 8daaf6152771, source: s}], extra: 1}}",
		"unknown browser":           "families: {x: {browser: opera, cipher_hashes: [{hash: 8daaf6152771, source: s}]}}",
		"short hash":                "families: {x: {browser: chromium, through: '1', cipher_hashes: [{hash: 8daaf615277, source: s}]}}",
		"upper-case hash":           "families: {x: {browser: chromium, through: '1', cipher_hashes: [{hash: 8DAAF6152771, source: s}]}}",
		"no source":                 "families: {x: {browser: chromium, through: '1', cipher_hashes: [{hash: 8daaf6152771}]}}",
		"no hashes":                 "families: {x: {browser: chromium, through: '1'}}",
		"a hash twice":              "families: {x: {browser: chromium, through: '1', cipher_hashes: [{hash: 8daaf6152771, source: s}]}, y: {browser: '', cipher_hashes: [{hash: 8daaf6152771, source: s}]}}",
		"a browser without through": "families: {x: {browser: chromium, cipher_hashes: [{hash: 8daaf6152771, source: s}]}}",
		"a library with through":    "families: {x: {browser: '', through: '1', cipher_hashes: [{hash: 8daaf6152771, source: s}]}}",
		"a bad through":             "families: {x: {browser: webkit, through: '26x1', cipher_hashes: [{hash: 8daaf6152771, source: s}]}}",
	} {
		if _, err := parseTLSFamilies([]byte(data)); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
	if _, err := parseTLSFamilies(tlsYAML); err != nil {
		t.Fatalf("data/tls.yaml: %v", err)
	}
}

// TestShippedTLSFamiliesMatchTheCaptures: every real client the corpus
// captured with its JA4 is in its family: a browser's stack never
// mismatches its own user agent, a library's is a library's.
func TestShippedTLSFamiliesMatchTheCaptures(t *testing.T) {
	m := defaultModel(t)
	browsers, libraries := 0, 0
	for _, name := range []string{"../testdata/corpus/sources/browsers/captures", "../testdata/corpus/sources/clients/captures"} {
		for _, r := range readCaptureDir(t, name) {
			if r.tls == "" {
				continue
			}
			fam, ok := m.tls.byHash[ja4CipherHash(r.tls)]
			if !ok {
				t.Errorf("%s: cipher hash of %s is in no family", r.source, r.tls)
				continue
			}
			var buf [maxUserAgent]byte
			b := parseBrowser(lowerInto(buf[:], trimOWS(r.headers["user-agent"])))
			switch {
			case r.human:
				browsers++
				if fam.library || fam.engine != b.engine {
					t.Errorf("%s: a real browser's stack is not its family's", r.source)
				}
			case r.tool:
				libraries++
				if !fam.library {
					t.Errorf("%s: an HTTP library's stack is not a library's", r.source)
				}
			}
		}
	}
	if browsers == 0 || libraries == 0 {
		t.Fatalf("checked %d browser and %d library requests", browsers, libraries)
	}
	t.Logf("checked %d browser and %d library requests", browsers, libraries)
}

// readCaptureDir reads every record of the capture files in dir.
func readCaptureDir(t *testing.T, dir string) []browserRecord {
	t.Helper()
	files, err := filepath.Glob(dir + "/*.jsonl")
	if err != nil || len(files) == 0 {
		t.Fatalf("no capture files in %s (%v)", dir, err)
	}
	var out []browserRecord
	for _, name := range files {
		if filepath.Base(name) == "MANIFEST.jsonl" {
			continue
		}
		out = append(out, readRecords(t, name, func(*corpus.Record) bool { return true })...)
	}
	return out
}
