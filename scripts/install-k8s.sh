#!/usr/bin/env bash
# Installs the real Kubernetes components the embedded lab can run (issue 16), at the versions
# pinned in tools/k8s/versions.env, and says where each came from. Idempotent: a second run checks
# and returns in about a second.
#
#   kube-apiserver, kube-proxy, kubectl   tools/k8s/k8s        (k8s.io/kubernetes)
#   etcd, etcdctl                         tools/k8s/etcd       (go.etcd.io/etcd)
#   flanneld                              tools/k8s/flanneld   (github.com/flannel-io/flannel, cgo)
#   flannel (CNI plugin)                  tools/k8s/flannel-cni (containernetworking/plugins v0.9.1)
#   cnitool                               tools/k8s/cnitool    (containernetworking/cni)
#   bridge, host-local, loopback, portmap tools/k8s/cni-plugins (containernetworking/plugins)
#
# Each program: 1. on PATH at the pinned version (the ones that print a version)  2. the official
# release download (amd64, checked against its published SHA-256)  3. a Go build of the wrapper
# module, cached under <cache>/k8s/<family>-<hash of go.mod and go.sum>/, so a changed pin builds
# again. Everything is linked from <cache>/k8s/bin, where lib/k8s/tools.ts looks.
#
# Cold, from nothing: about 1,200 CPU-seconds of Go builds and 1.1 GB of modules (the figures in
# tools/k8s/README.md). Needs Go >= 1.26 and gcc (flanneld) for the Go build.
#   bash scripts/install-k8s.sh [family…]   only these (k8s etcd flanneld flannel-cni cnitool
#                                           cni-plugins; default all; the others are reported as skipped)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=../tools/k8s/versions.env
. "$root/tools/k8s/versions.env"
cache=${NETLAB_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/netlab/tools}/k8s
bin=$cache/bin
download_timeout=${NETLAB_DOWNLOAD_TIMEOUT:-10}
only=${*:-k8s etcd flanneld flannel-cni cnitool cni-plugins}
mkdir -p "$bin"

say() { echo "netlab k8s: $*" >&2; }
fail() {
  echo "netlab k8s: FAILED: $1" >&2
  echo "netlab k8s: what to do: $2" >&2
  exit 1
}
declare -A source

case $(uname -m) in
  x86_64) arch=amd64 ;;
  aarch64) arch=arm64 ;;
  *) arch= ;;
esac

# The cache directory of a family: its name and a hash of its wrapper module.
family_dir() {
  local d=$root/tools/k8s/$1
  echo "$cache/$1-$(cd "$d" && find . -name 'go.mod' -o -name 'go.sum' | LC_ALL=C sort | xargs cat | sha256sum | cut -c1-12)"
}

# Whether <file> prints <want> (a fixed string) when run with <args>.
prints() {
  local file=$1 want=$2 out
  shift 2
  [ -x "$file" ] || return 1
  # The whole output first: grep -q stopping early would break the pipe (and, with pipefail, the test).
  out=$("$file" "$@" 2>&1) || true
  grep -qF -- "$want" <<< "$out"
}

# download <url> <sha256 url> <out>: fetch and check; false (and nothing left) on any failure.
download() {
  local url=$1 sum_url=$2 out=$3 want
  [ -n "$arch" ] || return 1
  curl -fsSL --connect-timeout "$download_timeout" --max-time 600 "$url" -o "$out.part" 2>/dev/null || {
    rm -f "$out.part"
    return 1
  }
  want=$(curl -fsSL --connect-timeout "$download_timeout" --max-time 60 "$sum_url" 2>/dev/null | grep -F "$(basename "$url")" | awk '{ print $1 }' | head -n1) || true
  # dl.k8s.io's .sha256 files hold the bare hash.
  [ -n "$want" ] || want=$(curl -fsSL --connect-timeout "$download_timeout" --max-time 60 "$sum_url" 2>/dev/null | awk 'NF == 1 { print $1 }' | head -n1) || true
  if [ -z "$want" ] || [ "$(sha256sum "$out.part" | cut -d' ' -f1)" != "$want" ]; then
    say "  $url: no published SHA-256 to check it against, or it does not match; not used"
    rm -f "$out.part"
    return 1
  fi
  mv "$out.part" "$out"
}

