#!/usr/bin/env bash
# Installs moto's server mode (a local emulator of the AWS APIs) at a pinned version into its own
# venv, ${NETLAB_CACHE:-~/.cache/netlab}/moto, and prints the path of its `moto_server`. Used by
# the janitor's integration test (test/integration/janitor-moto.test.ts) through npm test's
# pretest. Idempotent: when the venv already holds the pinned version it only prints the path.
# Needs: python3 with venv (Debian: python3-venv, installed here when run as root) and PyPI.
set -euo pipefail

MOTO_VERSION=5.2.6
venv=${NETLAB_CACHE:-$HOME/.cache/netlab}/moto
server=$venv/bin/moto_server
stamp=$venv/netlab-moto-version

say() { echo "netlab moto: $*" >&2; }

if [ -x "$server" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$MOTO_VERSION" ]; then
  echo "$server"
  exit 0
fi

command -v python3 >/dev/null || { say "FAILED: python3 is not on PATH; install python3 (Debian: apt-get install -y python3 python3-venv)"; exit 1; }
if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    say "installing python3-venv (python3 has no venv/ensurepip)"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
  else
    say "FAILED: python3 has no venv module; install it (Debian: apt-get install -y python3-venv, as root)"
    exit 1
  fi
fi

say "installing moto[server]==$MOTO_VERSION into $venv"
rm -rf "$venv"
mkdir -p "$(dirname "$venv")"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --timeout 60 "moto[server]==$MOTO_VERSION" >&2
[ -x "$server" ] || { say "FAILED: pip installed moto but $server is missing"; exit 1; }
echo "$MOTO_VERSION" > "$stamp"
echo "$server"
