#!/usr/bin/env bash
# Build the action image with podman and run it exactly the way a GitHub runner runs a Docker
# action (workdir /github/workspace, workspace + file-command dirs mounted, INPUT_* env), then
# check the job summary, the step outputs and the exit codes. Also: the image budget
# (IMAGE_BUDGET_MB) and the README's printed size, what the image must not hold (test trees,
# key-like files, build paths), a --read-only --network none run, the README's podman example
# as printed, who owns what the runs leave, and --user 1001 on a root-owned checkout (exit 2).
#
# No container registry is reachable here, so the base image is made from Debian packages with
# debootstrap and imported into podman; the Dockerfile takes it through ARG BASE_IMAGE.
# Everything is installed by this script (podman, buildah, runc, debootstrap from apt).
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${IMAGE:-localhost/runt-automate:ci}
BASE=${BASE:-localhost/runt-base:bookworm}
# The image budget, stated here only: the README's "Image budget" repeats it (tests/test_readme.py
# checks they agree) and prints the measured total, which must stay within README_DRIFT_MB of
# what this script measures (or the README is updated with it).
IMAGE_BUDGET_MB=520
README_DRIFT_MB=3
# Bump when the recipe of the base image below changes: a cached base of another recipe is
# rebuilt instead of reused.
BASE_RECIPE=2
CACHE=${CACHE:-$PWD/.cache/container}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
CA_BUNDLE=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
mkdir -p "$CACHE"

log() { printf '[container-test %(%H:%M:%S)T] %s\n' -1 "$*"; }
t0=$SECONDS

if ! command -v podman >/dev/null || ! command -v debootstrap >/dev/null; then
  log "installing podman, buildah, runc, debootstrap from apt"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq podman buildah runc debootstrap fuse-overlayfs >/dev/null
fi

# crun fails on the hybrid cgroup setup of these machines; runc + cgroupfs work (given
# ulimits within the hard limits: ULIMITS below).
PODMAN=(podman --storage-driver overlay --cgroup-manager cgroupfs --events-backend file
        --runtime runc)

