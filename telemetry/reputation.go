package telemetry

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/botauthz/botauthz/reputation"
)

// ObserveReputation reports the reputation sets' prefixes and the ASN
// database's age at every collection; either may be nil. It may be called
// once. Reloads are counted by ReputationReloaded.
func (r *Recorder) ObserveReputation(sets *reputation.Sets, asn *reputation.ASNDB) error {
	if !r.reputationObserved.CompareAndSwap(false, true) {
		return errors.New("telemetry: observe reputation: already observing")
	}
	prefixes, err := r.meter.Int64ObservableGauge("botauthz.reputation.set.prefixes",
		metric.WithDescription("Prefixes in force in each network reputation set, by set and kind."),
		metric.WithUnit("{prefix}"))
	if err != nil {
		return fmt.Errorf("telemetry: observe reputation: %w", err)
	}
	age, err := r.meter.Float64ObservableGauge("botauthz.reputation.asn_database.age",
		metric.WithDescription("Time since the ASN database in force was built (its metadata)."),
		metric.WithUnit("s"))
	if err != nil {
		return fmt.Errorf("telemetry: observe reputation: %w", err)
	}
	_, err = r.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		if sets != nil {
			for _, s := range sets.State() {
				o.ObserveInt64(prefixes, int64(s.Prefixes), metric.WithAttributeSet(attribute.NewSet(
					attribute.String("set", s.Name), attribute.String("kind", s.Kind.String()))))
			}
		}
		if asn != nil {
			if built := asn.State().BuildTime; !built.IsZero() {
				o.ObserveFloat64(age, time.Since(built).Seconds())
			}
		}
		return nil
	}, prefixes, age)
	if err != nil {
		return fmt.Errorf("telemetry: observe reputation: %w", err)
	}
	var names []string
	if sets != nil {
		for _, s := range sets.State() {
			names = append(names, s.Name)
		}
	}
	r.startAtZero(r.reputationSeries(names, asn != nil))
	return nil
}

// ReputationReloaded counts a reputation file's reload: its set's name (or
// the ASN database's path, "asn_database" as the label) and whether it was
// taken. It is reputation.Options.OnReload.
func (r *Recorder) ReputationReloaded(set string, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	if len(set) > 0 && set[0] == '/' || len(set) > 64 {
		set = "asn_database" // a path: keep the label short and bounded
	}
	r.reputationReloads.Add(context.Background(), 1, metric.WithAttributeSet(attribute.NewSet(
		attribute.String("set", set), attribute.String("result", result))))
}
