package webbotauth

import (
	"fmt"
	"strings"
	"testing"
)

func TestStructuredFieldsCanonicalForm(t *testing.T) {
	cases := []struct {
		name, in, want string
		parse          func(string) (string, error)
	}{
		// RFC 9421 §2.1.1: ;sf re-serializes a dictionary.
		{"RFC 9421 2.1.1", "a=1,    b=2;x=1;y=2,   c=(a   b   c)", "a=1, b=2;x=1;y=2, c=(a b c)", dict},
		{"true members and parameters", "a, b=?1;x;y=?0, c=?0", "a, b;x;y=?0, c=?0", dict},
		{"decimals", "a=1.50, b=-0.001, c=123456789012.1", "a=1.5, b=-0.001, c=123456789012.1", dict},
		{"strings", `a="x\"y\\z", b=""`, `a="x\"y\\z", b=""`, dict},
		{"byte sequence padding", "a=:YQ:, b=:YWI=:", "a=:YQ==:, b=:YWI=:", dict},
		{"tokens", "a=*foo/bar:baz, b=Bar!#$%&'*+-.^_`|~", "a=*foo/bar:baz, b=Bar!#$%&'*+-.^_`|~", dict},
		{"RFC 9651 date and display string", `a=@1659578233, b=%"f%c3%bc%c3%bc%22"`, `a=@1659578233, b=%"f%c3%bc%c3%bc%22"`, dict},
		{"repeated key keeps its place, takes the last value", "a=1, b=2, a=3", "a=3, b=2", dict},
		{"inner list parameters", `sig=("@authority" "x";key="k");created=1;tag="t"`, `sig=("@authority" "x";key="k");created=1;tag="t"`, dict},
		{"empty inner list", "a=(), b=();p", "a=(), b=();p", dict},
		{"list", ` "a";v=1,(b c);x,  ?0 `, `"a";v=1, (b c);x, ?0`, list},
		{"item", `  "https://agent.example";type=directory  `, `"https://agent.example";type=directory`, itemField},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.parse(c.in)
			if err != nil || got != c.want {
				t.Errorf("%q → %q (%v), want %q", c.in, got, err, c.want)
			}
			// The canonical form is a fixed point.
			again, err := c.parse(got)
			if err != nil || again != got {
				t.Errorf("re-parsing %q gave %q (%v)", got, again, err)
			}
		})
	}
}

func TestRepeatedKeysPastTheScan(t *testing.T) {
	var in, want []string
	for i := range 40 {
		in = append(in, fmt.Sprintf("k%d=%d", i, i))
		want = append(want, fmt.Sprintf("k%d=%d", i, i))
	}
	in = append(in, "k3=x", "k39=?0", "k0")
	want[3], want[39], want[0] = "k3=x", "k39=?0", "k0"
	got, err := dict(strings.Join(in, ", "))
	if err != nil || got != strings.Join(want, ", ") {
		t.Errorf("got %q (%v)\nwant %q", got, err, strings.Join(want, ", "))
	}
	ps := "a"
	for i := range 40 {
		ps += fmt.Sprintf(";p%d=%d", i, i)
	}
	it, err := parseItem(ps + ";p5=five;p30")
	if err != nil || len(it.params) != 40 {
		t.Fatalf("%d parameters (%v), want 40", len(it.params), err)
	}
	if v, _ := it.param("p5"); v.str != "five" || it.params[5].key != "p5" {
		t.Errorf("p5 = %+v at %q", v, it.params[5].key)
	}
	if v, _ := it.param("p30"); v.kind != kindBoolean || it.params[30].key != "p30" {
		t.Errorf("p30 = %+v", v)
	}
}

