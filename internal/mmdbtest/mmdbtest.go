// Package mmdbtest writes MMDB ASN databases (the GeoLite2-ASN shape) for
// tests, with MaxMind's maintained writer, github.com/maxmind/mmdbwriter.
package mmdbtest

import (
	"bytes"
	"net"
	"os"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// ASN is one network of a test database.
type ASN struct {
	Network string // a CIDR prefix
	// Number is autonomous_system_number; 0 leaves the key out.
	Number       uint32
	Organization string
}

// Image is a database of type dbType ("GeoLite2-ASN") holding records.
func Image(t testing.TB, dbType string, records []ASN) []byte {
	t.Helper()
	w, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: dbType, RecordSize: 28, IncludeReservedNetworks: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range records {
		_, n, err := net.ParseCIDR(r.Network)
		if err != nil {
			t.Fatal(err)
		}
		m := mmdbtype.Map{"autonomous_system_organization": mmdbtype.String(r.Organization)}
		if r.Number != 0 {
			m["autonomous_system_number"] = mmdbtype.Uint32(r.Number)
		}
		if err := w.Insert(n, m); err != nil {
			t.Fatal(err)
		}
	}
	var b bytes.Buffer
	if _, err := w.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// Write puts a database at path by rename, as a file botauthz watches
// should be replaced.
func Write(t testing.TB, path, dbType string, records []ASN) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, Image(t, dbType, records), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}
