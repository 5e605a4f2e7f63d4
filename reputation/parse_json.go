package reputation

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
)

// The JSON formats decode only the keys they read; every other key (AWS's
// region and service, Google's scope, Azure's systemService, …) is allowed
// and ignored, as the publishers add keys over time. Pointers tell a
// missing key or a null from an empty value.

// awsFile is AWS's ip-ranges.json. Every service's prefixes are taken: the
// file's "AMAZON" service is the superset of the others anyway.
type awsFile struct {
	Prefixes *[]struct {
		IPPrefix *string `json:"ip_prefix"`
	} `json:"prefixes"`
	IPv6Prefixes *[]struct {
		IPv6Prefix *string `json:"ipv6_prefix"`
	} `json:"ipv6_prefixes"`
}

func parseAWS(data []byte) ([]netip.Prefix, error) {
	var f awsFile
	if err := decodeJSON(data, &f); err != nil {
		return nil, err
	}
	if f.Prefixes == nil {
		return nil, errors.New(`no "prefixes" array`)
	}
	var out []netip.Prefix
	for i, e := range *f.Prefixes {
		if e.IPPrefix == nil {
			return nil, fmt.Errorf("prefixes[%d]: no ip_prefix", i)
		}
		p, err := parseFamily(*e.IPPrefix, false)
		if err != nil {
			return nil, fmt.Errorf("prefixes[%d].ip_prefix: %w", i, err)
		}
		out = append(out, p)
	}
	// ipv6_prefixes may be absent: an operator's trimmed copy may hold
	// IPv4 only.
	if f.IPv6Prefixes != nil {
		for i, e := range *f.IPv6Prefixes {
			if e.IPv6Prefix == nil {
				return nil, fmt.Errorf("ipv6_prefixes[%d]: no ipv6_prefix", i)
			}
			p, err := parseFamily(*e.IPv6Prefix, true)
			if err != nil {
				return nil, fmt.Errorf("ipv6_prefixes[%d].ipv6_prefix: %w", i, err)
			}
			out = append(out, p)
		}
	}
	return out, nil
}

// gcpFile is Google Cloud's cloud.json: one family per element.
type gcpFile struct {
	Prefixes *[]struct {
		IPv4 *string `json:"ipv4Prefix"`
		IPv6 *string `json:"ipv6Prefix"`
	} `json:"prefixes"`
}

func parseGCP(data []byte) ([]netip.Prefix, error) {
	var f gcpFile
	if err := decodeJSON(data, &f); err != nil {
		return nil, err
	}
	if f.Prefixes == nil {
		return nil, errors.New(`no "prefixes" array`)
	}
	out := make([]netip.Prefix, 0, len(*f.Prefixes))
	for i, e := range *f.Prefixes {
		var (
			p   netip.Prefix
			err error
		)
		switch {
		case e.IPv4 != nil && e.IPv6 != nil:
			return nil, fmt.Errorf("prefixes[%d]: both ipv4Prefix and ipv6Prefix", i)
		case e.IPv4 != nil:
			if p, err = parseFamily(*e.IPv4, false); err != nil {
				return nil, fmt.Errorf("prefixes[%d].ipv4Prefix: %w", i, err)
			}
		case e.IPv6 != nil:
			if p, err = parseFamily(*e.IPv6, true); err != nil {
				return nil, fmt.Errorf("prefixes[%d].ipv6Prefix: %w", i, err)
			}
		default:
			return nil, fmt.Errorf("prefixes[%d]: neither ipv4Prefix nor ipv6Prefix", i)
		}
		out = append(out, p)
	}
	return out, nil
}

// azureFile is Azure's Service Tags file. Each value is a tag; its
// addressPrefixes mix both families, so no family is fixed per key. A tag
// with an empty list is fine (some are), a tag without one is not.
type azureFile struct {
	Values *[]struct {
		Name       string `json:"name"`
		Properties *struct {
			AddressPrefixes *[]*string `json:"addressPrefixes"`
		} `json:"properties"`
	} `json:"values"`
}

func parseAzure(data []byte) ([]netip.Prefix, error) {
	var f azureFile
	if err := decodeJSON(data, &f); err != nil {
		return nil, err
	}
	if f.Values == nil {
		return nil, errors.New(`no "values" array`)
	}
	var out []netip.Prefix
	for i, v := range *f.Values {
		where := fmt.Sprintf("values[%d] (%q)", i, clip(v.Name))
		if v.Properties == nil {
			return nil, fmt.Errorf("%s: no properties", where)
		}
		if v.Properties.AddressPrefixes == nil {
			return nil, fmt.Errorf("%s: no properties.addressPrefixes", where)
		}
		for j, s := range *v.Properties.AddressPrefixes {
			if s == nil {
				return nil, fmt.Errorf("%s.properties.addressPrefixes[%d]: null", where, j)
			}
			p, err := parsePrefix(*s)
			if err != nil {
				return nil, fmt.Errorf("%s.properties.addressPrefixes[%d]: %w", where, j, err)
			}
			out = append(out, p)
		}
	}
	return out, nil
}

// decodeJSON decodes a JSON object into v, saying on which line a syntax or
// type error is (encoding/json reports a byte offset only).
func decodeJSON(data []byte, v any) error {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return errors.New("empty file")
	}
	if trimmed[0] != '{' {
		return errors.New("not a JSON object")
	}
	if err := json.Unmarshal(data, v); err != nil {
		return withLine(data, err)
	}
	return nil
}

func withLine(data []byte, err error) error {
	if syn, ok := errors.AsType[*json.SyntaxError](err); ok {
		return fmt.Errorf("line %d: %s", lineAt(data, syn.Offset), syn.Error())
	}
	if typ, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		field := typ.Field
		if field == "" {
			field = "value"
		}
		return fmt.Errorf("line %d: %s: a JSON %s where %s was expected", lineAt(data, typ.Offset), field, typ.Value, kindName(typ.Type))
	}
	return err
}

// kindName says what Go type a JSON value was decoded into, in JSON's words.
func kindName(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Struct:
		return "an object"
	case reflect.Slice:
		return "an array"
	case reflect.Pointer:
		return kindName(t.Elem())
	}
	return "another type"
}

func lineAt(data []byte, offset int64) int {
	offset = min(max(offset, 0), int64(len(data)))
	return bytes.Count(data[:offset], []byte{'\n'}) + 1
}
