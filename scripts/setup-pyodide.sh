#!/usr/bin/env bash
# Make the Pyodide runtime ready: the pinned Pyodide npm package next to the Deno bridge (or in
# $RUNT_PYODIDE_HOME), optionally the full package distribution, and the memory snapshot.
# Idempotent: a second run with nothing changed takes well under a second.
#
#   RUNT_PYODIDE_HOME   install into this directory instead of the bridge directory
#   PYODIDE_FULL=1      also unpack the full Pyodide distribution (numpy, pandas, matplotlib,
#                       ...) from GitHub releases; needs internet access to github.com
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

if [ "${PYODIDE_FULL:-0}" = "1" ]; then
  full_stamp="$DEST/node_modules/pyodide/.runt-full-$version"
  if [ -f "$full_stamp" ]; then
    log "full distribution already unpacked"
  else
    url="https://github.com/pyodide/pyodide/releases/download/$version/pyodide-$version.tar.bz2"
    log "fetching the full distribution: $url"
    # Python, not curl: the slim base images have python3 but not always curl or bzip2.
    python3 - "$url" "$DEST/node_modules/pyodide" <<'EOF'
import os, shutil, sys, tarfile, tempfile, urllib.request

url, dest = sys.argv[1], sys.argv[2]
with tempfile.TemporaryFile() as tmp:
    with urllib.request.urlopen(url, timeout=120) as response:
        shutil.copyfileobj(response, tmp)
    tmp.seek(0)
    with tarfile.open(fileobj=tmp, mode="r:bz2") as tar:
        for member in tar.getmembers():
            # pyodide/<file>: wheels, the lock file and the core files of the same build.
            name = member.name.split("/", 1)[-1]
            if not member.isfile() or "/" in name or not name:
                continue
            source = tar.extractfile(member)
            assert source is not None
            with open(os.path.join(dest, name), "wb") as out:
                shutil.copyfileobj(source, out)
EOF
    touch "$full_stamp"
    log "full distribution unpacked into $DEST/node_modules/pyodide"
  fi
fi

if [ "${RUNT_PYODIDE_PREPARE:-1}" = "1" ]; then
  if [ -x "$PYTHON" ] && "$PYTHON" -c 'import runt_action.agents.pyodide' 2>/dev/null; then
    "$PYTHON" -m runt_action.agents.pyodide.prepare
  else
    log "skipping the memory snapshot: $PYTHON cannot import runt_action (built on first run)"
  fi
fi
