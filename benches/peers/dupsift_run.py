#!/usr/bin/env python3
"""Run `dupsift dedup` on a JSONL corpus and write a RESULT.json like peer.py's.

    python dupsift_run.py BINARY INPUT.jsonl --threads N --out RESULT.json [-- EXTRA DEDUP FLAGS]

Timing is the whole process (start to exit, outputs written) measured around the child, so it
is stricter than the peers' "total", which stops once the duplicate set is known in memory.
Peak RSS is the child's (RUSAGE_CHILDREN). Removed ids come from the --clusters file
(`kept: false`). No pairs file is written: dupsift reports clusters, not its verified edges,
so only removed-document precision/recall is scored for it.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("binary")
    ap.add_argument("input")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--threshold", type=float, default=0.8)
    ap.add_argument("--num-perm", type=int, default=128)
    ap.add_argument("--bands", type=int)
    ap.add_argument("--rows", type=int)
    ap.add_argument("--mode", default="default", help="label for the table (e.g. exact)")
    ap.add_argument("--out", required=True)
    a, extra = ap.parse_known_args()
    extra = [x for x in extra if x != "--"]  # more dedup flags, e.g. -- --verify exact

    base = a.out[:-5] if a.out.endswith(".json") else a.out
    kept, clusters = base + ".kept.jsonl", base + ".clusters.jsonl"
    cmd = [a.binary, "dedup", a.input, "-o", kept, "--clusters", clusters,
           "--threshold", str(a.threshold), "--num-perm", str(a.num_perm)]
    if a.bands and a.rows:
        cmd += ["--bands", str(a.bands), "--rows", str(a.rows)]
    cmd += extra
    env = dict(os.environ, RAYON_NUM_THREADS=str(a.threads))
    # A rerun into the same OUTDIR would otherwise time the kernel freeing the last run's
    # ~80 MB kept file when the new one is renamed over it (~17 ms): not part of the job,
    # and the peers write no such file.
    for stale in (kept, clusters):
        if os.path.exists(stale):
            os.remove(stale)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"dupsift failed ({proc.returncode}): {proc.stderr}")
    rss_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss

    docs, text_bytes = 0, 0
    with open(a.input, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                docs += 1
                text_bytes += len(json.loads(line)["text"].encode("utf-8"))
    removed, n_clusters = [], set()
    with open(clusters, encoding="utf-8") as f:
        for line in f:
            c = json.loads(line)
            n_clusters.add(c["cluster"])
            if not c["kept"]:
                removed.append(c["id"])
    with open(base + ".removed.txt", "w", encoding="utf-8") as f:
        f.writelines(i + "\n" for i in removed)

    m = re.search(r"sign ([0-9.]+) s, link ([0-9.]+) s, write ([0-9.]+) s", proc.stderr)
    sign, link, write = (float(x) for x in m.groups()) if m else (None, None, None)
    version = subprocess.run([a.binary, "--version"], capture_output=True, text=True).stdout.split()[-1]
    lsh = re.search(r"LSH (\d+) bands x (\d+) rows", proc.stderr)
    result = {
        "schema": "dupsift-bench-result/1",
        "tool": "dupsift", "version": version, "mode": a.mode,
        "threads": a.threads, "threads_effective": a.threads,
        "input": a.input, "input_bytes": os.path.getsize(a.input),
        "docs": docs, "text_bytes": text_bytes,
        "params": {"threshold": a.threshold, "num_perm": a.num_perm,
                   "bands": int(lsh.group(1)) if lsh else None, "rows": int(lsh.group(2)) if lsh else None,
                   "shingle": "text.lower().split() word 5-grams, xxh3"},
        "seconds": {"signatures": sign, "lsh_verify": link, "write": write, "total": wall},
        "signature_mb_per_s": text_bytes / 1e6 / sign if sign else None,
        "e2e_mb_per_s": text_bytes / 1e6 / wall,
        "docs_per_s": docs / wall,
        "peak_rss_mb": rss_kb / 1024,
        "candidate_pairs": None,
        "verified_pairs": None,
        "clusters": len(n_clusters),
        "removed_docs": len(removed),
        "removed_file": base + ".removed.txt",
        "command": " ".join(cmd),
        "notes": ["total = whole process wall clock incl. reading JSONL twice and writing kept + clusters files (fsynced); outputs of an earlier run of the same name are deleted before the timed run",
                  "seconds.signatures includes JSON parsing (dupsift parses and signs in one parallel pass)",
                  "stderr: " + proc.stderr.strip().replace("\n", " | ")],
    }
    with open(a.out, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1)
    print(f"dupsift t{a.threads} {a.mode}: {result['e2e_mb_per_s']:.1f} MB/s e2e, {len(removed)} removed, "
          f"peak {result['peak_rss_mb']:.0f} MB", file=sys.stderr)


if __name__ == "__main__":
    main()
