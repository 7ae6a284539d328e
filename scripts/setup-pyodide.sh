#!/usr/bin/env bash
# Make the Pyodide runtime ready: the pinned Pyodide npm package next to the Deno bridge (or in
# $RUNT_PYODIDE_HOME), optionally the full package distribution, and the memory snapshot.
# Idempotent: a second run with nothing changed takes well under a second.
#
#   RUNT_PYODIDE_HOME   install into this directory instead of the bridge directory
#   PYODIDE_FULL=1      also unpack the full Pyodide distribution (numpy, pandas, matplotlib,
#                       ...) from GitHub releases; needs internet access to github.com. Its URL
#                       and sha256 are pinned in bridge/pyodide-dist.json and the download is
#                       verified before it is unpacked (a mismatch is refused)
#   RUNT_PYODIDE_DIST_URL, RUNT_PYODIDE_DIST_SHA256  override that pin (a mirror, a local
#                       file:// copy, or the hash while the pin has none)
#   RUNT_PYODIDE_PREPARE=0  skip building the memory snapshot (default: build it when the
#                       project's Python can import runt_action)
#   PYTHON              the Python that runs runt_action (default: .venv/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[setup-pyodide %(%H:%M:%S)T] %s\n' -1 "$*"; }

BRIDGE=runt_action/agents/pyodide/bridge
PIN=$BRIDGE/pyodide-dist.json
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
    # The URL and sha256 are pinned in $PIN; the tarball is hashed BEFORE it is opened and
    # refused on any mismatch. Python, not curl: the slim base images have python3 but not
    # always curl or bzip2.
    python3 - "$PIN" "$version" "$DEST/node_modules/pyodide" <<'EOF'
import hashlib, json, os, shutil, sys, tarfile, tempfile, urllib.request

pin_file, version, dest = sys.argv[1:4]
pin = json.load(open(pin_file, encoding="utf-8"))
url = os.environ.get("RUNT_PYODIDE_DIST_URL") or pin["url"]
want = (os.environ.get("RUNT_PYODIDE_DIST_SHA256") or pin["sha256"]).strip().lower()


def die(message):
    print(f"setup-pyodide: ERROR: {message}", file=sys.stderr)
    sys.exit(1)


if pin["version"] != version:
    die(f"{pin_file} pins Pyodide {pin['version']} but the npm package is {version}: "
        "update the pin (url and sha256) together with package-lock.json")
if len(want) != 64 or any(c not in "0123456789abcdef" for c in want):
    die(f"no valid sha256 pinned for {url} in {pin_file} (got {want!r}); record the sha256 "
        "of a verified download there, or set RUNT_PYODIDE_DIST_SHA256")
print(f"[setup-pyodide] fetching the full distribution: {url}", flush=True)
with tempfile.TemporaryFile() as tmp:
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=120) as response:
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                tmp.write(chunk)
    except OSError as exc:
        die(f"could not download {url}: {exc}")
    got = digest.hexdigest()
    if got != want:
        die(f"{url} has sha256 {got}, expected {want}: refusing to unpack it")
    tmp.seek(0)
    try:
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
    except (tarfile.TarError, EOFError, OSError) as exc:
        die(f"{url} matches its sha256 but cannot be unpacked: {exc}")
EOF
    touch "$full_stamp"
    log "full distribution verified and unpacked into $DEST/node_modules/pyodide"
  fi
fi

if [ "${RUNT_PYODIDE_PREPARE:-1}" = "1" ]; then
  if [ -x "$PYTHON" ] && "$PYTHON" -c 'import runt_action.agents.pyodide' 2>/dev/null; then
    "$PYTHON" -m runt_action.agents.pyodide.prepare
  else
    log "skipping the memory snapshot: $PYTHON cannot import runt_action (built on first run)"
  fi
fi
