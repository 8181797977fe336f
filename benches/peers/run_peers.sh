#!/usr/bin/env bash
# Run every peer on one make_corpus corpus, one job at a time, then truth + table.
#   bash benches/peers/run_peers.sh PREFIX OUTDIR [THREADS...]     (default THREADS: 1 2)
# e.g. bash benches/peers/run_peers.sh /tmp/c10 /tmp/peers 1 2
# Writes OUTDIR/NAME.TOOL[-MODE].tTHREADS.{json,removed.txt,pairs.tsv}, truth at PREFIX.truth0.80.*,
# and prints the table. Extra variants: gaoya --gaoya-mode native, datasketch --datasketch-hash sha1.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY="$HERE/.venv/bin/python"
PREFIX="$1"; OUT="$2"; shift 2
THREADS=("$@")
[ $# -eq 0 ] && THREADS=(1 2)
T="${THRESHOLD:-0.8}"
NAME="$(basename "$PREFIX")"
mkdir -p "$OUT"
bash "$HERE/setup.sh" >/dev/null
"$PY" "$HERE/truth.py" "$PREFIX" --threshold "$T" ${EXHAUSTIVE:+--exhaustive} >/dev/null
COMMON=(--threshold "$T" --num-perm 128 --bands 16 --rows 8)
for th in "${THREADS[@]}"; do
    for tool in rensa gaoya; do
        PEER_T0=$(date +%s.%N) "$PY" "$HERE/peer.py" "$tool" "$PREFIX.jsonl" "${COMMON[@]}" --threads "$th" --out "$OUT/$NAME.$tool.t$th.json"
    done
    PEER_T0=$(date +%s.%N) "$PY" "$HERE/peer.py" gaoya "$PREFIX.jsonl" "${COMMON[@]}" --threads "$th" --gaoya-mode native --out "$OUT/$NAME.gaoya-native.t$th.json"
done
# datasketch has no threads: one run per hash function
PEER_T0=$(date +%s.%N) "$PY" "$HERE/peer.py" datasketch "$PREFIX.jsonl" "${COMMON[@]}" --threads 1 --out "$OUT/$NAME.datasketch.t1.json"
PEER_T0=$(date +%s.%N) "$PY" "$HERE/peer.py" datasketch "$PREFIX.jsonl" "${COMMON[@]}" --threads 1 --datasketch-hash sha1 --out "$OUT/$NAME.datasketch-sha1.t1.json"
# TABLE_UPDATE=FILE (set by run.sh) rewrites the marked table in FILE with the date.
"$PY" "$HERE/table.py" --truth "$PREFIX.truth$(printf %.2f "$T")" "$OUT/$NAME".*.json \
    ${TABLE_UPDATE:+--update "$TABLE_UPDATE" --command "${TABLE_COMMAND:-}"}
