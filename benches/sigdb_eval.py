#!/usr/bin/env python3
"""Accuracy of `dupsift learn` + `clean --db` on labelled real corpora (reads /work/shared).

    cargo build --release
    python3 benches/sigdb_eval.py dragnet      # learn on split=training by domain, clean test
    python3 benches/sigdb_eval.py python-docs  # one site: learn on half the pages (by md5 of
                                               # the id), clean the other half

Data is third-party (dragnet is AGPL) and is read from /work/shared/corpora at run time; only
temporary copies are written (under --work, default /tmp/dupsift-eval). Blocks are the
paragraphs of `text` (split on blank lines, as the corpora were built), so dupsift runs with
`--unit paragraph`.

Scores, per configuration:
* removed-block precision / recall: a block is removed when a span in the --report starts
  inside it; truth is the label (dragnet `block_label_derived` 0 = boilerplate, python-docs
  `block_label` 0 = chrome). Whitespace-only blocks are not scored.
* kept-text word-4-gram precision / recall / F1 against `gold_main` (dragnet only): tokens are
  `text.lower().split()`, 4-grams counted as a multiset; micro = pooled counts over pages,
  macro = mean of per-page F1.
The script also scores the reference policy computed here in Python: remove every block that
occurs (exactly, after trimming) on >= 2 training pages of its site, plus in-page repeats.
"""
import argparse
import collections
import gzip
import hashlib
import json
import lzma
import os
import subprocess
import sys
import time

