package webbotauth

import (
	"slices"
	"time"
)

// DirectoryState is one directory's state, for metrics and status pages.
type DirectoryState struct {
	Agent string // the agent's origin
	URL   string // where its keys are read
	// Keys is the number of usable Ed25519 keys in the current key set;
	// UnsupportedKeys counts keys of other types.
	Keys, UnsupportedKeys int
	KeyIDs                []string  // thumbprints of the usable keys, sorted
	Signed                bool      // the current key set came with a valid directory signature
	LastSuccess           time.Time // zero: never fetched successfully (Verify says Pending)
	LastAttempt           time.Time
	LastError             error // of the last attempt; nil when it succeeded
	NextFetch             time.Time
}

// Directories reports each directory's state, sorted by agent.
func (v *Verifier) Directories() []DirectoryState {
	out := make([]DirectoryState, 0, len(v.dirs))
	for _, d := range v.dirs {
		s := DirectoryState{Agent: d.agent, URL: d.source.String()}
		if ks := d.keys.Load(); ks != nil {
			s.Keys, s.UnsupportedKeys = len(ks.ed), len(ks.other)
			s.Signed = ks.proven
			s.LastSuccess = ks.fetched
			for id := range ks.ed {
				s.KeyIDs = append(s.KeyIDs, id)
			}
			slices.Sort(s.KeyIDs)
		}
		d.mu.Lock()
		s.LastAttempt, s.LastError, s.NextFetch = d.lastAttempt, d.lastErr, d.nextFetch
		d.mu.Unlock()
		out = append(out, s)
	}
	return out
}
