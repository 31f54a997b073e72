# syntax=docker/dockerfile:1
#
# docker build -t ticketsync --build-arg VERSION="$(git describe --tags --always)" .
# docker run -v ticketsync-state:/var/lib/ticketsync \
#   -v "$PWD/config.yaml:/etc/ticketsync/config.yaml:ro" -p 8080:8080 ticketsync

FROM golang:1.26 AS build
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
# nonroot user (65532), and nothing else: no shell, no libc.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ticketsync /ticketsync
# The directory must exist, owned by nonroot, before the VOLUME line: a new
# named volume is initialised from it, ownership included, so the daemon
# can create state.db and its attachment spool there.
COPY --from=build --chown=65532:65532 /out/state/ /var/lib/ticketsync/
VOLUME /var/lib/ticketsync
# http.listen: Slack callbacks, /healthz, /readyz, /metrics.
EXPOSE 8080
USER nonroot
# Exec form: there is no shell. The check targets 127.0.0.1:8080; with
# another http.listen, override it (--config FILE or --url URL).
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["/ticketsync", "healthcheck"]
ENTRYPOINT ["/ticketsync"]
CMD ["run", "--config", "/etc/ticketsync/config.yaml"]
