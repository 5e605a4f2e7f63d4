package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/botauthz/botauthz/admin"
	"github.com/botauthz/botauthz/policy"
	"github.com/botauthz/botauthz/rollout"
)

// printer writes answers as aligned tables or as JSON.
type printer struct {
	w    io.Writer
	json bool
}

func (p *printer) state(s admin.StateResponse) error {
	if p.json {
		return encodeJSON(p.w, s)
	}
	tw := tabwriter.NewWriter(p.w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "Kill switch:\t%s (%s)\n", s.Kill, clean(s.KillSource))
	fmt.Fprintf(tw, "Live state:\t%s\n", liveSummary(s.Live))
	fmt.Fprintf(tw, "Live default:\t%s\n", settingText(s.Live.Default))
	fmt.Fprintf(tw, "Override file:\t%s\n", fileSummary(s.OverrideFile, s.OverrideFileError))
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "ROUTE\tMODE\tPERCENT\tSOURCE")
	for _, r := range s.Routes {
		percent := "-"
		if r.Mode == "canary" {
			percent = formatPercent(r.Percent)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", clean(r.Route), clean(r.Mode), percent, clean(r.Source))
	}
	return flush(tw)
}

func liveSummary(st rollout.State) string {
	if st.Version == 0 {
		return "never changed"
	}
	s := "version " + strconv.FormatInt(st.Version, 10)
	if !st.UpdatedAt.IsZero() {
		s += ", changed " + formatTime(st.UpdatedAt)
	}
	if st.UpdatedBy != "" {
		s += " by " + clean(st.UpdatedBy)
	}
	return s
}

func settingText(set *rollout.Setting) string {
	if set == nil {
		return "none"
	}
	if set.Mode == policy.ModeCanary {
		return "canary " + formatPercent(set.Percent)
	}
	return set.Mode.String()
}

func fileSummary(st *rollout.State, problem string) string {
	var s string
	switch {
	case st == nil:
		s = "none"
	default:
		var parts []string
		if st.Kill != rollout.KillNone {
			parts = append(parts, "kill "+st.Kill.String())
		}
		if st.Default != nil {
			parts = append(parts, "default "+settingText(st.Default))
		}
		if n := len(st.Routes); n > 0 {
			parts = append(parts, strconv.Itoa(n)+" route override(s)")
		}
		if len(parts) == 0 {
			parts = append(parts, "no overrides")
		}
		s = "in force: " + strings.Join(parts, ", ")
	}
	if problem != "" {
		s += "; last change rejected: " + clean(problem)
	}
	return s
}

// applied prints the audit entry of an accepted change.
func (p *printer) applied(e rollout.AuditEntry) error {
	if p.json {
		return encodeJSON(p.w, e)
	}
	_, err := fmt.Fprintf(p.w, "applied %s by %s at %s (version %d)\n",
		clean(e.Change), clean(e.Actor), formatTime(e.Time), e.After.Version)
	if err != nil {
		return fmt.Errorf("print: %w", err)
	}
	return nil
}

func (p *printer) audit(entries []rollout.AuditEntry) error {
	if p.json {
		return encodeJSON(p.w, admin.AuditResponse{Entries: entries})
	}
	tw := tabwriter.NewWriter(p.w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tACTOR\tCHANGE\tREASON")
	for _, e := range entries {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", formatTime(e.Time), clean(e.Actor), clean(e.Change), clean(e.Reason))
	}
	return flush(tw)
}

func flush(tw *tabwriter.Writer) error {
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("print: %w", err)
	}
	return nil
}

func formatPercent(p float64) string {
	return strconv.FormatFloat(p, 'f', -1, 64) + "%"
}

func formatTime(t time.Time) string {
	return t.UTC().Format(time.RFC3339)
}

// clean makes server-supplied text safe for a terminal and a table: a
// reason with an escape sequence or a tab must not repaint the screen or
// break the columns.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return ' '
	}, s)
}
