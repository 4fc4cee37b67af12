# OpsCore images.
#
#   build    Swift toolchain + libhiredis-dev; builds the release `opscore`.
#   test     the build stage plus redis-server; runs `swift test`
#            (docker-compose's `integration-tests` service).
#   runtime  (final, default) slim Swift runtime + libhiredis0.14 + opscore.
#
# Debian bookworm ships hiredis 0.14.1, the version DESIGN.md builds against.

FROM swift:6.1-bookworm AS build
RUN export DEBIAN_FRONTEND=noninteractive \
    && apt-get update -q \
    && apt-get install -y -q --no-install-recommends libhiredis-dev redis-tools \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Resolve dependencies in their own layer so source edits don't refetch them.
# (Package.resolved is git-ignored, so it may be absent; the glob allows that.)
COPY Package.swift Package.resolve[d] ./
RUN swift package resolve
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --product opscore \
    && install -D -m 0755 "$(swift build -c release --show-bin-path)/opscore" /out/opscore

FROM build AS test
# Some tests start a private redis-server (password, restart, kill); the rest
# use OPSCORE_TEST_REDIS_URL when it is set.
RUN export DEBIAN_FRONTEND=noninteractive \
    && apt-get update -q \
    && apt-get install -y -q --no-install-recommends redis-server \
    && rm -rf /var/lib/apt/lists/*
RUN swift build --build-tests
CMD ["swift", "test"]

FROM swift:6.1-bookworm-slim AS runtime
RUN export DEBIAN_FRONTEND=noninteractive \
    && apt-get update -q \
    && apt-get install -y -q --no-install-recommends libhiredis0.14 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --no-create-home --shell /usr/sbin/nologin opscore
COPY --from=build /out/opscore /usr/local/bin/opscore
USER opscore
ENTRYPOINT ["opscore"]
CMD ["--help"]
