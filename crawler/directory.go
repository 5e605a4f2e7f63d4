package crawler

import (
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// embeddedData holds the built-in directory (data/crawlers.yaml) and the
// range snapshots it names (data/ranges/*). Read-only, like any embed.FS.
//
//go:embed data
var embeddedData embed.FS

const embeddedDirectoryPath = "data/crawlers.yaml"

// MaxDirectoryFileSize bounds a directory or override file, in bytes. The
// built-in directory is about 30 KiB; a file a hundred times larger is a
// mistake, not a directory.
const MaxDirectoryFileSize = 1 << 20

// Bounds on a directory's lists, checked before any entry is built, so that a
// runaway file is refused in the time it took to parse.
const (
	maxDirectoryCrawlers   = 2048
	maxDirectoryRangeLists = 512
	// maxEntryListLen bounds an entry's tokens, sources and verify lists;
	// real entries have a handful.
	maxEntryListLen = 64
)

// Category is a crawler's purpose, as the policy names it (verified_bots: {search: allow}).
type Category string

// The categories, after Cloudflare's verified-bot categories.
const (
	Search        Category = "search"
	AICrawler     Category = "ai_crawler"
	AIAssistant   Category = "ai_assistant"
	AISearch      Category = "ai_search"
	SEO           Category = "seo"
	Monitoring    Category = "monitoring"
	SocialPreview Category = "social_preview"
	Archiver      Category = "archiver"
	Feed          Category = "feed"
	Advertising   Category = "advertising"
	Academic      Category = "academic"
	Security      Category = "security"
	Other         Category = "other"
)

// Categories returns every category in a fixed order (for policy validation and docs).
func Categories() []Category {
	return []Category{Search, AICrawler, AIAssistant, AISearch, SEO, Monitoring, SocialPreview,
		Archiver, Feed, Advertising, Academic, Security, Other}
}

// ParseCategory returns the category named s. Names are exact: the policy
// and the directory spell them the same way.
func ParseCategory(s string) (Category, bool) {
	for _, c := range Categories() {
		if string(c) == s {
			return c, true
		}
	}
	return "", false
}

// Entry is one crawler of the directory: how to recognise its claim (Tokens)
// and how its operator lets a site check the claim (Ranges, RDNS, WebBotAuth).
type Entry struct {
	Name, Operator string
	Category       Category
	// Tokens are user-agent product tokens as written in the file, matched
	// case-insensitively as substrings, longest first. Empty only for an
	// entry identified by its Web Bot Auth signature alone (ChatGPT agent
	// sends an ordinary browser user agent).
	Tokens []string
	// Ranges names range lists of the directory.
	Ranges []string
	// RDNS are host-name suffixes for forward-confirmed reverse DNS,
	// lower-case, no dots at either end; a suffix matches on a label
	// boundary (googlebot.com covers crawl-1.googlebot.com).
	RDNS []string
	// WebBotAuth are Signature-Agent origins, normalized "https://host[:port]"
	// (lower-case host, no path, no trailing slash, no default port).
	WebBotAuth []string
	// Sources are the operator's pages the facts above come from.
	Sources []string
	Note    string
}

// Verifiable reports whether the operator publishes any way to verify it.
func (e *Entry) Verifiable() bool {
	return len(e.Ranges) > 0 || len(e.RDNS) > 0 || len(e.WebBotAuth) > 0
}

// RangeList is a published IP range file: the operator's URL, which a refresh
// fetches, and the snapshot of it that ships with the directory.
type RangeList struct {
	Name string
	// Format names the parser (see Formats).
	Format string
	// URL is the operator's own address of the file.
	URL string
	// Snapshot is a slash-separated path: under data/ for the built-in
	// directory, relative to the override file's folder for an override's
	// lists. Empty when the list has no snapshot (a refresh must fetch it).
	Snapshot string
	// Retrieved is the date (YYYY-MM-DD) the snapshot's content was
	// published or captured.
	Retrieved string
	// SnapshotSource is where the snapshot copy came from.
	SnapshotSource string

	// dir is the folder an override's Snapshot is relative to; empty for
	// the embedded data. It travels with the list through Merge, so a merged
	// directory reads each snapshot from where its file said.
	dir string
}

// Directory is the crawler directory: the crawlers, in file order, and the
// range lists they refer to.
type Directory struct {
	Version  string
	Crawlers []Entry
	Ranges   []RangeList

	// disabled names the built-in crawlers an override file switches off
	// ("disabled: true"); only an override has them.
	disabled []string
}

// Load returns the embedded directory (//go:embed data), parsed and
// validated, with every range list's snapshot present.
func Load() (*Directory, error) {
	data, err := embeddedData.ReadFile(embeddedDirectoryPath)
	if err != nil {
		return nil, fmt.Errorf("crawler: embedded directory: %w", err)
	}
	d, err := parseDirectory(data, false)
	if err != nil {
		return nil, fmt.Errorf("crawler: embedded directory: %w", err)
	}
	var problems []error
	for _, l := range d.Ranges {
		if l.Snapshot == "" {
			problems = append(problems, fmt.Errorf("range list %q: the built-in directory needs a snapshot", l.Name))
			continue
		}
		if _, err := fs.Stat(embeddedData, path.Join("data", l.Snapshot)); err != nil {
			problems = append(problems, fmt.Errorf("range list %q: snapshot: %w", l.Name, err))
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("crawler: embedded directory: %w", errors.Join(problems...))
	}
	return d, nil
}

// Parse parses and validates a directory file (strict: unknown keys, duplicate
// names, unknown categories, unknown range-list references, short or generic
// tokens, bad suffixes/origins and unknown formats are errors naming the entry
// and line). Every problem is reported, joined, not only the first. A parsed
// directory's snapshot paths are read from the embedded data.
func Parse(data []byte) (*Directory, error) {
	d, err := parseDirectory(data, false)
	if err != nil {
		return nil, fmt.Errorf("crawler: parse directory: %w", err)
	}
	return d, nil
}

// LoadOverride reads and parses an override file (path), for the policy's
// crawlers.directory setting. An override has the directory's schema, but
// every key is optional, its crawlers may refer to the built-in range lists,
// and an entry may be just "name: x, disabled: true". Its range lists'
// snapshot paths are relative to the file's folder. References are resolved
// by Merge, which validates the result as a whole.
func LoadOverride(path string) (*Directory, error) {
	data, err := readFileLimited(path, MaxDirectoryFileSize)
	if err != nil {
		return nil, fmt.Errorf("crawler: load override: %w", err)
	}
	d, err := parseDirectory(data, true)
	if err != nil {
		return nil, fmt.Errorf("crawler: load override %s: %w", path, err)
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("crawler: load override %s: %w", path, err)
	}
	for i := range d.Ranges {
		d.Ranges[i].dir = dir
	}
	return d, nil
}

// Merge returns d with the override file's entries layered over it: an entry
// or range list with an existing name replaces it in place; a new one is
// appended; an override entry with "disabled: true" removes the built-in
// entry of that name. The result is validated as a whole (references, unique
// names and tokens); d and override are not modified.
func (d *Directory) Merge(override *Directory) (*Directory, error) {
	out := d.clone()
	if override == nil {
		return out, nil
	}
	var problems []error
	for _, name := range override.disabled {
		i := slices.IndexFunc(out.Crawlers, func(e Entry) bool { return e.Name == name })
		if i < 0 {
			problems = append(problems, fmt.Errorf("crawler %q: disabled, but the directory has no such crawler", name))
			continue
		}
		out.Crawlers = slices.Delete(out.Crawlers, i, i+1)
	}
	for _, e := range override.Crawlers {
		e = e.clone()
		if i := slices.IndexFunc(out.Crawlers, func(x Entry) bool { return x.Name == e.Name }); i >= 0 {
			out.Crawlers[i] = e
		} else {
			out.Crawlers = append(out.Crawlers, e)
		}
	}
	for _, l := range override.Ranges {
		if i := slices.IndexFunc(out.Ranges, func(x RangeList) bool { return x.Name == l.Name }); i >= 0 {
			out.Ranges[i] = l
		} else {
			out.Ranges = append(out.Ranges, l)
		}
	}
	if override.Version != "" {
		out.Version = override.Version
	}
	out.disabled = nil // applied
	problems = append(problems, out.check(nil, false)...)
	if len(problems) > 0 {
		return nil, fmt.Errorf("crawler: merge override: %w", errors.Join(problems...))
	}
	return out, nil
}

// Snapshot returns the embedded snapshot bytes of the named range list (nil,
// false if none). It reads list.Snapshot under the embedded data/ folder,
// whatever directory the list came from; ReadSnapshot also serves an
// override's lists.
func Snapshot(list RangeList) ([]byte, bool) {
	if list.Snapshot == "" || !fs.ValidPath(list.Snapshot) {
		return nil, false
	}
	b, err := embeddedData.ReadFile(path.Join("data", list.Snapshot))
	if err != nil {
		return nil, false
	}
	return b, true
}

// ReadSnapshot returns the snapshot of d's range list named list.Name: from
// the embedded data for a built-in list, from the file next to the override
// file for a list an override defined (also after Merge). A missing snapshot
// is an error wrapping fs.ErrNotExist.
func (d *Directory) ReadSnapshot(list RangeList) ([]byte, error) {
	i := slices.IndexFunc(d.Ranges, func(l RangeList) bool { return l.Name == list.Name })
	if i < 0 {
		return nil, fmt.Errorf("crawler: no range list %q in the directory", list.Name)
	}
	l := d.Ranges[i]
	if l.Snapshot == "" {
		return nil, fmt.Errorf("crawler: range list %q has no snapshot: %w", l.Name, fs.ErrNotExist)
	}
	if l.dir == "" {
		b, ok := Snapshot(l)
		if !ok {
			return nil, fmt.Errorf("crawler: range list %q: embedded snapshot %s: %w", l.Name, l.Snapshot, fs.ErrNotExist)
		}
		return b, nil
	}
	b, err := readFileLimited(filepath.Join(l.dir, filepath.FromSlash(l.Snapshot)), MaxRangeFileSize)
	if err != nil {
		return nil, fmt.Errorf("crawler: range list %q: %w", l.Name, err)
	}
	return b, nil
}

// readFileLimited reads a file of at most limit bytes, without reading a
// larger one whole.
func readFileLimited(name string, limit int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than the limit of %d bytes", name, limit)
	}
	return b, nil
}

func (d *Directory) clone() *Directory {
	out := &Directory{
		Version:  d.Version,
		Crawlers: make([]Entry, len(d.Crawlers)),
		Ranges:   slices.Clone(d.Ranges),
		disabled: slices.Clone(d.disabled),
	}
	for i, e := range d.Crawlers {
		out.Crawlers[i] = e.clone()
	}
	return out
}

func (e Entry) clone() Entry {
	e.Tokens = slices.Clone(e.Tokens)
	e.Ranges = slices.Clone(e.Ranges)
	e.RDNS = slices.Clone(e.RDNS)
	e.WebBotAuth = slices.Clone(e.WebBotAuth)
	e.Sources = slices.Clone(e.Sources)
	return e
}

// directoryProblem is one thing wrong with a directory file, tied to the
// entry (and line, when known) it is about.
type directoryProblem struct {
	line  int
	where string
	msg   string
}

func (p *directoryProblem) Error() string {
	if p.line > 0 {
		return fmt.Sprintf("line %d: %s: %s", p.line, p.where, p.msg)
	}
	return p.where + ": " + p.msg
}

// directoryLines remembers where each crawler, token, range reference and
// range list sits in the file, for the whole-directory checks.
type directoryLines struct {
	crawler   []int
	tokens    [][]int
	rangeRefs [][]int
	rangeList []int
	disabled  []int
}

// fileLine returns list[i], or 0 (unknown) past its end.
func fileLine(list []int, i int) int {
	if i >= len(list) {
		return 0
	}
	return list[i]
}

func fileLineNested(list [][]int, i, j int) int {
	if i >= len(list) {
		return 0
	}
	return fileLine(list[i], j)
}

// directoryParser walks the YAML tree of a directory file, collecting every
// problem rather than stopping at the first.
type directoryParser struct {
	override bool
	problems []error
}

func (p *directoryParser) addf(line int, where, format string, args ...any) {
	p.problems = append(p.problems, &directoryProblem{line: line, where: where, msg: fmt.Sprintf(format, args...)})
}

// parseDirectory parses a directory file; override relaxes what an override
// file may leave out (see LoadOverride).
func parseDirectory(data []byte, override bool) (*Directory, error) {
	if len(data) > MaxDirectoryFileSize {
		return nil, fmt.Errorf("%d bytes, over the limit of %d", len(data), MaxDirectoryFileSize)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) == 0 {
		return nil, errors.New(`the file has no keys (it is empty, blank or only comments): more likely truncated than meant`)
	}
	p := &directoryParser{override: override}
	if !p.noAliases(doc.Content[0]) {
		return nil, errors.Join(p.problems...)
	}
	d, lines := p.file(doc.Content[0])
	p.problems = append(p.problems, d.check(lines, override)...)
	if len(p.problems) > 0 {
		return nil, errors.Join(p.problems...)
	}
	return d, nil
}

// noAliases refuses anchors and aliases: a directory has no use for them, and
// refusing them keeps the work a file can cause proportional to its size.
func (p *directoryParser) noAliases(n *yaml.Node) bool {
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		p.addf(n.Line, "file", "anchors and aliases are not supported in a directory file")
		return false
	}
	for _, c := range n.Content {
		if !p.noAliases(c) {
			return false
		}
	}
	return true
}