base_recipe() {
  "${PODMAN[@]}" image inspect --format '{{index .Labels "runt.base-recipe"}}' "$BASE" 2>/dev/null
}
if ! "${PODMAN[@]}" image exists "$BASE" || [ "$(base_recipe)" != "$BASE_RECIPE" ]; then
  rootfs="$CACHE/rootfs"
  log "making the base image $BASE with debootstrap (bookworm, minbase + python3)"
  if mountpoint -q "$rootfs/proc" 2>/dev/null; then umount -l "$rootfs/proc"; fi
  rm -rf --one-file-system "$rootfs"
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$rootfs" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 \
    || { tail -20 "$CACHE/debootstrap.log"; exit 1; }
  # debootstrap may leave the build host's /proc (or /sys) mounted in the target: unmount
  # it, and never let tar cross into another file system, before anything is imported.
  for mnt in proc sys dev/pts dev; do
    if mountpoint -q "$rootfs/$mnt"; then umount -l "$rootfs/$mnt"; fi
  done
  # What the official slim images also leave out: apt's caches and lists, docs, man pages.
  rm -rf "$rootfs"/var/cache/apt/* "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* \
    "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/*
  # Nothing of the build machine: debootstrap's log names the target path on this machine
  # (/var/log/bootstrap.log), and the hostname and resolver are this machine's.
  find "$rootfs/var/log" -type f -delete
  rm -f "$rootfs"/var/cache/debconf/*-old "$rootfs"/var/lib/dpkg/*-old
  : >"$rootfs/etc/hostname"
  rm -f "$rootfs/etc/resolv.conf"
  tar -C "$rootfs" --one-file-system -c . \
    | "${PODMAN[@]}" import --change "LABEL runt.base-recipe=$BASE_RECIPE" - "$BASE" >/dev/null
  rm -rf --one-file-system "$rootfs"
fi
log "base ready ($((SECONDS - t0)) s)"

# --- Pyodide packages baked from a mirror --------------------------------------------------
# The image bakes PYODIDE_PACKAGES (default numpy pandas matplotlib) from Pyodide's CDN, which
# these machines cannot reach. So a 127.0.0.1 mirror stands in: it serves six as PyPI
# publishes it (scripts/setup-wasm-wheels.sh; no file of the lock is byte-identical to PyPI's,
# Pyodide rebuilds them) and, as PYODIDE_PACKAGE_LOCK, the npm package's lock with six's sha256
# set to that file's. The build fetches six through the same verified step (fetch.py) as the
# real packages; a run with the network off then imports it. PYODIDE_PACKAGES=... in the
# environment builds with those from the CDN (or PYODIDE_PACKAGE_BASE_URL) instead.
mirror=$(mktemp -d)
mirror_pid=""
stop_mirror() {
  if [ -n "$mirror_pid" ]; then kill "$mirror_pid" 2>/dev/null || true; fi
  mirror_pid=""
  rm -rf "$mirror"
}
trap stop_mirror EXIT
build_args=(--build-arg BASE_IMAGE="$BASE")
if [ -z "${PYODIDE_PACKAGES+set}" ]; then
  bash scripts/setup-wasm-wheels.sh
  six=$(ls .cache/wasm-wheels/pure/six-1.17.0-*.whl)
  cp "$six" "$mirror/"
  python3 - runt_action/agents/pyodide/bridge/node_modules/pyodide/pyodide-lock.json "$six" \
    "$mirror/pyodide-lock.json" <<'PY'
import hashlib, json, os, sys

lock_path, wheel, out = sys.argv[1:4]
lock = json.load(open(lock_path, encoding="utf-8"))
entry = lock["packages"]["six"]
assert entry["file_name"] == os.path.basename(wheel), entry["file_name"]
entry["sha256"] = hashlib.sha256(open(wheel, "rb").read()).hexdigest()
json.dump(lock, open(out, "w", encoding="utf-8"))
PY
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  python3 -m http.server --bind 127.0.0.1 --directory "$mirror" "$port" >/dev/null 2>&1 &
  mirror_pid=$!
  for _ in $(seq 50); do
    python3 -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$port/pyodide-lock.json')" \
      2>/dev/null && break
    sleep 0.1
  done
  build_args+=(--build-arg PYODIDE_PACKAGES=six
               --build-arg PYODIDE_PACKAGE_BASE_URL="http://127.0.0.1:$port/"
               --build-arg PYODIDE_PACKAGE_LOCK="http://127.0.0.1:$port/pyodide-lock.json")
  log "Pyodide packages: six from the loopback mirror http://127.0.0.1:$port/"
else
  build_args+=(--build-arg PYODIDE_PACKAGES="$PYODIDE_PACKAGES"
               --build-arg PYODIDE_PACKAGE_BASE_URL="${PYODIDE_PACKAGE_BASE_URL:-}")
  log "Pyodide packages: $PYODIDE_PACKAGES from ${PYODIDE_PACKAGE_BASE_URL:-the CDN}"
fi

log "building $IMAGE"
tb=$SECONDS
"${PODMAN[@]}" build --isolation chroot --network host --format docker "${build_args[@]}" \
  --secret id=ca,src="$CA_BUNDLE" \
  -t "$IMAGE" -f Dockerfile . 2>&1 | tee "$CACHE/build.log" | tail -n 15
log "image built in $((SECONDS - tb)) s"
grep -F '[fetch-pyodide-packages]' "$CACHE/build.log" | sed 's/^/[container-test]   /' || true
stop_mirror


# --- image budget: uncompressed size and each layer's share (README "Image budget") -------
"${PODMAN[@]}" history --no-trunc --format json "$IMAGE" >"$CACHE/history.json"
python3 - "$CACHE/history.json" "$IMAGE_BUDGET_MB" "$README_DRIFT_MB" README.md <<'EOF'
import json, re, sys

history, budget, drift, readme = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
layers = [entry for entry in json.load(open(history)) if entry.get("size", 0) > 0]
total = sum(entry["size"] for entry in layers)
print(f"[container-test] image size: {total / 1e6:.1f} MB uncompressed, {len(layers)} layers "
      f"(budget {budget:.0f} MB)")
for entry in sorted(layers, key=lambda e: -e["size"]):
    step = " ".join(str(entry.get("CreatedBy") or entry.get("created_by") or "").split())
    step = step.replace("/bin/sh -c #(nop) ", "")
    if step.startswith("ADD file:") or not step:
        step = "base image (BASE_IMAGE)"
    elif step.startswith("COPY "):
        step = "COPY ... in " + step.rsplit(" in ", 1)[-1]
    share = 100 * entry["size"] / total
    print(f"[container-test]   {entry['size'] / 1e6:7.1f} MB {share:5.1f}%  {step[:90]}")
if total / 1e6 > budget:
    sys.exit(f"[container-test] FAIL: the image is {total / 1e6:.1f} MB, over its budget of "
             f"{budget:.0f} MB (IMAGE_BUDGET_MB in scripts/container-test.sh)")
printed = re.search(r"^\| \*\*total\*\* \| \*\*([\d.]+) MB\*\* \|", open(readme).read(), re.M)
if not printed:
    sys.exit("[container-test] FAIL: README.md prints no '| **total** | **N MB** |' row")
if abs(float(printed.group(1)) - total / 1e6) > drift:
    sys.exit(f"[container-test] FAIL: README.md prints {printed.group(1)} MB but the image is "
             f"{total / 1e6:.1f} MB: update its Image budget table")
EOF

# Podman raises the open-files limit to 1048576 and nproc to the host's maximum unless told;
# where the hard limits are lower (these machines: 20000 files) runc cannot set them and every
# run fails ("error setting rlimit type 7"). Docker keeps its daemon's limits.
ULIMITS=(--ulimit nofile=4096:4096 --ulimit nproc=4096:4096)

# --- what the image holds: no test trees, nothing key-like, nothing of the build machine --
# Key-like: *.key, *.pem (but the CA stores), id_rsa* and the like, and any text file holding a
# PEM private key (binaries name the PEM headers: Deno, GnuTLS).
# Test trees: test/, tests/, testing/ (IPython.testing keeps only the skipdoctest decorator
# IPython imports at run time), _testcapi and kin. The build machine: this checkout's path
# anywhere (debootstrap's log held it), and debootstrap's log itself.
if ! "${PODMAN[@]}" run --rm -i --network none "${ULIMITS[@]}" --entrypoint /bin/bash \
     "$IMAGE" -s "$PWD/" <<'EOF'
set -u
build_path=$1 bad=0
flag() { echo "[container-test] the image holds $1"; bad=1; }
roots=(/opt /usr /etc /var /root /home /srv /github)
while IFS= read -r path; do
  # /usr/lib/ssl/cert.pem and the like: links to the CA bundle, which is no key
  [ "$(readlink -f "$path")" = /etc/ssl/certs/ca-certificates.crt ] || flag "a key-like file: $path"
done < <(
  find "${roots[@]}" -xdev \( -name '*.key' -o -name '*.pem' -o -name 'id_rsa*' \
    -o -name 'id_dsa*' -o -name 'id_ecdsa*' -o -name 'id_ed25519*' -o -name '*.p12' \
    -o -name '*.pfx' \) ! -path '/etc/ssl/certs/*' ! -path '*/site-packages/certifi/cacert.pem' \
    2>/dev/null)
