package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// The housekeeping of the buckets a Hit started (see the top of redis.go)
// takes one of two ways, per lane.
//
// A lane whose previous bucket read as empty is most likely one Redis has
// never held: a client's first request, common in real traffic (each new
// visitor, each address a scraper rotates to). Such a lane has no older
// fields to drop, only a marker to set, so its housekeeping is Redis's own
// commands: HSETNX of its marker, and for its hash PEXPIRE NX then PEXPIRE
// GT, which give the hash at least the TTL its buckets need and never
// shorten it (and for a network's hash not lately seen marked,
// networkMarks, HLEN and HEXISTS, which say whether it needs its mark). A
// hash the Hit created, whose PEXPIRE NX on the Check's path answered 1,
// needs neither: that TTL covers the Hit's buckets, and the hash holds a
// few fields. The script costs Redis about 11 µs a call, these commands
// about 3 together, and a new client's Check costs Redis a third to a half
// less (BENCHMARKS.md, issue 17, twelfth session).
//
// An HSETNX that finds a marker (a lane back after an idle bucket, or a
// concurrent Hit's housekeeping first) sets nothing and leaves the lane to
// houseScript, which also takes every lane whose previous bucket held a
// count. HSETNX sets a marker only where the script, which sets "b:mask"
// where it finds none, would have set the same; so the two ways agree
// whatever the order in which concurrent Hits' housekeeping runs.

// houseScriptSrc is the housekeeping of one hash whose lanes started
// buckets. KEYS[1] is the hash; ARGV is the TTL in ms the hash must have
// at least, "1" if the hash is a network's (placement.go) else "0", then
// per lane that started a bucket its field, the bucket and the mask of
// the parts that started it (bit p: part p; a lane without parts is its
// part 0). The marker holds the lane's newest bucket and the mask of the
// parts that may hold fields, as "bucket:mask".
//
// Buckets are exact integers in Lua's doubles (a 1 ms window's bucket is
// below 2^41), and formatted with %.0f so that they read as Go wrote them.
const houseScriptSrc = `
local ttl, shared = tonumber(ARGV[1]), ARGV[2] == '1'
local key, fmt = KEYS[1], string.format
local dels, nd = {}, 0
-- drop lists the fields of bucket x of the parts in mask for deletion.
local function drop(lane, x, mask)
  local p = 0
  while mask > 0 do
    if mask % 2 == 1 then
      nd = nd + 1
      if p == 0 then
        dels[nd] = fmt('%s@%.0f', lane, x)
      else
        dels[nd] = fmt('%s@%.0f#%d', lane, x, p)
      end
      mask = mask - 1
    end
    mask, p = mask / 2, p + 1
  end
end
-- union of two masks of at most 16 bits.
local function union(a, b)
  local u, bit = 0, 1
  for _ = 1, 16 do
    if a % (2 * bit) >= bit or b % (2 * bit) >= bit then u = u + bit end
    bit = 2 * bit
  end
  return u
end
for i = 3, #ARGV, 3 do
  local lane, b, started = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  local marker = lane .. '@'
  local v = redis.call('HGET', key, marker)
  local m, mask
  if v then
    local at = string.find(v, ':', 1, true)
    m, mask = tonumber(string.sub(v, 1, at - 1)), tonumber(string.sub(v, at + 1))
  end
  if not m then
    redis.call('HSET', key, marker, fmt('%.0f:%d', b, started))
  elseif b > m then
    -- The buckets kept are b and b-1: of m-1 and m, those below b-1 go.
    if m - 1 < b - 1 then drop(lane, m - 1, mask) end
    if m < b - 1 then drop(lane, m, mask) end
    if b == m + 1 then started = union(mask, started) end
    redis.call('HSET', key, marker, fmt('%.0f:%d', b, started))
  elseif b >= m - 1 then
    local u = union(mask, started)
    if u ~= mask then redis.call('HSET', key, marker, fmt('%.0f:%d', m, u)) end
  else
    -- Older than both buckets kept: it has nowhere to count.
    drop(lane, b, started)
  end
end
if nd > 0 then redis.call('HDEL', key, unpack(dels)) end
if redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end
-- A network's hash past 64 fields gets a value longer than Redis keeps in
-- a listpack, which makes Redis keep the hash as a hash table: a listpack
-- is searched field by field, and a hash of a few hundred clients' lanes
-- would cost each Check a scan. Only a field added can make it grow.
if shared and redis.call('HLEN', key) > 64 then
  redis.call('HSET', key, '{#}', string.rep('#', 256))
end
return nd
`

