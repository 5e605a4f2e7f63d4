package reputation

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	maxminddb "github.com/oschwald/maxminddb-golang/v2"
)

// MaxASNFileSize bounds an ASN database file. GeoLite2-ASN is about 10 MiB
// and GeoIP2-ISP a few times that; 512 MiB refuses a misplaced file (a City
// database with every language, a disk image) before it is read whole.
const MaxASNFileSize = 512 << 20

// ASNDB reads an MMDB autonomous-system database — MaxMind's GeoLite2-ASN
// and the databases with its record shape (GeoIP2-ISP, DB-IP's ASN Lite,
// …): records holding autonomous_system_number and
// autonomous_system_organization at the top level — with
// github.com/oschwald/maxminddb-golang/v2.
//
// It is separate from Sets because it is optional, is one file opened by
// path and answers another question (a number, not set membership); it
// reloads with the same watch machinery when Run is called.
//
// The database is read into memory rather than memory-mapped: a reload
// then swaps in a new reader while lookups still running on the old one
// keep valid memory (the garbage collector frees it after them), where
// unmapping a file under a running lookup would crash the process, and a
// file rewritten in place cannot change under a lookup either.
type ASNDB struct {
	path string
	cur  atomic.Pointer[asnData]
	// busy serializes reloads; see Sets.busy.
	busy chan struct{}

	// mu guards the fields below.
	mu       sync.Mutex
	sum      [sha256.Size]byte
	loaded   time.Time
	lastErr  string
	failures uint64
	closed   bool
}

// asnData is one loaded version of the database.
type asnData struct {
	reader *maxminddb.Reader
	// asnAt maps each record's data offset to its autonomous system number
	// (0 when the record has none: AS 0 is reserved and never announced).
	// Filled once at load, it keeps decoding off the hot path: decoding the
	// number at each lookup costs an allocation (the destination escapes
	// through the decoder's interface), the map costs none.
	asnAt        map[uintptr]uint32
	databaseType string
	buildTime    time.Time
}

// ASNState is the database's state, for metrics and /readyz.
type ASNState struct {
	Path         string
	DatabaseType string
	// BuildTime is when the database in force was built (its metadata).
	BuildTime time.Time
	// Loaded is when the database in force was loaded.
	Loaded time.Time
	// LastError is why the file's newest content was refused; empty when
	// the database in force is the newest.
	LastError string
	Failures  uint64
}

// OpenASN loads the database at path. It is refused unless its records
// carry autonomous_system_number: the database type is logged, not trusted,
// as compatible databases name their type freely.
func OpenASN(path string) (*ASNDB, error) {
	c, err := readContent([]string{path}, MaxASNFileSize)
	if err != nil {
		return nil, fmt.Errorf("reputation: open ASN database: %w", err)
	}
	data, err := openASNData(c.data[0])
	if err != nil {
		return nil, fmt.Errorf("reputation: open ASN database %s: %w", path, err)
	}
	d := &ASNDB{path: path, busy: make(chan struct{}, 1), sum: c.sum, loaded: time.Now()}
	d.cur.Store(data)
	return d, nil
}

// openASNData opens a database image and maps its records' offsets to
// their numbers.
func openASNData(image []byte) (*asnData, error) {
	r, err := maxminddb.OpenBytes(image)
	if err != nil {
		return nil, err
	}
	d := &asnData{
		reader: r, asnAt: make(map[uintptr]uint32),
		databaseType: r.Metadata.DatabaseType, buildTime: r.Metadata.BuildTime(),
	}
	withASN := 0
	for res := range r.Networks() {
		if err := res.Err(); err != nil {
			return nil, fmt.Errorf("walking the networks: %w", err)
		}
		off := res.Offset()
		if _, seen := d.asnAt[off]; seen {
			continue
		}
		var rec struct {
			ASN *uint32 `maxminddb:"autonomous_system_number"`
		}
		if err := res.Decode(&rec); err != nil {
			return nil, fmt.Errorf("record of %s: %w", res.Prefix(), err)
		}
		var asn uint32
		if rec.ASN != nil {
			asn = *rec.ASN
			withASN++
		}
		d.asnAt[off] = asn
	}
	if withASN == 0 {
		return nil, fmt.Errorf("not an ASN database: no record has autonomous_system_number (type %q)", d.databaseType)
	}
	return d, nil
}

