#!/usr/bin/env bash
# Peak memory per document: synthetic corpora of 1M and 4M short documents (Python-generated,
# ~30 words each, 10 % near-duplicates), peak RSS from /usr/bin/time -v, and the peaks of its
# two parts sampled from /proc/PID/status every 20 ms: RssAnon (heap: what the process holds)
# and RssFile (pages of memory-mapped files: dedup maps its input and its signature file; clean
# file pages the kernel drops under memory pressure).
# bytes/doc = (heap(4M) - heap(1M)) / 3M, the slope beyond fixed buffers.
# Uses only generated data under $WORK (default /tmp/dupsift-scaling); needs ~1.5 GB of disk.
#
# MODE picks the command measured:
#   dedup     (default) `dupsift dedup`: keeps ~54 bytes of heap per document (keys, bands,
#             union-find, record spans; session 6)
#   clean     `dupsift clean` without a database: streaming, should stay flat
#   clean-db  `dupsift clean --db` with a database learned on the first 20,000 documents
#             (context policy, the default with --db): streaming, should stay flat
#
#   benches/scaling.sh [SIZES...]                e.g. benches/scaling.sh 1000000 4000000
#   MODE=clean-db benches/scaling.sh 1000000 4000000
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

MODE=${MODE:-dedup}
command_for() { # command_for N IN: sets CMD
  case "$MODE" in
    dedup) CMD=("$BIN" dedup "$2" -o "$WORK/kept$1.jsonl") ;;
    clean) CMD=("$BIN" clean "$2" -o "$WORK/clean$1.jsonl") ;;
    clean-db) CMD=("$BIN" clean "$2" --db "$WORK/first20k.dsig" -o "$WORK/clean$1.jsonl") ;;
    *) echo "unknown MODE=$MODE (dedup | clean | clean-db)" >&2; exit 2 ;;
  esac
}

declare -A HEAP
for n in "${SIZES[@]}"; do
  in="$WORK/syn$n.jsonl"
  [ -s "$in" ] || gen "$n" "$in"
  if [ "$MODE" = clean-db ] && [ ! -s "$WORK/first20k.dsig" ]; then
    head -n 20000 "$in" >"$WORK/first20k.jsonl"
    "$BIN" learn "$WORK/first20k.jsonl" -o "$WORK/first20k.dsig"
  fi
  command_for "$n" "$in"
  /usr/bin/time -v "${CMD[@]}" 2>"$WORK/time$n.txt" &
  tpid=$!
  anon=0; file=0
  while kill -0 "$tpid" 2>/dev/null; do
    # /usr/bin/time's child is the dupsift process.
    pid=$(pgrep -P "$tpid" | head -n 1 || true)
    if [ -n "$pid" ] && [ -r "/proc/$pid/status" ]; then
      read -r a f < <(awk '/^RssAnon/ {a=$2} /^RssFile/ {f=$2} END {print a+0, f+0}' "/proc/$pid/status" 2>/dev/null || echo "0 0")
      [ "$a" -gt "$anon" ] && anon=$a
      [ "$f" -gt "$file" ] && file=$f
    fi
    sleep 0.02
  done
  wait "$tpid" || { cat "$WORK/time$n.txt"; exit 1; }
  grep -E "documents read" "$WORK/time$n.txt" || true
  kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/time$n.txt")
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$WORK/time$n.txt")
  HEAP[$n]=$anon
  echo "mode=$MODE docs=$n peak_rss_kb=$kb peak_rss_file_kb=$file peak_heap_kb=$anon wall=$wall heap_bytes_per_doc=$(( anon * 1024 / n ))"
done
if [ "${#SIZES[@]}" -ge 2 ]; then
  a=${SIZES[0]}; b=${SIZES[-1]}
  echo "heap slope: $(( (HEAP[$b] - HEAP[$a]) * 1024 / (b - a) )) bytes/doc between $a and $b documents"
fi