// houseScript is houseScriptSrc as go-redis loads it, with its SHA1.
var houseScript = redis.NewScript(houseScriptSrc)

// networkMarkLen is the length of a network hash's "{#}" field's value
// (houseScriptSrc's string.rep): longer than Redis keeps in a listpack.
const networkMarkLen = 256

// houseHash is the housekeeping a Hit calls for in one hash: its lanes
// that started a bucket.
type houseHash struct {
	key    string
	shared bool  // a network's hash (placement.go)
	ttl    int64 // ms the hash must live at least to keep the new buckets
	// created: the Hit's PEXPIRE NX gave the hash its TTL, so the Hit (or
	// one beside it) created it: the TTL covers the new buckets, and the
	// hash holds a few fields.
	created bool
	// marked: a network's hash this store has lately seen marked
	// (networkMarks), which the housekeeping need not ask about.
	marked bool
	lanes  []houseLane
}

// houseLane is a lane that started bucket b.
type houseLane struct {
	lane  string // its field in the hash
	b     int64
	mask  int64 // the parts that started b (bit p: part p)
	fresh bool  // each of those parts' previous bucket read as empty
}

// housekeeping returns the housekeeping of the buckets the Hit started,
// per hash, or none: a counted counter whose HINCRBY replied 1 created
// its bucket's field. It is off the common path, so it reads each lane's
// name back from its HINCRBY's field.
func (p *hitPlan) housekeeping(nowMs int64, counters []Counter) []houseHash {
	var house []houseHash
	for h := range p.hashes {
		var hh *houseHash
		for i, c := range counters {
			rd := &p.reads[i]
			if int(rd.hash) != h || rd.incr < 0 {
				continue
			}
			incr := p.cmds[rd.incr].(*redis.Cmd)
			if n, _ := incr.Int64(); n != 1 {
				continue
			}
			if hh == nil {
				house = append(house, houseHash{key: p.hashes[h].key, shared: p.hashes[h].shared, created: p.created(h)})
				hh = &house[len(house)-1]
			}
			w := c.Window.Milliseconds()
			b, _ := bucketOf(nowMs, w)
			hh.ttl = max(hh.ttl, (b+2)*w-nowMs)
			// The field is "lane@b" or "lane@b#p" (appendBucketField).
			field := *incr.Args()[2].(*string)
			lane := field[:strings.LastIndexByte(field, '@')]
			fresh := p.prevEmpty(rd)
			// A lane's parts that started the same bucket share one entry.
			at := slices.IndexFunc(hh.lanes, func(l houseLane) bool { return l.lane == lane && l.b == b })
			if at < 0 {
				hh.lanes = append(hh.lanes, houseLane{lane: lane, b: b, mask: 1 << c.Part, fresh: fresh})
				continue
			}
			hh.lanes[at].mask |= 1 << c.Part
			hh.lanes[at].fresh = hh.lanes[at].fresh && fresh
		}
	}
	return house
}

// prevEmpty reports whether a counted counter's previous bucket read as no
// field at all. A reply it cannot read is not empty, which sends the lane
// to the script.
func (p *hitPlan) prevEmpty(rd *laneRead) bool {
	vs, err := p.cmds[rd.get].(*redis.Cmd).Slice()
	return err == nil && int(rd.prev) < len(vs) && vs[rd.prev] == nil
}

// created reports whether hash h's PEXPIRE NX set its TTL, which it does
// only on a hash that had none: one just created.
func (p *hitPlan) created(h int) bool {
	at := p.hashes[h].expire
	if at < 0 {
		return false
	}
	n, err := p.cmds[at].(*redis.Cmd).Int64()
	return err == nil && n == 1
}

// houseRound is the first round of one hash's housekeeping.
type houseRound struct {
	// setnx holds, per lane of the hash, its marker's HSETNX if the lane is
	// fresh, else nil.
	setnx []*redis.Cmd
	// script is houseScript for the lanes that are not fresh, if any; it
	// also sees to the hash's TTL and mark.
	script *redis.Cmd
	// hash holds, without a script and for a hash the Hit did not create,
	// its PEXPIRE NX and GT, and for a network's hash its HLEN and the
	// HEXISTS of its mark.
	hash []*redis.Cmd
}