// Lookup returns the number of the autonomous system that announces ip.
// ok is false when the database has no number for ip (or is closed). An
// IPv4-mapped address is looked up as its IPv4 address. It does not
// allocate.
func (d *ASNDB) Lookup(ip netip.Addr) (asn uint32, ok bool) {
	if d == nil {
		return 0, false
	}
	db := d.cur.Load()
	if db == nil {
		return 0, false
	}
	res := db.reader.Lookup(ip.Unmap())
	if !res.Found() {
		return 0, false
	}
	asn = db.asnAt[res.Offset()]
	return asn, asn != 0
}

// Organization returns the name of the organization that holds ip's
// autonomous system, or "" when the database has none. It decodes, and so
// allocates: it is for the decision log, not for every request.
func (d *ASNDB) Organization(ip netip.Addr) string {
	if d == nil {
		return ""
	}
	db := d.cur.Load()
	if db == nil {
		return ""
	}
	var rec struct {
		Org string `maxminddb:"autonomous_system_organization"`
	}
	if err := db.reader.Lookup(ip.Unmap()).Decode(&rec); err != nil {
		return ""
	}
	return rec.Org
}

// Close stops the database: lookups answer nothing from then on, and Run
// loads no new version. The memory goes when the last lookup in flight is
// done. It always returns nil.
func (d *ASNDB) Close() error {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	d.cur.Store(nil)
	return nil
}

// Run keeps the database current until ctx ends, as Sets.Run keeps the
// sets: on every change in the file's directory and every opts.Refresh, a
// changed file that stayed the same for opts.Settle is loaded; one that does
// not load keeps the database in force, and is logged and reported to
// opts.OnReload with the database's path as the set name.
func (d *ASNDB) Run(ctx context.Context, opts Options) {
	opts = opts.withDefaults()
	watch(ctx, []string{d.path}, opts.Refresh, opts.Logger, func(ctx context.Context) { d.reload(ctx, opts) })
}

func (d *ASNDB) reload(ctx context.Context, opts Options) {
	select {
	case d.busy <- struct{}{}:
		defer func() { <-d.busy }()
	case <-ctx.Done():
		return
	}
	paths := []string{d.path}
	c, err := readContent(paths, MaxASNFileSize)
	if err != nil {
		d.refuse(opts, err, true)
		return
	}
	if c.sum == d.triedSum() {
		return
	}
	if c, err = settled(ctx, paths, MaxASNFileSize, opts.Settle, c); err != nil {
		if ctx.Err() == nil {
			d.refuse(opts, err, true)
		}
		return
	}
	if c.sum == d.triedSum() {
		return
	}
	data, err := openASNData(c.data[0])
	d.mu.Lock()
	closed := d.closed
	d.sum = c.sum
	if err == nil && !closed {
		d.loaded, d.lastErr = time.Now(), ""
		d.cur.Store(data)
	}
	d.mu.Unlock()
	if closed {
		return
	}
	if err != nil {
		d.refuse(opts, err, false)
		return
	}
	opts.Logger.Info("ASN database reloaded", "file", d.path, "type", data.databaseType, "built", data.buildTime)
	opts.report(d.path, nil)
}

func (d *ASNDB) triedSum() [sha256.Size]byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.sum
}

// refuse records why the file's content was not taken; see Sets.refuse.
func (d *ASNDB) refuse(opts Options, err error, readErr bool) {
	err = fmt.Errorf("ASN database %s: %w", d.path, err)
	msg := err.Error()
	d.mu.Lock()
	repeated := readErr && d.lastErr == msg
	if readErr {
		d.sum = [sha256.Size]byte{}
	}
	d.lastErr = msg
	if !repeated {
		d.failures++
	}
	d.mu.Unlock()
	if repeated {
		return
	}
	opts.Logger.Error("ASN database not reloaded; keeping the one in force", "file", d.path, "err", err)
	opts.report(d.path, err)
}

// State returns the database's state.
func (d *ASNDB) State() ASNState {
	d.mu.Lock()
	s := ASNState{Path: d.path, Loaded: d.loaded, LastError: d.lastErr, Failures: d.failures}
	d.mu.Unlock()
	if db := d.cur.Load(); db != nil {
		s.DatabaseType, s.BuildTime = db.databaseType, db.buildTime
	}
	return s
}