// yamlField is one key of a mapping and its value.
type yamlField struct {
	key, value *yaml.Node
}

// mapping returns the keys of a mapping node, reporting unknown and repeated
// keys. It reports false when n is not a mapping.
func (p *directoryParser) mapping(n *yaml.Node, where string, known ...string) (map[string]yamlField, bool) {
	if n.Kind != yaml.MappingNode {
		p.addf(n.Line, where, "must be a mapping")
		return nil, false
	}
	fields := make(map[string]yamlField, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch {
		case !slices.Contains(known, k.Value):
			msg := "unknown key"
			if k.Value == "source" && slices.Contains(known, "sources") {
				msg = `unknown key; the directory spells it "sources:" with a list of URLs`
			}
			p.addf(k.Line, where, "%s %q (known: %s)", msg, k.Value, strings.Join(known, ", "))
		case fields[k.Value].key != nil:
			p.addf(k.Line, where, "key %q repeated (first at line %d)", k.Value, fields[k.Value].key.Line)
		default:
			fields[k.Value] = yamlField{key: k, value: v}
		}
	}
	return fields, true
}

// scalar returns a scalar value; null is "".
func (p *directoryParser) scalar(f yamlField, where string) string {
	if f.value == nil || f.value.Tag == "!!null" {
		return ""
	}
	if f.value.Kind != yaml.ScalarNode {
		p.addf(f.value.Line, where, "%s must be a single value", f.key.Value)
		return ""
	}
	return f.value.Value
}

