package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestREADMECommandsRunUnderMakeRun runs the README's botctl examples, as
// written, against botauthz started with the Makefile's `make run` command
// line: every command a newcomer copies from the README must work there.
func TestREADMECommandsRunUnderMakeRun(t *testing.T) {
	args := makeRunArgs(t)
	a, _ := startApp(t, args...)

	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", dir, "../botctl")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build botctl: %v\n%s", err, out)
	}
	botctl := filepath.Join(dir, "botctl")

	cmds := readmeBotctlCommands(t)
	if len(cmds) < 5 {
		t.Fatalf("found %d botctl commands in the README, want its examples (status, mode, kill, unkill, audit)", len(cmds))
	}
	for _, words := range cmds {
		cmd := exec.Command(botctl, words[1:]...)
		cmd.Env = append(os.Environ(), "BOTCTL_ADDR=http://"+a.adminLn.Addr().String(), "BOTCTL_TOKEN=")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Errorf("%s: %v\n%s", strings.Join(words, " "), err, out.String())
		}
	}
}

// makeRunArgs returns the flags of the Makefile's run recipe, with the
// policy path made relative to this package and the listen addresses left
// to startApp (free loopback ports).
func makeRunArgs(t *testing.T) []string {
	t.Helper()
	mk, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	_, recipe, ok := strings.Cut(string(mk), "\nrun:\n\tgo run ./cmd/botauthz ")
	if !ok {
		t.Fatal("the Makefile has no run target running go run ./cmd/botauthz")
	}
	recipe, _, _ = strings.Cut(recipe, "\n")
	var args []string
	words := strings.Fields(recipe)
	for i := 0; i < len(words); i++ {
		switch words[i] {
		case "-admin-addr", "-grpc-addr", "-http-addr":
			i++ // startApp's loopback ports
		case "-config":
			i++
			args = append(args, "-config", filepath.Join("../..", words[i]))
		default:
			args = append(args, words[i])
		}
	}
	return args
}

// readmeBotctlCommands returns the botctl command lines of the README's
// "### botctl" example block, split into words as a shell would (double
// quotes, trailing # comments).
func readmeBotctlCommands(t *testing.T) [][]string {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "\n### botctl\n")
	if !ok {
		t.Fatal(`README.md has no "### botctl" section`)
	}
	_, rest, ok = strings.Cut(rest, "```sh\n")
	if !ok {
		t.Fatal(`README.md's botctl section has no sh block`)
	}
	block, _, _ := strings.Cut(rest, "```")
	var cmds [][]string
	for _, line := range strings.Split(block, "\n") {
		if words := shellWords(line); len(words) > 0 && words[0] == "botctl" {
			cmds = append(cmds, words)
		}
	}
	return cmds
}

// shellWords splits a line into words the way sh does for the README's
// examples: blanks separate words, double quotes group, # outside quotes
// starts a comment.
func shellWords(line string) []string {
	var words []string
	var w strings.Builder
	inWord, quoted := false, false
	for _, r := range line {
		switch {
		case quoted && r == '"':
			quoted = false
		case quoted:
			w.WriteRune(r)
		case r == '"':
			quoted, inWord = true, true
		case r == '#' && !inWord:
			return words
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		default:
			w.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words
}

func TestShellWords(t *testing.T) {
	got := shellWords(`botctl kill bypass --reason "INC-123 false positives" # or: kill shadow`)
	want := []string{"botctl", "kill", "bypass", "--reason", "INC-123 false positives"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("shellWords = %q, want %q", got, want)
	}
}
