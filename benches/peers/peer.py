#!/usr/bin/env python3
"""Run one peer near-duplicate tool (datasketch, rensa, gaoya) on a JSONL corpus, the way dupsift runs.

    python peer.py {datasketch|rensa|gaoya} INPUT.jsonl --threshold 0.8 --num-perm 128 \
        --bands 16 --rows 8 --threads N --out RESULT.json

Pipeline (identical for the three peers, only the MinHash/LSH calls differ):
  parse       read the JSONL ({"id", "text"}), keep ids and texts in input order
  signatures  shingle every text exactly as shared/bench/make_corpus.py does (text.lower().split(),
              word 5-grams joined by one space; a text of 1..4 words is one shingle of all its words;
              an empty text has no shingle and is left out), then build the peer's MinHash (K perms)
  lsh+verify  insert into the peer's LSH index with `bands` x `rows`, query every document, verify
              each candidate pair with the peer's estimated Jaccard >= threshold, union the verified
              pairs (union-find) and keep the first document (input order) of each component
Writes RESULT.json (schema in README.md), RESULT.removed.txt (one removed id per line, input order)
and RESULT.pairs.tsv (id_a<TAB>id_b, id_a earlier in the input).

Differences between peers (also recorded under "notes" in RESULT.json):
  datasketch  pure Python + numpy; MinHash.bulk() with hashfunc=xxhash.xxh32_intdigest (datasketch's
              documented fast alternative to the default SHA1), scheme affine32; MinHashLSH with
              params=(bands, rows) through an insertion_session; no native threads (threads>1 ignored).
  rensa       RMinHash.from_token_sets() (batch API, Rust, rayon) -> RMinHashLSH(num_bands=bands),
              insert_many() + query_all(); rows = num_perm / bands; verify with RMinHash.jaccard().
              Threads via RAYON_NUM_THREADS.
  gaoya       MinHashStringIndex(hash_size=32, num_bands, band_size=rows). Default mode "tokens":
              our Python shingles go to par_bulk_insert_tokens / par_bulk_query_tokens_return_similarity
              (rayon, RAYON_NUM_THREADS). gaoya's query recomputes the signature from the tokens (its
              Python API cannot query by a stored signature), so signatures are built twice, and its
              query already returns only candidates with estimated Jaccard >= threshold (its own
              verification). Mode "native" (--gaoya-mode native) uses gaoya's Rust analyzer on raw
              text (analyzer='word', ngram_range=(5,5), lowercase=True): faster, but its tokenizer also
              splits on ASCII punctuation and gives texts of <5 words an empty signature, so its
              shingles are NOT those of make_corpus.
"""
from __future__ import annotations

import time

T_SCRIPT0 = time.perf_counter()

import argparse
import json
import os
import resource
import sys


def startup_seconds() -> tuple[float, str]:
    """Seconds from process start to here (interpreter start-up, before the peer library is imported).

    A caller can pass PEER_T0=$(date +%s.%N) (run_peers.sh does); otherwise /proc/self/stat's start
    time against /proc/uptime, which this sandbox sometimes reports many seconds off: values outside
    [0, 5] s are dropped (startup counted as 0).
    """
    t0 = os.environ.get("PEER_T0")
    if t0:
        try:
            return max(0.0, time.time() - float(t0)), "PEER_T0"
        except ValueError:
            pass
    try:
        with open("/proc/self/stat") as f:
            stat = f.read()
        start_ticks = int(stat.rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        age = uptime - start_ticks / os.sysconf("SC_CLK_TCK")
        if 0.0 <= age <= 5.0:
            return age, "/proc"
    except (OSError, ValueError, IndexError):
        pass
    return 0.0, "none"


STARTUP_SECONDS, STARTUP_SOURCE = startup_seconds()

SHINGLE_K = 5


def shingles(text: str) -> list[str]:
    """make_corpus.py's shingle strings (duplicates kept: MinHash ignores them)."""
    w = text.lower().split()
    if len(w) < SHINGLE_K:
        return [" ".join(w)] if w else []
    return list(map(" ".join, zip(w, w[1:], w[2:], w[3:], w[4:])))


def shingles_bytes(text: str) -> list[bytes]:
    """Same shingles as UTF-8 bytes (datasketch hash functions take bytes); words encoded once."""
    w = [x.encode("utf-8") for x in text.lower().split()]
    if len(w) < SHINGLE_K:
        return [b" ".join(w)] if w else []
    return list(map(b" ".join, zip(w, w[1:], w[2:], w[3:], w[4:])))


class UnionFind:
    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, x: int) -> int:
        p = self.parent
        root = x
        while p[root] != root:
            root = p[root]
        while p[x] != root:
            p[x], x = root, p[x]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            # the smaller input index stays the root = the kept document of the component
            if ra < rb:
                self.parent[rb] = ra
            else:
                self.parent[ra] = rb


