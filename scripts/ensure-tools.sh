#!/usr/bin/env bash
# Installs the pinned Go-built tools (the OPA CLI) with `go install` unless they are already there,
# then prints `name=path` for each. An `opa` on PATH of the pinned version is used as it is.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tools.env
. "$here/tools.env"

opa_ok() { [ -x "$1" ] && "$1" version 2>/dev/null | grep -qx "Version: ${OPA_VERSION#v}"; }

if on_path=$(command -v opa 2>/dev/null) && opa_ok "$on_path"; then
  OPA_BIN=$on_path
elif ! opa_ok "$OPA_BIN"; then
  command -v go >/dev/null || { echo "ensure-tools: Go is needed to install OPA $OPA_VERSION" >&2; exit 1; }
  echo "ensure-tools: installing OPA $OPA_VERSION with go install (about a minute)" >&2
  mkdir -p "$(dirname "$OPA_BIN")"
  CGO_ENABLED=0 GOBIN="$(dirname "$OPA_BIN")" GOFLAGS=-mod=mod \
    go install "github.com/open-policy-agent/opa@$OPA_VERSION" >&2
  opa_ok "$OPA_BIN" || { echo "ensure-tools: $OPA_BIN is not OPA $OPA_VERSION" >&2; exit 1; }
fi
echo "opa=$OPA_BIN"
