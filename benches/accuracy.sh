#!/usr/bin/env bash
# Removed-document precision / recall of `dupsift dedup` on a labelled make_corpus.py corpus,
# against "exact word-5-gram Jaccard >= T, keep the first of each connected component".
# Uses /work/shared/bench/make_corpus.py (needs a Python with xxhash, default /tmp/pyenv) and
# the truth/score helpers in benches/peers. Writes only under $WORK (default /tmp/dupsift-acc).
#
#   benches/accuracy.sh [SIZE_MB] [SEED] [THRESHOLD]      defaults: 20 42 0.8
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${1:-20}; SEED=${2:-42}; T=${3:-0.8}
WORK=${WORK:-/tmp/dupsift-acc}
PY=${PY:-/tmp/pyenv/bin/python}
mkdir -p "$WORK"
PREFIX="$WORK/c${SIZE}s$SEED"
[ -s "$PREFIX.jsonl" ] || "$PY" "${DUPSIFT_SHARED:-$(cd "$(dirname "$0")/../.." && pwd)/shared}/bench/make_corpus.py" --size-mb "$SIZE" --seed "$SEED" --out "$PREFIX" >/dev/null
python3 benches/peers/truth.py "$PREFIX" --threshold "$T" --out "$PREFIX.truth$T" >/dev/null
cargo build --release --quiet
for verify in estimate exact; do
  out="$WORK/$verify"
  /usr/bin/time -f "%e s wall, %M KB peak" target/release/dupsift dedup "$PREFIX.jsonl" \
    -o "$out.kept.jsonl" --clusters "$out.clusters.jsonl" --threshold "$T" --verify "$verify" 2>"$out.log"
  python3 -c '
import json, sys
with open(sys.argv[1]) as f, open(sys.argv[2], "w") as w:
    for line in f:
        r = json.loads(line)
        if not r["kept"]:
            w.write(r["id"] + "\n")' "$out.clusters.jsonl" "$out.removed.txt"
  echo "== --verify $verify (threshold $T, $PREFIX.jsonl)"
  cat "$out.log"
  python3 -c '
import json, sys
sys.path.insert(0, "benches/peers")
from score import read_ids, prf
r = prf(read_ids(sys.argv[1]), read_ids(sys.argv[2]))
print("removed documents: precision %.4f recall %.4f f1 %.4f (tp %d fp %d fn %d)" %
      (r["precision"], r["recall"], r["f1"], r["tp"], r["fp"], r["fn"]))' "$out.removed.txt" "$PREFIX.truth$T.removed.txt"
done
