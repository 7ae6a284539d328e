#!/usr/bin/env bash
# Make the Pyodide runtime ready: the pinned Pyodide npm package next to the Deno bridge (or in
# $RUNT_PYODIDE_HOME), optionally packages of Pyodide's distribution, and the memory snapshot.
# Idempotent: a second run with nothing changed takes well under a second.
#
#   RUNT_PYODIDE_HOME   install into this directory instead of the bridge directory
#   PYODIDE_PACKAGES    names of Pyodide distribution packages to install (space- or
#                       comma-separated, e.g. "numpy pandas matplotlib"), with everything they
#                       depend on; each file is checked against pyodide-lock.json's sha256
#   PYODIDE_PACKAGE_BASE_URL  where their files are (default: Pyodide's CDN for the pinned
#                       version; a mirror, or a file:// directory)
#   RUNT_PYODIDE_PREPARE=0  skip building the memory snapshot (default: build it when the
#                       project's Python can import runt_action)
#   PYTHON              the Python that runs runt_action (default: .venv/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[setup-pyodide %(%H:%M:%S)T] %s\n' -1 "$*"; }

BRIDGE=runt_action/agents/pyodide/bridge
DEST=${RUNT_PYODIDE_HOME:-$BRIDGE}
PYTHON=${PYTHON:-.venv/bin/python}
mkdir -p "$DEST"
if [ "$(cd "$DEST" && pwd)" != "$(cd "$BRIDGE" && pwd)" ]; then
  cp "$BRIDGE/package.json" "$BRIDGE/package-lock.json" "$DEST/"
fi

lock_sum=$(sha256sum "$DEST/package-lock.json" | cut -d' ' -f1)
stamp="$DEST/node_modules/.runt-installed"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$lock_sum" ] \
  && [ -f "$DEST/node_modules/pyodide/pyodide.mjs" ]; then
  log "pyodide already installed in $DEST/node_modules/pyodide"
else
  command -v npm >/dev/null || { log "npm is required (Node.js 18+)"; exit 1; }
  log "npm ci in $DEST"
  (cd "$DEST" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
  printf '%s\n' "$lock_sum" >"$stamp"
fi

version=$(sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' "$DEST/node_modules/pyodide/package.json" | head -1)
log "pyodide $version"

if [ -n "${PYODIDE_PACKAGES:-}" ]; then
  # Each file of the closure is checked against the sha256 of the npm package's
  # pyodide-lock.json before it is installed; any mismatch or missing file fails the step
  # and installs nothing (runt_action/agents/pyodide/fetch.py).
  log "fetching Pyodide packages: $PYODIDE_PACKAGES"
  "$PYTHON" -m runt_action.agents.pyodide.fetch --dir "$DEST/node_modules/pyodide" \
    ${PYODIDE_PACKAGE_BASE_URL:+--base-url "$PYODIDE_PACKAGE_BASE_URL"} "$PYODIDE_PACKAGES"
fi

if [ "${RUNT_PYODIDE_PREPARE:-1}" = "1" ]; then
  if [ -x "$PYTHON" ] && "$PYTHON" -c 'import runt_action.agents.pyodide' 2>/dev/null; then
    "$PYTHON" -m runt_action.agents.pyodide.prepare
  else
    log "skipping the memory snapshot: $PYTHON cannot import runt_action (built on first run)"
  fi
fi
