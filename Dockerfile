# syntax=docker/dockerfile:1
# The meshrelay image: one static-stdlib binary (`meshrelay server`, `meshrelay agent`, and the
# client verbs) on Debian 12 slim. The Helm charts in charts/ run it.
#
#   docker build -t meshrelay:0.1.0 .
#   docker run --rm meshrelay:0.1.0 --version
#
# Build stage: the Swift toolchain the package needs (swift-tools-version 6.2).
ARG SWIFT_IMAGE=swift:6.2-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${SWIFT_IMAGE} AS build
ARG DEBIAN_FRONTEND=noninteractive
# GRDB links the system SQLite.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libsqlite3-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first, so a source change does not fetch them again. Package.resolved is used
# when present (it is git-ignored today: without it the newest versions the manifest allows are
# resolved).
COPY Package.* ./
RUN swift package resolve $([ -f Package.resolved ] && echo --force-resolved-versions)
# SwiftPM loads every target of the manifest, tests included, before it builds one product.
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --product meshrelay --static-swift-stdlib \
    && install -D -m 0755 "$(swift build -c release --show-bin-path)/meshrelay" /out/meshrelay \
    && /out/meshrelay --version

# Runtime stage: the binary and the few shared libraries it still links with
# --static-swift-stdlib (SQLite, libstdc++), CA certificates and time zones.
FROM ${RUNTIME_IMAGE}
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
    && apt-get install -y --no-install-recommends libsqlite3-0 libstdc++6 ca-certificates tzdata \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 65532 meshrelay \
    && useradd --system --uid 65532 --gid 65532 --home-dir /var/lib/meshrelay --no-create-home \
        --shell /usr/sbin/nologin meshrelay \
    && install -d -o 65532 -g 65532 -m 0750 /var/lib/meshrelay
COPY --from=build /out/meshrelay /usr/local/bin/meshrelay
# Fails the build if a runtime library is missing.
RUN ["/usr/local/bin/meshrelay", "--version"]
USER 65532:65532
WORKDIR /var/lib/meshrelay
# 9900 relay (mutual TLS), 9901 enrolment, 9091 API and metrics; the agent's metrics: 9092.
EXPOSE 9900 9901 9091 9092
ENTRYPOINT ["/usr/local/bin/meshrelay"]
LABEL org.opencontainers.image.title="meshrelay" \
      org.opencontainers.image.description="Multicluster egress control: management server and relay agent"
