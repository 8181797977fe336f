#!/usr/bin/env python3
"""Repetition vs context policy of `dupsift clean --db`, scored as benches/context/README.md
scores the research model (reads /work/shared; standard library only).

    cargo build --release
    python3 benches/context_eval.py            # dragnet + python docs, prints the README table
    python3 benches/context_eval.py --json out.json

Data is third-party (dragnet is AGPL) and read from /work/shared/corpora at run time; only
temporary copies go under --work (default /tmp/dupsift-ctx-eval).

Protocol (same as benches/context): blocks are `text.split("\\n\\n")`, stripped, empty ones
dropped (aligned with the labels); dupsift runs with `--unit paragraph`, learns on the training
split grouped by site (`domain`; python docs: one site) and cleans the test split. A block is
removed when a report span starts inside it. Scores pooled over pages:
* block P/R/F1: removed blocks vs blocks labelled boilerplate;
* kept-text 4-gram P/R/F1: multiset of lowercased whitespace-token 4-grams of the kept blocks
  joined by newlines vs of `gold_main` (python docs: the content blocks joined);
* content lost: words of content-labelled blocks that were removed / words of all of them.
Splits: dragnet's own; python docs: sha1(id)[0] < 179 -> training, else test.
"""
import argparse
import collections
import gzip
import hashlib
import json
import lzma
import os

# Same word-4-gram measure and command runner as the repetition-policy evaluation.
from sigdb_eval import ngrams, run  # noqa: E402

