#!/usr/bin/env python3
"""Sandwich rule for short repeated content ("Note", "See also"): after the model's decision,
a removed block of <= MAXW words whose previous and next blocks are both kept is kept too.
Scored with model.json on dragnet test (sites >= 3, comment-in-gold pages excluded) and on all
python-docs test pages (dragnet model = transfer). Research code (issue 6).

Reads third-party data from /work/shared/corpora (never copied into the repo).

    nice -n 10 /tmp/ctxenv/bin/python benches/context/sandwich.py
"""
from __future__ import annotations

import json
import os
import sys
from collections import Counter

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import features as F  # noqa: E402
import train as T  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def sandwich(rem: np.ndarray, words: np.ndarray, maxw: int) -> np.ndarray:
    out = rem.copy()
    for i in range(1, len(rem) - 1):
        if rem[i] and words[i] <= maxw and not rem[i - 1] and not rem[i + 1]:
            out[i] = False
    return out


def main() -> None:
    model = json.load(open(os.path.join(HERE, "model.json")))
    names = model["features"]
    res = {}
    for cname, pages in (("dragnet", F.load_dragnet()), ("pydocs", F.load_pydocs())):
        train_pages = [p for p in pages if p["split"] == "training"]
        rows, _, pidx, _ = F.featurize(pages, train_pages)
        X, pidx = T.matrix(rows, names), np.array(pidx)
        te = np.array([pages[i]["split"] == "test" for i in pidx])
        wp = T.split_pages(X[:, names.index("words")], pidx)
        prob = T.split_pages(T.predict_json(model["trees"], X[te]), pidx[te])
        rem = T.decide(prob, wp, model["threshold"], 0.0, model["run_penalty"])
        site_train = Counter(p["site"] for p in train_pages)
        ids = [i for i, p in enumerate(pages) if p["split"] == "test"
               and site_train[p["site"]] >= 3
               and (cname != "dragnet"
                    or len((p["gold"] or "").split()) <= T.NOISY_GOLD_WORDS)]
        flag = T.split_pages(np.array([r["flagged"] for r in rows], dtype=bool), pidx)
        for dname, dec in (("model.json", rem), ("repetition", flag)):
            for maxw in (0, 3, 5):
                r2 = {pi: sandwich(r, wp[pi], maxw) if maxw else r for pi, r in dec.items()}
                m = T.evaluate(pages, r2, ids)
                res[f"{cname}/{dname}/sandwich{maxw}"] = m
                print(T.fmt(f"{cname} {dname} + sandwich(<= {maxw} words)", m), flush=True)
    with open(os.path.join(HERE, "results_sandwich.json"), "w") as f:
        json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
