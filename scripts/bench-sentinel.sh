#!/usr/bin/env bash
# `opscore bench` through Sentinel: update at one connection with and without
# `WAIT 1`, then the primary shut down under a writer and the time until an update
# succeeds through the promoted replica. Starts and stops its own deployment.
# Usage: scripts/bench-sentinel.sh [BINARY] [bench options…]
set -euo pipefail
bin=${1:-.build/release/opscore}
shift || true
dir=$(mktemp -d)
# shellcheck source=lib/private-sentinel.sh
source "$(dirname "$0")/lib/private-sentinel.sh"
trap 'stop_private_sentinel "$dir"; rm -rf "$dir"' EXIT
start_private_sentinel "$dir"
"$bin" --redis-url "$SENTINEL_URL" bench --connections 1 --failover "$@"
