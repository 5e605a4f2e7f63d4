package provider

import "strings"

// Spec describes one CAPTCHA vendor: everything the rest of botauthz needs
// to know about it, so that a vendor is described once, in its own file
// (turnstile.go, hcaptcha.go, recaptcha.go, captchala.go), and listed once,
// in specs. Config validation, the policy's list of names, the error
// messages, the challenge page and its Content-Security-Policy all derive
// from it.
//
// A Spec is plain data: Lookup returns a fresh copy, whose slices the
// caller may keep but should not expect to change anything.
type Spec struct {
	// Name is the provider id, as a policy names it and Config.Provider
	// takes it, e.g. "turnstile".
	Name string
	// VerifyURL is the vendor's documented verification endpoint, the
	// default of Config.VerifyURL.
	VerifyURL string
	// IssuePath, when set, says the vendor's widget cannot start without a
	// server token its Verifier issues (it is an Issuer): the path, on
	// VerifyURL's origin, of the endpoint that issues one. Config.IssueURL
	// overrides the URL, and applies only to such vendors.
	IssuePath string

	// Credentials says which Config fields carry the vendor's keys.
	Credentials Credentials
	// Checks are the optional checks of an answer the vendor supports; a
	// Config asking for another one is refused.
	Checks Checks
	// MaxTokenBytes is the longest token sent to the vendor; zero means the
	// package's own bound (32 KiB). A longer token fails without a request.
	MaxTokenBytes int
	// SendSiteKey adds the site key to a siteverify request (hCaptcha then
	// refuses tokens minted for another site key).
	SendSiteKey bool
	// CodeReason maps one of the vendor's documented error codes,
	// lowercased, to a Reason; "" for a code it does not know.
	CodeReason func(code string) string

	// Page is what the challenge page needs to embed the widget.
	Page Page

	// newVerifier builds the vendor's Verifier from a validated Config and
	// the fields every vendor shares.
	newVerifier func(cfg *Config, base verifier) Verifier
}

// Credentials says which Config fields carry a vendor's keys.
type Credentials int

const (
	// SiteKeyAndSecret: Config.SiteKey, the public key the page embeds, and
	// Config.Secret, sent with every verification. AppKey and AppSecret
	// must be empty.
	SiteKeyAndSecret Credentials = iota
	// AppKeyAndSecret: Config.AppKey, which is also the public key the page
	// embeds (SiteKey is left empty or equal to it), and Config.AppSecret.
	// Secret must be empty.
	AppKeyAndSecret
)

// Checks are the optional checks of an answer a vendor supports.
type Checks struct {
	// Hostname: the answer reports where the widget was solved
	// (Config.Hostname).
	Hostname bool
	// Action: the answer reports the widget's action (Config.Action).
	Action bool
	// MinScore: the answer may carry a score in [0, 1], 1 likely human,
	// checked against Config.MinScore (DefaultMinScore when zero).
	MinScore bool
}

// Page is what the challenge page needs to embed a vendor's widget, and
// what its Content-Security-Policy must allow for it.
type Page struct {
	// Script is the widget script the page loads.
	Script string
	// Class is the class of the element the script renders the widget into,
	// given data-sitekey; empty when the widget renders nothing from markup
	// and Init must start it.
	Class string
	// TokenField is the form field the widget's token is posted in.
	TokenField string
	// HiddenTokenField: the page must carry TokenField itself, as a hidden
	// input, because the widget does not add it.
	HiddenTokenField bool
	// Init, when set, names the routine of the page's script (challenge.js)
	// that starts the widget; empty when the widget starts from markup.
	Init string
	// ScriptSrc, FrameSrc, ConnectSrc and StyleSrc are the origins the
	// page's Content-Security-Policy must add to script-src, frame-src,
	// connect-src and style-src.
	ScriptSrc, FrameSrc, ConnectSrc, StyleSrc []string
}

// specs lists every vendor, in the order Names reports them. Adding a
// vendor is a file holding its spec function and one line here.
func specs() []Spec {
	return []Spec{
		turnstileSpec(),
		hcaptchaSpec(),
		recaptchaSpec(),
		captchaLaSpec(),
	}
}

// Lookup returns the Spec of the vendor named name.
func Lookup(name string) (Spec, bool) {
	for _, s := range specs() {
		if s.Name == name {
			return s, true
		}
	}
	return Spec{}, false
}

// Names returns every vendor's name, in the table's order.
func Names() []string {
	return namesWhere(func(Spec) bool { return true })
}

// NameList is Names for a message: "a, b, c or d".
func NameList() string {
	return joinNames(Names(), " or ")
}

// namesWhere returns the names of the vendors whose spec satisfies keep.
func namesWhere(keep func(Spec) bool) []string {
	var out []string
	for _, s := range specs() {
		if keep(s) {
			out = append(out, s.Name)
		}
	}
	return out
}

// joinNames joins names with commas, the last two with last.
func joinNames(names []string, last string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + last + names[len(names)-1]
}

// maxToken is the longest token s's verifier forwards.
func (s *Spec) maxToken() int {
	if s.MaxTokenBytes > 0 {
		return s.MaxTokenBytes
	}
	return maxTokenBytes
}
