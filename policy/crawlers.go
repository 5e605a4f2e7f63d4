package policy

import (
	"fmt"
	"maps"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/botauthz/botauthz/crawler"
)

// Crawlers is the policy's crawlers section: where the crawler directory
// comes from and what verification may reach over the network. The
// directory, its range lists and the verifiers are built at startup; a
// reload that changes this section takes effect at the next restart.
type Crawlers struct {
	// Directory is a file layered over the built-in crawler directory
	// (crawlers.directory): new crawlers, replaced ones, disabled ones.
	// Empty for none.
	Directory string
	// Network lets botauthz fetch the operators' published range files
	// and Web Bot Auth key directories (crawlers.network). Off, the
	// embedded range snapshots are used as shipped and a key directory
	// is read only from a file:// URL.
	Network bool
	// Refresh is how often range files are re-fetched when Network is on.
	Refresh time.Duration
	// ReverseDNS verifies crawlers whose operators document it by
	// forward-confirmed reverse DNS (crawlers.reverse_dns), in the
	// background: a Check never waits for DNS.
	ReverseDNS bool
	// DNSServer is the "host:port" reverse DNS asks; empty for the
	// system's resolver.
	DNSServer string
	// KeyDirectories maps a Web Bot Auth signature agent's origin to the
	// URL of its key directory, where it is not the origin's well-known
	// one (crawlers.key_directories): a mirror, or a file:// copy.
	KeyDirectories map[string]string
}

// rawCrawlers mirrors the crawlers section.
type rawCrawlers struct {
	Directory      *string           `yaml:"directory"`
	Network        *bool             `yaml:"network"`
	Refresh        *string           `yaml:"refresh"`
	ReverseDNS     *bool             `yaml:"reverse_dns"`
	DNSServer      *string           `yaml:"dns_server"`
	KeyDirectories map[string]string `yaml:"key_directories"`
}

// buildCrawlers sets the crawlers section.
func buildCrawlers(p *Policy, def, file *rawCrawlers) error {
	if def == nil {
		def = &rawCrawlers{}
	}
	if file == nil {
		file = &rawCrawlers{}
	}
	empty, no, day := "", false, "24h"
	c := &p.Crawlers
	c.Directory = *pick(file.Directory, pick(def.Directory, &empty))
	c.Network = *pick(file.Network, pick(def.Network, &no))
	c.ReverseDNS = *pick(file.ReverseDNS, pick(def.ReverseDNS, &no))
	c.DNSServer = *pick(file.DNSServer, pick(def.DNSServer, &empty))
	var err error
	if c.Refresh, err = duration("crawlers.refresh", *pick(file.Refresh, pick(def.Refresh, &day)), time.Minute, 30*24*time.Hour); err != nil {
		return err
	}
	if c.DNSServer != "" {
		if _, port, err := net.SplitHostPort(c.DNSServer); err != nil || port == "" {
			return &Error{Path: "crawlers.dns_server", Msg: fmt.Sprintf("%q is not host:port", c.DNSServer)}
		}
	}
	c.KeyDirectories = maps.Clone(def.KeyDirectories)
	if c.KeyDirectories == nil {
		c.KeyDirectories = map[string]string{}
	}
	maps.Copy(c.KeyDirectories, file.KeyDirectories)
	for _, agent := range slices.Sorted(maps.Keys(c.KeyDirectories)) {
		path := "crawlers.key_directories." + agent
		if u, err := url.Parse(agent); err != nil || u.Scheme != "https" && u.Scheme != "http" || u.Host == "" || strings.Trim(u.Path, "/") != "" {
			return &Error{Path: path, Msg: fmt.Sprintf("%q is not an origin (https://host[:port])", agent)}
		}
		dir := c.KeyDirectories[agent]
		if u, err := url.Parse(dir); err != nil || u.Scheme != "https" && u.Scheme != "http" && u.Scheme != "file" || u.Scheme != "file" && u.Host == "" {
			return &Error{Path: path, Msg: fmt.Sprintf("%q is not an https://, http:// or file:// URL", dir)}
		}
	}
	return nil
}

// VerifiedBotAction is what the route does with a verified crawler of
// category c: its verified_bots entry, else verified_bots.default.
func (r *Route) VerifiedBotAction(c crawler.Category) Action {
	if a, ok := r.VerifiedBots[c]; ok {
		return a
	}
	return r.VerifiedBotsDefault
}

// crawlerActions are the actions a route can give crawlers: a rate limit
// is the hard limits' to give, not a setting's.
var crawlerActions = []Action{ActionAllow, ActionChallenge, ActionDeny}

// parseCrawlerAction reads one of crawlerActions.
func parseCrawlerAction(path, s string) (Action, error) {
	for _, a := range crawlerActions {
		if a.String() == s {
			return a, nil
		}
	}
	return 0, &Error{Path: path, Msg: fmt.Sprintf("%q is not allow, challenge or deny", s)}
}

// buildRouteCrawlers sets a route's verified_bots and unverified_crawlers.
func buildRouteCrawlers(r *Route, path string, raw *rawRoute) error {
	if raw.UnverifiedCrawlers == nil || raw.VerifiedBots["default"] == "" {
		return &Error{Path: path, Msg: "incomplete crawler settings (the embedded defaults are missing a field)"}
	}
	var err error
	if r.UnverifiedCrawlers, err = parseCrawlerAction(path+".unverified_crawlers", *raw.UnverifiedCrawlers); err != nil {
		return err
	}
	r.VerifiedBots = make(map[crawler.Category]Action, len(raw.VerifiedBots))
	for _, name := range slices.Sorted(maps.Keys(raw.VerifiedBots)) {
		a, err := parseCrawlerAction(path+".verified_bots."+name, raw.VerifiedBots[name])
		if err != nil {
			return err
		}
		if name == "default" {
			r.VerifiedBotsDefault = a
			continue
		}
		c, ok := crawler.ParseCategory(name)
		if !ok {
			return &Error{Path: path + ".verified_bots." + name, Msg: fmt.Sprintf("unknown category (want default or one of %s)", categoryList())}
		}
		r.VerifiedBots[c] = a
	}
	return nil
}

func categoryList() string {
	var names []string
	for _, c := range crawler.Categories() {
		names = append(names, string(c))
	}
	return strings.Join(names, ", ")
}

// overlayVerifiedBots merges a route's verified_bots over its base's, key
// by key, so a route that denies ai_crawler keeps the default's other
// categories.
func overlayVerifiedBots(base, top map[string]string) map[string]string {
	if top == nil {
		return base
	}
	out := maps.Clone(base)
	if out == nil {
		out = map[string]string{}
	}
	maps.Copy(out, top)
	return out
}
