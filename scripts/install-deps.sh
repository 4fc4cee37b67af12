#!/usr/bin/env bash
# Installs what OpsCore needs on Debian: hiredis headers, Redis, iproute2, docker-compose (for `config -q`).
# Swift itself must already be installed (https://www.swift.org/install/linux/).
set -euo pipefail
need=()
[ -f /usr/include/hiredis/hiredis.h ] || need+=(libhiredis-dev)
command -v redis-server >/dev/null || need+=(redis-server)
command -v redis-cli >/dev/null || need+=(redis-tools)
command -v ip >/dev/null || need+=(iproute2)
command -v python3 >/dev/null || need+=(python3)
if [ "${1:-}" = "--with-compose" ]; then
  command -v docker-compose >/dev/null || need+=(docker-compose)
fi
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing: ${need[*]}" >&2
$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# Debian's package may start a system redis-server on 6379; OpsCore's tests start their own servers.
