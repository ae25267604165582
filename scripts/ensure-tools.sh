#!/usr/bin/env bash
# Installs the pinned Go-built tools (the OPA CLI, kustomize) with `go install` unless they are
# already there, then prints `name=path` for each. A tool on PATH of the pinned version is used as
# it is. With arguments (`opa`, `kustomize`), only those tools; without, all of them.
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

[ $# -gt 0 ] || set -- opa kustomize
for tool in "$@"; do
  case $tool in
    opa) ensure_opa ;;
    kustomize) ensure_kustomize ;;
    *) echo "ensure-tools: unknown tool '$tool' (known: opa, kustomize)" >&2; exit 2 ;;
  esac
done
