#!/usr/bin/env bash
# Make the interop harness (tests/interop) ready on a fresh machine: the exact npm packages of
# the real @livestore/sync-cf 0.3.1 backend (wrangler) and LiveStore Node client, installed from
# the lockfile with every telemetry/update channel off, and miniflare's cf.json seeded so
# wrangler never calls workers.cloudflare.com. Only the npm registry is contacted. Install
# scripts are skipped: workerd/esbuild binaries come from their platform packages.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="$root/tests/interop"

die() {
  echo "setup-interop: ERROR: $*" >&2
  exit 1
}

command -v node >/dev/null || die "node is not installed (Node >= 20 is required)"
command -v npm >/dev/null || die "npm is not installed"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$node_major" -ge 20 ] || die "Node >= 20 is required, found $(node --version)"

export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
export WRANGLER_SEND_METRICS=false DO_NOT_TRACK=1 NEXT_TELEMETRY_DISABLED=1

seed_cf() {
  mkdir -p "$dir/node_modules/.mf"
  cp "$dir/cf.json" "$dir/node_modules/.mf/cf.json"
}

# Fast path: the installed tree already matches the lockfile (INTEROP_REINSTALL=1 forces npm ci).
stamp="$dir/node_modules/.setup-interop.sha256"
want="$(cd "$dir" && cat package.json package-lock.json .npmrc | sha256sum | cut -d' ' -f1)"
if [ "${INTEROP_REINSTALL:-0}" != 1 ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] &&
  [ -x "$dir/node_modules/.bin/wrangler" ]; then
  seed_cf
  echo "setup-interop: already installed from this lockfile (INTEROP_REINSTALL=1 to redo)"
  exit 0
fi

registry="$(cd "$dir" && npm config get registry)"
echo "setup-interop: checking the npm registry $registry"
if ! (cd "$dir" && npm ping --fetch-timeout=20000 --fetch-retries=1 >/dev/null 2>&1); then
  die "cannot reach the npm registry $registry; the interop tests need it once to install"
fi

start=$(date +%s.%N)
(cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=warn) ||
  die "npm ci failed in $dir (see the output above)"
end=$(date +%s.%N)

seed_cf

[ -x "$dir/node_modules/.bin/wrangler" ] || die "wrangler is missing after npm ci"
(cd "$dir" && node_modules/.bin/wrangler --version >/dev/null) || die "wrangler does not run"
[ -d "$dir/node_modules/@livestore/adapter-node" ] || die "@livestore/adapter-node is missing"
echo "$want" >"$stamp"

awk -v s="$start" -v e="$end" 'BEGIN { printf "setup-interop: ready (npm ci took %.1f s)\n", e - s }' 
