#!/usr/bin/env python3
"""Python docs (one Sphinx site, 530 pages): repetition-only vs context model (issue 6).

Reads third-party data from /work/shared/corpora/debian-docs/python-docs.jsonl.xz (never
copied into the repo). Needs model.json from train.py for the transfer test.

    nice -n 10 /tmp/ctxenv/bin/python benches/context/pydocs.py --model benches/context/model.json

Split: a page is training when the first byte of sha1(id) < 179 (~70 %), else test.
Gold: block_label (1 = inside Sphinx's <div role="main">); kept-text gold = the content blocks
joined by newlines. Models: (1) repetition-only baseline, (2) the dragnet model applied as is
(transfer), (3) the same features + hyper-parameters trained on the pydocs training pages
(threshold from 5-fold page-grouped CV on those pages).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter

import numpy as np
from sklearn.model_selection import GroupKFold

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import features as F  # noqa: E402
import train as T  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--model", default=os.path.join(here, "model.json"))
    ap.add_argument("--out", default=here)
    args = ap.parse_args()
    t0 = time.time()
    model = json.load(open(args.model))
    pages = F.load_pydocs()
    train_pages = [p for p in pages if p["split"] == "training"]
    rows, y, pidx, bidx = F.featurize(pages, train_pages)
    names = model["features"]
    assert set(names) <= set(F.feature_names()), "feature list changed since model.json"
    X = T.matrix(rows, names)
    y, pidx = np.array(y), np.array(pidx)
    words = X[:, names.index("words")]
    flagged = X[:, names.index("flagged")].astype(bool)
    is_tr = np.array([pages[i]["split"] == "training" for i in pidx])
    te_ids = [i for i, p in enumerate(pages) if p["split"] == "test"]
    words_pages = T.split_pages(words, pidx)
    res: dict = {"pages_train": len(train_pages), "pages_test": len(te_ids)}
    print(f"pydocs: {len(train_pages)} training / {len(te_ids)} test pages, {len(y)} blocks "
          f"({time.time() - t0:.0f}s)", flush=True)

    def report(name, rem_pages):
        m = T.evaluate(pages, rem_pages, te_ids)
        res[name] = m
        print(T.fmt(name, m), flush=True)
        return m

    report("baseline repetition", T.split_pages(flagged, pidx))
    # (2) transfer: the dragnet model as exported
    te_mask = ~is_tr
    p_dn = T.predict_json(model["trees"], X[te_mask])
    pp = T.split_pages(p_dn, pidx[te_mask])
    report("dragnet model (transfer)", T.decide(pp, words_pages, model["threshold"],
                                                model["smoothing_alpha"], model["run_penalty"]))
    report("dragnet model (transfer) plain@0.5", T.decide(pp, words_pages, 0.5))
    # (3) trained on pydocs training pages
    params = model["params"]
    Xtr, ytr, wtr, ptr = X[is_tr], y[is_tr], words[is_tr], pidx[is_tr]
    oof = np.zeros(len(ytr))
    for a, b in GroupKFold(5).split(Xtr, ytr, ptr):
        oof[b] = T.fit(Xtr[a], ytr[a], params, wtr[a]).predict(Xtr[b])
    best = None
    for thr in T.THRESHOLDS:
        m = T.fast_scores(oof >= thr, ytr, wtr, np.ones(len(ytr), dtype=bool))
        crit = m["block_f1"] + m["word_f1"]
        if best is None or crit > best[0]:
            best = (crit, thr, m)
    thr = best[1]
    res["pydocs_model_cv"] = {"threshold": thr, **best[2]}
    print(f"pydocs model CV threshold {thr}: {best[2]}", flush=True)
    bst = T.fit(Xtr, ytr, params, wtr)
    p_py = bst.predict(X[te_mask])
    rem_py = T.decide(T.split_pages(p_py, pidx[te_mask]), words_pages, thr)
    report("pydocs-trained model", rem_py)

    # short repeated content: how each method treats the most repeated content keys
    rem_base = flagged
    rem_tr = np.zeros(len(y), dtype=bool)
    rem_tr[te_mask] = p_dn >= model["threshold"]
    rem_pm = np.zeros(len(y), dtype=bool)
    rem_pm[te_mask] = p_py >= thr
    keyc = Counter()
    stats: dict = {}
    for k in np.flatnonzero(te_mask & (y == 0)):
        blk = pages[pidx[k]]["blocks"][bidx_of(k, pidx)]
        key = F.block_key(blk)
        keyc[key] += 1
        s = stats.setdefault(key, [blk, 0, 0, 0, 0])
        s[1] += 1
        s[2] += int(rem_base[k])
        s[3] += int(rem_tr[k])
        s[4] += int(rem_pm[k])
    top = [stats[k] for k, _ in keyc.most_common(12)]
    res["repeated_content_blocks"] = [
        {"block": s[0][:40], "test_occurrences": s[1], "removed_baseline": s[2],
         "removed_dragnet_model": s[3], "removed_pydocs_model": s[4]} for s in top]
    print("most repeated CONTENT blocks in test: occurrences / removed by baseline, "
          "dragnet model, pydocs model")
    for s in top:
        print(f"  {s[0][:40]!r:<44} {s[1]:>4} {s[2]:>4} {s[3]:>4} {s[4]:>4}")
    # short (<= 3 words) repeated content overall
    site_count = np.array([r["site_count"] for r in rows])
    short = te_mask & (y == 0) & (words <= 3) & (site_count >= 2)
    res["short_repeated_content"] = {
        "blocks": int(short.sum()),
        "removed_baseline": int((short & rem_base).sum()),
        "removed_dragnet_model": int((short & rem_tr).sum()),
        "removed_pydocs_model": int((short & rem_pm).sum())}
    print("short (<=3 words) content blocks on >=2 training pages:", res["short_repeated_content"])
    res["seconds"] = time.time() - t0
    tag = model.get("feature_set", "all")
    with open(os.path.join(args.out, f"results_pydocs_{tag}.json"), "w") as f:
        json.dump(res, f, indent=1)
    print(f"total {time.time() - t0:.0f}s")


_BIDX: dict = {}


def bidx_of(k: int, pidx: np.ndarray) -> int:
    """block index within its page of global block k (blocks are stored page by page)."""
    if not _BIDX:
        start = {}
        for i, p in enumerate(pidx):
            start.setdefault(int(p), i)
        _BIDX.update(start)
    return k - _BIDX[int(pidx[k])]


if __name__ == "__main__":
    main()
