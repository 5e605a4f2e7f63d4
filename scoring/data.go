package scoring

import _ "embed"

// The embedded data files. They are read-only; every reader parses its own
// copy, so nothing here is mutable state.
var (
	//go:embed data/model.yaml
	modelYAML []byte

	//go:embed data/header_order.yaml
	headerOrderYAML []byte

	//go:embed data/tls.yaml
	tlsYAML []byte

	//go:embed data/user_agents.yaml
	userAgentsYAML []byte

	//go:embed data/browsers.yaml
	browsersYAML []byte
)