while IFS= read -r path; do flag "a PEM private key: $path"; done < <(
  grep -rlsIE -- '-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY-----' "${roots[@]}" 2>/dev/null)
while IFS= read -r path; do flag "a test tree: $path"; done < <(
  find /opt \( -type d \( -name test -o -name tests -o -name testing \) \
    ! -path '*/site-packages/IPython/testing' \) -o \( -type f -name '_test*.so' \) 2>/dev/null)
for ipt in /opt/runt/lib/python3*/site-packages/IPython/testing; do
  extra=$(ls -A "$ipt" | grep -vxE '__init__\.py|skipdoctest\.py|__pycache__')
  [ -z "$extra" ] || flag "more of IPython/testing than skipdoctest: $extra"
done
[ ! -e /opt/pyodide/node_modules/pyodide/python_stdlib.zip ] || flag "python_stdlib.zip (unused)"
[ ! -e /var/log/bootstrap.log ] || flag "/var/log/bootstrap.log"
while IFS= read -r path; do flag "the build path $build_path in $path"; done < <(
  grep -rlsF -- "$build_path" "${roots[@]}" 2>/dev/null)
[ -s /opt/deno-dir/v8_code_cache_v2 ] || flag "no baked Deno code cache in /opt/deno-dir"
exit "$bad"
EOF
then
  log "FAIL: the image holds files it must not (above)"
  exit 1
