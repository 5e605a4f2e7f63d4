package history

import (
	"time"

	"github.com/botauthz/botauthz/ratelimit"
	"github.com/botauthz/botauthz/scoring"
)

// Config is what the policy's history section sets.
type Config struct {
	// Window is the counters' window; events fade over about one.
	Window time.Duration
	// EscalateAfter is how many hard-limit breaches within the window make
	// the next one a deny; 0 never escalates.
	EscalateAfter int
	// SessionNetworks is how many networks a session may come from within
	// the window before session.many_networks fires.
	SessionNetworks int

	// lanes are the counters' lanes for Window, built by Prepare.
	lanes *lanes
}

// Prepare builds the lanes of the history counters for c.Window once, so
// that AppendCounters, on every Check, does not: call it after setting
// c.Window. A Config that is not prepared, or whose Window changed since,
// works the same and builds the lanes in each AppendCounters (one
// allocation).
func (c *Config) Prepare() {
	l := lanesFor(c.Window)
	c.lanes = &l
}

// Entity is whom history is about: the identities the velocity counters
// count by (ratelimit.ClientID, SubnetID, SessionID). An empty identity is
// unknown and has no history.
type Entity struct {
	Client  string
	Subnet  string
	Session string
	// ClientKey and SessionKey are ratelimit.IdentityKey of Client (DimIP)
	// and Session (DimSession), for a caller that has built them for its
	// own counters: the history counters are lanes of those keys, and a
	// key given here is not built again. Either may be left empty, and
	// must be if its identity is.
	ClientKey, SessionKey string
	// Sighting makes the Check count the session's sighting on Subnet,
	// when Writer.DueSighting says it is due: AppendCounters then appends
	// the session's counter of that network, and Plan.Read tells from it
	// whether the network was new to the session (Reading.Sighting).
	Sighting bool
}

// clientKey returns e's address's identity key, building it if not given.
func (e *Entity) clientKey() string {
	if e.ClientKey != "" {
		return e.ClientKey
	}
	return ratelimit.IdentityKey(ratelimit.DimIP, e.Client)
}

// sessionKey returns e's session's identity key, building it if not given.
func (e *Entity) sessionKey() string {
	if e.SessionKey != "" {
		return e.SessionKey
	}
	return ratelimit.IdentityKey(ratelimit.DimSession, e.Session)
}

// The thresholds of the features, in decayed counts.
const (
	// oneEvent: a single event weighs for between half a window and one
	// and a half windows.
	oneEvent = 0.5
	// failedChallenges: two failures, since people mistype a CAPTCHA once.
	failedChallenges = 1.5
	// notKeptSessions and notKeptReturning: of at least this many
	// sessions new to an address, fewer than this share came back.
	notKeptSessions  = 5
	notKeptReturning = 0.2
)

// slot is one history counter a Check reads.
type slot uint8

const (
	clientDenied slot = iota
	clientRateLimited
	clientChallengeFailed
	clientNewSessions
	clientReturningSessions
	sessionDenied
	sessionRateLimited
	sessionChallengeFailed
	sessionNetworks
	numSlots
)

// MaxCounters is the most counters AppendCounters appends: the slots and
// a sighting.
const MaxCounters = int(numSlots) + 1

// The history counters of an identity are the parts of one lane of its
// key (ratelimit.Counter.Part), named by nameHistory and the window, so
// that a store reads all of them for about the cost of one: a client's
// and a session's share the lane's name, their keys differ.
const nameHistory = "h"

// The parts of the history lane. An address's and a session's denials,
// breaches and failed challenges are the same parts of their lanes.
const (
	partDenied uint8 = iota
	partRateLimited
	partChallengeFailed
	// partNewSessions, partReturningSessions: an address's.
	partNewSessions
	partReturningSessions
	// partNetworks: a session's.
	partNetworks = partNewSessions
)

// nameSeenPrefix + subnet is a session's counter of its sightings on that
// network: counted by the Checks the Writer's filter picks (Entity.Sighting),
// which read from it whether the network is new to the session; a lane of
// its own, since it is one per network. A network is remembered for a
// session over two windows (seenWindow), so a visitor who pauses for a
// window and comes back from the same network is not counted as coming
// from a new one.
const nameSeenPrefix = "h.seen."

// seenWindow is the window of a session's sightings for history window w.
func seenWindow(w time.Duration) time.Duration { return 2 * w }

