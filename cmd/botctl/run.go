package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/botauthz/botauthz/admin"
	"github.com/botauthz/botauthz/buildinfo"
)

// Exit codes, as the usage text documents them.
const (
	exitOK      = 0
	exitFailed  = 1 // the request failed: network, timeout, 5xx
	exitUsage   = 2 // bad arguments
	exitRefused = 3 // the server refused the request: 400, 401, 403
)

const defaultAddr = "http://127.0.0.1:9090"

const usageText = `Usage: botctl [flags] COMMAND [ARGS] [flags]

Shows and changes the live rollout state of botauthz through its admin API.

Commands:
  status                                    kill switch, override file, and every route's
                                            mode, percent and source
  mode ROUTE off|shadow|enforce|inherit --reason R
                                            override one route's mode; inherit clears the
                                            override so the policy file decides again
  mode ROUTE canary PERCENT --reason R      enforce for PERCENT (0-100) of the route's clients
  mode --default MODE [PERCENT] --reason R  override every route without a route override
  kill shadow|bypass --reason R             emergency switch: shadow enforces nothing but keeps
                                            scoring; bypass allows everything unscored
  unkill --reason R                         clear the kill switch
  audit [-n 20]                             the latest changes, newest first (-n up to 1000)
  version                                   print botctl's version, commit and Go version

Flags (before or after the command):
  -addr URL       admin API address (env BOTCTL_ADDR, default http://127.0.0.1:9090)
  -token T        admin bearer token (env BOTCTL_TOKEN; prefer it: command lines are
                  visible to other users)
  -o FORMAT       output: table or json (json prints the server's answer)
  -actor NAME     who you are, recorded in the audit trail beside the token's name
                  (env BOTCTL_ACTOR, default $USER)
  -timeout D      how long to wait for the server (default 5s)
  -version        print botctl's version and exit
  --reason R      why, for the audit trail; required by mode, kill and unkill

Exit codes:
  0  success
  1  the request failed (network error, timeout, 5xx answer)
  2  usage error (bad arguments; the message says what is wrong)
  3  refused by the server (400, 401, 403; the server's message is printed)
`

// globals are the flags every command takes.
type globals struct {
	addr    string
	token   string
	output  string
	actor   string
	timeout time.Duration
}

// register adds the global flags to fs with their current values as
// defaults, so that a command's flag set can take them after the command.
func (g *globals) register(fs *flag.FlagSet) {
	fs.StringVar(&g.addr, "addr", g.addr, "admin API address")
	fs.StringVar(&g.token, "token", g.token, "admin bearer token")
	fs.StringVar(&g.output, "o", g.output, "output: table or json")
	fs.StringVar(&g.actor, "actor", g.actor, "who you are, for the audit trail")
	fs.DurationVar(&g.timeout, "timeout", g.timeout, "how long to wait for the server")
}

// errVersion asks run to print botctl's version (-version, or the version
// command) instead of calling the server.
var errVersion = errors.New("version requested")

// usageError is a bad command line; synopsis, when set, is the command's
// usage line.
type usageError struct {
	msg      string
	synopsis string
}

func (e *usageError) Error() string { return e.msg }

func usagef(synopsis, format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...), synopsis: synopsis}
}

// command is one botctl command: it parses its arguments, then calls the
// server and prints the answer.
type command struct {
	synopsis string
	// parse registers the command's own flags and returns the function
	// that validates the parsed arguments and prepares the call.
	parse func(fs *flag.FlagSet) func(pos []string) (call, error)
}

// call performs one validated command against the server.
type call func(ctx context.Context, c *admin.Client, out *printer) error

func commands() map[string]command {
	return map[string]command{
		"status": {synopsis: "botctl status", parse: parseStatus},
		"mode":   {synopsis: "botctl mode ROUTE MODE [PERCENT] --reason R | botctl mode --default MODE [PERCENT] --reason R", parse: parseMode},
		"kill":   {synopsis: "botctl kill shadow|bypass --reason R", parse: parseKill},
		"unkill": {synopsis: "botctl unkill --reason R", parse: parseUnkill},
		"audit":  {synopsis: "botctl audit [-n 20]", parse: parseAudit},
	}
}

