package reputation

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// hostingYAML is the built-in list, data/hosting_asns.yaml.
//
//go:embed data/hosting_asns.yaml
var hostingYAML string

// maxHostingFile bounds an operator's hosting list file: a list of every
// hosting network on the Internet is a few thousand lines.
const maxHostingFile = 4 << 20

// HostingList says which autonomous systems belong to large cloud and
// hosting providers. It is immutable.
type HostingList struct {
	operators map[uint32]string
}

// hostingFile is the schema of data/hosting_asns.yaml and of an operator's
// file.
type hostingFile struct {
	Version string         `yaml:"version"`
	ASNs    []hostingEntry `yaml:"asns"`
}

type hostingEntry struct {
	ASN      uint32 `yaml:"asn"`
	Operator string `yaml:"operator"`
	Source   string `yaml:"source"`
	Note     string `yaml:"note"`
	Disabled bool   `yaml:"disabled"`
}

// HostingASNs returns the built-in list (data/hosting_asns.yaml, each
// number with the provider's page that states it).
func HostingASNs() (*HostingList, error) {
	return LoadHostingASNs()
}

// LoadHostingASNs returns the built-in list extended by the operator's
// files, applied in order. A file has the built-in schema, with source
// optional: an entry adds a number (or renames one already listed), and an
// entry with "disabled: true" removes one. A file that does not parse, or
// that disables a number that is not listed, is an error: the list is read
// with the policy, and a typo must fail the policy load, not pass unseen.
func LoadHostingASNs(paths ...string) (*HostingList, error) {
	l := &HostingList{operators: make(map[uint32]string)}
	if err := l.apply([]byte(hostingYAML), true); err != nil {
		return nil, fmt.Errorf("reputation: built-in hosting list: %w", err)
	}
	for _, p := range paths {
		data, err := readFile(p, maxHostingFile)
		if err != nil {
			return nil, fmt.Errorf("reputation: hosting list: %w", err)
		}
		if err := l.apply(data, false); err != nil {
			return nil, fmt.Errorf("reputation: hosting list %s: %w", p, err)
		}
	}
	return l, nil
}

// apply merges one file into l. builtIn files must date themselves and
// source every number, and may not disable any.
func (l *HostingList) apply(data []byte, builtIn bool) error {
	var f hostingFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return err
	}
	if f.Version != "" || builtIn {
		if _, err := time.Parse(time.DateOnly, f.Version); err != nil {
			return fmt.Errorf("version %q: want YYYY-MM-DD", f.Version)
		}
	}
	if len(f.ASNs) == 0 {
		return errors.New("asns: no entry")
	}
	seen := make(map[uint32]bool, len(f.ASNs))
	for i, e := range f.ASNs {
		where := fmt.Sprintf("asns[%d] (AS%d)", i, e.ASN)
		if reservedASN(e.ASN) {
			return fmt.Errorf("%s: not a public autonomous system number", where)
		}
		if seen[e.ASN] {
			return fmt.Errorf("%s: listed twice", where)
		}
		seen[e.ASN] = true
		if e.Disabled {
			if builtIn {
				return fmt.Errorf("%s: the built-in list disables nothing", where)
			}
			if _, ok := l.operators[e.ASN]; !ok {
				return fmt.Errorf("%s: disabled, but not listed", where)
			}
			delete(l.operators, e.ASN)
			continue
		}
		if strings.TrimSpace(e.Operator) == "" {
			return fmt.Errorf("%s: no operator", where)
		}
		if e.Source != "" && !strings.HasPrefix(e.Source, "https://") && !strings.HasPrefix(e.Source, "http://") {
			return fmt.Errorf("%s: source %q is not a URL", where, clip(e.Source))
		}
		if builtIn && e.Source == "" {
			return fmt.Errorf("%s: no source", where)
		}
		l.operators[e.ASN] = e.Operator
	}
	return nil
}

// reservedASN reports numbers no public network announces: 0, AS_TRANS,
// the documentation and private-use ranges and the last numbers of each
// space (IANA's Autonomous System Numbers registry; RFC 5398, RFC 6996,
// RFC 7300).
func reservedASN(asn uint32) bool {
	switch {
	case asn == 0, asn == 23456:
		return true
	case asn >= 64496 && asn <= 65551:
		return true // documentation (64496–64511, 65536–65551), private, 65535
	case asn >= 4200000000:
		return true // private 4200000000–4294967294, and 4294967295
	}
	return false
}

// IsHosting reports whether asn belongs to a listed provider.
func (l *HostingList) IsHosting(asn uint32) bool {
	if l == nil {
		return false
	}
	_, ok := l.operators[asn]
	return ok
}

// Operator returns who runs asn, or "" when it is not listed.
func (l *HostingList) Operator(asn uint32) string {
	if l == nil {
		return ""
	}
	return l.operators[asn]
}

// Len returns the number of listed autonomous systems.
func (l *HostingList) Len() int {
	if l == nil {
		return 0
	}
	return len(l.operators)
}
