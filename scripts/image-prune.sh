#!/usr/bin/env bash
# Run by the Dockerfile's build stage, last: cut from what the final image copies (/opt/runt,
# /opt/pyodide, /opt/runt-cache, /opt/deno-dir) everything a run never reads, and leave the
# rest ready to be read, not written. scripts/container-test.sh checks the result in the
# built image (no test trees, nothing key-like, the size budget).
#
#   1. test trees of every spelling (test/, tests/, testing/, _testcapi*) and what is only
#      there for them, e.g. tornado's test.key, the private key that secret scanners flag;
#   2. anything key-like: *.key, *.pem (but certifi's CA bundle), id_rsa*, *.p12, *.pfx;
#   3. pip (nothing installs at run time);
#   4. debug info in shared objects (strip --strip-debug; uvloop alone 13.6 -> 1.9 MB);
#   5. Pyodide's source-only python_stdlib.zip: prepare.py compiled it into
#      python_stdlib-<version>.pyc.zip, which every boot and the snapshot use instead;
#   6. Deno's caches (DENO_DIR) folded from their write-ahead logs into the databases.
set -euo pipefail

site=$(echo /opt/runt/lib/python3*/site-packages)
[ -d "$site" ] || { echo "image-prune: no site-packages under /opt/runt" >&2; exit 1; }

rm -rf "$site"/pip "$site"/pip-*

# IPython imports IPython.testing.skipdoctest at run time (the decorator, nothing else), so
# that package keeps its __init__ and that module; every other test tree goes entirely.
find "$site/IPython/testing" -mindepth 1 -maxdepth 1 \
  ! -name __init__.py ! -name skipdoctest.py ! -name __pycache__ -exec rm -rf {} +
find "$site/IPython/testing/__pycache__" -type f \
  ! -name '__init__.*.pyc' ! -name 'skipdoctest.*.pyc' -delete
find /opt/runt /opt/pyodide -depth -type d \
  \( -name test -o -name tests -o -name testing \) \
  ! -path "$site/IPython/testing" -exec rm -rf {} +
find /opt/runt /opt/pyodide -type f \
  \( -name '_testcapi*' -o -name '_testinternalcapi*' -o -name '_testbuffer*' \
     -o -name '*.key' -o -name '*.pem' -o -name 'id_rsa*' -o -name 'id_ed25519*' \
     -o -name '*.p12' -o -name '*.pfx' \) \
  ! -path "$site/certifi/cacert.pem" -print -delete | sed 's/^/image-prune: removed /'

# Debug sections only: symbols stay, so tracebacks from native code still name functions.
before=$(du -sk /opt/runt | cut -f1)
find /opt/runt -type f \( -name '*.so' -o -name '*.so.*' \) -exec strip --strip-debug {} +
echo "image-prune: strip --strip-debug saved $(((before - $(du -sk /opt/runt | cut -f1)) / 1024)) MB"

# Only when the compiled stdlib is there and whole (prepare.py's check), or a boot needs it.
/opt/runt/bin/python - <<'EOF'
from runt_action.agents.pyodide import paths

stdlib = paths.compiled_stdlib()
if stdlib is None or not stdlib.path.is_relative_to(paths.pyodide_dir()):
    print("image-prune: no compiled stdlib in the Pyodide dir: keeping python_stdlib.zip")
else:
    (paths.pyodide_dir() / "python_stdlib.zip").unlink()
    print(f"image-prune: boots use {stdlib.path.name}; removed python_stdlib.zip")
EOF

# Deno was killed at the end of the bake run, so its SQLite caches are still in WAL files:
# fold them in, so the image holds plain databases (and no -wal/-shm).
if [ -n "${DENO_DIR:-}" ] && [ -d "$DENO_DIR" ]; then
  /opt/runt/bin/python - "$DENO_DIR" <<'EOF'
import pathlib, sqlite3, sys

for db in sorted(pathlib.Path(sys.argv[1]).glob("*_v2")):
    con = sqlite3.connect(db)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    for side in ("-wal", "-shm"):
        db.with_name(db.name + side).unlink(missing_ok=True)
    print(f"image-prune: {db.name}: {db.stat().st_size // 1024} kB")
EOF
fi

rm -rf /root/.cache
