#!/usr/bin/env bash
# Side-by-side: dupsift and its peers on one make_corpus corpus, one job at a time, one table.
# Needs ../shared (make_corpus.py) and network access to PyPI for the peers' virtualenv.
#   bash benches/peers/run.sh PREFIX OUTDIR [THREADS...]    e.g. bash benches/peers/run.sh /tmp/c100 /tmp/peers 1 2
# PREFIX.jsonl must exist (make it with make_corpus.py, see README.md here).
# The table is printed and written into benches/README.md (between the peers-table markers,
# with the date and this command); NO_UPDATE=1 only prints it.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PY="$HERE/.venv/bin/python"
PREFIX="$1"; OUT="$2"; shift 2
THREADS=("$@"); [ $# -eq 0 ] && THREADS=(1 2)
NAME="$(basename "$PREFIX")"
T="${THRESHOLD:-0.8}"
(cd "$ROOT" && cargo build --release --quiet)
BIN="$ROOT/target/release/dupsift"
bash "$HERE/setup.sh" >/dev/null
mkdir -p "$OUT"
for th in "${THREADS[@]}"; do
    "$PY" "$HERE/dupsift_run.py" "$BIN" "$PREFIX.jsonl" --threshold "$T" --threads "$th" \
        --out "$OUT/$NAME.dupsift.t$th.json"
    "$PY" "$HERE/dupsift_run.py" "$BIN" "$PREFIX.jsonl" --threshold "$T" --threads "$th" --mode estimate \
        --out "$OUT/$NAME.dupsift-estimate.t$th.json" -- --verify estimate
    "$PY" "$HERE/dupsift_run.py" "$BIN" "$PREFIX.jsonl" --threshold "$T" --threads "$th" --mode exact \
        --out "$OUT/$NAME.dupsift-exact.t$th.json" -- --verify exact
    "$PY" "$HERE/dupsift_run.py" "$BIN" "$PREFIX.jsonl" --threshold "$T" --threads "$th" --mode 16x8 \
        --bands 16 --rows 8 --out "$OUT/$NAME.dupsift-16x8.t$th.json"
done
if [ -z "${NO_UPDATE:-}" ]; then
    export TABLE_UPDATE="$ROOT/benches/README.md"
    export TABLE_COMMAND="bash benches/peers/run.sh $PREFIX $OUT ${THREADS[*]}"
fi
bash "$HERE/run_peers.sh" "$PREFIX" "$OUT" "${THREADS[@]}"
