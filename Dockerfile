# syntax=docker/dockerfile:1
# The runt automate action image: Python orchestrator + Deno + Pyodide, runnable offline.
#
# Everything is pinned: the base image by digest, Python packages by uv.lock (hashes), uv by
# scripts/uv-requirements.txt (hashes), Pyodide by its npm package-lock.json, and every Pyodide
# package file by the sha256 of the pyodide-lock.json that npm package ships.
#
# BASE_IMAGE: python 3.11 on Debian bookworm, the Python the CI-built image also has (CI here
# has no registry and builds on a debootstrap bookworm with python3 + venv: see
# scripts/container-test.sh). Any Debian-like image with python3 + venv works, which is why no
# step relies on a base pip. Dependabot's docker ecosystem bumps the digest.
ARG BASE_IMAGE=python:3.11.10-slim-bookworm@sha256:5148c0e4bbb64271bca1d3322360ebf4bfb7564507ae32dd639322e4952a6b16

# ---------------------------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_NO_CACHE=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_LINK_MODE=copy
# PYODIDE_PACKAGES: Pyodide distribution packages baked into the image with their closure
# (space- or comma-separated), each file fetched from PYODIDE_PACKAGE_BASE_URL (default:
# Pyodide's CDN for the pinned version) and checked against pyodide-lock.json's sha256 before
# it is installed (runt_action/agents/pyodide/fetch.py). Empty: the standard library only.
ARG PYODIDE_PACKAGES="numpy pandas matplotlib"
ARG PYODIDE_PACKAGE_BASE_URL=""
# A private mirror's own lock to check those files against (same file names), instead of the
# npm package's: for mirrors and the container test only; empty = the npm package's lock.
ARG PYODIDE_PACKAGE_LOCK=""
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
WORKDIR /src

# binutils for strip (scripts/image-prune.sh), in this stage only. Unpinned: it only removes
# debug sections, and Debian's stable release it comes from is the base image's.
# hadolint ignore=DL3008
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends binutils >/dev/null \
 && rm -rf /var/lib/apt/lists/*

# An optional build secret "ca" carries an extra CA bundle for build machines behind a
# TLS-inspecting proxy; GitHub's builders need none.
COPY scripts/uv-requirements.txt ./scripts/
RUN --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi \
 && python3 -m venv /opt/uv \
 && /opt/uv/bin/pip install --quiet --require-hashes -r scripts/uv-requirements.txt

# Dependencies first (their layer survives source edits), then the project itself; both
# exactly as uv.lock says (--frozen: never re-resolve). Left out: jedi + parso (IPython's tab
# completion, 35 MB) and debugpy (ipykernel's debugger, 20 MB): both are optional imports
# there, and a CI run neither completes nor debugs. Bytecode is compiled once, here, for
# the runtime's Python only: the final image sets PYTHONDONTWRITEBYTECODE, so a run neither
# recompiles nor writes a second copy.
COPY pyproject.toml uv.lock README.md ./
RUN --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then export SSL_CERT_FILE=/run/secrets/ca; fi \
 && UV_PROJECT_ENVIRONMENT=/opt/runt /opt/uv/bin/uv sync --frozen --no-dev --no-editable \
      --no-install-project --no-install-package jedi --no-install-package parso \
      --no-install-package debugpy --python python3 --quiet \
 && UV_PROJECT_ENVIRONMENT=/opt/buildtools /opt/uv/bin/uv sync --frozen --only-group image-build \
      --no-install-project --python python3 --quiet
# Then the project's own wheel, built offline with the locked build backend and installed
# without dependencies (they are all there). Then cut what a run never reads: pip (nothing
# installs at run time), the tests that wheels ship, stale bytecode; and compile the rest once.
COPY runt_action ./runt_action
RUN /opt/uv/bin/uv build --offline --no-build-isolation --python /opt/buildtools/bin/python \
      --wheel --out-dir /tmp/dist --quiet \
 && /opt/uv/bin/uv pip install --offline --no-deps --python /opt/runt/bin/python --quiet \
      /tmp/dist/*.whl \
 && rm -rf /tmp/dist /opt/runt/lib/python3*/site-packages/pip /opt/runt/lib/python3*/site-packages/pip-* \
 && find /opt/runt/lib -depth -type d \( -name tests -o -name __pycache__ \) \
      -path '*/site-packages/*' -exec rm -rf {} + \
 && /opt/runt/bin/python -m compileall -q -j 0 --invalidation-mode unchecked-hash \
      /opt/runt/lib >/dev/null