var slotParts = [numSlots]uint8{
	clientDenied:            partDenied,
	clientRateLimited:       partRateLimited,
	clientChallengeFailed:   partChallengeFailed,
	clientNewSessions:       partNewSessions,
	clientReturningSessions: partReturningSessions,
	sessionDenied:           partDenied,
	sessionRateLimited:      partRateLimited,
	sessionChallengeFailed:  partChallengeFailed,
	sessionNetworks:         partNetworks,
}

// lanes is the history lane of one window.
type lanes struct {
	window time.Duration
	name   string
}

// lanesFor builds the history lane of window.
func lanesFor(window time.Duration) lanes {
	return lanes{window: window, name: ratelimit.NamedLane(nameHistory, window)}
}

func (s slot) session() bool { return s >= sessionDenied }

// Plan says where AppendCounters put the history counters, for Read.
type Plan struct {
	at       int    // index of the first one
	slots    uint16 // the slots appended, one counter each, in slot order
	sighting bool   // and after them the session's sighting
}

// Len is the number of counters the plan holds.
func (p Plan) Len() int {
	n := 0
	for s := p.slots; s != 0; s &= s - 1 {
		n++
	}
	if p.sighting {
		n++
	}
	return n
}

// AppendCounters appends the history counters of e that a Check reads in
// its store round trip, all peeked (read, not counted): its address's and
// its session's recent denials, breaches and failed challenges, and, for
// a request with a session cookie, the networks the session came from and
// the sessions new to the address and those that came back. They are lanes
// of e's identity keys (Entity.ClientKey, SessionKey; built here if not
// given), so they cost a store no more keys than the Check's velocity
// counters of the same identities. With e.Sighting it appends, last, the
// session's counter of its sightings on e.Subnet, counted: the Check's own
// store call learns whether the network is new to the session, which the
// Writer then records (SessionNewNetwork, SessionCameBack); it costs the
// store one lane of a key the Check touches anyway. Read interprets the
// observations with the Plan.
func (c *Config) AppendCounters(dst []ratelimit.Counter, e *Entity) ([]ratelimit.Counter, Plan) {
	p := Plan{at: len(dst)}
	if c.Window <= 0 {
		return dst, p
	}
	for s := range numSlots {
		switch {
		case s.session() && e.Session == "":
		case !s.session() && e.Client == "":
		case (s == clientNewSessions || s == clientReturningSessions) && e.Session == "":
		default:
			p.slots |= 1 << s
		}
	}
	if p.slots == 0 {
		return dst, p
	}
	ln := c.lanes
	if ln == nil || ln.window != c.Window {
		l := lanesFor(c.Window)
		ln = &l
	}
	var clientKey, sessionKey string
	if e.Client != "" {
		clientKey = e.clientKey()
	}
	if e.Session != "" {
		sessionKey = e.sessionKey()
	}
	for s := range numSlots {
		if p.slots&(1<<s) == 0 {
			continue
		}
		key := clientKey
		if s.session() {
			key = sessionKey
		}
		dst = append(dst, ratelimit.Counter{Key: key, Lane: ln.name, Window: c.Window, Peek: true, Part: slotParts[s]})
	}
	if e.Sighting && e.Session != "" && e.Subnet != "" {
		p.sighting = true
		w := seenWindow(c.Window)
		dst = append(dst, ratelimit.Counter{Key: sessionKey, Lane: ratelimit.NamedLane(nameSeenPrefix+e.Subnet, w), Window: w})
	}
	return dst, p
}

// Reading is what history knows of a request's client and session: decayed
// counts over about the last window.
type Reading struct {
	// Known is false when nothing was read: history off, no identity, or
	// the store degraded.
	Known bool
	// Denied, RateLimited and ChallengeFailed are the larger of the
	// address's and the session's counts.
	Denied, RateLimited, ChallengeFailed float64
	// SessionNetworks is the number of networks the session came from.
	SessionNetworks float64
	// NewSessions is the session cookies the address's network showed for
	// the first time, and ReturningSessions how many of them (or of
	// earlier ones) were seen again.
	NewSessions, ReturningSessions float64
	// Sighting is what the Check's sighting of the session found, for the
	// Writer to record: SessionNewNetwork or SessionCameBack; 0 when the
	// Check counted none (Entity.Sighting).
	Sighting Events

	// client and session are each identity's own counts, in the current
	// bucket, of the counted events (countedEvents, by part), for
	// Config.Held.
	client, session [len(countedEvents)]int64
}

