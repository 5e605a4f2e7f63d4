package provider

import (
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// configFor is a Config spec accepts: its credentials, its default
// endpoints, none of the optional checks.
func configFor(spec Spec) Config {
	c := Config{Provider: spec.Name}
	if spec.Credentials == AppKeyAndSecret {
		c.AppKey, c.AppSecret = testAppKey, testAppSecret
	} else {
		c.SiteKey, c.Secret = testSiteKey, testSecret
	}
	return c
}

// checkOrigin fails unless src is an https source expression a strict CSP
// can carry: a host (a leading *. allowed), an optional path, nothing else.
func checkOrigin(t *testing.T, what, src string) {
	t.Helper()
	u, err := url.Parse(strings.Replace(src, "://*.", "://wildcard.", 1))
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" ||
		strings.ContainsAny(src, " ;,'\"") {
		t.Errorf("%s %q is not an https origin", what, src)
	}
}

// sourceAllows reports whether the CSP source src allows the URL raw.
func sourceAllows(src, raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	s, err := url.Parse(strings.Replace(src, "://*.", "://wildcard.", 1))
	if err != nil || u.Scheme != s.Scheme {
		return false
	}
	host := s.Host
	if rest, ok := strings.CutPrefix(host, "wildcard."); ok && strings.Contains(src, "://*.") {
		if !strings.HasSuffix(u.Host, "."+rest) {
			return false
		}
	} else if u.Host != host {
		return false
	}
	return s.Path == "" || s.Path == u.Path || strings.HasSuffix(s.Path, "/") && strings.HasPrefix(u.Path, s.Path)
}

var (
	nameRE       = regexp.MustCompile(`^[a-z][a-z0-9]{1,31}$`)
	formFieldRE  = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	classRE      = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	pageOwnField = []string{"token", "nonce", "evidence"}
)

// TestSpecsComplete walks the table: every vendor is fully described, and
// New builds a working Verifier from the description alone.
func TestSpecsComplete(t *testing.T) {
	all := specs()
	if len(all) == 0 {
		t.Fatal("no specs")
	}
	var names []string
	for _, s := range all {
		names = append(names, s.Name)
	}
	if got := Names(); !slices.Equal(got, names) {
		t.Errorf("Names() = %q, want the table's order %q", got, names)
	}
	if want := strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]; NameList() != want && len(names) > 1 {
		t.Errorf("NameList() = %q, want %q", NameList(), want)
	}
	for _, s := range all {
		t.Run(s.Name, func(t *testing.T) {
			if !nameRE.MatchString(s.Name) || s.Name == "pow" {
				t.Errorf("name %q: want lower-case letters and digits, not pow (the proof of work)", s.Name)
			}
			if len(slices.DeleteFunc(slices.Clone(names), func(n string) bool { return n != s.Name })) != 1 {
				t.Errorf("name %q is listed more than once", s.Name)
			}
			if got, ok := Lookup(s.Name); !ok || got.Name != s.Name {
				t.Errorf("Lookup(%q) = %q, %v", s.Name, got.Name, ok)
			}
			checkOwnFile(t, s.Name)

			if u, err := url.Parse(s.VerifyURL); err != nil || u.Scheme != "https" || u.Host == "" || checkEndpoint("VerifyURL", s.VerifyURL) != nil {
				t.Errorf("VerifyURL %q is not an https URL", s.VerifyURL)
			}
			if s.IssuePath != "" && (!strings.HasPrefix(s.IssuePath, "/") || strings.ContainsAny(s.IssuePath, "?# ")) {
				t.Errorf("IssuePath %q is not a path", s.IssuePath)
			}
			if s.Credentials != SiteKeyAndSecret && s.Credentials != AppKeyAndSecret {
				t.Errorf("Credentials %d is none of the kinds", s.Credentials)
			}
			if s.MaxTokenBytes < 0 || s.MaxTokenBytes > maxTokenBytes {
				t.Errorf("MaxTokenBytes %d is beyond the package's bound %d", s.MaxTokenBytes, maxTokenBytes)
			}
			if s.CodeReason == nil {
				t.Error("no CodeReason")
			} else if r := s.CodeReason("no-such-code-ever"); r != "" {
				t.Errorf("CodeReason of an unknown code = %q, want \"\"", r)
			}
			if s.newVerifier == nil {
				t.Fatal("no constructor")
			}

			p := s.Page
			if u, err := url.Parse(p.Script); err != nil || u.Scheme != "https" || u.Host == "" {
				t.Errorf("widget script %q is not an https URL", p.Script)
			}
			if !slices.ContainsFunc(p.ScriptSrc, func(src string) bool { return sourceAllows(src, p.Script) }) {
				t.Errorf("widget script %q is not allowed by its own script-src %q", p.Script, p.ScriptSrc)
			}
			for what, list := range map[string][]string{"script-src": p.ScriptSrc, "frame-src": p.FrameSrc, "connect-src": p.ConnectSrc, "style-src": p.StyleSrc} {
				for _, src := range list {
					checkOrigin(t, what, src)
				}
			}
			if !formFieldRE.MatchString(p.TokenField) || slices.Contains(pageOwnField, p.TokenField) {
				t.Errorf("token field %q: want a form field name the page does not use itself", p.TokenField)
			}
			switch {
			case p.Class != "" && !classRE.MatchString(p.Class):
				t.Errorf("class %q is not a plain class name", p.Class)
			case p.Class == "" && p.Init == "":
				t.Error("a widget that renders nothing from markup (no Class) needs an Init routine")
			case p.Init != "" && !nameRE.MatchString(p.Init):
				t.Errorf("Init %q: want a plain name", p.Init)
			case p.Init != "" && !p.HiddenTokenField:
				t.Error("a widget started by script needs the page's hidden token field to post its token in")
			}

			// The description alone builds a Verifier of that name.
			v, err := New(configFor(s), nil)
			if err != nil {
				t.Fatalf("New(%v): %v", configFor(s), err)
			}
			if v.Name() != s.Name {
				t.Errorf("Verifier.Name() = %q, want %q", v.Name(), s.Name)
			}
			public := testSiteKey
			if s.Credentials == AppKeyAndSecret {
				public = testAppKey
			}
			if v.SiteKey() != public {
				t.Errorf("SiteKey() = %q, want %q", v.SiteKey(), public)
			}
			if _, issuer := v.(Issuer); issuer != (s.IssuePath != "") {
				t.Errorf("the verifier is an Issuer: %v; the spec has an IssuePath: %v", issuer, s.IssuePath != "")
			}
		})
	}
	if _, ok := Lookup(""); ok {
		t.Error(`Lookup("") found a spec`)
	}
	if _, ok := Lookup("pow"); ok {
		t.Error(`Lookup("pow") found a spec`)
	}
}

