package extauthz

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/botauthz/botauthz/crawler"
)

// The upstream headers of a verified crawler.
const (
	// HeaderVerified names the verified crawler ("googlebot").
	HeaderVerified = "x-bot-verified"
	// HeaderVerifiedCategory is its category ("search").
	HeaderVerifiedCategory = "x-bot-verified-category"
)

// crawlerValues are one directory crawler's upstream headers and metadata
// values, built once so that a verified crawler's Check does not build them.
type crawlerValues struct {
	name, category           *corev3.HeaderValueOption
	nameValue, categoryValue *structpb.Value
}

func newCrawlerValues(d *crawler.Directory) []crawlerValues {
	out := make([]crawlerValues, len(d.Crawlers))
	for i, e := range d.Crawlers {
		out[i] = crawlerValues{
			name: set(HeaderVerified, e.Name), category: set(HeaderVerifiedCategory, string(e.Category)),
			nameValue: structpb.NewStringValue(e.Name), categoryValue: structpb.NewStringValue(string(e.Category)),
		}
	}
	return out
}

// verifiedValues returns the values of d's verified crawler; nil when d's
// crawler is not verified.
func verifiedValues(d *Decision, table []crawlerValues) *crawlerValues {
	if d.Crawler.Verdict != crawler.Verified || d.Crawler.Entry < 0 || d.Crawler.Entry >= len(table) {
		return nil
	}
	return &table[d.Crawler.Entry]
}
