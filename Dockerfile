# headroom's image: one static binary (the controller, the router and every
# other subcommand) on distroless static, as uid 65532, no shell.
#
#   make image                      # docker build -t headroom:dev .
#   docker build -t REGISTRY/headroom:TAG .
#
# deploy/image_test.go builds the binary with the same command as the build
# stage below and checks it is static and runs as 65532 with an empty
# environment; keep the two in step (the test reads this file).
ARG GO_VERSION=1.26
FROM golang:${GO_VERSION} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/headroom ./cmd/headroom

FROM gcr.io/distroless/static:nonroot
COPY --from=build /out/headroom /headroom
USER 65532:65532
ENTRYPOINT ["/headroom"]
