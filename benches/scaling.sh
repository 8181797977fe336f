#!/usr/bin/env bash
# Peak memory of `dupsift dedup` per document: synthetic corpora of 1M and 4M short documents
# (Python-generated, ~30 words each, 10 % near-duplicates), peak RSS from /usr/bin/time -v.
# bytes/doc = (RSS(4M) - RSS(1M)) / 3M, the slope beyond fixed buffers.
# Uses only generated data under $WORK (default /tmp/dupsift-scaling); needs ~1.5 GB of disk.
#
#   benches/scaling.sh [SIZES...]        e.g. benches/scaling.sh 1000000 4000000
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${WORK:-/tmp/dupsift-scaling}
SIZES=("${@:-1000000 4000000}")
read -r -a SIZES <<<"${SIZES[*]}"
mkdir -p "$WORK"
cargo build --release --quiet
BIN=target/release/dupsift

gen() { # gen N OUT
  python3 - "$1" "$2" <<'PY'
import random, sys, json
n, out = int(sys.argv[1]), sys.argv[2]
rng = random.Random(1234)
vocab = [f"w{i}" for i in range(20000)]
recent = []
with open(out, "w") as f:
    for i in range(n):
        if recent and rng.random() < 0.10:
            words = list(rng.choice(recent))
            words[rng.randrange(len(words))] = rng.choice(vocab)  # one word changed
        else:
            words = rng.choices(vocab, k=rng.randint(20, 40))
            recent.append(words)
            if len(recent) > 1000:
                recent.pop(0)
        f.write(json.dumps({"id": f"s{i}", "text": " ".join(words)}) + "\n")
PY
}

declare -A RSS
for n in "${SIZES[@]}"; do
  in="$WORK/syn$n.jsonl"
  [ -s "$in" ] || gen "$n" "$in"
  /usr/bin/time -v "$BIN" dedup "$in" -o "$WORK/kept$n.jsonl" 2>"$WORK/time$n.txt" || { cat "$WORK/time$n.txt"; exit 1; }
  grep "dupsift dedup" "$WORK/time$n.txt"
  kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/time$n.txt")
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$WORK/time$n.txt")
  RSS[$n]=$kb
  echo "docs=$n peak_rss_kb=$kb wall=$wall bytes_per_doc_total=$(( kb * 1024 / n ))"
done
if [ "${#SIZES[@]}" -ge 2 ]; then
  a=${SIZES[0]}; b=${SIZES[-1]}
  echo "slope: $(( (RSS[$b] - RSS[$a]) * 1024 / (b - a) )) bytes/doc between $a and $b documents"
fi
