// Package reputation knows what the network a request comes from says about
// it: whether the address is in a cloud provider's published ranges, is a Tor
// exit, or is on a list the operator keeps, and which autonomous system
// announces it.
//
// Named sets are what a policy declares: each has a name (which goes to
// reasons and logs), a Kind (datacenter, tor or listed: a fixed set, so that
// the score's features stay fixed whatever the policy names) and the files
// it is read from, in one of the published formats Parse knows (plain, aws,
// gcp, azure, tor). Sets loads them, keeps them current — fsnotify on the
// files' directories plus a periodic re-read, as the policy file is — and
// publishes one immutable Table for all of them at once, whose Lookup answers
// which sets hold an address: the union of the sets is merged into one
// bart prefix table, whose longest-prefix answers are sampled at every
// prefix boundary into flat interval indexes read in a slot and one short
// run (IPv4; IPv6 in 2000::/3 by /64), with the trie for the rest.
//
// ASNDB reads an MMDB autonomous-system database (GeoLite2-ASN and
// compatible) and reloads it the same way; HostingList says which autonomous
// systems belong to the large cloud and hosting providers (an embedded,
// sourced list an operator can extend).
//
// Nothing here fetches from the network: the files are put in place by
// whatever the operator runs (a cron job, a Kubernetes ConfigMap, a sidecar),
// and a file that fails to load never replaces the last good content.
package reputation
