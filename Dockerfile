# syntax=docker/dockerfile:1
#
# streamgate container image.
#
#   docker build -t streamgate .
#   docker run --rm -p 8554:8554 -p 8888:8888 streamgate          # serves the built-in demo
#   docker run --rm -v "$PWD/configs:/etc/streamgate:ro" -p 8554:8554 -p 8888:8888 \
#       streamgate -config /etc/streamgate/origin.yml             # your own config
#
# The image ships configs/streamgate.yml (every key at its default, plus the
# demo path) as /etc/streamgate/streamgate.yml and starts with it, so a bare
# `docker run` plays the demo, and mounting a directory over /etc/streamgate
# (or passing another -config) replaces it. See docs/DEPLOY.md.

# Builder: the Go version must be at least the `go` line of go.mod.
ARG GO_VERSION=1.26
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
ENV GOTOOLCHAIN=local
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG TARGETOS TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags="-s -w" -o /out/streamgate ./cmd/streamgate

# Runtime: static binary on distroless, no shell, runs as uid 65532.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/streamgate /streamgate
COPY configs/streamgate.yml /etc/streamgate/streamgate.yml
USER nonroot:nonroot
# RTSP, RTP/RTCP (RTSP over UDP), HTTP (HLS, pages, WHEP/WHIP), WebRTC ICE
# (UDP mux and ICE-TCP on one number), RTSPS (only with a certificate).
EXPOSE 8554/tcp 8000/udp 8001/udp 8888/tcp 8189/udp 8189/tcp 8322/tcp
ENTRYPOINT ["/streamgate"]
CMD ["-config", "/etc/streamgate/streamgate.yml"]