// list returns a sequence of scalars, with each one's line; null is empty.
func (p *directoryParser) list(f yamlField, where string) ([]string, []int) {
	if f.value == nil || f.value.Tag == "!!null" {
		return nil, nil
	}
	if f.value.Kind != yaml.SequenceNode {
		p.addf(f.value.Line, where, "%s must be a list, e.g. [a, b]", f.key.Value)
		return nil, nil
	}
	if len(f.value.Content) > maxEntryListLen {
		p.addf(f.value.Line, where, "%s has %d items, at most %d", f.key.Value, len(f.value.Content), maxEntryListLen)
		return nil, nil
	}
	var values []string
	var lines []int
	for i, item := range f.value.Content {
		if item.Kind != yaml.ScalarNode || item.Tag == "!!null" {
			p.addf(item.Line, where, "%s[%d] must be a single value", f.key.Value, i)
			continue
		}
		values = append(values, item.Value)
		lines = append(lines, item.Line)
	}
	return values, lines
}

func (p *directoryParser) file(root *yaml.Node) (*Directory, *directoryLines) {
	d := &Directory{}
	lines := &directoryLines{}
	fields, ok := p.mapping(root, "file", "version", "crawlers", "ranges")
	if !ok {
		return d, lines
	}
	if f, ok := fields["version"]; ok {
		d.Version = p.scalar(f, "version")
		if _, err := time.Parse(time.DateOnly, d.Version); err != nil {
			p.addf(f.value.Line, "version", "%q is not a date (YYYY-MM-DD)", d.Version)
		}
	} else if !p.override {
		p.addf(root.Line, "file", "missing key version (the date of the data, YYYY-MM-DD)")
	}
	if f, ok := fields["crawlers"]; ok {
		items := p.sequence(f, "crawlers", maxDirectoryCrawlers)
		for i, item := range items {
			p.crawler(d, lines, item, i)
		}
	} else if !p.override {
		p.addf(root.Line, "file", "missing key crawlers")
	}
	if f, ok := fields["ranges"]; ok {
		for i, item := range p.sequence(f, "ranges", maxDirectoryRangeLists) {
			p.rangeList(d, lines, item, i)
		}
	}
	return d, lines
}