// countedEvents are the events an identity's lane counts, each in its part:
// countedEvents[p] in part p.
var countedEvents = [...]Events{partDenied: Denied, partRateLimited: RateLimited, partChallengeFailed: ChallengeFailed}

// Read fills a Reading from the observations of the counters p placed.
// obs is indexed as the counters were.
func (p Plan) Read(obs []ratelimit.Observation) Reading {
	var r Reading
	if p.slots == 0 || len(obs) < p.at+p.Len() {
		return r
	}
	r.Known = true
	i := p.at
	for s := range numSlots {
		if p.slots&(1<<s) == 0 {
			continue
		}
		o := obs[i]
		i++
		// A peeked counter's estimate reckons with one more request.
		n := max(o.Estimate()-1, 0)
		if p := slotParts[s]; int(p) < len(countedEvents) {
			if s.session() {
				r.session[p] = o.Cur
			} else {
				r.client[p] = o.Cur
			}
		}
		switch s {
		case clientDenied, sessionDenied:
			r.Denied = max(r.Denied, n)
		case clientRateLimited, sessionRateLimited:
			r.RateLimited = max(r.RateLimited, n)
		case clientChallengeFailed, sessionChallengeFailed:
			r.ChallengeFailed = max(r.ChallengeFailed, n)
		case clientNewSessions:
			r.NewSessions = n
		case clientReturningSessions:
			r.ReturningSessions = n
		case sessionNetworks:
			r.SessionNetworks = n
		}
	}
	if p.sighting {
		r.Sighting = SessionCameBack
		if obs[i].Estimate()-1 < oneEvent {
			r.Sighting = SessionNewNetwork
		}
	}
	return r
}

// Features is what the reading says to the model.
func (c *Config) Features(r *Reading) scoring.History {
	var h scoring.History
	if !r.Known {
		return 0
	}
	if r.Denied >= oneEvent {
		h |= scoring.HistoryOfDenials
	}
	if r.RateLimited >= oneEvent {
		h |= scoring.HistoryOfRateLimits
	}
	if r.ChallengeFailed >= failedChallenges {
		h |= scoring.HistoryOfChallengeFailures
	}
	if c.SessionNetworks > 0 && r.SessionNetworks >= float64(c.SessionNetworks)+oneEvent {
		h |= scoring.HistorySessionManyNetworks
	}
	if r.NewSessions >= notKeptSessions && r.ReturningSessions < notKeptReturning*r.NewSessions {
		h |= scoring.HistorySessionNotKept
	}
	return h
}

// Held is, per identity, the events whose counts already stand at their
// bound (Config.Held): one more changes no feature and no escalation, so a
// Writer does not count it.
type Held struct {
	Client, Session Events
}

// Held returns the events whose counts in the current bucket r read at
// their bound for each identity: the events its feature or escalation
// needs (one denial; escalate_after breaches, at least one; two failed
// challenges) and one more. A count in the current bucket counts in full
// until the bucket ends and fades over the next window, so an event more
// now would change nothing until then, and the feature holds at least as
// long after this request as it would after a single event counted now;
// a count that is only the previous bucket's holds nothing, and the next
// event counts. An identity denied or limited on every request thus costs
// a few writes a bucket rather than one each flush, which under a flood of
// bots was most of what history cost the store. A reading not known holds
// nothing.
func (c *Config) Held(r *Reading) Held {
	var h Held
	if !r.Known {
		return h
	}
	bounds := [len(countedEvents)]int64{
		1 + 1,
		max(int64(c.EscalateAfter), 1) + 1,
		2 + 1,
	}
	for i, ev := range countedEvents {
		if r.client[i] >= bounds[i] {
			h.Client |= ev
		}
		if r.session[i] >= bounds[i] {
			h.Session |= ev
		}
	}
	return h
}

// Escalates reports whether a request that exceeds a hard limit now is to
// be denied rather than answered 429: its address or session exceeded
// one EscalateAfter times within the window.
func (c *Config) Escalates(r *Reading) bool {
	return c.EscalateAfter > 0 && r.Known && r.RateLimited >= float64(c.EscalateAfter)-oneEvent
}
