// Package telemetry owns botauthz's OpenTelemetry providers, its decision
// metrics, the decision log, and the dashboards and alerts built on them.
//
// The scorer and the Check pipeline never import it: extauthz reports each
// decision to an extauthz.Observer, which Recorder implements, and cmd
// wires the two together. Nothing here installs a global provider,
// propagator or error handler.
//
// # Providers
//
// Setup reads the standard OTEL_* environment. Tracing is off (a no-op
// TracerProvider) unless OTEL_TRACES_EXPORTER names an exporter or an
// OTLP endpoint is set; metrics are always served by MetricsHandler from
// a private Prometheus registry, and also pushed over OTLP when
// OTEL_METRICS_EXPORTER or OTEL_EXPORTER_OTLP_METRICS_ENDPOINT asks for it.
//
// # Metrics
//
// The instruments and the names the Prometheus exposition gives them. The
// dashboards in grafana/ and the rules in prometheus/ (alerts.yaml, and
// recording.yaml, which records the heavy queries the dashboard and
// alerts read) use these names, and a test checks every name they use
// against a live scrape and the recorded names.
//
//	OTel instrument                      Prometheus series                           Labels
//	botauthz.decisions (counter)         botauthz_decisions_total                    route, action, enforced_action, mode, model
//	botauthz.check.duration (histogram)  botauthz_check_duration_seconds_{bucket,sum,count}  route
//	botauthz.score (histogram)           botauthz_score_{bucket,sum,count}           route
//	botauthz.degraded.decisions          botauthz_degraded_decisions_total           route
//	botauthz.store.calls                 botauthz_store_calls_total                  -
//	botauthz.store.degraded              botauthz_store_degraded_total               -
//	botauthz.store.failures              botauthz_store_failures_total               reason: budget, breaker, overloaded
//	botauthz.store.breaker.state         botauthz_store_breaker_state                state: closed, half_open, open (1 for the state in force, 0 for the others)
//	botauthz.store.keys                  botauthz_store_keys                         -
//	botauthz.store.evictions             botauthz_store_evictions_total              -
//	botauthz.store.housekeeping.failures botauthz_store_housekeeping_failures_total  -
//	botauthz.kill_switch                 botauthz_kill_switch                        state: none, shadow, bypass (1 for the state in force, 0 for the others)
//	botauthz.route.mode                  botauthz_route_mode                         route, mode, source (1 for the mode in force)
//	botauthz.route.canary_percent        botauthz_route_canary_percent               route (0 unless the mode is canary)
//	botauthz.clearance                   botauthz_clearance_total                    status: valid, expired, wrong_network, wrong_agent, bad_signature, unknown_key, malformed
//	botauthz.challenges.issued           botauthz_challenges_issued_total            route, provider
//	botauthz.challenges.results          botauthz_challenges_results_total           route, provider, outcome
//	botauthz.challenge.evidence          botauthz_challenge_evidence_total           reason: an evidence.* reason, or none
//	botauthz.policy.reloads              botauthz_policy_reloads_total               result: ok, error
//	botauthz.policy.last_reload_successful  botauthz_policy_last_reload_successful  - (0 while the newest file is refused, else 1)
//	botauthz.checks.sanitized            botauthz_checks_sanitized_total             -
//	botauthz.crawler.claims              botauthz_crawler_claims_total               verdict: verified, unverified, impersonation; category (none: no directory entry)
//	botauthz.crawler.ranges.age          botauthz_crawler_ranges_age_seconds         list (since the list in force was published)
//	botauthz.crawler.ranges.prefixes     botauthz_crawler_ranges_prefixes            list
//	botauthz.crawler.ranges.refresh_failures  botauthz_crawler_ranges_refresh_failures_total  list
//	botauthz.crawler.reverse_dns.lookups botauthz_crawler_reverse_dns_lookups_total  outcome: confirmed, failed, unknown, dropped
//	botauthz.crawler.key_directory.age   botauthz_crawler_key_directory_age_seconds  agent (since the last good fetch)
//	botauthz.crawler.key_directory.keys  botauthz_crawler_key_directory_keys         agent
//	botauthz.reputation.set.prefixes     botauthz_reputation_set_prefixes            set, kind: datacenter, tor, listed
//	botauthz.reputation.asn_database.age botauthz_reputation_asn_database_age_seconds  - (since the database was built)
//	botauthz.reputation.reloads          botauthz_reputation_reloads_total           set (asn_database for the ASN database), result: ok, error
//	botauthz.history.writes              botauthz_history_writes_total               result: ok, error, dropped
//	(Prometheus only)                    botauthz_build_info                         version, revision, go_version (always 1)
//
// action and enforced_action are allow, challenge, deny or ratelimit; mode
// is off, shadow, canary, enforce or bypass; source is kill, override-file,
// override-file-default, live, live-default or policy. A decision counted
// with action other than allow and enforced_action allow is one that shadow
// (or the part of a canary outside it, or the kill switch) let through.
// model is the scoring model's version ("lr-1a2b3c4d"): one value per build,
// since a policy's tuning keeps the shipped model's name. Route labels are
// policy route names; past 1000 distinct names new ones are counted as
// "_other".
//
// botauthz_checks_sanitized_total counts Checks whose request carried
// invalid UTF-8 in a string field (a path or host with bytes above 0x7f, a
// header from an Envoy that does not sanitize): the gRPC codec replaced each
// bad byte with '!', as Envoy does, so the Check was decided instead of
// failing to decode. Checks larger than botauthz's -max-check-bytes are
// refused by grpc before any botauthz code runs and are not counted here:
// Envoy's ext_authz error statistics show them.
//
// Check durations fall in buckets from 50µs to 250ms; scores in buckets at
// 1, 2, 10, 20, …, 90, 99, which separate the automated (1), likely
// automated (2–29) and likely human (30–99) bands. Unscored decisions
// (mode off, kill switch bypass, TCP) have no score observation.
//
// The state gauges are one series per state, 1 for the state in force and
// 0 for the others, so that a query names the state it means
// (botauthz_kill_switch{state="bypass"} == 1) rather than an encoding, and
// count by (state) counts the replicas in each.
//
// # Series at zero
//
// A counter series that appears with its first event starts at 1, and
// rate() and increase() see no increase until its second: an alert on the
// first policy reload error or degraded decision would not fire. So every
// counter series whose label values are known up front is exported at 0
// before its first event (StartSeries lists them):
//
//   - from NewRecorder: botauthz_policy_reloads_total (ok, error),
//     botauthz_checks_sanitized_total, botauthz_history_writes_total (ok,
//     error, dropped), botauthz_clearance_total (every status),
//     botauthz_crawler_claims_total (every verdict and category, none
//     included), botauthz_challenge_evidence_total (every reason and none);
//   - from ObserveReputation: botauthz_reputation_reloads_total (ok, error)
//     for each set, and for asn_database when there is one;
//   - from PolicyApplied, which cmd calls at start-up and after applying a
//     reloaded policy, for each of its routes:
//     botauthz_degraded_decisions_total, botauthz_challenges_issued_total
//     of the route's provider, botauthz_challenges_results_total of every
//     outcome an answer on that route can have (challenge.Outcomes), and one
//     botauthz_decisions_total series, the route's allows in its policy
//     mode with the running model.
//
// The other decision series are left to appear on their first decision:
// a route has 4 actions × 4 enforced actions × 5 modes of them, most
// impossible (an enforced deny in shadow), and every query sums them, so
// the one at zero is enough for a route's rate to exist. Likewise
// botauthz_challenges_results_total for the route "unknown" (an answer
// whose token could not be trusted), the histograms (their _count is 0
// only once a Check is observed), and series of routes past maxRoutes.
// Work is done at start-up and policy load only: a Check adds nothing.
//
// The observable metrics are read at each collection and are there from
// the first scrape: the store metrics once cmd calls ObserveGuard (a Redis
// store: calls, degraded, failures of every reason, breaker state) or
// ObserveMemory (the in-memory store, which has no guard); the rollout
// ones once it calls ObserveRollout; the crawler lists' (refresh failures
// included) once it calls ObserveCrawlers. The exposition also carries target_info (service.name,
// service.version), the Go runtime's go_* and the process's process_*
// metrics. Scope labels (otel_scope_*) are left out.
//
// # Decision log
//
// Recorder writes one slog record, message "decision", for every decision
// whose decided action is not allow (shadow's would-be blocks included)
// and for a RecorderOptions.AllowSample share of allows, with the fields
// request_id, route, client_ip (an IPv4 /24 or IPv6 /48 network address
// unless FullClientIP), method, host, path (without the query string),
// user_agent (first 256 bytes), score, band, reasons (a list of {code,
// weight}), challenge_below, deny_below, action, enforced_action, mode,
// mode_source, degraded, policy_version, model (the scoring model's
// version), elapsed (a time.Duration, which slog's JSON handler writes in
// nanoseconds), and trace_id and span_id when the request is traced. When
// the policy sets decision_log.features, it adds features (the names of the
// model features that fired, comma-separated; "" when none did) and
// feature_set (their version, scoring.FeatureSet): the feed for tuning and
// training. It never writes the cookie header, the session value or any
// other header's value but the user agent's.
//
// For each proof-of-work answer whose browser evidence was verified it
// writes one record, message "challenge_evidence", with route, outcome
// (passed or automated), marked (a clearance issued under
// challenge.evidence: mark) and evidence (the reasons that fired,
// comma-separated, "" for none): never the evidence itself.
package telemetry
