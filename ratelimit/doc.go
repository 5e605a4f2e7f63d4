// Package ratelimit owns the velocity counters: sliding-window counts of
// requests per client IP, subnet, session and route+IP, kept either in
// process memory or in Redis (standalone, Sentinel or Cluster) behind one
// Store interface.
//
// A Store counts every hit and reports each counter's previous and current
// bucket; Observation turns those into Cloudflare's sliding-window estimate
// and a Retry-After. A counter is a lane of an identity's key: IdentityKey
// builds the versioned key of a client IP, subnet or session, and
// VelocityLane and NamedLane the lanes within it, so that a store keeps
// and reads all the counters of an identity together; counters read
// together, such as an identity's history, can be the parts of one lane,
// which a store may keep as one (Counter.Part). A counter marked
// Peek is reported the same way but not counted and never created, so a
// caller can read counters it counts elsewhere in the same call as the
// ones it counts. Guard wraps a Store so that a slow or dead backend costs
// a caller at most a fixed budget and never an error it must act on
// beyond "velocity unknown" (ErrDegraded).
//
// Redis counts each counter of a Hit with Redis's own HINCRBY on a field
// per bucket, and reads the previous buckets and the peeks with one HMGET
// per identity, a client address and its network sharing one hash
// (placement.go): one pipelined round trip, on a Redis Cluster too, where
// each command goes to its key's node. A short script, off the request's
// path, drops a lane's old buckets once per window.
//
// The package must not know about HTTP, Envoy, scoring or policy: it never
// decides whether a request is allowed, which limits apply or what a count
// means for a bot score. Callers compare Observation.Estimate with their own
// limits. It must also not derive identities: callers pass the IP, subnet or
// session id already normalised (and, for sessions, already hashed).
package ratelimit