# go_build <family> <out dir> <ldflags> <package>...: build in the wrapper module, sources pinned
# by its go.sum (-mod=readonly: a go.sum that does not cover the build is an error, not an update).
go_build() {
  local family=$1 out=$2 ldflags=$3
  shift 3
  command -v go >/dev/null 2>&1 || fail "$family: no official download here, and no Go to build it" "install Go >= 1.26 (https://go.dev/dl), then run: bash scripts/install-k8s.sh"
  mkdir -p "$out.tmp"
  say "  go build $* (several minutes on a cold cache)"
  local t0
  t0=$(date +%s)
  (cd "$root/tools/k8s/$family" && GOFLAGS="${GOFLAGS:-} -trimpath -mod=readonly" go build -o "$out.tmp/" -ldflags "-s -w $ldflags" "$@") ||
    fail "Go build of $family (tools/k8s/$family)" "check the error above (module proxy reachable? go env GOPROXY); then run: bash scripts/install-k8s.sh"
  rm -rf "$out"
  mv "$out.tmp" "$out"
  build_seconds=$(($(date +%s) - t0))
}

# link <name> <path>: <cache>/k8s/bin/<name> → path.
link() { ln -sfn "$2" "$bin/$1"; }

# --- kube-apiserver, kube-proxy, kubectl -----------------------------------------------------