# Pyodide from its npm lockfile (npm from the build tools; it never reaches the final image),
# without the source maps, type declarations and browser consoles that no Deno run reads.
COPY scripts/setup-pyodide.sh ./scripts/
RUN --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then \
      export NODE_EXTRA_CA_CERTS=/run/secrets/ca NPM_CONFIG_CAFILE=/run/secrets/ca \
             SSL_CERT_FILE=/run/secrets/ca; \
    fi \
 && PATH="/opt/buildtools/bin:$PATH" RUNT_PYODIDE_HOME=/opt/pyodide PYTHON=/opt/runt/bin/python \
    PYODIDE_PACKAGES="${PYODIDE_PACKAGES}" PYODIDE_PACKAGE_BASE_URL="${PYODIDE_PACKAGE_BASE_URL}" \
    PYODIDE_PACKAGE_LOCK="${PYODIDE_PACKAGE_LOCK}" \
    RUNT_PYODIDE_PREPARE=0 bash scripts/setup-pyodide.sh \
 && rm -f /opt/pyodide/node_modules/pyodide/*.map /opt/pyodide/node_modules/pyodide/*.d.ts \
      /opt/pyodide/node_modules/pyodide/console*.html /opt/pyodide/node_modules/.package-lock.json

# Compile Pyodide's stdlib and boot once so the memory snapshot ships in the image (a run then
# boots in a fraction of a second instead of a cold boot).
ENV RUNT_PYODIDE_HOME=/opt/pyodide \
    RUNT_PYODIDE_CACHE=/opt/runt-cache
RUN /opt/runt/bin/python -m runt_action.agents.pyodide.prepare

# Deno's caches (module analysis, V8's code cache of the bridge and Pyodide) made by one run of
# a one-cell notebook, as a job runs it, and baked into the image: a job neither rebuilds them
# nor writes them into HOME (a Pyodide boot ~0.4 s faster). Where the image is read-only
# (--read-only, --user) Deno cannot open them and silently keeps its caches in memory, as it
# would without them. Then cut what a run never reads (scripts/image-prune.sh).
ENV DENO_DIR=/opt/deno-dir
COPY scripts/image-prune.sh ./scripts/
RUN mkdir -p /tmp/bake/home \
 && printf 'cells:\n  - id: warm\n    source: print("warm")\n' >/tmp/bake/warm.yml \
 && HOME=/tmp/bake/home /opt/runt/bin/python -m runt_action /tmp/bake/warm.yml \
      --output /tmp/bake/warm.ipynb --no-html --no-log-output >/dev/null \
 && rm -rf /tmp/bake \
 && bash scripts/image-prune.sh

# ---------------------------------------------------------------------------------------------
FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="runt automate action" \
      org.opencontainers.image.description="Run YAML notebooks in CI through LiveStore" \
      org.opencontainers.image.source="https://github.com/runt/automate-action" \
      org.opencontainers.image.licenses="BSD-3-Clause"
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    RUNT_PYODIDE_HOME=/opt/pyodide \
    RUNT_PYODIDE_CACHE=/opt/runt-cache \
    DENO_NO_UPDATE_CHECK=1 \
    DENO_DIR=/opt/deno-dir \
    PATH="/opt/runt/bin:${PATH}"
COPY --from=build /opt/runt /opt/runt
COPY --from=build /opt/pyodide /opt/pyodide
COPY --from=build /opt/runt-cache /opt/runt-cache
COPY --from=build /opt/deno-dir /opt/deno-dir
# uv (hash-pinned in scripts/uv-requirements.txt): the python runtime installs `requirements`
# (and, in the image, the notebook's packages) with it into a run-local environment.
COPY --from=build /opt/uv/bin/uv /opt/uv/bin/uv
COPY entrypoint.py /opt/runt-action/entrypoint.py
# GitHub runs container actions as root with the workspace mounted; the entrypoint hands what
# it writes into the workspace back to the workspace's owner.
WORKDIR /github/workspace
ENTRYPOINT ["/opt/runt/bin/python", "/opt/runt-action/entrypoint.py"]
