package fcrdns

import (
	"log/slog"
	"net/netip"
)

// entryFor turns a verification's result into a cache entry with its TTL:
//
//   - some name confirmed: stateDone with the names, for TTL; but for
//     ErrorTTL when another name failed temporarily (partial), so the
//     unchecked name is retried as soon as any temporary failure is;
//   - nothing confirmed, a temporary failure: stateUnknown, for ErrorTTL;
//   - no PTR name at all (NXDOMAIN, empty answer): definitive, for TTL;
//   - PTR names, none confirmed: definitive, for NegativeTTL, shorter
//     because a PTR that does not forward-confirm is often a zone being
//     changed.
func (r *Resolver) entryFor(res result) entry {
	now := r.opts.Now()
	switch {
	case len(res.confirmed) > 0 && res.err != nil:
		return entry{state: stateDone, names: res.confirmed, partial: true, expires: now.Add(r.opts.ErrorTTL)}
	case len(res.confirmed) > 0:
		return entry{state: stateDone, names: res.confirmed, expires: now.Add(r.opts.TTL)}
	case res.err != nil:
		return entry{state: stateUnknown, expires: now.Add(r.opts.ErrorTTL)}
	case len(res.ptrNames) == 0:
		return entry{state: stateDone, expires: now.Add(r.opts.TTL)}
	default:
		return entry{state: stateDone, expires: now.Add(r.opts.NegativeTTL)}
	}
}

// record counts the outcome and logs it at debug level: one record per
// verification, never per Verify call.
func (r *Resolver) record(addr netip.Addr, res result, e entry) {
	var outcome string
	switch {
	case len(res.confirmed) > 0:
		r.stats.confirmed.Add(1)
		outcome = "confirmed"
	case res.err != nil:
		r.stats.unknown.Add(1)
		outcome = "unknown"
	default:
		r.stats.failed.Add(1)
		outcome = "failed"
	}
	if !r.opts.Logger.Enabled(r.base, slog.LevelDebug) {
		return
	}
	attrs := []slog.Attr{
		slog.String("addr", addr.String()),
		slog.String("outcome", outcome),
		slog.Any("ptr_names", res.ptrNames),
		slog.Any("confirmed", res.confirmed),
		slog.Time("expires", e.expires),
	}
	if res.err != nil {
		attrs = append(attrs, slog.String("error", res.err.Error()))
	}
	r.opts.Logger.LogAttrs(r.base, slog.LevelDebug, "fcrdns verification", attrs...)
}
