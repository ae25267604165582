#!/usr/bin/env bash
# Finds the real peers the project is proven against, and prints `name=path` for each:
#   opa-openshift=PATH       observatorium/opa-openshift (the authorizer this service replaces)
#   observatorium-api=PATH   observatorium/api (the LokiStack gateway)
# Each comes from its environment variable (OPA_OPENSHIFT_BIN, OBSERVATORIUM_API_BIN) when set,
# else from the prebuilt copies in ../shared/peers beside the project root (its unpack.sh
# decompresses them into a cache and prints the directory). For a git worktree, ../shared beside
# the main checkout is looked at too. With arguments (`opa-openshift`, `observatorium-api`), only
# those. A peer that cannot be found is reported on stderr and the exit status is 1; the ones found
# are still printed. README.md ("Real peers") says how to build them elsewhere.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

# Candidate ../shared/peers directories: beside this checkout, then beside the main checkout.
shared_dirs() {
  echo "$root/../shared/peers"
  local common
  if common=$(git -C "$root" rev-parse --path-format=absolute --git-common-dir 2>/dev/null); then
    echo "$(dirname "$common")/../shared/peers"
  fi
}

unpacked=
unpack() {
  [ -n "$unpacked" ] && { echo "$unpacked"; return 0; }
  local d
  while read -r d; do
    if [ -f "$d/unpack.sh" ]; then
      unpacked=$(bash "$d/unpack.sh" | tail -n 1) || return 1
      echo "$unpacked"
      return 0
    fi
  done < <(shared_dirs)
  return 1
}

status=0
find_peer() {
  local name=$1 var=$2 path dir
  path=${!var:-}
  if [ -n "$path" ]; then
    [ -x "$path" ] || { echo "peers.sh: $var=$path is not an executable file" >&2; status=1; return; }
  elif dir=$(unpack) && [ -x "$dir/$name" ]; then
    path=$dir/$name
  else
    echo "peers.sh: $name not found: set $var, or put the prebuilt peers in ../shared/peers (see README.md, Real peers)" >&2
    status=1
    return
  fi
  echo "$name=$path"
}

[ $# -gt 0 ] || set -- opa-openshift observatorium-api
for peer in "$@"; do
  case $peer in
    opa-openshift) find_peer opa-openshift OPA_OPENSHIFT_BIN ;;
    observatorium-api) find_peer observatorium-api OBSERVATORIUM_API_BIN ;;
    *) echo "peers.sh: unknown peer '$peer' (known: opa-openshift, observatorium-api)" >&2; exit 2 ;;
  esac
done
exit $status
