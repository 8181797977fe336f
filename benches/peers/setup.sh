#!/usr/bin/env bash
# Create benches/peers/.venv (idempotent) and install the pinned peer tools.
# Usage: bash benches/peers/setup.sh            (PYTHON=python3.11 to choose the interpreter)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$HERE/.venv"
PY="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
fi
# Skip the network when everything pinned is already installed at the pinned version.
if ! "$VENV/bin/python" - "$HERE/requirements.txt" <<'PYEOF' 2>/dev/null
import sys
from importlib.metadata import version
for line in open(sys.argv[1]):
    line = line.split("#")[0].strip()
    if not line:
        continue
    name, want = line.split("==")
    if version(name) != want:
        sys.exit(1)
PYEOF
then
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$HERE/requirements.txt"
fi
"$VENV/bin/python" - <<'PYEOF'
from importlib.metadata import version
import datasketch, rensa, gaoya, xxhash, numpy  # noqa: F401  (import check)
from datasketch import MinHash, MinHashLSH  # noqa: F401
from rensa import RMinHash, RMinHashLSH  # noqa: F401
from gaoya.minhash import MinHashStringIndex  # noqa: F401
print("peers venv ok: " + ", ".join(f"{n}=={version(n)}" for n in ("datasketch", "rensa", "gaoya", "xxhash", "numpy")))
PYEOF
