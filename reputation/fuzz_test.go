package reputation

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// FuzzParse feeds arbitrary bytes to every format's parser. Whatever
// parses must be non-empty and canonical, and must parse back to the same
// prefixes once written out as a plain list (as a Tor list when every
// prefix is a single address).
func FuzzParse(f *testing.F) {
	formats := Formats()
	index := func(format string) uint8 { return uint8(slices.Index(formats, format)) }
	seeds := map[string][]string{
		formatPlain: {"", "#\n", "192.0.2.1\r\n2001:db8::/32 # x\n", "::ffff:1.2.3.4\n; y\n", "fe80::1%eth0", "10.0.0.1/8\n10.0.0.0/8", "0.0.0.0/0"},
		formatAWS: {
			`{"prefixes":[{"ip_prefix":"3.5.140.0/22"}],"ipv6_prefixes":[{"ipv6_prefix":"2600:1f18::/33"}]}`,
			`{"prefixes":[{"ip_prefix":3}]}`, `{"prefixes":null}`, `[]`,
		},
		formatGCP: {
			`{"prefixes":[{"ipv4Prefix":"34.1.208.0/20"},{"ipv6Prefix":"::ffff:1.2.3.0/120"}]}`,
			`{"prefixes":[{}]}`, `{"prefixes":{}}`,
		},
		formatAzure: {
			`{"values":[{"name":"A","properties":{"addressPrefixes":["4.145.74.52/30","2603:1000:4::10c/126"]}}]}`,
			`{"values":[{"name":"A","properties":{}}]}`, `{"values":[null]}`,
		},
		formatTor: {
			"185.220.101.4\n", "ExitNode FE39F07EBE7870DCE124AB30DF3ABD0700A43F75\nPublished 2024-03-11 13:07:19\nExitAddress 185.241.208.232 2024-03-12 08:10:51\n",
			"ExitAddress 1.2.3.4 2024-03-12\n",
		},
	}
	for format, ss := range seeds {
		for _, s := range ss {
			f.Add(index(format), []byte(s))
		}
	}
	// The head of each real file, so that the fuzzer starts from the
	// published shapes (the whole files are too large to mutate usefully).
	for format, name := range map[string]string{
		formatAWS: "aws-ip-ranges.json", formatGCP: "gcp-cloud.json", formatAzure: "azure-servicetags-excerpt.json",
		formatTor: "tor-exit-addresses",
	} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(index(format), data[:min(len(data), 2048)])
	}
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		format := formats[int(which)%len(formats)]
		got, err := Parse(format, bytes.NewReader(data))
		if err != nil {
			return
		}
		if len(got) == 0 {
			t.Fatal("no prefix and no error")
		}
		assertCanonical(t, got)
		var text bytes.Buffer
		addresses := true
		for _, p := range got {
			text.WriteString(p.String())
			text.WriteByte('\n')
			addresses = addresses && p.IsSingleIP()
		}
		again, err := Parse(formatPlain, bytes.NewReader(text.Bytes()))
		if err != nil || !slices.Equal(again, got) {
			t.Fatalf("plain round trip: %v, %v; want %v", again, err, got)
		}
		if addresses {
			text.Reset()
			for _, p := range got {
				text.WriteString(p.Addr().String())
				text.WriteByte('\n')
			}
			again, err := Parse(formatTor, bytes.NewReader(text.Bytes()))
			if err != nil || !slices.Equal(again, got) {
				t.Fatalf("tor round trip: %v, %v; want %v", again, err, got)
			}
		}
		if format == formatTor && !addresses {
			t.Fatalf("a Tor list gave prefixes: %v", got)
		}
	})
}