func (p *directoryParser) sequence(f yamlField, where string, limit int) []*yaml.Node {
	if f.value.Tag == "!!null" {
		return nil
	}
	if f.value.Kind != yaml.SequenceNode {
		p.addf(f.value.Line, where, "must be a list")
		return nil
	}
	if len(f.value.Content) > limit {
		p.addf(f.value.Line, where, "%d items, at most %d", len(f.value.Content), limit)
		return nil
	}
	return f.value.Content
}

// itemWhere names a list item in messages: by its name when it has a
// scalar one (crawler "googlebot"), else by its index (crawlers[3]).
func itemWhere(n *yaml.Node, list, kind string, i int) string {
	if n.Kind == yaml.MappingNode {
		for j := 0; j+1 < len(n.Content); j += 2 {
			if k, v := n.Content[j], n.Content[j+1]; k.Value == "name" && v.Kind == yaml.ScalarNode && v.Value != "" {
				return fmt.Sprintf("%s %q", kind, v.Value)
			}
		}
	}
	return fmt.Sprintf("%s[%d]", list, i)
}

// crawler parses one crawlers[] item into d.
func (p *directoryParser) crawler(d *Directory, lines *directoryLines, n *yaml.Node, i int) {
	where := itemWhere(n, "crawlers", "crawler", i)
	fields, ok := p.mapping(n, where, "name", "operator", "category", "tokens", "verify", "sources", "note", "disabled")
	if !ok {
		return
	}
	var e Entry
	if f, ok := fields["name"]; ok {
		e.Name = p.scalar(f, where)
		if !validListName(e.Name) {
			p.addf(f.value.Line, where, "name %q must be lower-case letters, digits, '-' and '_', starting with a letter or digit, at most 64 characters", e.Name)
		}
	} else {
		p.addf(n.Line, where, "missing key name")
	}
	if f, ok := fields["disabled"]; ok {
		if f.value.Tag != "!!bool" {
			p.addf(f.value.Line, where, "disabled must be true or false")
		} else if f.value.Value == "true" {
			if !p.override {
				p.addf(f.key.Line, where, "disabled: true belongs in an override file, to switch off a built-in crawler; delete the entry here instead")
			}
			for k, other := range fields {
				if k != "name" && k != "disabled" && k != "note" {
					p.addf(other.key.Line, where, "a disabled entry has only name (and note); %s would be ignored", k)
				}
			}
			lines.disabled = append(lines.disabled, n.Line)
			d.disabled = append(d.disabled, e.Name)
			return
		}
	}
	if f, ok := fields["operator"]; ok {
		e.Operator = strings.TrimSpace(p.scalar(f, where))
	}
	if e.Operator == "" {
		p.addf(n.Line, where, "operator is required (the company or project that runs the crawler)")
	}
	if f, ok := fields["category"]; ok {
		s := p.scalar(f, where)
		c, ok := ParseCategory(s)
		if !ok {
			p.addf(f.value.Line, where, "unknown category %q (known: %s)", s, categoryNames())
		}
		e.Category = c
	} else {
		p.addf(n.Line, where, "missing key category")
	}
	var tokenLines []int
	if f, ok := fields["tokens"]; ok {
		var values []string
		values, tokenLines = p.list(f, where)
		for j, t := range values {
			if err := checkToken(t); err != nil {
				p.addf(tokenLines[j], where, "tokens[%d] %q: %v", j, t, err)
			}
		}
		e.Tokens = values
	}
	var refLines []int
	if f, ok := fields["verify"]; ok && f.value.Tag != "!!null" {
		refLines = p.verify(&e, f.value, where)
	}
	if f, ok := fields["sources"]; ok {
		values, ls := p.list(f, where)
		for j, s := range values {
			if err := checkPageURL(s, false); err != nil {
				p.addf(ls[j], where, "sources[%d]: %v", j, err)
			}
		}
		e.Sources = values
	}
	if len(e.Sources) == 0 {
		p.addf(n.Line, where, "sources is required: the operator's page(s) the tokens and verification come from")
	}
	if f, ok := fields["note"]; ok {
		e.Note = strings.TrimSpace(p.scalar(f, where))
	}
	d.Crawlers = append(d.Crawlers, e)
	lines.crawler = append(lines.crawler, n.Line)
	lines.tokens = append(lines.tokens, tokenLines)
	lines.rangeRefs = append(lines.rangeRefs, refLines)
}

