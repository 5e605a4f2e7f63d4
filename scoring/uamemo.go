package scoring

import "sync"

// uaParse is what a user agent parses to: its class
// (agentMatcher.classify) and its browser (parseBrowser).
type uaParse struct {
	class uaClass
	b     browser
}

// parseUA parses ua, a trimmed, lower-cased user agent, with agents.
func parseUA(ua []byte, agents *agentMatcher) uaParse {
	return uaParse{class: agents.classify(ua), b: parseBrowser(ua)}
}

// uaMemo remembers what user agents parse to. Traffic brings the same few
// dozen user agents over and over (a browser release's strings, a few
// clients'), and parsing one costs a Check about half a microsecond with
// warm caches and more under load, where a lookup costs a hash of the
// string (BENCHMARKS.md, issue 17, fifteenth session). Both parses depend on
// the bytes alone (and the matcher's tables, which a Model and its copies
// share), so what the memo answers is what parsing would.
//
// It holds at most maxUAMemo user agents of at most maxUAMemoKey bytes, and
// forgets all of them when full: a flood of unique user agents costs each
// of its Checks a parse and an insertion but cannot grow it, and the
// common strings come back with the first Check that brings each.
//
// A uaMemo is safe for concurrent use.
type uaMemo struct {
	mu sync.RWMutex
	m  map[string]uaParse // guarded by mu
}

const (
	// maxUAMemo bounds the user agents a memo holds; with maxUAMemoKey,
	// about a megabyte at most.
	maxUAMemo = 2048
	// maxUAMemoKey is the longest user agent memoized: real ones are under
	// 400 bytes, and a longer one is parsed every time.
	maxUAMemoKey = 512
)

func newUAMemo() *uaMemo { return &uaMemo{m: make(map[string]uaParse)} }

// parse returns parseUA(ua, agents) for ua, a trimmed, lower-cased,
// non-empty user agent.
func (u *uaMemo) parse(ua []byte, agents *agentMatcher) uaParse {
	if len(ua) > maxUAMemoKey {
		return parseUA(ua, agents)
	}
	u.mu.RLock()
	p, ok := u.m[string(ua)]
	u.mu.RUnlock()
	if ok {
		return p
	}
	p = parseUA(ua, agents)
	u.mu.Lock()
	if len(u.m) >= maxUAMemo {
		clear(u.m)
	}
	u.m[string(ua)] = p
	u.mu.Unlock()
	return p
}

// len returns how many user agents u holds.
func (u *uaMemo) len() int {
	u.mu.RLock()
	defer u.mu.RUnlock()
	return len(u.m)
}
