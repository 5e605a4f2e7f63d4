package reputation

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/botauthz/botauthz/internal/mmdbtest"
)

// asnRecord is one network of a test database.
type asnRecord struct {
	network string
	asn     uint32 // 0: no autonomous_system_number key
	org     string
}

// mmdbImage writes a database of the given type with mmdbwriter.
func mmdbImage(t testing.TB, dbType string, records []asnRecord) []byte {
	t.Helper()
	return mmdbtest.Image(t, dbType, asns(records))
}

// writeMMDB puts a database at path by rename.
func writeMMDB(t testing.TB, path, dbType string, records []asnRecord) {
	t.Helper()
	mmdbtest.Write(t, path, dbType, asns(records))
}

func asns(records []asnRecord) []mmdbtest.ASN {
	out := make([]mmdbtest.ASN, len(records))
	for i, r := range records {
		out[i] = mmdbtest.ASN{Network: r.network, Number: r.asn, Organization: r.org}
	}
	return out
}

var testASNRecords = []asnRecord{
	{"192.0.2.0/24", 64500, "Example Hosting"},
	{"198.51.100.0/25", 16509, "AMAZON-02"},
	{"2001:db8::/32", 64501, "Example IPv6"},
	{"203.0.113.0/24", 0, "Organization without a number"},
}

func TestASNLookup(t *testing.T) {
	path := filepath.Join(t.TempDir(), "GeoLite2-ASN.mmdb")
	writeMMDB(t, path, "GeoLite2-ASN", testASNRecords)
	db, err := OpenASN(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tests := []struct {
		ip  string
		asn uint32
		org string
	}{
		{"192.0.2.77", 64500, "Example Hosting"},
		{"::ffff:192.0.2.77", 64500, "Example Hosting"},
		{"198.51.100.1", 16509, "AMAZON-02"},
		{"198.51.100.200", 0, ""}, // outside the /25
		{"2001:db8:1::1", 64501, "Example IPv6"},
		{"203.0.113.5", 0, "Organization without a number"},
		{"2001:db9::1", 0, ""},
		{"10.0.0.1", 0, ""},
	}
	for _, tt := range tests {
		ip := netip.MustParseAddr(tt.ip)
		asn, ok := db.Lookup(ip)
		if asn != tt.asn || ok != (tt.asn != 0) {
			t.Errorf("Lookup(%s) = %d, %v; want %d", tt.ip, asn, ok, tt.asn)
		}
		if org := db.Organization(ip); org != tt.org {
			t.Errorf("Organization(%s) = %q, want %q", tt.ip, org, tt.org)
		}
	}
	if asn, ok := db.Lookup(netip.Addr{}); ok || asn != 0 {
		t.Errorf("invalid address: %d, %v", asn, ok)
	}
	st := db.State()
	if st.DatabaseType != "GeoLite2-ASN" || st.Path != path || st.Loaded.IsZero() || st.BuildTime.IsZero() || st.LastError != "" {
		t.Errorf("state: %+v", st)
	}
}

func TestASNLookupDoesNotAllocate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "asn.mmdb")
	writeMMDB(t, path, "GeoLite2-ASN", testASNRecords)
	db, err := OpenASN(path)
	if err != nil {
		t.Fatal(err)
	}
	ips := []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("::ffff:198.51.100.1"), netip.MustParseAddr("10.0.0.1")}
	var sink uint32
	if n := testing.AllocsPerRun(1000, func() {
		for _, ip := range ips {
			asn, _ := db.Lookup(ip)
			sink += asn
		}
	}); n != 0 {
		t.Fatalf("%v allocations per lookup round", n)
	}
}

// TestASNIPv4Database: an IPv4-only database answers IPv4 and mapped
// addresses, and IPv6 ones with a miss rather than an error.
func TestASNIPv4Database(t *testing.T) {
	w, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "GeoLite2-ASN", IPVersion: 4, RecordSize: 24, IncludeReservedNetworks: true})
	if err != nil {
		t.Fatal(err)
	}
	_, n, _ := net.ParseCIDR("192.0.2.0/24")
	if err := w.Insert(n, mmdbtype.Map{"autonomous_system_number": mmdbtype.Uint32(64500)}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "v4.mmdb")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	db, err := OpenASN(path)
	if err != nil {
		t.Fatal(err)
	}
	for ip, want := range map[string]uint32{"192.0.2.9": 64500, "::ffff:192.0.2.9": 64500, "2001:db8::1": 0} {
		if asn, _ := db.Lookup(netip.MustParseAddr(ip)); asn != want {
			t.Errorf("%s: %d, want %d", ip, asn, want)
		}
	}
}

