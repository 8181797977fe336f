#!/usr/bin/env python3
"""Ground truth for a make_corpus.py corpus at Jaccard threshold t.

    python truth.py /tmp/c10 --threshold 0.8 [--out /tmp/c10.truth0.80] [--exhaustive]

Reads PREFIX.labels.tsv (document ids in JSONL order: make_corpus writes labels in the same order)
and PREFIX.pairs.tsv (every within-cluster pair with its exact word-5-gram Jaccard). Truth pairs are
the pairs with Jaccard >= t; their graph's connected components are the duplicate clusters; the first
document (JSONL order) of a component is kept, the others are "removed".

Why within-cluster pairs suffice: make_corpus keeps a base document only if fewer than
--max-containment (0.5) of its shingles were seen in earlier base documents, so two base documents
have Jaccard < 0.5. Copies are derived from one base document (word edits, truncation, boilerplate
lines, a spliced foreign paragraph of <= 20 % of the words), so a copy shares little with other
clusters. That is an argument, not a proof: a truncated copy of a document that contains a whole
earlier small document could in principle pass t. --exhaustive checks it: it computes the exact
Jaccard of every pair in the corpus that can reach t (prefix filtering over xxh3_64 shingle
hashes, the make_corpus definition), reports the pairs missing from PREFIX.pairs.tsv, and uses the
exhaustive pair set as truth.

Writes OUT.removed.txt (one id per line, JSONL order), OUT.pairs.tsv (id_a<TAB>id_b<TAB>jaccard,
id_a earlier in JSONL order) and OUT.json (summary); prints the summary.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import defaultdict


def read_order(prefix: str) -> list[str]:
    ids = []
    with open(prefix + ".labels.tsv", encoding="utf-8") as f:
        next(f)
        for line in f:
            ids.append(line.split("\t", 1)[0])
    return ids


def read_cluster_pairs(prefix: str):
    """Yield (id_a, id_b, cluster, jaccard) from PREFIX.pairs.tsv."""
    with open(prefix + ".pairs.tsv", encoding="utf-8") as f:
        next(f)
        for line in f:
            a, b, c, j = line.rstrip("\n").split("\t")
            yield a, b, c, float(j)


def components_removed(n: int, pairs) -> list[int]:
    parent = list(range(n))

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            if ra < rb:
                parent[rb] = ra
            else:
                parent[ra] = rb
    return [i for i in range(n) if find(i) != i]


def exhaustive_pairs(prefix: str, pos: dict[str, int], t: float) -> dict[tuple[int, int], float]:
    """All pairs with exact Jaccard >= t (prefix filtering + length filter), positions as keys."""
    import xxhash

    h = xxhash.xxh3_64_intdigest
    sets: list[frozenset] = [frozenset()] * len(pos)
    with open(prefix + ".jsonl", "rb") as f:
        for line in f:
            rec = json.loads(line)
            w = rec["text"].lower().split()
            if len(w) < 5:
                sh = [" ".join(w)] if w else []
            else:
                sh = map(" ".join, zip(w, w[1:], w[2:], w[3:], w[4:]))
            sets[pos[rec["id"]]] = frozenset(h(s.encode("utf-8")) for s in sh)
    freq: dict[int, int] = defaultdict(int)
    for s in sets:
        for x in s:
            freq[x] += 1
    index: dict[int, list[int]] = defaultdict(list)
    out: dict[tuple[int, int], float] = {}
    # process documents by increasing size; probe the prefix of each against earlier (smaller) ones
    order = sorted(range(len(sets)), key=lambda i: len(sets[i]))
    for i in order:
        s = sets[i]
        if not s:
            continue
        n = len(s)
        plen = n - math.ceil(t * n - 1e-9) + 1
        prefix_toks = sorted(s, key=lambda x: (freq[x], x))[:plen]
        cands = set()
        for x in prefix_toks:
            cands.update(index[x])
        min_len = t * n
        for j in cands:
            sj = sets[j]
            if len(sj) < min_len - 1e-9:
                continue
            inter = len(s & sj)
            jac = inter / (n + len(sj) - inter)
            if jac >= t:
                out[(i, j) if i < j else (j, i)] = jac
        for x in prefix_toks:
            index[x].append(i)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("prefix", help="make_corpus output prefix (PREFIX.labels.tsv, PREFIX.pairs.tsv)")
    ap.add_argument("--threshold", type=float, default=0.8)
    ap.add_argument("--out", help="output prefix (default PREFIX.truthT, e.g. /tmp/c10.truth0.80)")
    ap.add_argument("--exhaustive", action="store_true",
                    help="also compute all pairs with exact J >= t over the whole corpus and use them as truth")
    args = ap.parse_args()
    t = args.threshold
    out = args.out or f"{args.prefix}.truth{t:.2f}"
    t0 = time.time()

    ids = read_order(args.prefix)
    pos = {d: i for i, d in enumerate(ids)}
    cluster_pairs: dict[tuple[int, int], float] = {}
    n_within = 0
    for a, b, _c, j in read_cluster_pairs(args.prefix):
        n_within += 1
        if j >= t:
            pa, pb = pos[a], pos[b]
            cluster_pairs[(pa, pb) if pa < pb else (pb, pa)] = j
    summary = {"prefix": args.prefix, "threshold": t, "docs": len(ids), "within_cluster_pairs": n_within,
               "within_cluster_pairs_ge_t": len(cluster_pairs)}
    truth = cluster_pairs
    if args.exhaustive:
        ex = exhaustive_pairs(args.prefix, pos, t)
        missing = sorted(set(ex) - set(cluster_pairs))
        # pairs.tsv rounds J to 6 decimals: a pair listed there but not found exhaustively sits on t
        extra = sorted(set(cluster_pairs) - set(ex))
        summary.update({"exhaustive_pairs_ge_t": len(ex), "cross_cluster_pairs_ge_t": len(missing),
                        "cross_cluster_examples": [[ids[a], ids[b], round(ex[(a, b)], 4)] for a, b in missing[:20]],
                        "listed_but_not_exhaustive": len(extra)})
        truth = dict(cluster_pairs)
        truth.update(ex)
    removed = components_removed(len(ids), truth)
    summary.update({"truth_pairs": len(truth), "removed_docs": len(removed),
                    "removed_file": out + ".removed.txt", "pairs_file": out + ".pairs.tsv",
                    "seconds": round(time.time() - t0, 2)})
    with open(out + ".removed.txt", "w", encoding="utf-8") as f:
        f.writelines(ids[i] + "\n" for i in removed)
    with open(out + ".pairs.tsv", "w", encoding="utf-8") as f:
        f.writelines(f"{ids[a]}\t{ids[b]}\t{j:.6f}\n" for (a, b), j in sorted(truth.items()))
    with open(out + ".json", "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