fi
log "image contents checked: no test trees, key-like files or build paths"

# --- run it as the runner does -----------------------------------------------------------
work=$(mktemp -d)
readme_runner_dir=/tmp/runner/file_commands  # the README's example writes there
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"  # the runner user (uid 1001) reaches its workspace through it
mkdir -p "$work/workspace/notebooks" "$work/file_commands" "$work/home" "$work/workflow"
cp notebooks/example-stdlib.yml "$work/workspace/notebooks/"
cp tests/e2e/notebooks/failing.yml "$work/workspace/notebooks/failing.yml" 2>/dev/null || \
  cat >"$work/workspace/notebooks/failing.yml" <<'EOF'
metadata:
  title: Fails on purpose
cells:
  - id: ok
    source: print("before")
  - id: boom
    source: raise ValueError("boom")
  - id: never
    source: print("must not run")
EOF

cat >"$work/workspace/notebooks/first-output.yml" <<'EOF'
metadata:
  title: Time to first output
cells:
  - id: first
    source: print("runt-first-output")
EOF

# The runner's checkout, HOME and file-command files belong to the runner user, not to root.
chown -R 1001:1001 "$work/workspace" "$work/file_commands" "$work/home" "$work/workflow"

# Every line of the container's output, prefixed with the seconds since `podman run` started.
stamp_lines() {
  local start=$1 line now
  while IFS= read -r line; do
    now=$(date +%s%N)
    printf '%d.%03d %s\n' $(((now - start) / 1000000000)) $((((now - start) / 1000000) % 1000)) \
      "$line"
  done
}

# $1 = notebook path in the workspace, $2 = runtime (default pyodide), then extra podman run
# options (--network host unless they name a network); WORKSPACE (default $work/workspace)
# is what is mounted. Prints the exit code; the output goes to $work/log.
run_action() {
  local nb=$1 runtime=${2:-pyodide} start ws=${WORKSPACE:-$work/workspace}
  shift $(($# < 2 ? $# : 2))
  local extra=("$@")
  case " ${extra[*]} " in *" --network "*) ;; *) extra+=(--network host) ;; esac
  : >"$work/file_commands/step_summary"
  : >"$work/file_commands/set_output"
  chown 1001:1001 "$work/file_commands/step_summary" "$work/file_commands/set_output"
  set +e
  start=$(date +%s%N)
  "${PODMAN[@]}" run --rm "${ULIMITS[@]}" "${extra[@]}" \
    --workdir /github/workspace \
    -v "$ws":/github/workspace \
    -v "$work/file_commands":/github/file_commands \
    -v "$work/home":/github/home \
    -v "$work/workflow":/github/workflow \
    -e INPUT_NOTEBOOK="$nb" \
    -e INPUT_RUNTIME="$runtime" \
    -e "INPUT_CELL-TIMEOUT=120" \
    -e HOME=/github/home \
    -e GITHUB_ACTIONS=true -e CI=true \
    -e GITHUB_WORKSPACE=/github/workspace \
    -e GITHUB_STEP_SUMMARY=/github/file_commands/step_summary \
    -e GITHUB_OUTPUT=/github/file_commands/set_output \
    "$IMAGE" 2>&1 | stamp_lines "$start" >"$work/log"
  local rc=${PIPESTATUS[0]}
  set -e
  echo "$rc"
}

