#!/usr/bin/env bash
# Opt-in check (issue 23): the runt web app (runtimed/anode) shows artifact outputs from our
# sync server as it shows its own. Not part of `make test`/CI: anode's source is on no registry
# these machines reach (GitHub is not reachable), and its install + build take ~2 minutes.
#
#   ANODE_DIR=<anode checkout or git dir> scripts/check-webapp.sh
#
# ANODE_DIR: a working tree, or a git directory (ANODE_REF, default HEAD, is exported from it;
# checked with runtimed/anode a2b52706). The tree is copied to $RUNT_WEBAPP_BUILD (default
# .cache/webapp), its packages installed from its own pnpm lockfile through the npm registry,
# and tests/interop/webapp/main.tsx built against it (anode's LiveStore adapter, schema and
# output components; the login/tRPC shell left out), with anode's output iframe beside it.
# Then tests/interop/webapp/check_webapp.py drives it in Debian's Chromium; the screenshot goes
# to $RUNT_SCREENSHOTS (default .cache/webapp/screenshots). The one package of anode's lockfile the npm registry lacks
# (geojson-map-fit-mercator, only for GeoJSON maps) is left out and said so below.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${RUNT_WEBAPP_BUILD:-$root/.cache/webapp}"
tree="$build/anode"
check="$root/tests/interop/webapp"

die() {
  echo "check-webapp: ERROR: $*" >&2
  exit 1
}

[ -n "${ANODE_DIR:-}" ] || die "set ANODE_DIR to a checkout (or git dir) of github.com/runtimed/anode"
command -v node >/dev/null || die "node is not installed"
export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
export DO_NOT_TRACK=1

start=$(date +%s)
if git -C "$ANODE_DIR" rev-parse --git-dir >/dev/null 2>&1; then
  rev="$(git -C "$ANODE_DIR" rev-parse "${ANODE_REF:-HEAD}")"
else
  rev="tree:$(cd "$ANODE_DIR" && pwd)"
fi
stamp="$tree/.runt-check-source"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$rev" ]; then
  echo "check-webapp: copying anode ($rev) to $tree"
  rm -rf "$tree"
  mkdir -p "$tree"
  if [ "${rev#tree:}" = "$rev" ]; then
    git -C "$ANODE_DIR" archive "$rev" | tar -x -C "$tree"
  else
    (cd "$ANODE_DIR" && tar -c --exclude=./node_modules --exclude=./.git .) | tar -x -C "$tree"
  fi
  # Not on the npm registry (404); only anode's GeoJSON map output imports it.
  node -e '
    const fs = require("fs");
    const p = JSON.parse(fs.readFileSync("'"$tree"'/package.json"));
    if (p.dependencies && p.dependencies["geojson-map-fit-mercator"]) {
      delete p.dependencies["geojson-map-fit-mercator"];
      fs.writeFileSync("'"$tree"'/package.json", JSON.stringify(p, null, 2) + "\n");
      console.log("check-webapp: note: geojson-map-fit-mercator left out (not on the npm registry); GeoJSON maps would show an error");
    }'
  echo "$rev" >"$stamp.pending"
fi

if [ -f "$stamp.pending" ] || [ ! -d "$tree/node_modules" ]; then
  # Every other version comes from anode's lockfile (pnpm keeps its resolutions).
  (cd "$tree" && npx --yes pnpm@10 install --no-frozen-lockfile --store-dir "$build/pnpm-store" \
    --reporter=append-only >"$build/install.log" 2>&1) ||
    die "pnpm install failed (see $build/install.log)"
  [ -f "$stamp.pending" ] && mv "$stamp.pending" "$stamp"
fi
installed=$(date +%s)

# Rebuilt only when the check's page, this script or the anode tree changed.
want="$(cat "$stamp" "$0" "$check"/*.ts "$check"/*.tsx "$check"/*.html | sha256sum | cut -d' ' -f1)"
built_stamp="$tree/.runt-check/dist/.runt-check-build"
if [ ! -f "$built_stamp" ] || [ "$(cat "$built_stamp")" != "$want" ]; then
  rm -rf "$tree/.runt-check"
  mkdir -p "$tree/.runt-check"
  cp "$check"/*.ts "$check"/*.tsx "$check"/*.html "$tree/.runt-check/"
  # The page, then anode's output iframe (unsafe outputs render there) into its dist/iframe.
  (cd "$tree" && ./node_modules/.bin/vite build --config .runt-check/vite.config.ts &&
    ./node_modules/.bin/vite build --config .runt-check/vite.iframe.config.ts) \
    >"$build/build.log" 2>&1 || die "vite build failed (see $build/build.log)"
  echo "$want" >"$built_stamp"
fi
built=$(date +%s)
echo "check-webapp: install $((installed - start)) s, build $((built - installed)) s"

export RUNT_WEBAPP_DIST="$tree/.runt-check/dist"
export RUNT_SCREENSHOTS="${RUNT_SCREENSHOTS:-$build/screenshots}"
cd "$root"
.venv/bin/pytest -q -p no:cacheprovider "$check/check_webapp.py" "$@"
echo "check-webapp: screenshot: $RUNT_SCREENSHOTS/webapp-artifacts.png"
