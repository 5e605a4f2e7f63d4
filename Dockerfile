# syntax=docker/dockerfile:1
# Static botauthz and botctl on a distroless base, running as non-root, for
# linux/amd64 and linux/arm64 (make image, or):
#   docker buildx build --platform linux/amd64,linux/arm64 \
#     --build-arg VERSION=0.1.0 --build-arg REVISION=$(git rev-parse HEAD) \
#     -t ghcr.io/botauthz/botauthz:0.1.0 .
# The build stage runs on the builder's own platform and cross-compiles for
# the target's (TARGETOS, TARGETARCH): no emulation, one Go toolchain.
FROM --platform=$BUILDPLATFORM golang:1.26 AS build
ARG TARGETOS
ARG TARGETARCH
# .git is not in the build context (.dockerignore), so the Go command
# records no commit: the build arguments stamp it (buildinfo). An empty
# VERSION keeps the release version in the code.
ARG VERSION=""
ARG REVISION=""
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} go build -trimpath \
      -ldflags="-s -w -X github.com/botauthz/botauthz/buildinfo.version=${VERSION} -X github.com/botauthz/botauthz/buildinfo.revision=${REVISION}" \
      -o /out/ ./cmd/botauthz ./cmd/botctl

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=""
ARG REVISION=""
LABEL org.opencontainers.image.title="botauthz" \
      org.opencontainers.image.description="Envoy external authorization that tells people from automation" \
      org.opencontainers.image.source="https://github.com/botauthz/botauthz" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
COPY --from=build /out/botauthz /out/botctl /usr/local/bin/
EXPOSE 9001 8080 9090
# distroless' nonroot user, by number: Kubernetes' runAsNonRoot can only
# verify a numeric user (k8s/botauthz.yaml sets the same runAsUser).
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/botauthz"]