install_k8s() {
  local v=$KUBERNETES_VERSION dir names=(kube-apiserver kube-proxy kubectl) n all
  dir=$(family_dir k8s)
  # kubectl has no --version; `kubectl version --client` prints "Client Version: v1.37.2".
  check() { if [ "$2" = kubectl ]; then prints "$1" "Client Version: $v" version --client; else prints "$1" "Kubernetes $v" --version; fi; }
  all=1
  for n in "${names[@]}"; do check "$(command -v "$n" || true)" "$n" || all=; done
  if [ -n "$all" ]; then
    for n in "${names[@]}"; do link "$n" "$(command -v "$n")"; done
    source[k8s]="on PATH: $(dirname "$(command -v kube-proxy)")"
    return
  fi
  all=1
  for n in "${names[@]}"; do check "$dir/bin/$n" "$n" || all=; done
  if [ -z "$all" ] && [ -n "$arch" ]; then
    say "kubernetes $v: trying the official release (dl.k8s.io, ${download_timeout}s to connect)"
    mkdir -p "$dir/release"
    all=1
    for n in "${names[@]}"; do
      download "https://dl.k8s.io/release/$v/bin/linux/$arch/$n" "https://dl.k8s.io/release/$v/bin/linux/$arch/$n.sha256" "$dir/release/$n" && chmod +x "$dir/release/$n" && check "$dir/release/$n" "$n" || all=
    done
    if [ -n "$all" ]; then
      for n in "${names[@]}"; do link "$n" "$dir/release/$n"; done
      source[k8s]="official release: $dir/release"
      return
    fi
  fi
  if [ -z "$all" ]; then
    say "kubernetes $v: building kube-apiserver, kube-proxy and kubectl from tools/k8s/k8s"
    local minor=${v#v1.}
    minor=${minor%%.*}
    go_build k8s "$dir/bin" "-X k8s.io/component-base/version.gitVersion=$v -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean" \
      k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-proxy k8s.io/kubernetes/cmd/kubectl
    source[k8s]="Go build ($build_seconds s): $dir/bin"
  else
    source[k8s]="Go build (cached): $dir/bin"
  fi
  for n in "${names[@]}"; do
    check "$dir/bin/$n" "$n" || fail "$dir/bin/$n does not report $v" "delete $dir and run: bash scripts/install-k8s.sh"
    link "$n" "$dir/bin/$n"
  done
}

# --- etcd, etcdctl ---------------------------------------------------------------------------

install_etcd() {
  local v=$ETCD_VERSION dir
  dir=$(family_dir etcd)
  local want="etcd Version: ${v#v}" wantctl="etcdctl version: ${v#v}"
  if prints "$(command -v etcd || true)" "$want" --version && prints "$(command -v etcdctl || true)" "$wantctl" version; then
    link etcd "$(command -v etcd)"
    link etcdctl "$(command -v etcdctl)"
    source[etcd]="on PATH: $(command -v etcd)"
    return
  fi
  if ! prints "$dir/bin/etcd" "$want" --version && [ -n "$arch" ]; then
    say "etcd $v: trying the official release (github.com/etcd-io/etcd, ${download_timeout}s to connect)"
    local tgz=etcd-$v-linux-$arch.tar.gz
    mkdir -p "$dir/release"
    if download "https://github.com/etcd-io/etcd/releases/download/$v/$tgz" "https://github.com/etcd-io/etcd/releases/download/$v/SHA256SUMS" "$dir/$tgz" &&
      tar -xzf "$dir/$tgz" -C "$dir/release" --strip-components=1 && rm -f "$dir/$tgz" && prints "$dir/release/etcd" "$want" --version; then
      link etcd "$dir/release/etcd"
      link etcdctl "$dir/release/etcdctl"
      source[etcd]="official release: $dir/release"
      return
    fi
  fi
  if prints "$dir/bin/etcd" "$want" --version && prints "$dir/bin/etcdctl" "$wantctl" version; then
    source[etcd]="Go build (cached): $dir/bin"
  else
    say "etcd $v: building etcd and etcdctl from tools/k8s/etcd"
    # go names the server's binary after the element before its /v3 suffix: "server".
    go_build etcd "$dir/bin" "" go.etcd.io/etcd/server/v3 go.etcd.io/etcd/etcdctl/v3
    mv "$dir/bin/server" "$dir/bin/etcd"
    source[etcd]="Go build ($build_seconds s): $dir/bin"
  fi
  prints "$dir/bin/etcd" "$want" --version || fail "$dir/bin/etcd does not report ${v#v}" "delete $dir and run: bash scripts/install-k8s.sh"
  link etcd "$dir/bin/etcd"
  link etcdctl "$dir/bin/etcdctl"
}

# --- flanneld --------------------------------------------------------------------------------

install_flanneld() {
  local v=$FLANNEL_VERSION dir
  dir=$(family_dir flanneld)
  if prints "$(command -v flanneld || true)" "$v" --version; then
    link flanneld "$(command -v flanneld)"
    source[flanneld]="on PATH: $(command -v flanneld)"
    return
  fi
  if ! prints "$dir/bin/flanneld" "$v" --version && [ -n "$arch" ]; then
    say "flanneld $v: trying the official release (github.com/flannel-io/flannel, ${download_timeout}s to connect)"
    mkdir -p "$dir/release"
    if download "https://github.com/flannel-io/flannel/releases/download/$v/flanneld-$arch" "https://github.com/flannel-io/flannel/releases/download/$v/sha256sum.txt" "$dir/release/flanneld" &&
      chmod +x "$dir/release/flanneld" && prints "$dir/release/flanneld" "$v" --version; then
      link flanneld "$dir/release/flanneld"
      source[flanneld]="official release: $dir/release/flanneld"
      return
    fi
  fi
  if prints "$dir/bin/flanneld" "$v" --version; then
    source[flanneld]="Go build (cached): $dir/bin/flanneld"
  else
    say "flanneld $v: building from tools/k8s/flanneld (cgo: its udp backend needs it)"
    command -v gcc >/dev/null 2>&1 || fail "flanneld needs cgo, and there is no gcc" "apt-get install gcc, then run: bash scripts/install-k8s.sh"
    CGO_ENABLED=1 go_build flanneld "$dir/bin" "-X github.com/flannel-io/flannel/pkg/version.Version=$v" github.com/flannel-io/flannel
    mv "$dir/bin/flannel" "$dir/bin/flanneld"
    source[flanneld]="Go build ($build_seconds s): $dir/bin/flanneld"
  fi
  prints "$dir/bin/flanneld" "$v" --version || fail "$dir/bin/flanneld does not report $v" "delete $dir and run: bash scripts/install-k8s.sh"
  link flanneld "$dir/bin/flanneld"
}

# --- CNI: the flannel plugin, cnitool, the reference plugins ----------------------------------
# CNI plugins print no version of their own build, so only the cache and the release are used:
# the cache directory's name carries the wrapper module's hash.

install_cni_plugins() {
  local family=$1 v=$2 names=$3 dir n all
  dir=$(family_dir "$family")
  all=1
  for n in $names; do [ -x "$dir/bin/$n" ] || all=; done
  if [ -z "$all" ] && [ -n "$arch" ]; then
    say "CNI plugins $v: trying the official release (github.com/containernetworking/plugins, ${download_timeout}s to connect)"
    local tgz=cni-plugins-linux-$arch-$v.tgz
    mkdir -p "$dir/release"
    if download "https://github.com/containernetworking/plugins/releases/download/$v/$tgz" "https://github.com/containernetworking/plugins/releases/download/$v/$tgz.sha256" "$dir/$tgz" &&
      tar -xzf "$dir/$tgz" -C "$dir/release" && rm -f "$dir/$tgz"; then
      for n in $names; do link "$n" "$dir/release/$n"; done
      source[$family]="official release: $dir/release"
      return
    fi
  fi
  if [ -n "$all" ]; then
    source[$family]="Go build (cached): $dir/bin"
  else
    say "CNI plugins $v ($names): building from tools/k8s/$family"
    local pkgs=() p=github.com/containernetworking/plugins/plugins
    for n in $names; do
      case $n in
        flannel | portmap) pkgs+=("$p/meta/$n") ;;
        host-local) pkgs+=("$p/ipam/$n") ;;
        *) pkgs+=("$p/main/$n") ;;
      esac
    done
    go_build "$family" "$dir/bin" "-X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=$v" "${pkgs[@]}"
    source[$family]="Go build ($build_seconds s): $dir/bin"
  fi
  for n in $names; do link "$n" "$dir/bin/$n"; done
}