fail() { log "FAIL: $*"; echo "--- log"; tail -n 40 "$work/log"; exit 1; }

# --- ownership check (other helpers' snippets go here) ----------------------------------
# After the runs: every file under a workspace belongs to the workspace's owner (the entrypoint
# hands back what a root container wrote), and that owner (the runner user, uid 1001) can
# delete all of it, as the next job's checkout does.
check_workspace_ownership() {  # $1 = workspace directory
  local ws=$1 uid strays
  uid=$(stat -c %u "$ws")
  strays=$(find "$ws" ! -uid "$uid" -printf '%u:%g %p\n' | head -n 10)
  [ -z "$strays" ] || fail "files in $ws not owned by its owner (uid $uid):"$'\n'"$strays"
  # (more checks here)
  setpriv --reuid "$uid" --regid "$(stat -c %g "$ws")" --clear-groups \
    find "$ws" -mindepth 1 -delete || fail "uid $uid cannot delete what the runs left in $ws"
  log "ownership: everything in $ws belonged to uid $uid, who deleted it"
}

# --- time from `podman run` to the first cell's output (README "Image budget") -------------
for attempt in 1 2 3; do
  rc=$(run_action notebooks/first-output.yml)
  [ "$rc" = 0 ] || fail "first-output notebook exited $rc"
  first=$(grep -m1 'runt-first-output$' "$work/log" | cut -d' ' -f1)
  [ -n "$first" ] || fail "the first cell's output never appeared"
  total=$(tail -n1 "$work/log" | cut -d' ' -f1)
  log "time to first output (run $attempt): ${first} s after podman run (whole run ${total} s)"
done
# Deno's caches are baked into the image (DENO_DIR): a Pyodide run writes nothing into HOME.
in_home=$(find "$work/home" -mindepth 1 | head -n 10)
[ -z "$in_home" ] || fail "Pyodide runs wrote into HOME:"$'\n'"$in_home"

# The native runtime (a Jupyter kernel in the image's Python) works too.
rc=$(run_action notebooks/first-output.yml python)
[ "$rc" = 0 ] || fail "first-output notebook on the python runtime exited $rc"
first=$(grep -m1 'runt-first-output$' "$work/log" | cut -d' ' -f1)
[ -n "$first" ] || fail "the first cell's output never appeared (python runtime)"
log "time to first output (python runtime): ${first} s after podman run"

tr=$SECONDS
rc=$(run_action notebooks/example-stdlib.yml)
log "example-stdlib: exit $rc in $((SECONDS - tr)) s"
[ "$rc" = 0 ] || fail "example-stdlib exited $rc"
grep -q "^status<<" "$work/file_commands/set_output" || fail "no status output"
grep -A1 "^status<<" "$work/file_commands/set_output" | grep -qx success || fail "status != success"
grep -q "^notebook-id<<" "$work/file_commands/set_output" || fail "no notebook-id output"
grep -qi "success" "$work/file_commands/step_summary" || fail "summary does not say success"
grep -q "::stop-commands::" "$work/log" || fail "cell output was not fenced with stop-commands"
[ -f "$work/workspace/runt-output/example-stdlib.ipynb" ] || fail "no executed notebook"
owners=$(find "$work/workspace" -newer "$work/workspace/notebooks/example-stdlib.yml" \
           -printf '%u:%g\n' | sort -u)
