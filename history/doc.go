// Package history remembers what happened lately to a client address
// (IPv6: its /64) and to a session: how often it was denied, exceeded a
// hard limit or failed a challenge, from how many networks a session
// cookie came, and whether the cookies an address presents are new nearly
// every time. It keeps these in sliding-window counters of the velocity
// store (package ratelimit), in the same Redis Cluster slots as the
// identity's velocity counters and as the parts of one lane per identity
// (ratelimit.Counter.Part), so a Check reads them peeked in the one store
// round trip it already makes, for about the cost of one counter each
// (Config.AppendCounters, Plan.Read),
// and a Writer records the outcome after the decision, asynchronously and
// bounded, never delaying a Check.
//
// A count decays as the sliding window does: an event counts in full
// until its window's bucket ends and then fades linearly to nothing over
// the next window, so a feature that needs one event (count ≥ ½) holds for
// between half a window and one and a half windows after it.
//
// A Check's denials and breaches are counted only up to a bound in each
// bucket, what their feature or escalation needs and one event more
// (Config.Held): a client denied on every request keeps its history with a
// few writes a bucket, and the feature holds at least as long after its
// last denial as after a single one.
package history
