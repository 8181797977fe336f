#!/usr/bin/env python3
"""Pairwise precision / recall of `dupsift dedup` on the gcloud man pages (plain vs template-aware).

    python3 benches/gcloud_eval.py [--bin target/release/dupsift] [--work /tmp/dupsift-gcloud]
                                   [--verify exact] [--thresholds 0.5,0.6,0.7,0.8,0.9]

Reads /work/shared/corpora/debian-docs (third-party data, never copied into the repo): the
google-cloud-cli records of manpages.jsonl.xz (those with `gcloud_command`) are written verbatim
to WORK/gcloud.jsonl; truth groups are gcloud-variant-groups.tsv (page names = the `name` field).
Truth pairs: every pair of pages in one group. Predicted pairs: every pair of pages in one dedup
cluster (--clusters output). Prints a Markdown table. Standard library only.
"""
from __future__ import annotations

import argparse
import itertools
import json
import lzma
import os
import subprocess
import sys
import time

DATA = os.environ.get("DUPSIFT_SHARED", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared")) + "/corpora/debian-docs"


def extract(work: str) -> str:
    out = os.path.join(work, "gcloud.jsonl")
    if not os.path.exists(out):
        with lzma.open(os.path.join(DATA, "manpages.jsonl.xz"), "rt", encoding="utf-8") as f, \
                open(out + ".part", "w", encoding="utf-8") as w:
            for line in f:
                if '"gcloud_command"' in line and "gcloud_command" in json.loads(line):
                    w.write(line)
        os.rename(out + ".part", out)
    return out


def pairs_of(groups) -> set[tuple[str, str]]:
    out = set()
    for g in groups:
        for a, b in itertools.combinations(sorted(g), 2):
            out.add((a, b))
    return out


def truth_pairs(corpus: str) -> set[tuple[str, str]]:
    name_to_id = {}
    with open(corpus, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            name_to_id[r["name"]] = r["id"]
    groups, missing = [], 0
    with open(os.path.join(DATA, "gcloud-variant-groups.tsv"), encoding="utf-8") as f:
        next(f)
        for line in f:
            pages = line.rstrip("\n").split("\t")[2].split(",")
            ids = [name_to_id[p] for p in pages if p in name_to_id]
            missing += len(pages) - len(ids)
            groups.append(ids)
    if missing:
        print(f"warning: {missing} group pages not in the corpus", file=sys.stderr)
    return pairs_of(groups)


def predicted_pairs(clusters_path: str) -> set[tuple[str, str]]:
    by_cluster: dict[str, list[str]] = {}
    with open(clusters_path, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            by_cluster.setdefault(r["cluster"], []).append(r["id"])
    return pairs_of(by_cluster.values())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="target/release/dupsift")
    ap.add_argument("--work", default="/tmp/dupsift-gcloud")
    ap.add_argument("--verify", default="exact", choices=["exact", "estimate"])
    ap.add_argument("--thresholds", default="0.5,0.6,0.7,0.8,0.9")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    corpus = extract(args.work)
    truth = truth_pairs(corpus)
    rows = []
    for t in [float(x) for x in args.thresholds.split(",")]:
        row = [t]
        for mode, extra in [("plain", []), ("template", ["--template-aware"])]:
            cl = os.path.join(args.work, f"clusters-{mode}-{t}.jsonl")
            cmd = [args.bin, "dedup", corpus, "-o", os.path.join(args.work, "kept.jsonl"),
                   "--clusters", cl, "--threshold", str(t), "--verify", args.verify] + extra
            t0 = time.time()
            subprocess.run(cmd, check=True, stderr=subprocess.DEVNULL)
            secs = time.time() - t0
            pred = predicted_pairs(cl)
            tp = len(pred & truth)
            p = tp / len(pred) if pred else 1.0
            r = tp / len(truth)
            f1 = 2 * p * r / (p + r) if p + r else 0.0
            row += [p, r, f1]
            print(f"t={t} {mode}: pairs predicted {len(pred)} truth {len(truth)} tp {tp} "
                  f"P={p:.3f} R={r:.3f} F1={f1:.3f} ({secs:.1f} s)", file=sys.stderr)
        rows.append(row)
    print(f"verify = {args.verify}; {len(truth)} truth pairs\n")
    print("| threshold | plain P | plain R | plain F1 | template-aware P | template-aware R | template-aware F1 |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row[0]:.1f} | " + " | ".join(f"{v:.3f}" for v in row[1:]) + " |")


if __name__ == "__main__":
    main()