func TestStructuredFieldsRejected(t *testing.T) {
	for _, in := range []string{
		"a=1,", ",a=1", "a=1,,b=2", "A=1", "1a=1", "a=", "a=1 b=2",
		`a="unterminated`, `a="bad\escape"`, "a=\"tab\there\"",
		"a=1.", "a=1.2345", "a=1234567890123456", "a=1234567890123.1", "a=-", "a=--1",
		"a=:not base64!:", "a=:YQ==", "a=?2", "a=?",
		"a=(b", "a=(b)c", "a=(b;)", "a=@1.5", "a=@", `a=%"F%C3"`, `a=%"%c3"`, `a=%"x`, `a=%x`,
		"a;=1", "a=1;B=2", "a=é",
	} {
		if _, err := parseDictionary(in); err == nil {
			t.Errorf("parseDictionary(%q) succeeded", in)
		}
	}
}

func dict(s string) (string, error) {
	d, err := parseDictionary(s)
	return string(appendDictionary(nil, d)), err
}

func list(s string) (string, error) {
	l, err := parseList(s)
	return string(appendList(nil, l)), err
}

func itemField(s string) (string, error) {
	it, err := parseItem(s)
	return string(appendItem(nil, it)), err
}

func TestFieldComponents(t *testing.T) {
	headers := map[string]string{
		"example-dict": " a=1, b=2;x=1;y=2, c=(a   b    c), d",
		"x-ows":        "  Leading and trailing whitespace.  ",
		"x-empty":      "",
		"priority":     "u=1,   i",
		"x-unknown":    "a=1",
	}
	cases := []struct {
		id, want string
	}{
		// RFC 9421 §2.1.2.
		{`"example-dict";key="a"`, "1"},
		{`"example-dict";key="d"`, "?1"},
		{`"example-dict";key="b"`, "2;x=1;y=2"},
		{`"example-dict";key="c"`, "(a b c)"},
		// RFC 9421 §2.1.
		{`"x-ows"`, "Leading and trailing whitespace."},
		{`"x-empty"`, ""},
		{`"priority";sf`, "u=1, i"},
	}
	for _, c := range cases {
		it, err := parseItem(c.id)
		if err != nil {
			t.Fatal(err)
		}
		got, err := fieldValue(headers, it.value.str, it.params)
		if err != nil || got != c.want {
			t.Errorf("%s = %q (%v), want %q", c.id, got, err, c.want)
		}
	}
	for _, id := range []string{
		`"example-dict";key="z"`, // no such member
		`"x-unknown";sf`,         // type unknown to us
		`"x-ows";bs`,             // needs the separate field lines
		`"x-ows";req`,            // a request has no request of its own
		`"x-ows";tr`,             // no trailers
		`"x-ows";sf=?0`,          // a flag must be true
		`"x-absent"`,
	} {
		it, err := parseItem(id)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := fieldValue(headers, it.value.str, it.params); err == nil {
			t.Errorf("%s = %q, want an error", id, got)
		}
	}
}

func TestDerivedComponents(t *testing.T) {
	r := &Request{Method: "GET", Scheme: "HTTPS", Authority: "WWW.Example.com:443",
		Path: "/path?param=value&foo=bar&baz=bat%2Dman", Headers: map[string]string{}}
	want := map[string]string{
		"@method":         "GET",
		"@authority":      "www.example.com",
		"@scheme":         "https",
		"@target-uri":     "https://www.example.com/path?param=value&foo=bar&baz=bat%2Dman",
		"@request-target": "/path?param=value&foo=bar&baz=bat%2Dman",
		"@path":           "/path",
		"@query":          "?param=value&foo=bar&baz=bat%2Dman",
	}
	rr := requestResolver{r: r}
	for name, w := range want {
		if got, err := rr.derived(name, nil); err != nil || got != w {
			t.Errorf("%s = %q (%v), want %q", name, got, err, w)
		}
	}
	// RFC 9421 §2.2.7: no query gives "?"; §2.2.6: an empty path is "/".
	r.Path = "/"
	if got, _ := rr.derived("@query", nil); got != "?" {
		t.Errorf("@query without a query = %q", got)
	}
	r.Path = ""
	if got, _ := rr.derived("@path", nil); got != "/" {
		t.Errorf("@path of an empty path = %q", got)
	}
	// A non-default port stays; http drops :80.
	r.Scheme, r.Authority = "http", "Example.com:80"
	if got, _ := rr.derived("@authority", nil); got != "example.com" {
		t.Errorf("@authority = %q", got)
	}
	r.Authority = "example.com:8443"
	if got, _ := rr.derived("@authority", nil); got != "example.com:8443" {
		t.Errorf("@authority = %q", got)
	}
	for _, bad := range []string{"@status", "@signature-params", "@nope"} {
		if _, err := rr.derived(bad, nil); err == nil {
			t.Errorf("%s resolved on a request", bad)
		}
	}
	if _, err := rr.derived("@method", []param{{key: "req", value: bareItem{kind: kindBoolean, num: 1}}}); err == nil {
		t.Error(`"@method";req resolved on a request`)
	}
}