SHARED = os.environ.get("DUPSIFT_SHARED", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared")) + "/corpora"


def blocks_with_offsets(text):
    """(byte_start, byte_end, block_text) of text.split("\\n\\n")."""
    out, pos = [], 0
    for part in text.split("\n\n"):
        b = len(part.encode("utf-8"))
        out.append((pos, pos + b, part))
        pos += b + 2
    return out


def ngrams(text, n=4):
    toks = text.lower().split()
    return collections.Counter(tuple(toks[i:i + n]) for i in range(len(toks) - n + 1))


def run(cmd):
    t = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{r.stderr}")
    return r.stderr.strip(), time.time() - t


def removed_blocks(report_path):
    spans = collections.defaultdict(list)
    with open(report_path) as f:
        for line in f:
            r = json.loads(line)
            spans[r["id"]].append(r["start"])
    return spans


class Score:
    def __init__(self):
        self.tp = self.fp = self.fn = 0
        self.g_tp = self.g_kept = self.g_gold = 0
        self.f1s = []
        self.pages = 0

    def add(self, labels, removed, kept_text=None, gold=None):
        self.pages += 1
        for lab, rem in zip(labels, removed):
            if rem and lab == 0:
                self.tp += 1
            elif rem:
                self.fp += 1
            elif lab == 0:
                self.fn += 1
        if gold is not None:
            k, g = ngrams(kept_text), ngrams(gold)
            inter = sum((k & g).values())
            nk, ng = sum(k.values()), sum(g.values())
            self.g_tp += inter
            self.g_kept += nk
            self.g_gold += ng
            p = inter / nk if nk else 0.0
            r = inter / ng if ng else 0.0
            self.f1s.append(2 * p * r / (p + r) if p + r else 0.0)

    def row(self):
        p = self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0
        r = self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0
        cols = [self.pages, p, r]
        if self.f1s:
            gp = self.g_tp / self.g_kept if self.g_kept else 0.0
            gr = self.g_tp / self.g_gold if self.g_gold else 0.0
            gf = 2 * gp * gr / (gp + gr) if gp + gr else 0.0
            cols += [gp, gr, gf, sum(self.f1s) / len(self.f1s)]
        return cols


def reference_removed(train, test, group):
    """Reference policy: exact trimmed block on >= 2 training pages of the site + in-page repeats."""
    docs = collections.defaultdict(collections.Counter)
    for rec in train:
        for b in {b.strip() for b in rec["text"].split("\n\n") if b.strip()}:
            docs[rec[group]][b] += 1
    out = {}
    for rec in test:
        seen, rem = set(), []
        for _, _, b in blocks_with_offsets(rec["text"]):
            t = b.strip()
            rem.append(bool(t) and (docs[rec[group]][t] >= 2 or t in seen))
            seen.add(t)
        out[rec["id"]] = rem
    return out


def evaluate(name, train, test, label_field, gold_field, group, configs, args):
    work = os.path.join(args.work, name)
    os.makedirs(work, exist_ok=True)
    tr, te = os.path.join(work, "train.jsonl"), os.path.join(work, "test.jsonl")
    for path, recs in ((tr, train), (te, test)):
        with open(path, "w") as f:
            for rec in recs:
                f.write(json.dumps(rec) + "\n")
    train_pages = collections.Counter(r[group] for r in train)
    subsets = [("sites >= 3 train pages", lambda r: train_pages[r[group]] >= 3), ("all test pages", lambda r: True)]
    if group == "_site":
        subsets = subsets[1:]
    db = os.path.join(work, "db.dsig")
    learn_cmd = [args.bin, "learn", tr, "--unit", "paragraph", "--group-by", group, "-o", db]
    err, secs = run(learn_cmd)
    print(f"$ {' '.join(learn_cmd)}\n  {err} ({secs:.1f} s)")
    rows = []
    results = {"reference (Python, exact >= 2 train pages + in-page repeats)": reference_removed(train, test, group)}
    # Unsupervised variant: learn on the training and the (unlabelled) test pages together,
    # as a user cleaning a crawl would learn on the crawl itself.
    db_all = os.path.join(work, "db-all.dsig")
    learn_all = [args.bin, "learn", tr, te, "--unit", "paragraph", "--group-by", group, "-o", db_all]
    err, secs = run(learn_all)
    print(f"$ {' '.join(learn_all)}\n  {err} ({secs:.1f} s)")
    configs = [(l, f, db) for l, f in configs] + [
        (l + " (learn train+test)", f, db_all) for l, f in configs if l in ("default", "min3", "frac")
    ]
    for label, flags, use_db in configs:
        out, rep = os.path.join(work, "out.jsonl"), os.path.join(work, "rep.jsonl")
        cmd = [args.bin, "clean", te, "--unit", "paragraph", "--db", use_db, "--policy", "repetition", "-o", out, "--report", rep] + flags
        err, secs = run(cmd)
        print(f"$ {' '.join(cmd)}\n  {err} ({secs:.1f} s)")
        starts = removed_blocks(rep)
        res = {}
        for rec in test:
            s = starts.get(rec["id"], [])
            res[rec["id"]] = [any(a <= x < b + 1 for x in s) for a, b, _ in blocks_with_offsets(rec["text"])]
        suffix = " [learned on train+test]" if use_db == db_all else ""
        results[f"dupsift {' '.join(flags) or '(defaults)'}{suffix}"] = res
    for label, res in results.items():
        for sub_name, keep in subsets:
            sc = Score()
            for rec in test:
                if not keep(rec):
                    continue
                blocks = blocks_with_offsets(rec["text"])
                rem = res[rec["id"]]
                labels = rec[label_field]
                scored = [(l, r) for (l, r, (_, _, t)) in zip(labels, rem, blocks) if t.strip()]
                kept = "\n\n".join(t for (r, (_, _, t)) in zip(rem, blocks) if not r)
                gold = rec[gold_field] if gold_field else None
                sc.add([l for l, _ in scored], [r for _, r in scored], kept, gold)
            rows.append([label, sub_name] + sc.row())
    if gold_field:
        print("\n| policy | pages | n | removed P | removed R | 4-gram P | 4-gram R | 4-gram F1 (micro) | F1 (macro) |")
        print("|---|---|---|---|---|---|---|---|---|")
    else:
        print("\n| policy | pages | n | removed P | removed R |")
        print("|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(x if isinstance(x, str) else (f"{x:.3f}" if isinstance(x, float) else str(x)) for x in r) + " |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus", choices=["dragnet", "python-docs"])
    ap.add_argument("--bin", default="target/release/dupsift")
    ap.add_argument("--work", default="/tmp/dupsift-eval")
    args = ap.parse_args()
    if args.corpus == "dragnet":
        with gzip.open(f"{SHARED}/dragnet/pages.jsonl.gz", "rt") as f:
            recs = [json.loads(l) for l in f]
        keep = ("id", "domain", "text", "gold_main", "block_label_derived", "split")
        recs = [{k: r[k] for k in keep} for r in recs]
        train = [r for r in recs if r["split"] == "training"]
        test = [r for r in recs if r["split"] == "test"]
        configs = [("default", []), ("min3", ["--min-docs", "3"]), ("min4", ["--min-docs", "4"])]
        configs += [(f"repeat-words {w}", ["--min-repeat-words", str(w)]) for w in (0, 2, 4)]
        evaluate("dragnet", train, test, "block_label_derived", "gold_main", "domain", configs, args)
    else:
        with lzma.open(f"{SHARED}/debian-docs/python-docs.jsonl.xz", "rt") as f:
            recs = [json.loads(l) for l in f]
        for r in recs:
            r["_site"] = "docs.python.org"
            r.pop("package", None)
        half = lambda r: int(hashlib.md5(r["id"].encode()).hexdigest(), 16) % 2
        train = [r for r in recs if half(r) == 0]
        test = [r for r in recs if half(r) == 1]
        configs = [
            ("default", []),
            ("short", ["--short-words", "3", "--short-min-fraction", "0.9"]),
            ("frac", ["--min-fraction", "0.5"]),
            ("frac+short", ["--min-fraction", "0.5", "--short-words", "3", "--short-min-fraction", "0.9"]),
        ]
        short = ["--short-words", "3", "--short-min-fraction", "0.9"]
        configs += [(f"short, repeat-words {w}", short + ["--min-repeat-words", str(w)]) for w in (0, 2, 4)]
        evaluate("python-docs", train, test, "block_label", None, "_site", configs, args)


if __name__ == "__main__":
    main()