// checkOwnFile checks that name's spec lives in <name>.go, which declares
// the constant holding the name and the spec function specs calls.
func checkOwnFile(t *testing.T, name string) {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), name+".go", nil, 0)
	if err != nil {
		t.Errorf("the spec of %s should be in %s.go: %v", name, name, err)
		return
	}
	found := false
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok {
			return true
		}
		for i, id := range vs.Names {
			if i < len(vs.Values) && id.IsExported() {
				if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING && lit.Value == strconv.Quote(name) {
					found = true
				}
			}
		}
		return true
	})
	if !found {
		t.Errorf("%s.go declares no exported constant %q", name, name)
	}
}

// TestSpecsFollowConfig: what validate accepts and refuses of the optional
// fields follows from each spec, not from a list of vendors.
func TestSpecsFollowConfig(t *testing.T) {
	for _, s := range specs() {
		t.Run(s.Name, func(t *testing.T) {
			options := []struct {
				field     string
				supported bool
				set       func(*Config)
			}{
				{"Hostname", s.Checks.Hostname, func(c *Config) { c.Hostname = "www.example.com" }},
				{"Action", s.Checks.Action, func(c *Config) { c.Action = "login" }},
				{"MinScore", s.Checks.MinScore, func(c *Config) { c.MinScore = 0.7 }},
				{"IssueURL", s.IssuePath != "", func(c *Config) { c.IssueURL = "https://issue.example.com/x" }},
				// The credentials of the other kind.
				{"Secret", s.Credentials == SiteKeyAndSecret, func(c *Config) { c.Secret = testSecret }},
				{"AppKey", s.Credentials == AppKeyAndSecret, func(c *Config) { c.AppKey = testAppKey }},
				{"AppSecret", s.Credentials == AppKeyAndSecret, func(c *Config) { c.AppSecret = testAppSecret }},
			}
			for _, o := range options {
				cfg := configFor(s)
				o.set(&cfg)
				_, err := New(cfg, nil)
				var ce *ConfigError
				switch {
				case o.supported && err != nil:
					t.Errorf("%s refused: %v", o.field, err)
				case !o.supported && (!errors.As(err, &ce) || ce.Field != o.field):
					t.Errorf("%s accepted or refused for something else: %v", o.field, err)
				}
			}
			if s.MaxTokenBytes > 0 {
				v := mustNew(t, configFor(s))
				if r := v.Verify(t.Context(), strings.Repeat("t", s.MaxTokenBytes+1), ""); r.Reason != ReasonInvalidToken {
					t.Errorf("a token over MaxTokenBytes: %+v, want invalid_token without a request", r)
				}
			}
		})
	}
}

