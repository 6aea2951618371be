#!/usr/bin/env bash
# Installs the Debian packages netlab uses, only those missing (no apt-get update when nothing is).
# Run as root on Debian/Ubuntu. Used by `npm test`, `npm run quickstart` and `npm run bench`.
# `--test` adds what only the tests need: headless Chromium for the report's browser test.
set -euo pipefail

pkgs=(
  iproute2       # ip, bridge: namespaces, veth, bridge, vxlan, macvlan, ipvlan
  iputils-ping   # path-MTU check
  procps         # sysctl
  nginx-light    # the server
  apache2-utils  # ab
  wrk            # wrk
  curl           # response-size check
  iptables nftables ipset conntrack ipvsadm   # service proxy modes
  clang llvm libbpf-dev bpftool       # eBPF socket load balancing
  shellcheck     # checks generated host scripts
  openssh-client # the ssh target: first-connection check, collect, remote commands
)
if [ "${1:-}" = "--test" ]; then
  pkgs+=(chromium fonts-dejavu-core)   # the report's browser test (headless, via puppeteer-core)
  pkgs+=(debootstrap)                  # the Debian rehearsals (aws host scripts; the ssh target's sshd containers)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "netlab: missing Debian packages: ${missing[*]}; run this script as root (apt-get needs it)" >&2
  exit 1
fi
echo "netlab: installing Debian packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Debian would start the packaged nginx on port 80 of the root namespace; the lab runs its own
# nginx inside namespaces only. policy-rc.d (exit 101 = "not allowed") stops services starting
# during this install; an existing policy file is left alone.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"
  chmod +x "$policy"
  own_policy=1
fi
trap '[ "$own_policy" = 1 ] && rm -f "$policy"' EXIT
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