// run is botctl without the process around it: it parses args, talks to
// the admin API and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	g := &globals{
		addr:    cmp.Or(getenv("BOTCTL_ADDR"), defaultAddr),
		token:   getenv("BOTCTL_TOKEN"),
		output:  "table",
		actor:   cmp.Or(getenv("BOTCTL_ACTOR"), getenv("USER")),
		timeout: 5 * time.Second,
	}
	do, err := parseArgs(g, args)
	switch {
	case errors.Is(err, errVersion):
		fmt.Fprintln(stdout, strings.Replace(buildinfo.Read().String(), "botauthz", "botctl", 1))
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, usageText)
		return exitOK
	case err != nil:
		fmt.Fprintf(stderr, "botctl: %s\n", err)
		var ue *usageError
		if errors.As(err, &ue) && ue.synopsis != "" {
			fmt.Fprintf(stderr, "usage: %s\n", ue.synopsis)
		}
		fmt.Fprintln(stderr, "Run 'botctl -h' for help.")
		return exitUsage
	}

	ctx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	client := &admin.Client{
		Addr:  g.addr,
		Token: g.token,
		Actor: g.actor,
		HTTP:  &http.Client{Timeout: g.timeout},
	}
	if err := do(ctx, client, &printer{w: stdout, json: g.output == "json"}); err != nil {
		return reportFailure(stderr, err)
	}
	return exitOK
}

// parseArgs parses the command line into a call, or returns a usageError
// (or flag.ErrHelp).
func parseArgs(g *globals, args []string) (call, error) {
	top := flag.NewFlagSet("botctl", flag.ContinueOnError)
	top.SetOutput(io.Discard) // errors are reported by run, in one format
	g.register(top)
	version := top.Bool("version", false, "print the version and exit")
	if err := top.Parse(args); err != nil {
		return nil, flagError("", err)
	}
	if *version || top.Arg(0) == "version" {
		return nil, errVersion
	}
	if top.NArg() == 0 {
		return nil, usagef("", "missing command (status, mode, kill, unkill or audit)")
	}
	name, rest := top.Arg(0), top.Args()[1:]
	if name == "help" {
		return nil, flag.ErrHelp
	}
	cmd, ok := commands()[name]
	if !ok {
		return nil, usagef("", "unknown command %q (want status, mode, kill, unkill or audit)", name)
	}
	fs := flag.NewFlagSet("botctl "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	g.register(fs)
	finish := cmd.parse(fs)
	pos, err := parseInterspersed(fs, rest)
	if err != nil {
		return nil, flagError(cmd.synopsis, err)
	}
	switch {
	case g.output != "table" && g.output != "json":
		return nil, usagef("", "-o %q: want table or json", g.output)
	case g.timeout <= 0:
		return nil, usagef("", "-timeout %s: want a positive duration", g.timeout)
	case strings.TrimSpace(g.addr) == "":
		return nil, usagef("", "-addr is empty")
	}
	do, err := finish(pos)
	if err != nil {
		var ue *usageError
		if errors.As(err, &ue) && ue.synopsis == "" {
			ue.synopsis = cmd.synopsis
		}
		return nil, err
	}
	return do, nil
}

func flagError(synopsis string, err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	return usagef(synopsis, "%v", err)
}

// parseInterspersed parses fs from args while letting flags follow
// positional arguments (flag.FlagSet.Parse stops at the first one), so that
// "botctl mode login enforce --reason x" works. A "--" ends the flags.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func parseStatus(*flag.FlagSet) func([]string) (call, error) {
	return func(pos []string) (call, error) {
		if len(pos) > 0 {
			return nil, usagef("", "status takes no arguments, got %q", pos)
		}
		return func(ctx context.Context, c *admin.Client, out *printer) error {
			s, err := c.State(ctx)
			if err != nil {
				return err
			}
			return out.state(s)
		}, nil
	}
}

func parseMode(fs *flag.FlagSet) func([]string) (call, error) {
	reason := fs.String("reason", "", "why, for the audit trail")
	def := fs.Bool("default", false, "override every route without a route override")
	return func(pos []string) (call, error) {
		var route string
		if !*def {
			if len(pos) == 0 {
				return nil, usagef("", "mode: missing ROUTE (or --default)")
			}
			route, pos = pos[0], pos[1:]
		} else if len(pos) > 1 && validMode(pos[1]) {
			return nil, usagef("", "mode: give a ROUTE or --default, not both")
		}
		if len(pos) == 0 {
			return nil, usagef("", "mode: missing MODE (off, shadow, canary, enforce or inherit)")
		}
		mode, pos := pos[0], pos[1:]
		if !validMode(mode) {
			return nil, usagef("", "mode: unknown mode %q (want off, shadow, canary, enforce or inherit)", mode)
		}
		var percent float64
		switch {
		case mode == "canary" && len(pos) == 0:
			return nil, usagef("", "mode: canary needs a PERCENT (0-100)")
		case mode == "canary":
			p, err := parsePercent(pos[0])
			if err != nil {
				return nil, err
			}
			percent, pos = p, pos[1:]
		}
		if len(pos) > 0 {
			return nil, usagef("", "mode: unexpected arguments %q (only canary takes a PERCENT)", pos)
		}
		r, err := requireReason("mode", *reason)
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context, c *admin.Client, out *printer) error {
			e, err := c.SetMode(ctx, route, *def, mode, percent, r)
			if err != nil {
				return err
			}
			return out.applied(e)
		}, nil
	}
}

