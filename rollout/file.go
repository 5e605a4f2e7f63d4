package rollout

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"go.yaml.in/yaml/v3"
)

// ParseOverride parses an override file: YAML in the shape of State, e.g.
//
//	kill: shadow            # none, shadow or bypass; can only strengthen the live one
//	default: {mode: enforce}
//	routes:
//	  login: {mode: canary, percent: 5}
//
// Unknown keys are errors, so a typo cannot silently leave a route in the
// wrong mode. An empty file (or one with only comments) is an empty override.
// The result is validated with State.Validate.
func ParseOverride(data []byte) (State, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var st State
	if err := dec.Decode(&st); err != nil {
		if errors.Is(err, io.EOF) {
			return State{}, nil
		}
		return State{}, err
	}
	// A second document would be ignored by Decode; refuse it rather than
	// apply half of what the author wrote. An empty one (a trailing "---")
	// says nothing and is fine.
	for {
		var extra yaml.Node
		err := dec.Decode(&extra)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil || !emptyDocument(&extra) {
			return State{}, fmt.Errorf("more than one YAML document")
		}
	}
	if err := st.Validate(); err != nil {
		return State{}, err
	}
	if len(st.Routes) == 0 {
		st.Routes = nil
	}
	return st, nil
}

// emptyDocument reports whether n is a document without content or with a
// lone null.
func emptyDocument(n *yaml.Node) bool {
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return true
		}
		n = n.Content[0]
	}
	return n.Kind == 0 || n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}