// verify parses an entry's verify: block, returning the line of each range
// reference.
func (p *directoryParser) verify(e *Entry, n *yaml.Node, where string) []int {
	fields, ok := p.mapping(n, where+".verify", "ranges", "rdns", "web_bot_auth")
	if !ok {
		return nil
	}
	var refLines []int
	if f, ok := fields["ranges"]; ok {
		e.Ranges, refLines = p.list(f, where)
		for j, r := range e.Ranges {
			if slices.Index(e.Ranges, r) != j {
				p.addf(refLines[j], where, "verify.ranges lists %q twice", r)
			}
		}
	}
	if f, ok := fields["rdns"]; ok {
		values, ls := p.list(f, where)
		for j, s := range values {
			suffix, err := normalizeSuffix(s)
			if err != nil {
				p.addf(ls[j], where, "verify.rdns[%d] %q: %v", j, s, err)
				continue
			}
			if slices.Contains(e.RDNS, suffix) {
				p.addf(ls[j], where, "verify.rdns lists %q twice", suffix)
				continue
			}
			e.RDNS = append(e.RDNS, suffix)
		}
	}
	if f, ok := fields["web_bot_auth"]; ok {
		values, ls := p.list(f, where)
		for j, s := range values {
			origin, err := normalizeOrigin(s)
			if err != nil {
				p.addf(ls[j], where, "verify.web_bot_auth[%d] %q: %v", j, s, err)
				continue
			}
			if slices.Contains(e.WebBotAuth, origin) {
				p.addf(ls[j], where, "verify.web_bot_auth lists %q twice", origin)
				continue
			}
			e.WebBotAuth = append(e.WebBotAuth, origin)
		}
	}
	return refLines
}

