# syntax=docker/dockerfile:1
#
# docker build -t ticketsync --build-arg VERSION="$(git describe --tags --always)" .
# docker run -v ticketsync-state:/var/lib/ticketsync \
#   -v "$PWD/config.yaml:/etc/ticketsync/config.yaml:ro" -p 8080:8080 ticketsync
#
# Both base images are pinned by digest, so a rebuild of the same commit
# uses the same compiler and the same runtime files, and a tag pushed
# again upstream changes nothing here until someone updates the digest on
# purpose. The digest is that of the multi-platform index, so every
# platform the image offers still builds. To update, pick the new tag and
# take its digest with either of
#   docker buildx imagetools inspect golang:1.26.8-bookworm    (the "Digest:" line)
#   crane digest golang:1.26.8-bookworm
# then replace tag and digest together, and keep the Go version the same
# as the one .ci/run tests with.

FROM golang:1.26.8-bookworm@sha256:a688600ca24f8a4d3ca77f95b0dd40704a9fc787c826660eb7ba0b641b8b175d AS build
WORKDIR /src
# Modules first: this layer is reused until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
# .git is not in the build context, so the version comes from here.
ARG VERSION=""
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    TICKETSYNC_VERSION="${VERSION}" GOFLAGS=-mod=readonly scripts/build-static.sh /out \
 && mkdir /out/state

# static-debian12 has CA certificates, tzdata and /etc/passwd with the
# nonroot user (65532), and nothing else: no shell, no libc. Same update
# procedure as above, with gcr.io/distroless/static-debian12:nonroot.
FROM gcr.io/distroless/static-debian12:nonroot@sha256:afa5c872c891853ca7fcf1f12c3edb23f7eeef36189728842dd51042ff57f7ab
COPY --from=build /out/ticketsync /ticketsync
# The directory must exist, owned by nonroot, before the VOLUME line: a new
# named volume is initialised from it, ownership included, so the daemon
# can create state.db and its attachment spool there.
COPY --from=build --chown=65532:65532 /out/state/ /var/lib/ticketsync/
VOLUME /var/lib/ticketsync
# http.listen: Slack callbacks; also /healthz, /readyz and /metrics unless
# http.metrics_listen moves them to a port of their own (then publish
# only this one).
EXPOSE 8080
USER nonroot
# Liveness, not readiness: the check asks /healthz, which fails only when
# the process no longer serves HTTP. /readyz also fails while IMAP or
# TaskIP is unreachable, and Docker with autoheal, ECS or Swarm would then
# restart the container over and over for the length of an outage that a
# restart cannot fix. --config finds /healthz where the daemon serves it
# (http.metrics_listen when set, else http.listen); it reads the same file,
# environment and secret files as the daemon, so keep it in step with CMD.
# Exec form: there is no shell.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["/ticketsync", "healthcheck", "--config", "/etc/ticketsync/config.yaml"]
ENTRYPOINT ["/ticketsync"]
CMD ["run", "--config", "/etc/ticketsync/config.yaml"]
