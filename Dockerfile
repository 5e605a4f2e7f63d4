# Static botauthz and botctl on a distroless base, running as non-root.
#   docker build -t botauthz .
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/ ./cmd/botauthz ./cmd/botctl

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/botauthz /out/botctl /usr/local/bin/
EXPOSE 9001 8080 9090
# distroless' nonroot user, by number: Kubernetes' runAsNonRoot can only
# verify a numeric user (k8s/botauthz.yaml sets the same runAsUser).
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/botauthz"]
