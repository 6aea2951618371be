#!/usr/bin/env bash
# `pulumi` for this project: the CLI and plugins from scripts/install-tools.sh, the project's own
# PULUMI_HOME (.pulumi/) and, unless PULUMI_BACKEND_URL says otherwise, a file backend inside the
# project (.pulumi-state/); both are git-ignored. Usage: scripts/pulumi.sh <pulumi args>, e.g.
#   scripts/pulumi.sh stack init local-host && scripts/pulumi.sh up --yes -s local-host
# PULUMI_CONFIG_PASSPHRASE (or _FILE) encrypts the stack's secrets in the file backend. The local
# stacks hold no secrets, so an empty passphrase is used when none is set; set your own for aws
# stacks (their SSH key and kubeconfig are secrets). A wrong one is named after pulumi's error.
# The same environment for TypeScript (netlab sweep, doctor, tests): lib/pulumi/tools.ts pulumiEnv.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${NETLAB_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/netlab/tools}
export PATH=$cache/bin:$PATH
export PULUMI_HOME=$root/.pulumi
export PULUMI_BACKEND_URL=${PULUMI_BACKEND_URL:-file://$root/.pulumi-state}
export PULUMI_SKIP_UPDATE_CHECK=true
# No plugin downloads: the aws and tls providers are not to be had here, and local stacks need
# neither; a stack that does gets the engine's "no resource plugin" error instead of a download.
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=${PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION:-true}
if [ -z "${PULUMI_CONFIG_PASSPHRASE+x}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
  export PULUMI_CONFIG_PASSPHRASE=
fi
if [[ $PULUMI_BACKEND_URL == file://* ]]; then
  mkdir -p "${PULUMI_BACKEND_URL#file://}"
fi
if ! command -v pulumi >/dev/null 2>&1; then
  echo "netlab: no pulumi CLI; run scripts/install-tools.sh (builds it with Go when it cannot be downloaded)" >&2
  exit 1
fi
cd "$root"
# Pulumi's stderr is copied aside (tee ignores Ctrl-C, so pulumi can still report its
# cancellation) to name a passphrase problem after the fact; everything else passes through.
errlog=$(mktemp)
trap 'rm -f "$errlog"' EXIT
exec 3> >(trap '' INT; tee "$errlog" >&2)
tee_pid=$!
set +e
pulumi "$@" 2>&3
rc=$?
set -e
exec 3>&-
wait "$tee_pid" 2>/dev/null || true
if [ "$rc" -ne 0 ] && grep -q 'incorrect passphrase' "$errlog"; then
  echo "netlab: the passphrase is wrong for this stack: its secrets were encrypted (salt: \"encryptionsalt\" in stacks/Pulumi.<stack>.yaml) with another PULUMI_CONFIG_PASSPHRASE. Set the one used at \`pulumi stack init\` (netlab uses an empty one when none is set). Nothing was changed." >&2
elif [ "$rc" -ne 0 ] && grep -q 'passphrase must be set' "$errlog"; then
  echo "netlab: set PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE to the stack's passphrase. Nothing was changed." >&2
fi
exit "$rc"
