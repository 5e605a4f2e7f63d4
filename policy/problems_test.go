package policy

import (
	"errors"
	"strings"
	"testing"
)

// TestParseReportsEveryProblem: a file with several mistakes is refused
// with all of them, each with its key path and line, in the file's order,
// so an operator fixes them in one pass rather than one per deploy.
func TestParseReportsEveryProblem(t *testing.T) {
	const file = `version: "x"
session_cookie: "bad cookie"
routes:
  login:
    mode: enforse
    limts: []
  search:
    challenge_below: 200
rules:
  deny_cidrs: ["10.0.0.0/33"]
`
	_, err := Parse([]byte(file))
	if err == nil {
		t.Fatal("Parse accepted a file with four mistakes")
	}
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("one error %v, want every problem", err)
	}
	var got []string
	for _, e := range joined.Unwrap() {
		var pe *Error
		if !errors.As(e, &pe) {
			t.Errorf("problem %v is not a *policy.Error with a path", e)
			continue
		}
		got = append(got, pe.Error())
	}
	// The unknown key is found before decoding, which then stops: shape
	// problems come first, the built values' problems once the shape is
	// right.
	want := []string{"line 6: routes.login.limts: unknown key"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// With the shape right, every value's problem at once.
	_, err = Parse([]byte(strings.Replace(file, "    limts: []\n", "", 1)))
	got = nil
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		got = append(got, e.Error())
	}
	want = []string{
		`line 2: session_cookie: "bad cookie" is not a valid cookie name`,
		`line 5: routes.login.mode: `,
		`line 7: routes.search.challenge_below: `,
		`line 9: rules.deny_cidrs`,
	}
	if len(got) != len(want) {
		t.Fatalf("%d problems:\n%s\nwant %d", len(got), strings.Join(got, "\n"), len(want))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("problem %d = %q, want it to start with %q", i, got[i], want[i])
		}
	}
}
