#!/usr/bin/env bash
# Create .venv and install npuhub with its test and docs extras. Idempotent:
# `make` re-runs it only when pyproject.toml, the proxy's lock or the extension's sources change.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "npuhub needs Python 3.11 or newer; found: $("$PYTHON" --version 2>&1)." >&2
  echo "Install it, or run: make PYTHON=/path/to/python3.11 up" >&2
  exit 1
fi
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test,docs]'
# The JupyterLab extension (front end and server part), non-editable into the same venv:
# the embedded stack's JupyterLab runs from it. Its build runs `jlpm install` (immutable:
# the committed yarn.lock) and `jlpm build:prod`, so it needs Node.js; the old build is
# removed first so that a changed source is always rebuilt.
if command -v node >/dev/null; then
  .venv/bin/python -m pip install --quiet hatchling hatch-jupyter-builder hatch-nodejs-version
  rm -rf extensions/npuhub-lab/npuhub_lab/labextension
  PATH="$PWD/.venv/bin:$PATH" YARN_ENABLE_IMMUTABLE_INSTALLS=true \
    .venv/bin/python -m pip install --quiet --no-build-isolation ./extensions/npuhub-lab
else
  echo "node not found: the npuhub JupyterLab extension (status bar, NPU panel) is not installed." >&2
fi
# The proxy of the embedded stack (Node): it streams the spawn page's queue progress.
if command -v npm >/dev/null; then
  npm ci --prefix hub_config/proxy --no-audit --no-fund --loglevel=error
else
  echo "npm not found: the embedded stack falls back to the Python proxy (queue progress shows late)." >&2
fi
touch .venv/.installed
