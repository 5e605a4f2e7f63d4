package challenge

import (
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/botauthz/botauthz/challenge/provider"
	"github.com/botauthz/botauthz/clearance"
	"github.com/botauthz/botauthz/policy"
)

var (
	widgetRe      = regexp.MustCompile(`<div id="botauthz-widget"([^>]*)>`)
	attrRe        = regexp.MustCompile(`([a-z-]+)="([^"]*)"`)
	hiddenInputRe = regexp.MustCompile(`<input type="hidden" name="([^"]*)"`)
	hiddenValueRe = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)"`)
	widgetScript  = regexp.MustCompile(`<script src="([^"]*)" async defer>`)
	scriptInits   = regexp.MustCompile(`var inits = \{([^}]*)\}`)
)

// widgetAttrs reads the widget element's attributes off a page.
func widgetAttrs(t *testing.T, body string) map[string]string {
	t.Helper()
	m := widgetRe.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no widget element:\n%s", body)
	}
	attrs := map[string]string{}
	for _, a := range attrRe.FindAllStringSubmatch(m[1], -1) {
		attrs[a[1]] = html.UnescapeString(a[2])
	}
	return attrs
}

// TestPageFromSpec: for every vendor of the provider table, the page, its
// script and the answer's field follow the vendor's Spec, with no vendor
// named in the page's code.
func TestPageFromSpec(t *testing.T) {
	inits := map[string]bool{}
	if m := scriptInits.FindSubmatch(script); m != nil {
		for _, entry := range strings.Split(string(m[1]), ",") {
			key, _, _ := strings.Cut(entry, ":")
			inits[strings.TrimSpace(key)] = true
		}
	}
	for _, name := range provider.Names() {
		t.Run(name, func(t *testing.T) {
			spec, _ := provider.Lookup(name)
			fake := &fakeVerifier{name: name, siteKey: "public-key", result: okResult}
			e := newEnv(t, withPolicy(testPolicy(t, `
challenge:
  providers:
    `+name+`: {site_key: "public-key", secret_env: "X"}
routes:
  signup:
    challenge: {provider: `+name+`}
`)), withVerifiers(map[string]provider.Verifier{name: fake}))
			pg := alice.getPage(t, e.h, "signup", "/signup")
			if pg.provider != name {
				t.Fatalf("data-provider %q, want %q", pg.provider, name)
			}
			if got := html.UnescapeString(submatch(widgetScript, pg.body)); got != spec.Page.Script {
				t.Errorf("widget script %q, want %q", got, spec.Page.Script)
			}
			attrs := widgetAttrs(t, pg.body)
			if attrs["class"] != spec.Page.Class || attrs["data-sitekey"] != "public-key" {
				t.Errorf("widget element %v, want class %q and the site key", attrs, spec.Page.Class)
			}
			if attrs["data-init"] != spec.Page.Init {
				t.Errorf("data-init %q, want %q", attrs["data-init"], spec.Page.Init)
			}
			if spec.Page.Init != "" {
				if attrs["data-token-field"] != spec.Page.TokenField {
					t.Errorf("data-token-field %q, want %q", attrs["data-token-field"], spec.Page.TokenField)
				}
				if !inits[spec.Page.Init] {
					t.Errorf("challenge.js has no init routine %q (its inits: %v)", spec.Page.Init, inits)
				}
			}
			var hidden []string
			for _, m := range hiddenInputRe.FindAllStringSubmatch(pg.body, -1) {
				hidden = append(hidden, m[1])
			}
			want := []string{"token"}
			if spec.Page.HiddenTokenField {
				want = append(want, spec.Page.TokenField)
			}
			if strings.Join(hidden, " ") != strings.Join(want, " ") {
				t.Errorf("hidden inputs %q, want %q", hidden, want)
			}

			// The answer is read from the vendor's field.
			form := url.Values{"token": {html.UnescapeString(pg.token)}, spec.Page.TokenField: {"vendor-token"}}
			if rec := alice.verify(e.h, form); rec.Code != http.StatusSeeOther {
				t.Fatalf("answer: status %d: %s", rec.Code, rec.Body)
			}
			if len(fake.calls) != 1 || fake.calls[0].token != "vendor-token" {
				t.Errorf("the verifier got %+v, want the token posted in %s", fake.calls, spec.Page.TokenField)
			}
		})
	}
}