// firstRound returns h's first round of housekeeping.
func firstRound(h *houseHash) houseRound {
	var r houseRound
	var scripted []houseLane
	r.setnx = make([]*redis.Cmd, len(h.lanes))
	for i, l := range h.lanes {
		if !l.fresh {
			scripted = append(scripted, l)
			continue
		}
		marker := l.lane + "@"
		r.setnx[i] = redis.NewCmd(context.Background(), "hsetnx", h.key, marker,
			strconv.FormatInt(l.b, 10)+":"+strconv.FormatInt(l.mask, 10))
	}
	if scripted != nil {
		r.script = houseCall(h, scripted)
		return r
	}
	if h.created {
		return r
	}
	r.hash = append(r.hash,
		redis.NewCmd(context.Background(), "pexpire", h.key, h.ttl, "nx"),
		redis.NewCmd(context.Background(), "pexpire", h.key, h.ttl, "gt"))
	if h.shared && !h.marked {
		r.hash = append(r.hash,
			redis.NewCmd(context.Background(), "hlen", h.key),
			redis.NewCmd(context.Background(), "hexists", h.key, "{#}"))
	}
	return r
}

// setTTL reports whether the round gave its hash at least the TTL its
// new buckets need: its script ran, or its PEXPIRE NX and GT did.
func (r *houseRound) setTTL() bool {
	if r.script != nil {
		return r.script.Err() == nil
	}
	return len(r.hash) >= 2 && r.hash[0].Err() == nil && r.hash[1].Err() == nil
}

// commands appends the round's commands to cmds.
func (r *houseRound) commands(cmds []redis.Cmder) []redis.Cmder {
	for _, c := range r.setnx {
		if c != nil {
			cmds = append(cmds, c)
		}
	}
	if r.script != nil {
		cmds = append(cmds, r.script)
	}
	for _, c := range r.hash {
		cmds = append(cmds, c)
	}
	return cmds
}

// secondRound appends to next what h still needs after its first round r
// ran: the script again after NOSCRIPT; the script for the lanes whose
// HSETNX set nothing (or for every fresh lane, if the hash's TTL was
// refused, as Redis before 7.0 refuses PEXPIRE NX); or a network hash's
// mark, unless marks says another Hit's housekeeping is setting it. It
// returns the first round's error, a script's other than NOSCRIPT.
func (r *houseRound) secondRound(h *houseHash, marks *networkMarks, nowMs int64, next []*redis.Cmd) ([]*redis.Cmd, error) {
	var err error
	if r.script != nil {
		switch e := r.script.Err(); {
		case e == nil:
		case isNoScript(e):
			next = append(next, redis.NewCmd(context.Background(), r.script.Args()...))
		default:
			err = e
		}
	}
	refused := slices.ContainsFunc(r.hash, func(c *redis.Cmd) bool { return c.Err() != nil })
	var scripted []houseLane
	for i, c := range r.setnx {
		if c == nil {
			continue
		}
		if n, e := c.Int64(); refused || e != nil || n != 1 {
			scripted = append(scripted, h.lanes[i])
		}
	}
	if scripted != nil {
		return append(next, houseCall(h, scripted)), err
	}
	if len(r.hash) == 4 {
		size, errSize := r.hash[2].Int64()
		marked, errMarked := r.hash[3].Int64()
		switch {
		case errSize != nil || errMarked != nil:
		case marked == 1:
			marks.add(h.key, nowMs)
		case size > 64 && marks.add(h.key, nowMs):
			next = append(next, redis.NewCmd(context.Background(), "hset", h.key, "{#}", strings.Repeat("#", networkMarkLen)))
		}
	}
	return next, err
}

// networkMarks remembers the network hashes a store has lately seen with
// their mark ("{#}", houseScriptSrc) or marked itself. The housekeeping of
// a new client in a large network then skips asking (HLEN, HEXISTS), and
// the Hits that found a hash unmarked together mark it once rather than
// each once. It is a hint: a hash that expired and grew again within
// networkMarkTrust of being seen gets its mark from the script, which
// checks on every run (each network's own lanes run it once a window).
type networkMarks struct {
	mu   sync.Mutex
	seen map[string]int64 // hash → when seen marked, Unix ms
}

const (
	// networkMarkTrust is how long a hash seen marked is taken as marked:
	// a network's lanes' window, after which an idle hash may have expired.
	networkMarkTrust = int64(60_000)
	// networkMarksMax bounds the memory: past it, the store starts over
	// (and asks again, two commands per hash).
	networkMarksMax = 4096
)