[ "$owners" = "1001:1001" ] || fail "files left in the workspace with owners: $owners"

# Read-only root file system (no tmpfs: a runner gives none) and no network at all: the
# embedded sync server, Pyodide from the snapshot and the baked caches need neither.
rm -rf "$work/workspace/runt-output"
rc=$(run_action notebooks/example-stdlib.yml pyodide --read-only --read-only-tmpfs=false \
       --network none)
log "example-stdlib, --read-only --network none: exit $rc"
[ "$rc" = 0 ] || fail "example-stdlib exited $rc with a read-only root and no network"
grep -A1 "^status<<" "$work/file_commands/set_output" | grep -qx success || fail "status != success"
[ -f "$work/workspace/runt-output/example-stdlib.ipynb" ] || fail "no executed notebook (read-only)"

rc=$(run_action notebooks/failing.yml)
log "failing notebook: exit $rc"
[ "$rc" = 1 ] || fail "failing notebook exited $rc, expected 1"
grep -A1 "^status<<" "$work/file_commands/set_output" | grep -qx failed || fail "status != failed"
grep -q "::error file=notebooks/failing.yml" "$work/log" || fail "no annotation for the failing cell"
grep -q "must not run" "$work/file_commands/step_summary" && fail "a cell after the failure ran"

# --- the README's podman example, exactly as printed (the image built above stands in for its
# `podman build` line), run from a checkout of the runner user's ----------------------------
tag=localhost/runt-automate:latest
"${PODMAN[@]}" tag "$IMAGE" "$tag"
readme_run=$(python3 - README.md <<'EOF'
import re, sys

text = open(sys.argv[1]).read()
section = re.search(r"^## docker run\n(.*?)(?=^## |\Z)", text, re.M | re.S).group(1)
block = next(b for b in re.findall(r"```sh\n(.*?)```", section, re.S) if "podman run" in b)
print("\n".join(line for line in block.splitlines() if not line.startswith("podman build")))
EOF
)
mkdir -p "$work/checkout/notebooks"
cp notebooks/example-stdlib.yml "$work/checkout/notebooks/"
chown -R 1001:1001 "$work/checkout"
rm -rf "$readme_runner_dir"
set +e
(cd "$work/checkout" && bash -euo pipefail -c "$readme_run") >"$work/log" 2>&1
rc=$?
set -e
log "README's podman example: exit $rc"
[ "$rc" = 0 ] || fail "the README's podman example exited $rc"
grep -qi "success" "$work/log" || fail "the README's example printed no successful summary"
[ -f "$work/checkout/runt-output/example-stdlib.ipynb" ] || fail "README example: no .ipynb"
rm -rf "$readme_runner_dir"

# --- files the user's cells write (both runtimes), Pyodide's write-backs and --sync-log -----
# all end up the workspace owner's; a cell asking for its uid breaks nothing on Pyodide.
cat >"$work/workspace/notebooks/writes.yml" <<'EOF'
cells:
  - id: who
    source: |
      import os
      print("uid", os.getuid())
  - id: write
    source: |
      import pathlib
      pathlib.Path("results/sub").mkdir(parents=True, exist_ok=True)
      pathlib.Path("results/sub/out.csv").write_text("a,b\n1,2\n")
EOF
chown 1001:1001 "$work/workspace/notebooks/writes.yml"
rc=$(run_action notebooks/writes.yml python -e INPUT_SYNC-LOG=runt-output/sync.db)
[ "$rc" = 0 ] || fail "writes.yml on the python runtime exited $rc"
[ -f "$work/workspace/results/sub/out.csv" ] || fail "python runtime: the cell's file is missing"
[ -f "$work/workspace/runt-output/sync.db" ] || fail "python runtime: no --sync-log file"
rm -rf "$work/workspace/results"
rc=$(run_action notebooks/writes.yml pyodide -e INPUT_CWD=/github/workspace)
[ "$rc" = 0 ] || fail "writes.yml on Pyodide exited $rc"
[ -f "$work/workspace/results/sub/out.csv" ] || fail "Pyodide: the cell's file was not copied back"
log "cells' files, write-backs and the sync log: written on both runtimes"

