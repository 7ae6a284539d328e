#!/usr/bin/env bash
# Build the action image with podman and run it exactly the way a GitHub runner runs a Docker
# action (workdir /github/workspace, workspace + file-command dirs mounted, INPUT_* env), then
# check the job summary, the step outputs and the exit codes.
#
# No container registry is reachable here, so the base image is made from Debian packages with
# debootstrap and imported into podman; the Dockerfile takes it through ARG BASE_IMAGE.
# Everything is installed by this script (podman, buildah, runc, debootstrap from apt).
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${IMAGE:-localhost/runt-automate:ci}
BASE=${BASE:-localhost/runt-base:bookworm}
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

# crun fails on rlimits and the hybrid cgroup setup of these machines; runc + cgroupfs work.
PODMAN=(podman --storage-driver overlay --cgroup-manager cgroupfs --events-backend file
        --runtime runc)

if ! "${PODMAN[@]}" image exists "$BASE"; then
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
  tar -C "$rootfs" --one-file-system -c . | "${PODMAN[@]}" import - "$BASE" >/dev/null
  rm -rf --one-file-system "$rootfs"
fi
log "base ready ($((SECONDS - t0)) s)"

log "building $IMAGE"
tb=$SECONDS
# The full Pyodide distribution needs GitHub, which these machines cannot reach: core only.
"${PODMAN[@]}" build --isolation chroot --network host --format docker \
  --build-arg BASE_IMAGE="$BASE" --build-arg PYODIDE_FULL=0 \
  --secret id=ca,src="$CA_BUNDLE" \
  -t "$IMAGE" -f Dockerfile . 2>&1 | tail -n 15
log "image built in $((SECONDS - tb)) s"

# --- image budget: uncompressed size and each layer's share (README "Image budget") -------
"${PODMAN[@]}" history --no-trunc --format json "$IMAGE" >"$CACHE/history.json"
python3 - "$CACHE/history.json" <<'EOF'
import json, sys

layers = [entry for entry in json.load(open(sys.argv[1])) if entry.get("size", 0) > 0]
total = sum(entry["size"] for entry in layers)
print(f"[container-test] image size: {total / 1e6:.0f} MB uncompressed, {len(layers)} layers")
for entry in sorted(layers, key=lambda e: -e["size"]):
    step = " ".join(str(entry.get("CreatedBy") or entry.get("created_by") or "").split())
    step = step.replace("/bin/sh -c #(nop) ", "")
    if step.startswith("ADD file:"):
        step = "base image (BASE_IMAGE)"
    elif step.startswith("COPY "):
        step = "COPY ... in " + step.rsplit(" in ", 1)[-1]
    share = 100 * entry["size"] / total
    print(f"[container-test]   {entry['size'] / 1e6:7.1f} MB {share:5.1f}%  {step[:90]}")
EOF

# --- run it as the runner does -----------------------------------------------------------
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
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

# The runner's checkout belongs to the runner user, not to root.
chown -R 1001:1001 "$work/workspace"

# Every line of the container's output, prefixed with the seconds since `podman run` started.
stamp_lines() {
  local start=$1 line now
  while IFS= read -r line; do
    now=$(date +%s%N)
    printf '%d.%03d %s\n' $(((now - start) / 1000000000)) $((((now - start) / 1000000) % 1000)) \
      "$line"
  done
}

run_action() {  # $1 = notebook path in the workspace, $2 = runtime (pyodide); prints the exit code
  local nb=$1 runtime=${2:-pyodide} start
  : >"$work/file_commands/step_summary"
  : >"$work/file_commands/set_output"
  set +e
  start=$(date +%s%N)
  "${PODMAN[@]}" run --rm --network host \
    --ulimit nofile=4096:4096 --ulimit nproc=4096:4096 \
    --workdir /github/workspace \
    -v "$work/workspace":/github/workspace \
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

# --- time from `podman run` to the first cell's output (README "Image budget") -------------
for attempt in 1 2 3; do
  rc=$(run_action notebooks/first-output.yml)
  [ "$rc" = 0 ] || fail "first-output notebook exited $rc"
  first=$(grep -m1 'runt-first-output$' "$work/log" | cut -d' ' -f1)
  [ -n "$first" ] || fail "the first cell's output never appeared"
  total=$(tail -n1 "$work/log" | cut -d' ' -f1)
  log "time to first output (run $attempt): ${first} s after podman run (whole run ${total} s)"
done

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

rc=$(run_action notebooks/failing.yml)
log "failing notebook: exit $rc"
[ "$rc" = 1 ] || fail "failing notebook exited $rc, expected 1"
grep -A1 "^status<<" "$work/file_commands/set_output" | grep -qx failed || fail "status != failed"
grep -q "::error file=notebooks/failing.yml" "$work/log" || fail "no annotation for the failing cell"
grep -q "must not run" "$work/file_commands/step_summary" && fail "a cell after the failure ran"

log "container test passed in $((SECONDS - t0)) s"