def batches(n: int, size: int):
    for lo in range(0, n, size):
        yield lo, min(n, lo + size)


# ------------------------------------------------------------------------------------------------
# Peers. Each returns (verified_pairs: set[(i, j)] with i < j, candidate_pairs: int | None, times)
# where times has "shingle", "signatures" (including shingling), "lsh_verify".
# ------------------------------------------------------------------------------------------------


def run_datasketch(texts, live, args, notes):
    import numpy as np  # noqa: F401  (datasketch dependency)
    import xxhash
    from datasketch import MinHash, MinHashLSH

    # xxh32 is datasketch's documented fast path (any 32-bit hash); sha1 = datasketch's default.
    hashfunc = xxhash.xxh32_intdigest if args.datasketch_hash == "xxh32" else None
    t = {"shingle": 0.0}
    t0 = time.perf_counter()
    mhs = []
    for lo, hi in batches(len(live), args.batch):
        ts = time.perf_counter()
        toks = [shingles_bytes(texts[i]) for i in live[lo:hi]]
        t["shingle"] += time.perf_counter() - ts
        mhs.extend(MinHash.bulk(toks, num_perm=args.num_perm, seed=args.seed, hashfunc=hashfunc))
    t["signatures"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    lsh = MinHashLSH(threshold=args.threshold, num_perm=args.num_perm, params=(args.bands, args.rows))
    with lsh.insertion_session(buffer_size=args.batch) as session:
        for k, m in enumerate(mhs):
            session.insert(k, m, check_duplication=False)
    cand = set()
    for k, m in enumerate(mhs):
        for j in lsh.query(m):
            if j != k:
                cand.add((k, j) if k < j else (j, k))
    verified = {(a, b) for a, b in cand if mhs[a].jaccard(mhs[b]) >= args.threshold}
    t["lsh_verify"] = time.perf_counter() - t0
    notes.append(f"datasketch: MinHash.bulk(hashfunc={'xxhash.xxh32_intdigest' if hashfunc else 'default sha1_hash32'}, scheme affine32); "
                 "MinHashLSH(params=(bands, rows)) via insertion_session; verify MinHash.jaccard() >= t")
    if args.threads > 1:
        notes.append("datasketch has no native parallelism: ran single-threaded although threads > 1")
    return verified, len(cand), t, 1


def run_rensa(texts, live, args, notes):
    from rensa import RMinHash, RMinHashLSH

    if args.num_perm % args.bands:
        raise SystemExit("rensa: num_perm must be a multiple of bands")
    if args.num_perm // args.bands != args.rows:
        notes.append(f"rensa derives rows = num_perm/bands = {args.num_perm // args.bands}, not --rows {args.rows}")
    t = {"shingle": 0.0}
    t0 = time.perf_counter()
    mhs = []
    for lo, hi in batches(len(live), args.batch):
        ts = time.perf_counter()
        toks = [shingles(texts[i]) for i in live[lo:hi]]
        t["shingle"] += time.perf_counter() - ts
        mhs.extend(RMinHash.from_token_sets(toks, num_perm=args.num_perm, seed=args.seed))
    t["signatures"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    lsh = RMinHashLSH(threshold=args.threshold, num_perm=args.num_perm, num_bands=args.bands)
    lsh.insert_many(mhs)  # keys 0..n-1
    cand = set()
    for k, js in enumerate(lsh.query_all(mhs)):
        for j in js:
            if j != k:
                cand.add((k, j) if k < j else (j, k))
    verified = {(a, b) for a, b in cand if mhs[a].jaccard(mhs[b]) >= args.threshold}
    t["lsh_verify"] = time.perf_counter() - t0
    notes.append("rensa: RMinHash.from_token_sets (full-set R-MinHash, not the sampling 'rho' pipeline, "
                 "so every shingle counts as for the other tools); RMinHashLSH(num_bands) insert_many + "
                 "query_all; verify RMinHash.jaccard() >= t")
    return verified, len(cand), t, args.threads


def run_gaoya(texts, live, args, notes):
    from gaoya.minhash import MinHashStringIndex

    t = {"shingle": 0.0, "signatures": 0.0, "lsh_verify": 0.0}
    native = args.gaoya_mode == "native"
    index = MinHashStringIndex(hash_size=32, jaccard_threshold=args.threshold, num_bands=args.bands,
                               band_size=args.rows, analyzer="word", lowercase=True,
                               ngram_range=(SHINGLE_K, SHINGLE_K), id_container="vec")
    inner = index.minhash_index
    verified = set()
    # Per batch: insert it (signatures), then query it (signatures again + LSH + gaoya's own
    # verification). A pair (a, b), a earlier, is found when b's batch is queried: a is in already.
    for lo, hi in batches(len(live), args.batch):
        ids = list(range(lo, hi))
        t0 = time.perf_counter()
        if native:
            docs = [texts[i] for i in live[lo:hi]]
            inner.par_bulk_insert_docs(ids, docs)
        else:
            toks = [shingles(texts[i]) for i in live[lo:hi]]
            t1 = time.perf_counter()
            t["shingle"] += t1 - t0
            inner.par_bulk_insert_tokens(ids, toks)
        t1 = time.perf_counter()
        t["signatures"] += t1 - t0
        if native:
            res = inner.par_bulk_query_return_similarity(docs)
        else:
            res = inner.par_bulk_query_tokens_return_similarity(toks)
        for k, matches in zip(ids, res):
            for j, _sim in matches:
                if j != k:
                    verified.add((k, j) if k < j else (j, k))
        t["lsh_verify"] += time.perf_counter() - t1
    if native:
        notes.append("gaoya native analyzer: splits on ASCII punctuation as well as whitespace and gives "
                     "texts of <5 words an empty signature; shingles differ from make_corpus's")
    notes.append("gaoya: MinHashStringIndex(hash_size=32, num_bands, band_size=rows, id_container='vec'); "
                 f"mode {args.gaoya_mode}; per batch par_bulk_insert then par_bulk_query_*_return_similarity; "
                 "the query recomputes signatures (no query-by-signature in the Python API) and returns only "
                 "candidates with estimated J >= t, so 'signatures' = shingle + hash + insert and "
                 "'lsh_verify' includes a second signature pass; candidate_pairs is not observable")
    return verified, None, t, args.threads


PEERS = {"datasketch": run_datasketch, "rensa": run_rensa, "gaoya": run_gaoya}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("tool", choices=sorted(PEERS))
    ap.add_argument("input", help="JSONL with fields id, text")
    ap.add_argument("--threshold", type=float, default=0.8)
    ap.add_argument("--num-perm", type=int, default=128)
    ap.add_argument("--bands", type=int, default=16)
    ap.add_argument("--rows", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1, help="RAYON_NUM_THREADS for rensa and gaoya")
    ap.add_argument("--seed", type=int, default=1, help="MinHash seed")
    ap.add_argument("--batch", type=int, default=4096, help="documents per signature batch")
    ap.add_argument("--datasketch-hash", choices=("xxh32", "sha1"), default="xxh32",
                    help="datasketch hashfunc: xxhash.xxh32_intdigest (fast) or its default SHA1")
    ap.add_argument("--gaoya-mode", choices=("tokens", "native"), default="tokens")
    ap.add_argument("--out", required=True, help="RESULT.json (also writes RESULT.removed.txt, RESULT.pairs.tsv)")
    args = ap.parse_args()
    if args.bands * args.rows != args.num_perm:
        raise SystemExit(f"bands x rows = {args.bands * args.rows} != num_perm {args.num_perm}")
    # Must be set before the Rust extension creates its global rayon pool.
    os.environ["RAYON_NUM_THREADS"] = str(args.threads)

    t0 = time.perf_counter()
    ids: list[str] = []
    texts: list[str] = []
    loads = json.loads
    with open(args.input, "rb") as f:
        for line in f:
            if line.strip():
                rec = loads(line)
                ids.append(rec["id"])
                texts.append(rec["text"])
    text_bytes = sum(len(s.encode("utf-8")) for s in texts)
    live = [i for i, s in enumerate(texts) if s.split()]  # documents with at least one shingle
    t_parse = time.perf_counter() - t0

    notes: list[str] = []
    if len(live) < len(texts):
        notes.append(f"{len(texts) - len(live)} empty documents have no shingle: never duplicates")
    verified_local, n_cand, times, threads_eff = PEERS[args.tool](texts, live, args, notes)
    # map positions in `live` back to input indices
    pairs = sorted((live[a], live[b]) for a, b in verified_local)
    uf = UnionFind(len(texts))
    for a, b in pairs:
        uf.union(a, b)
    removed = [i for i in range(len(texts)) if uf.find(i) != i]
    n_clusters = len({uf.find(i) for i in removed})
    t_end = time.perf_counter()
    total = STARTUP_SECONDS + (t_end - T_SCRIPT0)

    try:
        from importlib.metadata import version
        tool_version = version(args.tool)
    except Exception:  # pragma: no cover
        tool_version = "unknown"

    base = args.out[:-5] if args.out.endswith(".json") else args.out
    removed_path, pairs_path = base + ".removed.txt", base + ".pairs.tsv"
    with open(removed_path, "w", encoding="utf-8") as f:
        f.writelines(ids[i] + "\n" for i in removed)
    with open(pairs_path, "w", encoding="utf-8") as f:
        f.writelines(f"{ids[a]}\t{ids[b]}\n" for a, b in pairs)

    mb = text_bytes / 1e6
    sig = times["signatures"]
    result = {
        "schema": "dupsift-bench-result/1",
        "tool": args.tool,
        "version": tool_version,
        "mode": {"gaoya": args.gaoya_mode, "datasketch": args.datasketch_hash}.get(args.tool, "default"),
        "threads": args.threads,
        "threads_effective": threads_eff,
        "input": os.path.abspath(args.input),
        "input_bytes": os.path.getsize(args.input),
        "docs": len(texts),
        "text_bytes": text_bytes,
        "params": {"threshold": args.threshold, "num_perm": args.num_perm, "bands": args.bands,
                   "rows": args.rows, "seed": args.seed, "shingle": "word5 lower split (make_corpus)"},
        "seconds": {
            "startup": round(STARTUP_SECONDS, 4),
            "startup_source": STARTUP_SOURCE,
            "parse": round(t_parse, 4),
            "shingle": round(times["shingle"], 4),
            "signatures": round(sig, 4),
            "lsh_verify": round(times["lsh_verify"], 4),
            "total": round(total, 4),
        },
        "signature_mb_per_s": round(mb / sig, 3) if sig > 0 else None,
        "e2e_mb_per_s": round(mb / total, 3),
        "docs_per_s": round(len(texts) / total, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "candidate_pairs": n_cand,
        "verified_pairs": len(pairs),
        "clusters": n_clusters,
        "removed_docs": len(removed),
        "removed_file": os.path.abspath(removed_path),
        "pairs_file": os.path.abspath(pairs_path),
        "command": " ".join([os.path.basename(sys.executable)] + sys.argv),
        "notes": notes,
    }
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    print(json.dumps({k: result[k] for k in ("tool", "threads", "docs", "seconds", "signature_mb_per_s",
                                             "e2e_mb_per_s", "peak_rss_mb", "verified_pairs", "removed_docs")}))


if __name__ == "__main__":
    main()
