package k8s

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	dockerfile "github.com/moby/buildkit/frontend/dockerfile/parser"
	"golang.org/x/mod/modfile"
)

// dockerfileStages parses ../Dockerfile with BuildKit's own parser and
// linter, as `docker buildx build` would, failing on any lint warning.
func dockerfileStages(t *testing.T) []instructions.Stage {
	t.Helper()
	f, err := os.Open("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := dockerfile.Parse(f)
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	for _, w := range res.Warnings {
		t.Errorf("Dockerfile: parser warning: %s", w.Short)
	}
	lint := linter.New(&linter.Config{Warn: func(rule, _, url, msg string, _ []dockerfile.Range) {
		t.Errorf("Dockerfile: lint %s: %s (%s)", rule, msg, url)
	}})
	stages, _, err := instructions.Parse(res.AST, lint)
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	if len(stages) != 2 {
		t.Fatalf("Dockerfile: %d stages, want a build stage and the image", len(stages))
	}
	return stages
}

func commands[T any](s instructions.Stage) []T {
	var out []T
	for _, c := range s.Commands {
		if v, ok := c.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

// TestDockerfileCrossCompilesPerTargetArch: the build stage runs on the
// builder's platform and compiles for the target's, with the Go of
// go.mod, so `docker buildx build --platform linux/amd64,linux/arm64` needs
// no emulation and builds what CI tests.
func TestDockerfileCrossCompilesPerTargetArch(t *testing.T) {
	build := dockerfileStages(t)[0]
	if build.Name != "build" || build.Platform != "$BUILDPLATFORM" {
		t.Errorf("build stage %q on platform %q, want \"build\" on $BUILDPLATFORM", build.Name, build.Platform)
	}
	gomod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	mf, err := modfile.ParseLax("go.mod", gomod, nil)
	if err != nil {
		t.Fatal(err)
	}
	goMinor := strings.Join(strings.SplitN(mf.Go.Version, ".", 3)[:2], ".")
	if want := "golang:" + goMinor; build.BaseName != want {
		t.Errorf("build stage FROM %s, want %s (go.mod's go %s)", build.BaseName, want, mf.Go.Version)
	}
	var args []string
	for _, a := range commands[*instructions.ArgCommand](build) {
		for _, kv := range a.Args {
			args = append(args, kv.Key)
		}
	}
	for _, want := range []string{"TARGETOS", "TARGETARCH", "VERSION", "REVISION"} {
		if !slices.Contains(args, want) {
			t.Errorf("build stage does not declare ARG %s", want)
		}
	}
	var goBuild string
	for _, r := range commands[*instructions.RunCommand](build) {
		if line := strings.Join(r.CmdLine, " "); strings.Contains(line, "go build") {
			goBuild = line
		}
	}
	for _, want := range []string{"CGO_ENABLED=0", "GOOS=${TARGETOS}", "GOARCH=${TARGETARCH}", "./cmd/botauthz", "./cmd/botctl", "-trimpath"} {
		if !strings.Contains(goBuild, want) {
			t.Errorf("the build stage's go build lacks %s: %q", want, goBuild)
		}
	}
	if got, want := stampedVars(goBuild), stampedVars(makefileLDFLAGS(t)); !slices.Equal(got, want) || len(got) == 0 {
		t.Errorf("Dockerfile stamps %v, make build %v: the image and the binaries must carry the same build information", got, want)
	}
	declared := buildinfoVars(t)
	for _, v := range stampedVars(goBuild) {
		dot := strings.LastIndexByte(v, '.')
		pkg, name := v[:dot], v[dot+1:]
		// -X of a variable that does not exist is silently ignored by the
		// linker: the image would say "commit unknown".
		if pkg != "github.com/botauthz/botauthz/buildinfo" || !declared[name] {
			t.Errorf("the Dockerfile stamps %s, which is not a string variable of package buildinfo", v)
		}
	}
}

// TestDockerfileImage: the image runs botauthz as the numeric non-root user
// the manifests require, and carries its version and commit as OCI labels.
func TestDockerfileImage(t *testing.T) {
	image := dockerfileStages(t)[1]
	if !strings.HasPrefix(image.BaseName, "gcr.io/distroless/static") || !strings.HasSuffix(image.BaseName, ":nonroot") {
		t.Errorf("image FROM %s, want distroless static :nonroot", image.BaseName)
	}
	users := commands[*instructions.UserCommand](image)
	if len(users) != 1 || users[0].User != "65532:65532" {
		t.Errorf("USER %v, want 65532:65532: Kubernetes' runAsNonRoot can only verify a numeric user", users)
	}
	eps := commands[*instructions.EntrypointCommand](image)
	if len(eps) != 1 || !slices.Equal(eps[0].CmdLine, []string{"/usr/local/bin/botauthz"}) {
		t.Errorf("ENTRYPOINT %v, want [/usr/local/bin/botauthz]", eps)
	}
	copied := false
	for _, c := range commands[*instructions.CopyCommand](image) {
		copied = copied || c.From == "build" && slices.Contains(c.SourcePaths, "/out/botauthz") && slices.Contains(c.SourcePaths, "/out/botctl")
	}
	if !copied {
		t.Error("the image does not COPY botauthz and botctl from the build stage")
	}
	labels := map[string]string{}
	for _, l := range commands[*instructions.LabelCommand](image) {
		for _, kv := range l.Labels {
			labels[kv.Key] = strings.Trim(kv.Value, `"`) // kept as written, quotes and all
		}
	}
	for key, want := range map[string]string{
		"org.opencontainers.image.version":  "${VERSION}",
		"org.opencontainers.image.revision": "${REVISION}",
		"org.opencontainers.image.licenses": "Apache-2.0",
	} {
		if labels[key] != want {
			t.Errorf("LABEL %s=%q, want %q", key, labels[key], want)
		}
	}
}

var stampRE = regexp.MustCompile(`-X ([\w./-]+)=`)

// stampedVars lists the package.variable names a go build command line
// stamps with -X, sorted.
func stampedVars(cmdline string) []string {
	var out []string
	for _, m := range stampRE.FindAllStringSubmatch(cmdline, -1) {
		out = append(out, m[1])
	}
	slices.Sort(out)
	return out
}

// makefileLDFLAGS returns the Makefile's LDFLAGS definition.
func makefileLDFLAGS(t *testing.T) string {
	t.Helper()
	mk, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^LDFLAGS\s*:=(.*)$`).FindSubmatch(mk)
	if m == nil {
		t.Fatal("the Makefile defines no LDFLAGS")
	}
	return string(m[1])
}

// buildinfoVars returns the package-level string variables of package
// buildinfo, the only ones -X can set.
func buildinfoVars(t *testing.T) map[string]bool {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "../buildinfo/buildinfo.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]bool{}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.VAR {
			continue
		}
		for _, spec := range g.Specs {
			vs := spec.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); ok && id.Name == "string" {
				for _, n := range vs.Names {
					vars[n.Name] = true
				}
			}
		}
	}
	return vars
}
