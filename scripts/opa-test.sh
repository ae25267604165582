#!/usr/bin/env bash
# Runs the Rego unit tests (policies/), then the decision fixtures of every set in fixtures/static/
# through fixtures/fixtures_test.rego, with the pinned OPA. Prints the unit tests verbosely, one
# summary line per run, and opa's output in full for a failing run; exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
opa=$(bash scripts/ensure-tools.sh opa | sed -n 's/^opa=//p')
[ -n "$opa" ] || { echo "opa-test: no opa binary (scripts/ensure-tools.sh failed)" >&2; exit 1; }

failed=0
# run <label> <note> <opa test arguments...>: opa's output when asked (-v) or when the run fails,
# a summary line always.
run() {
  local label=$1 note=$2 out rc counts
  shift 2
  out=$("$opa" test --fail-on-empty "$@" 2>&1)
  rc=$?
  counts=$(grep -E '^(PASS|FAIL|ERROR): ' <<<"$out" | paste -sd ' ')
  [[ " $* " == *" -v "* && "$rc" -eq 0 ]] && echo "$out"
  if [ "$rc" -eq 0 ]; then
    echo "opa-test: ok     $label: ${counts:-no results}$note"
  else
    failed=$((failed + 1))
    echo "$out"
    echo "opa-test: FAILED $label (exit $rc): ${counts:-no results}$note"
  fi
}

run "policies/" "" -v policies/

sets=0
for dir in fixtures/static/*/; do
  set=$(basename "$dir")
  for f in rbac.yaml cases.yaml; do
    [ -f "$dir$f" ] || { echo "opa-test: FAILED fixtures $set: $dir$f is missing"; failed=$((failed + 1)); continue 2; }
  done
  sets=$((sets + 1))
  files=(policies/lokistack.rego fixtures/fixtures_test.rego "${dir}rbac.yaml" "${dir}cases.yaml")
  # The cases that need the HTTP layer are named, so that nobody reads the count as the whole set.
  split=$("$opa" eval -f raw "${files[@]/#/--data=}" \
    'sprintf("%d of %d cases; %d HTTP-only left to npm test", [count(data.lokistack_fixtures_test.runnable), count(data.cases), count(data.cases) - count(data.lokistack_fixtures_test.runnable)])' 2>/dev/null)
  run "fixtures $set" "${split:+ ($split)}" "${files[@]}"
done
if [ "$sets" -eq 0 ]; then
  echo "opa-test: FAILED no fixture sets under fixtures/static/"
  failed=$((failed + 1))
fi

[ "$failed" -eq 0 ] || { echo "opa-test: $failed run(s) failed"; exit 1; }
echo "opa-test: all passed (policies/ and $sets fixture sets)"
