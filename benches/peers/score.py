#!/usr/bin/env python3
"""Score a dedup result against truth.py's ground truth; prints JSON.

    python score.py --truth /tmp/c10.truth0.80 RESULT.json
    python score.py --truth /tmp/c10.truth0.80 --removed R.removed.txt [--pairs R.pairs.tsv]

--truth is truth.py's output prefix (TRUTH.removed.txt, TRUTH.pairs.tsv). A RESULT.json names its
removed/pairs files ("removed_file", "pairs_file"; default RESULT.removed.txt / RESULT.pairs.tsv).
Removed-document P/R: the predicted removed set against the true removed set. Pair P/R: predicted
pairs (unordered, first two columns of the TSV) against the truth pairs (exact Jaccard >= t).
"""
from __future__ import annotations

import argparse
import json
import os


def read_ids(path: str) -> set[str]:
    with open(path, encoding="utf-8") as f:
        return {ln.strip() for ln in f if ln.strip()}


def read_pairs(path: str) -> set[tuple[str, str]]:
    out = set()
    with open(path, encoding="utf-8") as f:
        for ln in f:
            cols = ln.rstrip("\n").split("\t")
            if len(cols) < 2 or cols[0] in ("id_a", ""):
                continue
            a, b = cols[0], cols[1]
            out.add((a, b) if a < b else (b, a))
    return out


def prf(pred: set, truth: set) -> dict:
    tp = len(pred & truth)
    p = tp / len(pred) if pred else (1.0 if not truth else 0.0)
    r = tp / len(truth) if truth else 1.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f1, 4), "tp": tp,
            "fp": len(pred) - tp, "fn": len(truth) - tp, "predicted": len(pred), "truth": len(truth)}


def result_files(result_json: str) -> tuple[str, str | None]:
    base = result_json[:-5] if result_json.endswith(".json") else result_json
    removed, pairs = base + ".removed.txt", base + ".pairs.tsv"
    try:
        with open(result_json, encoding="utf-8") as f:
            meta = json.load(f)
        removed = meta.get("removed_file") or removed
        pairs = meta.get("pairs_file") or pairs
        # files moved together with the JSON: fall back to names next to it
        if not os.path.exists(removed):
            removed = base + ".removed.txt"
        if pairs and not os.path.exists(pairs):
            pairs = base + ".pairs.tsv"
    except (OSError, ValueError):
        pass
    return removed, (pairs if pairs and os.path.exists(pairs) else None)


def score(truth_prefix: str, removed_path: str, pairs_path: str | None) -> dict:
    out = {"truth": truth_prefix, "removed": prf(read_ids(removed_path), read_ids(truth_prefix + ".removed.txt"))}
    if pairs_path:
        out["pairs"] = prf(read_pairs(pairs_path), read_pairs(truth_prefix + ".pairs.tsv"))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("result", nargs="?", help="RESULT.json of peer.py (or a dupsift wrapper)")
    ap.add_argument("--truth", required=True, help="truth.py output prefix, e.g. /tmp/c10.truth0.80")
    ap.add_argument("--removed", help="removed ids file (instead of RESULT.json)")
    ap.add_argument("--pairs", help="pairs TSV (instead of RESULT.json)")
    args = ap.parse_args()
    if args.result:
        removed, pairs = result_files(args.result)
    elif args.removed:
        removed, pairs = args.removed, args.pairs
    else:
        ap.error("give RESULT.json or --removed")
    res = score(args.truth, args.removed or removed, args.pairs or pairs)
    if args.result:
        res["result"] = args.result
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
