#!/bin/bash
# Old binary vs new binary on the same machine in the same minutes: each command three times,
# old and new alternating, so that a machine that runs faster or slower this hour moves both.
#
#   OLD=/path/to/old/dupsift NEW=target/release/dupsift bash benches/ab_old_new.sh
#
# Needs (built from ../shared, see benches/README.md): /tmp/man.jsonl (xz -dc of
# ../shared/corpora/debian-docs/manpages.jsonl.xz), /tmp/man.dsig (`dupsift learn /tmp/man.jsonl
# -o /tmp/man.dsig`) and /tmp/c100.jsonl (make_corpus.py --size-mb 100 --seed 42).
# Each binary cleans with a DB in its own format: OLD_DB (default /tmp/man.dsig) and NEW_DB (default
# the same file; set it to a DB the new binary learned when the format changed, e.g. v1 -> v2).
# Prints one line per run: label, OLD|NEW, wall s, user s, sys s, peak RSS KB.
set -euo pipefail
: "${OLD:?set OLD to the old dupsift binary}" "${NEW:?set NEW to the new dupsift binary}"
OLD_DB=${OLD_DB:-/tmp/man.dsig}
NEW_DB=${NEW_DB:-$OLD_DB}
for f in /tmp/man.jsonl /tmp/man.dsig /tmp/c100.jsonl; do
    [ -e "$f" ] || { echo "missing $f (see the header of $0)" >&2; exit 2; }
done
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
run() { # label threads dupsift-args...
    local label=$1 threads=$2
    shift 2
    for _ in 1 2 3; do
        for which in OLD NEW; do
            local db=${which}_DB
            RAYON_NUM_THREADS=$threads /usr/bin/time -o "$TMP/time" -f '%e %U %S %M' \
                "${!which}" "${@//@DB@/${!db}}" >/dev/null 2>&1
            echo "$label $which $(cat "$TMP/time")"
        done
    done
}
uptime
run learn 1 learn /tmp/man.jsonl -o "$TMP/man.dsig"
run clean-repetition 1 clean /tmp/man.jsonl --db @DB@ --policy repetition -o "$TMP/out.jsonl"
run clean-context 1 clean /tmp/man.jsonl --db @DB@ --policy context -o "$TMP/out.jsonl"
run clean-nodb 1 clean /tmp/man.jsonl -o "$TMP/out.jsonl"
run dedup-default 2 dedup /tmp/c100.jsonl -o "$TMP/kept.jsonl" --clusters "$TMP/clusters.jsonl"
run dedup-estimate 2 dedup /tmp/c100.jsonl -o "$TMP/kept.jsonl" --clusters "$TMP/clusters.jsonl" --verify estimate
uptime
