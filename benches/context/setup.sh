#!/usr/bin/env bash
# Create the Python environment for benches/context (research only; not needed to build dupsift).
# Usage: bash benches/context/setup.sh [VENV_DIR]   (default /tmp/ctxenv)
set -euo pipefail
VENV="${1:-/tmp/ctxenv}"
HERE="$(cd "$(dirname "$0")" && pwd)"
python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --upgrade pip
"$VENV/bin/pip" install --quiet -r "$HERE/requirements.txt"
"$VENV/bin/python" -c "import lightgbm, sklearn, numpy; print('ok', lightgbm.__version__, sklearn.__version__, numpy.__version__)"