SHARED = os.environ.get("DUPSIFT_SHARED", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared")) + "/corpora"
COMMENT_GOLD = {"419", "T50"}  # test pages whose gold_main holds the comment thread
# ... and the one more test page (>= 3-site) that benches/context/wordloss.py's marker rule
# flags (>= 40 "Reply"/"says"/"h:mm am" markers in gold_main): 437 (its reply thread).
COMMENT_GOLD_MARKED = COMMENT_GOLD | {"437"}


def blocks(text):
    """(byte_start, byte_end, stripped block) of the non-empty blocks of text.split("\\n\\n")."""
    out, pos = [], 0
    for part in text.split("\n\n"):
        raw = part.encode("utf-8")
        lead = len(part) - len(part.lstrip())
        s = part.strip()
        if s:
            start = pos + len(part[:lead].encode("utf-8"))
            out.append((start, start + len(s.encode("utf-8")), s))
        pos += len(raw) + 2
    return out


def prf(tp, npred, ntrue):
    p = tp / npred if npred else 0.0
    r = tp / ntrue if ntrue else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


class Score:
    def __init__(self):
        self.pages = self.tp = self.npred = self.ntrue = 0
        self.g_tp = self.g_kept = self.g_gold = 0
        self.lost = self.content = 0

    def add(self, bl, boiler, removed, gold):
        self.pages += 1
        for (_, _, text), y, r in zip(bl, boiler, removed):
            self.tp += y and r
            self.npred += r
            self.ntrue += y
            if not y:
                w = len(text.split())
                self.content += w
                self.lost += w if r else 0
        kept = "\n".join(t for (_, _, t), r in zip(bl, removed) if not r)
        k, g = ngrams(kept), ngrams(gold)
        self.g_tp += sum((k & g).values())
        self.g_kept += sum(k.values())
        self.g_gold += sum(g.values())

    def row(self):
        return {"pages": self.pages, "block": prf(self.tp, self.npred, self.ntrue),
                "text4": prf(self.g_tp, self.g_kept, self.g_gold),
                "lost": self.lost / self.content if self.content else 0.0}


def write(path, recs):
    with open(path, "w", encoding="utf-8") as f:
        for r in recs:
            f.write(json.dumps({"id": r["id"], "site": r["site"], "text": r["text"]}) + "\n")


def evaluate(name, train, test, subsets, args, log):
    work = os.path.join(args.work, name)
    os.makedirs(work, exist_ok=True)
    tr, te, db = (os.path.join(work, x) for x in ("train.jsonl", "test.jsonl", "db.dsig"))
    write(tr, train)
    write(te, test)
    cmd = [args.bin, "learn", tr, "--unit", "paragraph", "--group-by", "site", "-o", db]
    err, secs = run(cmd)
    log.append(f"$ {' '.join(cmd)}\n  {err} ({secs:.1f} s)")
    mb = sum(len(r["text"].encode("utf-8")) for r in test) / 1e6
    out = {}
    policies = [("repetition", ["--db", db, "--policy", "repetition"]),
                ("context", ["--db", db, "--policy", "context"]),
                ("context, no --db", ["--policy", "context"])]
    policies += [(f"context, --context-threshold {t}",
                  ["--db", db, "--policy", "context", "--context-threshold", t])
                 for t in args.context_threshold]
    for label, flags in policies:
        o, rep = os.path.join(work, "out.jsonl"), os.path.join(work, "rep.jsonl")
        cmd = [args.bin, "clean", te, "--unit", "paragraph", "-o", o, "--report", rep] + flags
        err, secs = run(cmd)
        log.append(f"$ {' '.join(cmd)}\n  {err} ({secs:.2f} s, {mb / secs:.1f} MB/s end to end)")
        starts = collections.defaultdict(list)
        with open(rep) as f:
            for line in f:
                r = json.loads(line)
                starts[r["id"]].append(r["start"])
        for sub, keep in subsets:
            sc = Score()
            for rec in test:
                if keep(rec):
                    bl = blocks(rec["text"])
                    s = starts.get(rec["id"], [])
                    removed = [any(a <= x < b for x in s) for a, b, _ in bl]
                    sc.add(bl, rec["boiler"], removed, rec["gold"])
            out[(label, sub)] = sc.row()
    return out


def load_dragnet():
    with gzip.open(f"{SHARED}/dragnet/pages.jsonl.gz", "rt", encoding="utf-8") as f:
        recs = [json.loads(line) for line in f]
    for r in recs:
        r["site"] = r["domain"]
        r["boiler"] = [1 - x for x in r["block_label_derived"]]
        r["gold"] = r["gold_main"] or ""
        assert len(blocks(r["text"])) == len(r["boiler"]), r["id"]
    return recs


def load_pydocs():
    with lzma.open(f"{SHARED}/debian-docs/python-docs.jsonl.xz", "rt", encoding="utf-8") as f:
        recs = [json.loads(line) for line in f]
    for r in recs:
        r["site"] = "docs.python.org"
        r["split"] = ("training" if hashlib.sha1(r["id"].encode()).digest()[0] < 179
                      else "test")
        r["boiler"] = [1 - x for x in r["block_label"]]
        bl = blocks(r["text"])
        assert len(bl) == len(r["boiler"]), r["id"]
        r["gold"] = "\n".join(t for (_, _, t), y in zip(bl, r["boiler"]) if not y)
    return recs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/dupsift")
    ap.add_argument("--work", default="/tmp/dupsift-ctx-eval")
    ap.add_argument("--json", help="also write the numbers here")
    ap.add_argument("--context-threshold", action="append", default=[], metavar="P",
                    help="also score `clean --context-threshold P` (repeatable)")
    args = ap.parse_args()
    log, rows = [], []
    d = load_dragnet()
    train = [r for r in d if r["split"] == "training"]
    test = [r for r in d if r["split"] == "test"]
    n_train = collections.Counter(r["site"] for r in train)
    subsets = [
        ("dragnet, sites >= 3 training pages", lambda r: n_train[r["site"]] >= 3),
        ("dragnet, all test pages", lambda r: True),
        ("dragnet, sites >= 3, without comment-in-gold pages 419, T50",
         lambda r: n_train[r["site"]] >= 3 and r["id"] not in COMMENT_GOLD),
        ("dragnet, sites >= 3, without 419, T50, 437 (diagnostic)",
         lambda r: n_train[r["site"]] >= 3 and r["id"] not in COMMENT_GOLD_MARKED),
    ]
    res = evaluate("dragnet", train, test, subsets, args, log)
    p = load_pydocs()
    res.update(evaluate("python-docs", [r for r in p if r["split"] == "training"],
                        [r for r in p if r["split"] == "test"],
                        [("python docs test", lambda r: True)], args, log))
    print("\n".join(log))
    print("\n| test pages | policy | pages | block P | block R | block F1 | text4 P | text4 R "
          "| text4 F1 | content lost |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    subs = [s for s, _ in subsets] + ["python docs test"]
    for sub in subs:
        for pol in ["repetition", "context", "context, no --db"] + [
                f"context, --context-threshold {t}" for t in args.context_threshold]:
            m = res[(pol, sub)]
            b, t = m["block"], m["text4"]
            print(f"| {sub} | {pol} | {m['pages']} | {b[0]:.3f} | {b[1]:.3f} | {b[2]:.3f} "
                  f"| {t[0]:.3f} | {t[1]:.3f} | {t[2]:.3f} | {100 * m['lost']:.1f} % |")
            rows.append({"subset": sub, "policy": pol, **m})
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