// known reports whether key was seen marked within networkMarkTrust of
// nowMs, before or after: concurrent Hits' times come in any order.
func (m *networkMarks) known(key string, nowMs int64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.knownLocked(key, nowMs)
}

// knownLocked is known with m.mu held.
func (m *networkMarks) knownLocked(key string, nowMs int64) bool {
	at, ok := m.seen[key]
	return ok && nowMs-at < networkMarkTrust && at-nowMs < networkMarkTrust
}

// add records key as marked at nowMs. It reports whether key was not
// already known: a caller that would mark it marks it only then.
func (m *networkMarks) add(key string, nowMs int64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.knownLocked(key, nowMs) {
		return false
	}
	if m.seen == nil || len(m.seen) >= networkMarksMax {
		m.seen = make(map[string]int64)
	}
	m.seen[key] = nowMs
	return true
}

// houseCall returns the houseScript call for lanes of h.
func houseCall(h *houseHash, lanes []houseLane) *redis.Cmd {
	shared := "0"
	if h.shared {
		shared = "1"
	}
	args := make([]any, 0, 6+3*len(lanes))
	args = append(args, "evalsha", houseScript.Hash(), 1, h.key, h.ttl, shared)
	for _, l := range lanes {
		args = append(args, l.lane, l.b, l.mask)
	}
	return redis.NewCmd(context.Background(), args...)
}

// keepHouse runs the housekeeping of a Hit's buckets in at most two rounds
// (and a third after NOSCRIPT): the fresh lanes' commands and the other
// lanes' script first, then the script for the lanes the first round left
// to it. It returns the first error, having done what it could.
func (r *Redis) keepHouse(ctx context.Context, nowMs int64, house []houseHash) error {
	rounds := make([]houseRound, len(house))
	var cmds []redis.Cmder
	sent := r.ttls.now()
	for i := range house {
		house[i].marked = house[i].shared && r.marks.known(house[i].key, nowMs)
		rounds[i] = firstRound(&house[i])
		cmds = rounds[i].commands(cmds)
	}
	if err := r.batch.do(ctx, cmds); err != nil {
		return fmt.Errorf("redis housekeeping: %w", err)
	}
	var next []*redis.Cmd
	var first error
	for i := range house {
		if rounds[i].setTTL() {
			r.ttls.extend(house[i].key, sent, time.Duration(house[i].ttl)*time.Millisecond)
		}
		var err error
		if next, err = rounds[i].secondRound(&house[i], &r.marks, nowMs, next); err != nil && first == nil {
			first = fmt.Errorf("redis housekeeping: %w", err)
		}
	}
	if err := r.runHouse(ctx, next); err != nil && first == nil {
		first = err
	}
	return first
}

// runHouse runs housekeeping commands, loading the script once if Redis
// has lost it (NOSCRIPT runs nothing, and the script may run twice anyway).
func (r *Redis) runHouse(ctx context.Context, house []*redis.Cmd) error {
	if len(house) == 0 {
		return nil
	}
	cmds := make([]redis.Cmder, len(house))
	for i, c := range house {
		cmds[i] = c
	}
	if err := r.batch.do(ctx, cmds); err != nil {
		return fmt.Errorf("redis housekeeping: %w", err)
	}
	var again []redis.Cmder
	for _, c := range house {
		switch err := c.Err(); {
		case err == nil:
		case isNoScript(err):
			again = append(again, redis.NewCmd(ctx, c.Args()...))
		default:
			return fmt.Errorf("redis housekeeping: %w", err)
		}
	}
	if len(again) == 0 {
		return nil
	}
	if err := houseScript.Load(ctx, r.client).Err(); err != nil {
		return fmt.Errorf("redis housekeeping: reload script after NOSCRIPT: %w", err)
	}
	if err := r.batch.do(ctx, again); err != nil {
		return fmt.Errorf("redis housekeeping: %w", err)
	}
	for _, c := range again {
		if err := c.Err(); err != nil {
			return fmt.Errorf("redis housekeeping: %w", err)
		}
	}
	return nil
}

// isNoScript reports whether err is Redis's NOSCRIPT: the script is not in
// the server's cache and did not run.
func isNoScript(err error) bool {
	return errors.Is(err, redis.ErrNoScript) || redis.HasErrorPrefix(err, "NOSCRIPT")
}