# --- a baked Pyodide package imports with the network off ---------------------------------
if [ -z "${PYODIDE_PACKAGES+set}" ]; then
  cat >"$work/workspace/notebooks/baked.yml" <<'YML'
cells:
  - id: baked
    source: |
      import six
      print("six", six.__version__)
YML
  chown 1001:1001 "$work/workspace/notebooks/baked.yml"
  rc=$(run_action notebooks/baked.yml pyodide --network none)
  [ "$rc" = 0 ] || fail "importing the baked package with the network off exited $rc"
  grep -q 'six 1.17.0$' "$work/log" || fail "the baked package did not print its version"
  log "baked Pyodide package (six, from the mirror): imported with --network none"
fi

# --- runtime python + requirements: the seed's example with numpy, pandas and matplotlib from
# PyPI, installed with uv inside the container; cold, then with the uv cache kept ------------
cp notebooks/example.yml "$work/workspace/notebooks/"
printf 'numpy\npandas\nmatplotlib\n' >"$work/workspace/requirements.txt"
chown 1001:1001 "$work/workspace/notebooks/example.yml" "$work/workspace/requirements.txt"
# uv checks TLS against its own roots; SSL_CERT_FILE gives it this machine's CA bundle (the
# build's "ca" secret: a TLS-inspecting proxy here; a GitHub runner needs none).
for round in cold cached; do
  rc=$(run_action notebooks/example.yml python -e INPUT_REQUIREMENTS=requirements.txt \
         -e INPUT_UV-CACHE-DIR=/github/home/uv-cache \
         -v "$CA_BUNDLE":/etc/ssl/certs/runt-build-ca.crt:ro \
         -e SSL_CERT_FILE=/etc/ssl/certs/runt-build-ca.crt)
  [ "$rc" = 0 ] || fail "example.yml with runtime python + requirements ($round) exited $rc"
  installed=$(grep -m1 -o 'python runtime: installed .*' "$work/log" || true)
  log "requirements ($round uv cache): ${installed:-no install line}"
done
python3 - "$work/workspace/runt-output/example.ipynb" <<'PY' || fail "example.ipynb: no PNG figure"
import json, sys

cells = json.load(open(sys.argv[1], encoding="utf-8"))["cells"]
assert any(
    "image/png" in output.get("data", {}) for cell in cells for output in cell.get("outputs", [])
)
PY
log "example.yml on runtime python with requirements: the figure is a PNG in the .ipynb"
rm -rf "$work/home/uv-cache"

check_workspace_ownership "$work/workspace"
check_workspace_ownership "$work/checkout"

# --- `--user 1001` on a root-owned checkout: refused before any cell runs (exit 2) ----------
mkdir -p "$work/rootws/notebooks"
cat >"$work/rootws/notebooks/first-output.yml" <<'EOF'
cells:
  - id: first
    source: print("runt-first-output")
EOF
chown -R 0:0 "$work/rootws"
rc=$(WORKSPACE=$work/rootws run_action notebooks/first-output.yml pyodide --user 1001)
log "--user 1001 on a root-owned workspace: exit $rc"
grep -q 'runt-first-output$' "$work/log" && fail "a cell ran although its outputs cannot be written"
[ "$rc" = 2 ] || fail "--user 1001 on a root-owned workspace exited $rc, expected 2"
grep -q 'not writable by uid 1001' "$work/log" || fail "exit 2, but not for the workspace"

log "container test passed in $((SECONDS - t0)) s"