// TestSpecsAreFresh: a caller changing a Spec it was given changes nothing
// for the next one; the table is not global mutable state.
func TestSpecsAreFresh(t *testing.T) {
	for _, name := range Names() {
		s, _ := Lookup(name)
		want := slices.Clone(s.Page.ScriptSrc)
		s.Page.ScriptSrc[0] = "https://mutated.example"
		s.Page.Script = "https://mutated.example/x.js"
		again, _ := Lookup(name)
		if !slices.Equal(again.Page.ScriptSrc, want) || again.Page.Script == s.Page.Script {
			t.Errorf("%s: a change to a looked-up Spec shows in the next", name)
		}
	}
	names := Names()
	names[0] = "mutated"
	if Names()[0] == "mutated" {
		t.Error("Names shares its slice")
	}
}

// TestVendorNamesOnlyInTheirFiles: adding a vendor is its own file (and its
// tests) plus a line in specs. No string literal of the Go and JavaScript
// sources outside a vendor's file and the tests names a vendor: the rest
// derives from the table.
func TestVendorNamesOnlyInTheirFiles(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("%s is not the module root: %v", root, err)
	}
	names := Names()
	seen := 0
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "node_modules", "vendor", "testdata":
				return filepath.SkipDir
			}
			return nil
		}
		ext := filepath.Ext(path)
		if ext != ".go" && ext != ".js" || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		seen++
		for _, lit := range stringLiterals(t, rel, data) {
			for _, n := range names {
				if strings.Contains(strings.ToLower(lit.text), n) && rel != filepath.Join("challenge", "provider", n+".go") {
					t.Errorf("%s:%d: string %s names %s outside %s.go: derive it from the provider table", rel, lit.line, lit.text, n, n)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen < 10 {
		t.Fatalf("read only %d source files under %s", seen, root)
	}
}

type literal struct {
	text string
	line int
}

// stringLiterals returns the string literals of a Go or JavaScript source,
// comments left out.
func stringLiterals(t *testing.T, name string, src []byte) []literal {
	t.Helper()
	if strings.HasSuffix(name, ".go") {
		return goLiterals(t, name, src)
	}
	return jsLiterals(src)
}

func goLiterals(t *testing.T, name string, src []byte) []literal {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, name, src, parser.SkipObjectResolution)
	if err != nil {
		t.Errorf("%s: %v", name, err)
		return nil
	}
	var out []literal
	ast.Inspect(f, func(n ast.Node) bool {
		if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
			out = append(out, literal{lit.Value, fset.Position(lit.Pos()).Line})
		}
		return true
	})
	return out
}

// jsLiterals finds the quoted strings of a script, skipping comments. It
// knows nothing of regular expression literals: challenge.js has one, with
// no quote or comment marker in it.
func jsLiterals(src []byte) []literal {
	var out []literal
	line := 1
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
		case c == '\n':
			line++
		case c == '/' && i+1 < len(src) && src[i+1] == '/':
			for i < len(src) && src[i] != '\n' {
				i++
			}
			i--
		case c == '/' && i+1 < len(src) && src[i+1] == '*':
			end := strings.Index(string(src[i+2:]), "*/")
			if end < 0 {
				return out
			}
			line += strings.Count(string(src[i:i+2+end]), "\n")
			i += end + 3
		case c == '"' || c == '\'' || c == '`':
			start, startLine := i, line
			for i++; i < len(src) && src[i] != c; i++ {
				if src[i] == '\\' {
					i++
				} else if src[i] == '\n' {
					line++
				}
			}
			out = append(out, literal{string(src[start:min(i+1, len(src))]), startLine})
		}
	}
	return out
}
