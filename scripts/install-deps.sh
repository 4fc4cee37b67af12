#!/usr/bin/env bash
# Installs what OpsCore needs on Debian: hiredis headers, Redis, iproute2, docker-compose (for `config -q`),
# and the system tests' Python packages (pytest, redis-py), pinned in Tests/System/requirements.txt.
# Swift itself must already be installed (https://www.swift.org/install/linux/).
set -euo pipefail
need=()
[ -f /usr/include/hiredis/hiredis.h ] || need+=(libhiredis-dev)
command -v redis-server >/dev/null || need+=(redis-server)
command -v redis-cli >/dev/null || need+=(redis-tools)
command -v ip >/dev/null || need+=(iproute2)
command -v python3 >/dev/null || need+=(python3)
with_compose=0 with_system_tests=0
for option in "$@"; do
  case "$option" in
    --with-compose) with_compose=1 ;;
    --with-system-tests) with_system_tests=1 ;;
    *) echo "usage: $0 [--with-compose] [--with-system-tests]" >&2; exit 64 ;;
  esac
done
if [ "$with_compose" -eq 1 ]; then
  command -v docker-compose >/dev/null || need+=(docker-compose)
fi
if [ "$with_system_tests" -eq 1 ]; then
  python3 -m pip --version >/dev/null 2>&1 || need+=(python3-pip)
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}" >&2
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if [ "$with_system_tests" -eq 1 ]; then
  # The pinned versions, every time (pip does nothing when they are there already).
  requirements="$(dirname "$0")/../Tests/System/requirements.txt"
  # Debian's own python3 refuses pip installs outside a virtual environment (PEP 668).
  python3 -m pip install -q --disable-pip-version-check -r "$requirements" 2>/dev/null \
    || python3 -m pip install -q --disable-pip-version-check --break-system-packages -r "$requirements"
fi
# Debian's package may start a system redis-server on 6379; OpsCore's tests start their own servers.