// rangeList parses one ranges[] item into d.
func (p *directoryParser) rangeList(d *Directory, lines *directoryLines, n *yaml.Node, i int) {
	where := itemWhere(n, "ranges", "range list", i)
	fields, ok := p.mapping(n, where, "name", "format", "url", "snapshot", "retrieved", "snapshot_source")
	if !ok {
		return
	}
	var l RangeList
	if f, ok := fields["name"]; ok {
		l.Name = p.scalar(f, where)
		if !validListName(l.Name) {
			p.addf(f.value.Line, where, "name %q must be lower-case letters, digits, '-' and '_', starting with a letter or digit, at most 64 characters", l.Name)
		}
	} else {
		p.addf(n.Line, where, "missing key name")
	}
	if f, ok := fields["format"]; ok {
		l.Format = p.scalar(f, where)
		if _, ok := rangeFormatByName(l.Format); !ok {
			p.addf(f.value.Line, where, "unknown format %q (known: %s)", l.Format, strings.Join(Formats(), ", "))
		}
	} else {
		p.addf(n.Line, where, "missing key format")
	}
	if f, ok := fields["url"]; ok {
		l.URL = p.scalar(f, where)
		if err := checkPageURL(l.URL, true); err != nil {
			p.addf(f.value.Line, where, "url: %v", err)
		}
	} else {
		p.addf(n.Line, where, "missing key url (the operator's own address of the file, which a refresh fetches)")
	}
	if f, ok := fields["snapshot"]; ok {
		l.Snapshot = p.scalar(f, where)
		if !fs.ValidPath(l.Snapshot) || l.Snapshot == "." || strings.Contains(l.Snapshot, `\`) {
			p.addf(f.value.Line, where, "snapshot %q must be a relative slash-separated path without . or .. elements", l.Snapshot)
		}
	}
	if f, ok := fields["retrieved"]; ok {
		l.Retrieved = p.scalar(f, where)
		if _, err := time.Parse(time.DateOnly, l.Retrieved); err != nil {
			p.addf(f.value.Line, where, "retrieved %q is not a date (YYYY-MM-DD)", l.Retrieved)
		}
	}
	if f, ok := fields["snapshot_source"]; ok {
		l.SnapshotSource = p.scalar(f, where)
		if err := checkPageURL(l.SnapshotSource, true); err != nil {
			p.addf(f.value.Line, where, "snapshot_source: %v", err)
		}
	}
	if l.Snapshot != "" && (l.Retrieved == "" || l.SnapshotSource == "") {
		p.addf(n.Line, where, "a snapshot needs retrieved (its date) and snapshot_source (where the copy came from)")
	}
	d.Ranges = append(d.Ranges, l)
	lines.rangeList = append(lines.rangeList, n.Line)
}

// check applies the rules that span entries: unique names and tokens,
// resolvable range references, and that each crawler can be recognised. An
// override (partial) may refer to range lists it does not define.
func (d *Directory) check(lines *directoryLines, partial bool) []error {
	if lines == nil {
		lines = &directoryLines{} // a merged directory: no file lines
	}
	var problems []error
	add := func(line int, where, format string, args ...any) {
		problems = append(problems, &directoryProblem{line: line, where: where, msg: fmt.Sprintf(format, args...)})
	}
	if !partial && len(d.Crawlers) == 0 {
		add(0, "crawlers", "the directory has no crawler")
	}
	rangeAt := make(map[string]int, len(d.Ranges))
	for i, l := range d.Ranges {
		if j, dup := rangeAt[l.Name]; dup {
			add(fileLine(lines.rangeList, i), fmt.Sprintf("range list %q", l.Name), "name used twice (first at ranges[%d])", j)
			continue
		}
		rangeAt[l.Name] = i
	}
	crawlerAt := make(map[string]int, len(d.Crawlers))
	for i, name := range d.disabled {
		if _, dup := crawlerAt[name]; dup {
			add(fileLine(lines.disabled, i), fmt.Sprintf("crawler %q", name), "disabled twice")
		}
		crawlerAt[name] = -1
	}
	type tokenOwner struct {
		entry int
		token string
	}
	tokenAt := make(map[string]tokenOwner)
	for i, e := range d.Crawlers {
		where := fmt.Sprintf("crawler %q", e.Name)
		line := fileLine(lines.crawler, i)
		if j, dup := crawlerAt[e.Name]; dup {
			if j < 0 {
				add(line, where, "both disabled and defined in the same file")
			} else {
				add(line, where, "name used twice (first at crawlers[%d])", j)
			}
		} else {
			crawlerAt[e.Name] = i
		}
		if len(e.Tokens) == 0 && len(e.WebBotAuth) == 0 {
			add(line, where, "no tokens: a crawler is recognised by a user-agent token, or by its Web Bot Auth signature when its user agent is a browser's")
		}
		for j, t := range e.Tokens {
			key := strings.ToLower(t)
			if owner, dup := tokenAt[key]; dup {
				if owner.entry == i {
					add(fileLineNested(lines.tokens, i, j), where, "token %q listed twice", t)
				} else {
					add(fileLineNested(lines.tokens, i, j), where, "token %q is already crawler %q's; a user agent must point to one crawler", t, d.Crawlers[owner.entry].Name)
				}
				continue
			}
			tokenAt[key] = tokenOwner{entry: i, token: t}
		}
		if partial {
			continue
		}
		for j, r := range e.Ranges {
			if _, ok := rangeAt[r]; !ok {
				add(fileLineNested(lines.rangeRefs, i, j), where, "verify.ranges refers to %q, which is not a range list of the directory", r)
			}
		}
	}
	return problems
}

func categoryNames() string {
	var b strings.Builder
	for i, c := range Categories() {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(string(c))
	}
	return b.String()
}

// validListName reports whether s is a crawler or range list name:
// [a-z0-9][a-z0-9_-]*, at most 64 bytes (it becomes a metrics label value).
func validListName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '-' || c == '_') && i > 0:
		default:
			return false
		}
	}
	return true
}

// referenceBrowserUserAgents are current user agents of the major browsers,
// lower-cased. A token found inside one of them would match people, not the
// crawler ("Mozilla", "Safari", "AppleWebKit", "Windows").
const referenceBrowserUserAgents = "" +
	"mozilla/5.0 (windows nt 10.0; win64; x64) applewebkit/537.36 (khtml, like gecko) chrome/131.0.0.0 safari/537.36 edg/131.0.0.0\n" +
	"mozilla/5.0 (macintosh; intel mac os x 10_15_7) applewebkit/605.1.15 (khtml, like gecko) version/18.1 safari/605.1.15\n" +
	"mozilla/5.0 (iphone; cpu iphone os 18_1 like mac os x) applewebkit/605.1.15 (khtml, like gecko) version/18.1 mobile/15e148 safari/604.1\n" +
	"mozilla/5.0 (linux; android 10; k) applewebkit/537.36 (khtml, like gecko) chrome/131.0.0.0 mobile safari/537.36\n" +
	"mozilla/5.0 (x11; linux x86_64; rv:133.0) gecko/20100101 firefox/133.0\n" +
	"mozilla/5.0 (windows nt 10.0; win64; x64) applewebkit/537.36 (khtml, like gecko) chrome/131.0.0.0 safari/537.36 opr/115.0.0.0\n"

// checkToken refuses a token that is too short or too common to name one
// crawler: matched as a substring of every user agent, a short or generic
// token would claim ordinary clients for a crawler.
func checkToken(t string) error {
	if t != strings.TrimSpace(t) {
		return errors.New("leading or trailing spaces")
	}
	if len(t) < 5 {
		return errors.New("shorter than 5 characters: too likely to occur in unrelated user agents")
	}
	if len(t) > 128 {
		return errors.New("longer than 128 characters")
	}
	for i := 0; i < len(t); i++ {
		if t[i] < 0x20 || t[i] > 0x7e {
			return errors.New("only printable ASCII can occur in a User-Agent header")
		}
	}
	lower := strings.ToLower(t)
	switch lower {
	// Vendor and generic words that appear in many unrelated clients'
	// user agents (the Google app, "like FeedFetcher-Google", libraries).
	case "google", "apple", "amazon", "microsoft", "facebook", "yahoo", "crawler", "spider", "robot",
		"fetcher", "python", "compatible", "headless":
		return errors.New("a generic word, not a crawler's product token")
	}
	if strings.Contains(referenceBrowserUserAgents, lower) {
		return errors.New("occurs in ordinary browsers' user agents")
	}
	return nil
}

// normalizeSuffix returns a host-name suffix lower-cased, without a leading
// dot (".search.msn.com" as some operators write it) or the root's trailing
// dot, and refuses one that is not a host name of at least two labels: a
// suffix "com" would accept any .com host.
func normalizeSuffix(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.TrimPrefix(s, ".")
	s = strings.TrimSuffix(s, ".")
	if s == "" {
		return "", errors.New("empty")
	}
	if len(s) > 253 {
		return "", errors.New("longer than a host name can be")
	}
	if !strings.Contains(s, ".") {
		return "", errors.New("a single label would match every host under a top-level domain")
	}
	if err := checkHostLabels(s); err != nil {
		return "", err
	}
	if _, err := strconv.Atoi(s[strings.LastIndexByte(s, '.')+1:]); err == nil {
		return "", errors.New("an IP address, not a host name")
	}
	return s, nil
}

// checkHostLabels checks a lower-case host name's labels: letters, digits
// and inner hyphens, 1 to 63 characters each.
func checkHostLabels(s string) error {
	for _, l := range strings.Split(s, ".") {
		if l == "" || len(l) > 63 {
			return fmt.Errorf("label %q must be 1 to 63 characters", l)
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return fmt.Errorf("label %q starts or ends with '-'", l)
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Errorf("label %q has %q; a host name is letters, digits and '-' (no wildcards)", l, c)
			}
		}
	}
	return nil
}

// normalizeOrigin returns a Web Bot Auth Signature-Agent origin as
// "https://host[:port]": lower-case host, no path, no trailing slash, no
// default port. Anything but a bare https origin is refused: the origin names
// whose key directory (/.well-known/http-message-signatures-directory) signs
// for the crawler.
func normalizeOrigin(s string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil {
		return "", errors.New("not a URL")
	}
	if !strings.EqualFold(u.Scheme, "https") {
		return "", errors.New(`must be an https origin, e.g. "https://chatgpt.com"`)
	}
	if u.Opaque != "" || u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || (u.Path != "" && u.Path != "/") {
		return "", errors.New("an origin has no path, query, fragment or user")
	}
	host := strings.ToLower(u.Hostname())
	switch {
	case host == "":
		return "", errors.New("no host")
	case strings.Contains(host, ":"):
		if ip := net.ParseIP(host); ip == nil {
			return "", fmt.Errorf("bad host %q", host)
		}
		host = "[" + host + "]"
	case net.ParseIP(host) == nil:
		if err := checkHostLabels(host); err != nil {
			return "", fmt.Errorf("host: %v", err)
		}
	}
	if port := u.Port(); port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("bad port %q", port)
		}
		if n != 443 {
			host += ":" + strconv.Itoa(n)
		}
	}
	return "https://" + host, nil
}

// checkPageURL accepts an absolute http(s) URL with a host; httpsOnly for the
// addresses a refresh fetches or a reviewer follows to a commit.
func checkPageURL(s string, httpsOnly bool) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil {
		return fmt.Errorf("%q is not an absolute URL", s)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !httpsOnly {
			return nil
		}
		fallthrough
	default:
		if httpsOnly {
			return fmt.Errorf("%q must be an https URL", s)
		}
		return fmt.Errorf("%q must be an http or https URL", s)
	}
	return nil
}
