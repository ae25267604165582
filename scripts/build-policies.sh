#!/usr/bin/env bash
# Compiles each policy in policies/ to WebAssembly with the pinned OPA compiler, limited to the
# built-ins that @open-policy-agent/opa-wasm implements, and writes wasm/<name>.wasm.
# The output is deterministic: CI rebuilds it and fails when it differs from what is committed.
set -euo pipefail
cd "$(dirname "$0")/.."
opa=$(bash scripts/ensure-tools.sh opa | sed -n 's/^opa=//p')
caps=node_modules/@open-policy-agent/opa-wasm/capabilities.json
[ -f "$caps" ] || { echo "build-policies: $caps is missing: run npm ci first" >&2; exit 1; }

# policy file -> the entrypoints it is served under (the Data API paths)
declare -A entrypoints=(
  [lokistack]="lokistack/allow lokistack/label_policy lokistack lokistack_reasons/why"
)
# policy file -> the other Rego files compiled with it. policies/reasons.rego says why lokistack
# decided; the service evaluates it only when a reason is wanted and hides it from the Data API.
declare -A companions=(
  [lokistack]="policies/reasons.rego"
)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The SDK's capabilities.json predates Rego v1, so the compiler's own capabilities are used with their
# built-ins narrowed to those the SDK implements: a policy calling anything else fails to build.
"$opa" capabilities --current > "$work/current.json"
node -e '
  const fs = require("fs");
  const [current, sdk, out] = process.argv.slice(1);
  const caps = JSON.parse(fs.readFileSync(current, "utf8"));
  const known = new Set(JSON.parse(fs.readFileSync(sdk, "utf8")).builtins.map((b) => b.name));
  caps.builtins = caps.builtins.filter((b) => known.has(b.name));
  fs.writeFileSync(out, JSON.stringify(caps));
' "$work/current.json" "$caps" "$work/capabilities.json"
mkdir -p wasm
for name in "${!entrypoints[@]}"; do
  args=()
  for e in ${entrypoints[$name]}; do args+=(-e "$e"); done
  "$opa" build -t wasm --capabilities "$work/capabilities.json" "${args[@]}" -o "$work/$name.tar.gz" "policies/$name.rego" ${companions[$name]:-}
  tar -xzOf "$work/$name.tar.gz" --absolute-names /policy.wasm > "wasm/$name.wasm"
  echo "build-policies: wasm/$name.wasm ($(stat -c %s "wasm/$name.wasm") bytes; entrypoints: ${entrypoints[$name]})"
done