// TestUnknownVerifierNamesTheTable: NewHandler's refusal of a verifier
// lists the provider table's names.
func TestUnknownVerifierNamesTheTable(t *testing.T) {
	signer, err := clearance.NewSigner(clearance.Options{Keys: []clearance.Key{testKey("k1")}})
	if err != nil {
		t.Fatal(err)
	}
	pol := testPolicy(t, "")
	_, err = NewHandler(Options{Policy: func() *policy.Policy { return pol }, Signer: signer, Keys: []clearance.Key{testKey("k1")},
		Verifiers: map[string]provider.Verifier{"friendlycaptcha": &fakeVerifier{name: "friendlycaptcha"}}})
	if err == nil || !strings.Contains(err.Error(), "unknown provider (want "+provider.NameList()+")") {
		t.Errorf("NewHandler: %v, want the known providers listed: %s", err, provider.NameList())
	}
}

// widgetHarness runs the served script under node against the smallest
// DOM the widget's init routine touches: the form, its fields, the widget
// element with the page's attributes, and a stand-in for CaptchaLa's
// loader that reports a pass token as soon as it is started.
const widgetHarness = `
const req = JSON.parse(require("fs").readFileSync(process.argv[3], "utf8"));
const fields = {};
for (const n in req.fields) fields[n] = {name: n, value: req.fields[n]};
const out = {loaded: false, init: null, submitted: null};
const form = {
  getAttribute: (n) => (n === "data-provider" ? req.provider : null),
  elements: {namedItem: (n) => fields[n] || null},
  submit() {
    out.submitted = {};
    for (const n in fields) out.submitted[n] = fields[n].value;
  },
};
const widget = {getAttribute: (n) => (n in req.widget ? req.widget[n] : null)};
globalThis.window = globalThis;
globalThis.document = {
  readyState: "complete",
  getElementById: (id) => (id === "botauthz-challenge" ? form : id === "botauthz-widget" ? widget : null),
  addEventListener() {},
};
window.loadCaptchala = () => { out.loaded = true; };
window.Captchala = {init(opts) {
  out.init = opts;
  return {onSuccess(cb) { cb({token: "pt_from_the_widget"}); }};
}};
require(process.argv[2]);
process.stdout.write(JSON.stringify(out));
`

// TestCaptchaLaWidgetStartsFromThePage renders a real CaptchaLa page (with
// its server token) and runs challenge.js on what the page carries: the
// script finds its init routine through data-init, starts the widget with
// the app key, server token and action, and posts the pass token in the
// field data-token-field names.
func TestCaptchaLaWidgetStartsFromThePage(t *testing.T) {
	node := nodeForTest(t, "the widget's init routine is not checked")
	f := newFakeCaptchaLa(t)
	e := captchaLaEnv(t, f, 0)
	pg := alice.getPage(t, e.h, "cl", "/checkout")
	attrs := widgetAttrs(t, pg.body)
	fields := map[string]string{}
	for _, m := range hiddenValueRe.FindAllStringSubmatch(pg.body, -1) {
		fields[m[1]] = html.UnescapeString(m[2])
	}
	out := runScript(t, node, widgetHarness, map[string]any{"provider": pg.provider, "widget": attrs, "fields": fields})
	var got struct {
		Loaded    bool
		Init      map[string]string
		Submitted map[string]string
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("node output %q: %v", out, err)
	}
	if !got.Loaded {
		t.Error("the script did not call the vendor's loader")
	}
	want := map[string]string{"appKey": fakeAppKey, "serverToken": attrs["data-server-token"], "action": "default"}
	for k, v := range want {
		if got.Init[k] != v || v == "" {
			t.Errorf("Captchala.init got %s=%q, want %q (all: %v)", k, got.Init[k], v, got.Init)
		}
	}
	spec, _ := provider.Lookup(provider.CaptchaLa)
	if got.Submitted == nil || got.Submitted[spec.Page.TokenField] != "pt_from_the_widget" || got.Submitted["token"] != html.UnescapeString(pg.token) {
		t.Errorf("the form was submitted with %v, want the pass token in %s and the challenge token", got.Submitted, spec.Page.TokenField)
	}
}