func TestOpenASNRefuses(t *testing.T) {
	dir := t.TempDir()
	city := filepath.Join(dir, "city.mmdb")
	{
		w, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "GeoLite2-City", IncludeReservedNetworks: true})
		if err != nil {
			t.Fatal(err)
		}
		_, n, _ := net.ParseCIDR("192.0.2.0/24")
		if err := w.Insert(n, mmdbtype.Map{"country": mmdbtype.Map{"iso_code": mmdbtype.String("DE")}}); err != nil {
			t.Fatal(err)
		}
		f, err := os.Create(city)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.WriteTo(f); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	stringASN := filepath.Join(dir, "string-asn.mmdb")
	{
		w, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "GeoLite2-ASN", IncludeReservedNetworks: true})
		if err != nil {
			t.Fatal(err)
		}
		_, n, _ := net.ParseCIDR("192.0.2.0/24")
		if err := w.Insert(n, mmdbtype.Map{"autonomous_system_number": mmdbtype.String("AS64500")}); err != nil {
			t.Fatal(err)
		}
		f, err := os.Create(stringASN)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.WriteTo(f); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	noNumbers := filepath.Join(dir, "no-numbers.mmdb")
	writeMMDB(t, noNumbers, "GeoLite2-ASN", []asnRecord{{"192.0.2.0/24", 0, "Org only"}})
	garbage := filepath.Join(dir, "garbage.mmdb")
	writeFile(t, garbage, "this is not a database\n")
	truncated := filepath.Join(dir, "truncated.mmdb")
	image := mmdbImage(t, "GeoLite2-ASN", testASNRecords)
	if err := os.WriteFile(truncated, image[:len(image)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	tests := map[string]string{
		city:                              `no record has autonomous_system_number (type "GeoLite2-City")`,
		stringASN:                         "record of 192.0.2.0/24",
		noNumbers:                         "no record has autonomous_system_number",
		garbage:                           "open ASN database " + garbage,
		truncated:                         "open ASN database " + truncated,
		filepath.Join(dir, "absent.mmdb"): "no such file",
	}
	for path, want := range tests {
		db, err := OpenASN(path)
		if err == nil {
			db.Close()
			t.Errorf("%s: opened", filepath.Base(path))
			continue
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %q does not contain %q", filepath.Base(path), err, want)
		}
	}
}

// TestOpenASNTrustsTheRecordsNotTheType: a database of another name with
// the ASN record shape (as DB-IP and others publish) is accepted.
func TestOpenASNTrustsTheRecordsNotTheType(t *testing.T) {
	path := filepath.Join(t.TempDir(), "compatible.mmdb")
	writeMMDB(t, path, "Example-Compatible-Lite", testASNRecords)
	db, err := OpenASN(path)
	if err != nil {
		t.Fatal(err)
	}
	if asn, ok := db.Lookup(netip.MustParseAddr("192.0.2.1")); !ok || asn != 64500 {
		t.Errorf("got %d, %v", asn, ok)
	}
}

func TestASNReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "GeoLite2-ASN.mmdb")
	writeMMDB(t, path, "GeoLite2-ASN", testASNRecords)
	db, err := OpenASN(path)
	if err != nil {
		t.Fatal(err)
	}
	var r reloads
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		db.Run(ctx, Options{Refresh: time.Hour, Settle: 20 * time.Millisecond, OnReload: r.record})
	}()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	}()
	ip := netip.MustParseAddr("192.0.2.1")

	writeMMDB(t, path, "GeoLite2-ASN", []asnRecord{{"192.0.2.0/24", 64502, "Renumbered"}})
	waitFor(t, "the new database", func() bool { asn, _ := db.Lookup(ip); return asn == 64502 })
	if db.Organization(ip) != "Renumbered" {
		t.Errorf("organization: %q", db.Organization(ip))
	}

	// A broken file keeps the database in force.
	if err := os.WriteFile(path+".tmp", []byte("not a database"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the error", func() bool { return db.State().LastError != "" })
	if asn, _ := db.Lookup(ip); asn != 64502 {
		t.Errorf("after a broken file: AS%d", asn)
	}
	if st := db.State(); st.Failures != 1 || !strings.Contains(st.LastError, "ASN database "+path) {
		t.Errorf("state: %+v", st)
	}
	calls := r.list()
	if len(calls) != 2 || calls[0] != path+": <nil>" || !strings.HasPrefix(calls[1], path+": ASN database") {
		t.Errorf("OnReload calls: %q", calls)
	}

	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if asn, ok := db.Lookup(ip); ok || asn != 0 || db.Organization(ip) != "" {
		t.Error("a closed database answered")
	}
	// Run loads nothing into a closed database.
	writeMMDB(t, path, "GeoLite2-ASN", testASNRecords)
	db.reload(context.Background(), Options{Settle: time.Millisecond}.withDefaults())
	if _, ok := db.Lookup(ip); ok {
		t.Error("a closed database was reloaded")
	}
}

func TestASNNil(t *testing.T) {
	var db *ASNDB
	if asn, ok := db.Lookup(netip.MustParseAddr("192.0.2.1")); ok || asn != 0 || db.Organization(netip.MustParseAddr("192.0.2.1")) != "" {
		t.Error("a nil database answered")
	}
}
