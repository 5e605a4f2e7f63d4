// Command genrules copies the Prometheus rules of telemetry/prometheus into
// the Helm chart and the Kustomize monitoring component (package promrules).
// Run from the k8s module: go generate ./... (or make manifests at the root).
package main

import (
	"flag"
	"fmt"
	"log"

	"github.com/botauthz/botauthz/k8s/internal/promrules"
)

func main() {
	repo := flag.String("repo", "..", "the repository root")
	flag.Parse()
	files, err := promrules.Generate(*repo)
	if err != nil {
		log.Fatalf("genrules: %v", err)
	}
	if err := promrules.Write(*repo, files); err != nil {
		log.Fatalf("genrules: %v", err)
	}
	for path := range files {
		fmt.Println("wrote", path)
	}
}
