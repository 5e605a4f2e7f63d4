package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/botauthz/botauthz/buildinfo"
)

var update = flag.Bool("update", false, "rewrite the README's flag table from the flags")

// Markers around the README's generated flag table.
const (
	flagTableBegin = "<!-- flag table: generated from cmd/botauthz/flags.go by `go test ./cmd/botauthz -run TestREADMEFlagTable -update` -->\n"
	flagTableEnd   = "<!-- end of flag table -->\n"
)

// TestREADMEFlagTable keeps the README's flag table equal to the flags: a
// flag added, renamed or redescribed in newFlagSet fails here until the
// README is regenerated with -update.
func TestREADMEFlagTable(t *testing.T) {
	const path = "../../README.md"
	readme, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(readme)
	begin := strings.Index(s, flagTableBegin)
	end := strings.Index(s, flagTableEnd)
	if begin < 0 || end < begin {
		t.Fatalf("README.md lacks the flag table's markers %q … %q", flagTableBegin, flagTableEnd)
	}
	want := flagTable(newFlagSet(&config{}))
	got := s[begin+len(flagTableBegin) : end]
	if got == want {
		return
	}
	if *update {
		s = s[:begin+len(flagTableBegin)] + want + s[end:]
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("README.md's flag table is out of date; run go test ./cmd/botauthz -run TestREADMEFlagTable -update\ngot:\n%s\nwant:\n%s", got, want)
}

// TestHelpNamesEveryFlagItsVariableAndTheAdminPaths: -h is what an operator
// reads first, so it must say how the environment sets each flag and what
// the admin port serves.
func TestHelpNamesEveryFlagItsVariableAndTheAdminPaths(t *testing.T) {
	var out bytes.Buffer
	if code := run(context.Background(), []string{"-h"}, &out, &out); code != 0 {
		t.Fatalf("-h: exit %d", code)
	}
	help := out.String()
	newFlagSet(&config{}).VisitAll(func(f *flag.Flag) {
		if !strings.Contains(help, "-"+f.Name+"  ("+envName(f.Name)) {
			t.Errorf("-h lacks -%s with %s", f.Name, envName(f.Name))
		}
		if !strings.Contains(help, plain(f.Usage)) {
			t.Errorf("-h lacks -%s's description", f.Name)
		}
	})
	for _, want := range []string{"/metrics", "/v1/", "/debug/pprof/", "/healthz", "/readyz", "rediss://", "redis+cluster://", "redis+sentinel://", "BOTAUTHZ_REDIS"} {
		if !strings.Contains(help, want) {
			t.Errorf("-h does not mention %s", want)
		}
	}
	if strings.Contains(help, "`") {
		t.Error("-h shows Markdown backquotes")
	}
}

func TestVersionFlag(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"-version"}, &out, &errOut); code != 0 {
		t.Fatalf("-version: exit %d, stderr %q", code, errOut.String())
	}
	if got, want := out.String(), buildinfo.Read().String()+"\n"; got != want {
		t.Errorf("-version printed %q, want %q", got, want)
	}
	if !strings.HasPrefix(out.String(), "botauthz "+buildinfo.Version) {
		t.Errorf("-version printed %q, want it to start with botauthz %s", out.String(), buildinfo.Version)
	}
}

// TestStoreAndItsOlderName: -redis stays an alias of -store, from the
// command line and the environment, and the two cannot disagree.
func TestStoreAndItsOlderName(t *testing.T) {
	for _, c := range []struct {
		args    []string
		env     map[string]string
		want    string
		wantErr bool
	}{
		{nil, nil, "", false},
		{[]string{"-store", "redis://a:6379/0"}, nil, "redis://a:6379/0", false},
		{[]string{"-redis", "redis://a:6379/0"}, nil, "redis://a:6379/0", false},
		{nil, map[string]string{"BOTAUTHZ_REDIS": "redis://b:6379/0"}, "redis://b:6379/0", false},
		{[]string{"-store", "memory://", "-redis", "memory://"}, nil, "memory://", false},
		{[]string{"-store", "memory://", "-redis", "redis://a:6379/0"}, nil, "", true},
	} {
		for k, v := range c.env {
			t.Setenv(k, v)
		}
		got, err := parseFlags(c.args, io.Discard)
		switch {
		case c.wantErr && err == nil:
			t.Errorf("%v %v: no error, want one", c.args, c.env)
		case !c.wantErr && (err != nil || got.storeURL != c.want):
			t.Errorf("%v %v: store %q, %v; want %q", c.args, c.env, got.storeURL, err, c.want)
		}
		for k := range c.env {
			t.Setenv(k, "")
		}
	}
}