func validMode(m string) bool {
	switch m {
	case "off", "shadow", "canary", "enforce", "inherit":
		return true
	}
	return false
}

// parsePercent accepts "10", "12.5" and "10%".
func parsePercent(s string) (float64, error) {
	p, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if err != nil || math.IsNaN(p) || p < 0 || p > 100 {
		return 0, usagef("", "mode: PERCENT %q: want a number from 0 to 100", s)
	}
	return p, nil
}

func parseKill(fs *flag.FlagSet) func([]string) (call, error) {
	reason := fs.String("reason", "", "why, for the audit trail")
	return func(pos []string) (call, error) {
		if len(pos) != 1 || (pos[0] != "shadow" && pos[0] != "bypass") {
			return nil, usagef("", "kill: want exactly one of shadow or bypass, got %q (unkill clears the switch)", pos)
		}
		kill := pos[0]
		r, err := requireReason("kill", *reason)
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context, c *admin.Client, out *printer) error {
			e, err := c.Kill(ctx, kill, r)
			if err != nil {
				return err
			}
			return out.applied(e)
		}, nil
	}
}

func parseUnkill(fs *flag.FlagSet) func([]string) (call, error) {
	reason := fs.String("reason", "", "why, for the audit trail")
	return func(pos []string) (call, error) {
		if len(pos) > 0 {
			return nil, usagef("", "unkill takes no arguments, got %q", pos)
		}
		r, err := requireReason("unkill", *reason)
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context, c *admin.Client, out *printer) error {
			e, err := c.Unkill(ctx, r)
			if err != nil {
				return err
			}
			return out.applied(e)
		}, nil
	}
}

func parseAudit(fs *flag.FlagSet) func([]string) (call, error) {
	n := fs.Int("n", 20, "how many entries")
	return func(pos []string) (call, error) {
		if len(pos) > 0 {
			return nil, usagef("", "audit takes no arguments, got %q", pos)
		}
		if *n < 1 || *n > admin.MaxAuditLimit {
			return nil, usagef("", "audit: -n %d: want 1 to %d", *n, admin.MaxAuditLimit)
		}
		limit := *n
		return func(ctx context.Context, c *admin.Client, out *printer) error {
			entries, err := c.Audit(ctx, limit)
			if err != nil {
				return err
			}
			return out.audit(entries)
		}, nil
	}
}

// requireReason refuses a write without a reason before the server is
// asked: the audit trail needs one, and the SRE should hear it at once.
func requireReason(cmd, reason string) (string, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return "", usagef("", "%s: --reason is required: the audit trail records why", cmd)
	}
	return reason, nil
}

// reportFailure prints why a request failed and returns the exit code.
func reportFailure(stderr io.Writer, err error) int {
	var ae *admin.APIError
	if !errors.As(err, &ae) {
		fmt.Fprintf(stderr, "botctl: request failed: %s\n", clean(err.Error()))
		return exitFailed
	}
	status := fmt.Sprintf("%d %s", ae.Status, http.StatusText(ae.Status))
	switch ae.Status {
	case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden:
		fmt.Fprintf(stderr, "botctl: refused by the server (%s): %s\n", status, clean(ae.Message))
		if ae.Status == http.StatusUnauthorized {
			fmt.Fprintln(stderr, "botctl: set BOTCTL_TOKEN (or -token) to a valid admin token")
		}
		return exitRefused
	}
	fmt.Fprintf(stderr, "botctl: request failed (%s): %s\n", status, clean(ae.Message))
	return exitFailed
}

// encodeJSON prints v as indented JSON.
func encodeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("print JSON: %w", err)
	}
	return nil
}