install_cnitool() {
  local dir
  dir=$(family_dir cnitool)
  if [ -x "$dir/bin/cnitool" ]; then
    source[cnitool]="Go build (cached): $dir/bin/cnitool"
  else
    say "cnitool $CNI_VERSION: building from tools/k8s/cnitool (it has no release binary)"
    go_build cnitool "$dir/bin" "" github.com/containernetworking/cni/cnitool
    source[cnitool]="Go build ($build_seconds s): $dir/bin/cnitool"
  fi
  link cnitool "$dir/bin/cnitool"
}

# --- run -------------------------------------------------------------------------------------

for family in $only; do
  case $family in
    k8s) install_k8s ;;
    etcd) install_etcd ;;
    flanneld) install_flanneld ;;
    flannel-cni) install_cni_plugins flannel-cni "$FLANNEL_CNI_VERSION" flannel ;;
    cnitool) install_cnitool ;;
    cni-plugins) install_cni_plugins cni-plugins "$CNI_PLUGINS_VERSION" "bridge host-local loopback portmap" ;;
    *) fail "no family $family" "name some of: k8s etcd flanneld flannel-cni cnitool cni-plugins (or none for all)" ;;
  esac
done

say "kube-apiserver, kube-proxy, kubectl $KUBERNETES_VERSION  ${source[k8s]:-skipped}"
say "etcd, etcdctl $ETCD_VERSION                       ${source[etcd]:-skipped}"
say "flanneld $FLANNEL_VERSION                          ${source[flanneld]:-skipped}"
say "flannel CNI plugin $FLANNEL_CNI_VERSION                 ${source[flannel-cni]:-skipped}"
say "cnitool $CNI_VERSION                            ${source[cnitool]:-skipped}"
say "bridge, host-local, loopback, portmap $CNI_PLUGINS_VERSION ${source[cni-plugins]:-skipped}"
say "all linked from $bin"
