#!/usr/bin/env bash
# Retrain the shipped context model and regenerate everything derived from it (reads the
# corpora in /work/shared at run time; commits nothing). About 4 minutes on 2 busy cores.
#   bash benches/context/retrain.sh
# 1. venv with the pinned requirements   2. joint dragnet + python-docs model -> model_joint.json
# 3. model_joint.json -> src/context/model.bin   4. parity fixtures (fixtures/context/*.json)
# Then: cargo test --release (parity + the dragnet score test) and python3 benches/context_eval.py.
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV="${VENV:-/tmp/ctxenv}"
[ -x "$VENV/bin/python" ] || bash benches/context/setup.sh "$VENV"
nice -n 10 "$VENV/bin/python" benches/context/joint.py --export benches/context/model_joint.json
python3 benches/context/export.py benches/context/model_joint.json src/context/model.bin
python3 benches/context/parity.py benches/context/model_joint.json