func TestQueryParam(t *testing.T) {
	cases := []struct{ target, name, want string }{
		// RFC 9421 §2.2.8 examples.
		{"/path?param=value&foo=bar&baz=batman&qux=", "baz", "batman"},
		{"/path?param=value&foo=bar&baz=batman&qux=", "qux", ""},
		{"/path?param=value&foo=bar&baz=batman&qux=", "param", "value"},
		{"/parameters?var=this%20is%20a%20big%0Amultiline%20value&bar=with+plus+whitespace&fa%C3%A7ade%22%3A%20=something", "var", "this%20is%20a%20big%0Amultiline%20value"},
		{"/parameters?var=this%20is%20a%20big%0Amultiline%20value&bar=with+plus+whitespace&fa%C3%A7ade%22%3A%20=something", "bar", "with%20plus%20whitespace"},
		{"/parameters?var=this%20is%20a%20big%0Amultiline%20value&bar=with+plus+whitespace&fa%C3%A7ade%22%3A%20=something", "fa%C3%A7ade%22%3A%20", "something"},
		// WHATWG parsing details: empty pairs skipped, "=" in the value, a
		// stray "%" kept and re-encoded, unreserved characters decoded.
		{"/?&&a=b=c&&", "a", "b%3Dc"},
		{"/?p=100%", "p", "100%25"},
		{"/?%7Euser=%41", "%7Euser", "A"},
	}
	for _, c := range cases {
		got, err := queryParam(c.target, []param{{key: "name", value: bareItem{kind: kindString, str: c.name}}})
		if err != nil || got != c.want {
			t.Errorf("%s name=%q: %q (%v), want %q", c.target, c.name, got, err, c.want)
		}
	}
	for _, c := range []struct{ target, name string }{
		{"/?a=1&a=2", "a"}, // repeated: RFC 9421 forbids covering it
		{"/?a=1", "b"},
		{"/", "a"},
	} {
		if got, err := queryParam(c.target, []param{{key: "name", value: bareItem{kind: kindString, str: c.name}}}); err == nil {
			t.Errorf("%s name=%q = %q, want an error", c.target, c.name, got)
		}
	}
	if _, err := queryParam("/?a=1", nil); err == nil {
		t.Error("@query-param without a name resolved")
	}
}

func TestSignatureBaseRejects(t *testing.T) {
	r := &Request{Method: "GET", Scheme: "https", Authority: "example.com", Path: "/",
		Headers: map[string]string{"x-bin": "caf\xc3\xa9", "x-nl": "a\nb"}}
	for _, in := range []string{
		`s=("@authority" "@authority")`,     // covered twice
		`s=("x";key="a";sf "x";sf;key="a")`, // the same identifier, parameters reordered
		`s=("@signature-params")`,           // never covered
		`s=("Content-Type")`,                // field names are lower case
		`s=(authority)`,                     // a token, not a string
		`s=("x-bin")`,                       // not ASCII
		`s=("x-nl")`,                        // a newline would forge a line
		`s=("")`,
	} {
		d, err := parseDictionary(in)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if base, err := appendSignatureBase(nil, &d[0], requestResolver{r: r}); err == nil {
			t.Errorf("%s gave a base:\n%s", in, base)
		}
	}
}
