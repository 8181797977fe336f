#!/usr/bin/env python3
"""Train + evaluate the context-aware boilerplate model on dragnet (issue 6). Research code.

Reads third-party data from /work/shared/corpora (never copied into the repo).

    nice -n 10 /tmp/ctxenv/bin/python benches/context/train.py --out benches/context

1. features (features.py) for all dragnet pages; repetition counts from TRAINING pages only
   (leave-one-out for training pages);
2. site-grouped 5-fold CV (GroupKFold on domain) on the training split to choose the
   hyper-parameters, the post-processing and the decision threshold;
3. fit on all training pages, score the test split: (a) pages of sites with >= 3 training
   pages, (b) all test pages; baseline = repetition only (same script);
4. export model.json (trees as node lists) and results.json.

Label orientation: y = 1 = boilerplate (removed). Model output p = P(boilerplate); a block is
removed when its (post-processed) p >= threshold.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections import Counter

import lightgbm as lgb
import numpy as np
from sklearn.model_selection import GroupKFold

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import features as F  # noqa: E402

SEED = 6
# Dragnet gold quirk: for a few pages the hand-made main text includes the whole comment thread
# (no COMMENTS marker): gold_main > 9,000 words (median page 362) -- 419 (45,721 words), T50,
# 418, 39, R14, 158, T71. Their comments are "content" there and boilerplate everywhere else.
# They are left out of model FITTING and of CV selection (their blocks still feed the
# repetition counts), and test scores are reported with and without them.
NOISY_GOLD_WORDS = 9000
THRESHOLDS = [round(x, 3) for x in np.arange(0.20, 0.81, 0.025)]

# ---------------------------------------------------------------- metrics


def ngrams(text: str, n: int = 4) -> Counter:
    w = text.lower().split()
    return Counter(tuple(w[i:i + n]) for i in range(len(w) - n + 1))


def tri(text: str) -> list:
    w = text.lower().split()
    return [tuple(w[i:i + 3]) for i in range(len(w) - 2)]


def prf(tp: float, npred: float, ntrue: float) -> dict:
    p = tp / npred if npred else 1.0
    r = tp / ntrue if ntrue else 1.0
    return {"p": p, "r": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}


def evaluate(pages: list[dict], removed: dict[int, np.ndarray], page_ids: list[int],
             text_metrics: bool = True) -> dict:
    """removed[pi] = bool array over the blocks of pages[pi].

    block P/R/F1: removed blocks vs boilerplate blocks (label 0), pooled over all blocks.
    kept-text 4-gram P/R/F1: bag (multiset) of lowercased whitespace-split word 4-grams of the
      kept blocks joined by newlines vs of gold_main, pooled (micro) over pages; also the page
      mean of the per-page F1 (macro).
    content_lost: words of content blocks that were removed / words of all content blocks.
    """
    tp = npred = ntrue = 0
    gtp = gpred = gtrue = 0
    macro = []
    cw_lost = cw_all = 0
    for pi in page_ids:
        p = pages[pi]
        rem = removed.get(pi, np.zeros(0, dtype=bool))
        lab = np.array(p["label_content"], dtype=int)
        bp = lab == 0
        tp += int(np.sum(rem & bp))
        npred += int(np.sum(rem))
        ntrue += int(np.sum(bp))
        for b, l, r in zip(p["blocks"], lab, rem):
            if l == 1:
                nw = len(b.split())
                cw_all += nw
                if r:
                    cw_lost += nw
        if text_metrics:
            kept = "\n".join(b for b, r in zip(p["blocks"], rem) if not r)
            a, g = ngrams(kept), ngrams(p["gold"] or "")
            t = sum((a & g).values())
            na, ng = sum(a.values()), sum(g.values())
            gtp += t
            gpred += na
            gtrue += ng
            macro.append(prf(t, na, ng)["f1"])
    out = {"pages": len(page_ids), "block": prf(tp, npred, ntrue),
           "content_lost": cw_lost / cw_all if cw_all else 0.0}
    if text_metrics:
        out["text4"] = prf(gtp, gpred, gtrue)
        out["text4_macro_f1"] = float(np.mean(macro)) if macro else 0.0
    return out


def fast_scores(removed: np.ndarray, y: np.ndarray, words: np.ndarray, mask: np.ndarray) -> dict:
    """Cheap selection metrics over the blocks in mask (global arrays; y = 1 boilerplate):
    block F1 of removed vs boilerplate, word F1 of kept vs content words, content words lost."""
    r, t, w = removed[mask], y[mask] == 1, words[mask]
    tp = np.sum(r & t)
    blk = prf(tp, np.sum(r), np.sum(t))
    kc = np.sum(w[~r & ~t])
    wf = prf(kc, np.sum(w[~r]), np.sum(w[~t]))
    return {"block_f1": blk["f1"], "word_f1": wf["f1"], "lost": 1 - wf["r"]}


def fmt(name: str, m: dict) -> str:
    s = (f"{name:<44} n={m['pages']:>4}  block P/R/F1 {m['block']['p']:.3f} {m['block']['r']:.3f} "
         f"{m['block']['f1']:.3f}")
    if "text4" in m:
        s += (f"  text4 P/R/F1 {m['text4']['p']:.3f} {m['text4']['r']:.3f} {m['text4']['f1']:.3f}"
              f" (macro {m['text4_macro_f1']:.3f})")
    s += f"  lost {100 * m['content_lost']:.1f}%"
    return s


# ---------------------------------------------------------------- post-processing


def split_pages(values: np.ndarray, pidx: np.ndarray) -> dict[int, np.ndarray]:
    out = {}
    order = np.argsort(pidx, kind="stable")
    pv = pidx[order]
    bounds = np.flatnonzero(np.diff(pv)) + 1
    for chunk in np.split(order, bounds):
        if len(chunk):
            out[int(pidx[chunk[0]])] = values[chunk]
    return out


def smooth(prob: np.ndarray, alpha: float) -> np.ndarray:
    """p'_i = (1 - alpha) * p_i + alpha * mean(p_{i-1}, p_{i+1}) (neighbours that exist)."""
    if alpha == 0 or len(prob) < 2:
        return prob
    nb = np.empty_like(prob)
    nb[1:-1] = (prob[:-2] + prob[2:]) / 2
    nb[0] = prob[1]
    nb[-1] = prob[-2]
    return (1 - alpha) * prob + alpha * nb


def run_filter(removed: np.ndarray, words: np.ndarray, penalty: float) -> np.ndarray:
    """Keep only the best contiguous run: score +words for kept blocks, -penalty*words for
    removed ones; everything outside the run is removed too."""
    scores = [float(w) if not r else -penalty * float(w) for w, r in zip(words, removed)]
    a, b = F.best_run(scores)
    out = np.ones_like(removed)
    if a >= 0:
        out[a:b + 1] = removed[a:b + 1]
    return out


def decide(prob_pages: dict, words_pages: dict, thr: float, alpha: float = 0.0,
           penalty: float | None = None) -> dict:
    out = {}
    for pi, pr in prob_pages.items():
        rem = smooth(pr, alpha) >= thr
        if penalty is not None:
            rem = run_filter(rem, words_pages[pi], penalty)
        out[pi] = rem
    return out


# ---------------------------------------------------------------- stage 2 (stacking)

STACK_FEATURES = ["s_p", "s_p-2", "s_p-1", "s_p+1", "s_p+2", "s_win_mean",
                  "s_kept_before", "s_kept_after", "s_kept_frac_before", "s_kept_frac_after"]


def stack_features(prob: np.ndarray, words: np.ndarray, pidx: np.ndarray) -> np.ndarray:
    """Stage-2 extra columns from stage-1 probabilities p (blocks stored page by page):
    s_p = p_i; s_p{o} = p_{i+o} (-1 outside the page); s_win_mean = mean p over i-3..i+3
    without i (clipped; -1 if none); s_kept_before/after = sum over j<i / j>i of words_j*(1-p_j);
    s_kept_frac_* = those / sum over the page of words_j*(1-p_j) (0 when that is 0)."""
    out = np.zeros((len(prob), len(STACK_FEATURES)))
    for pi, idx in split_index(pidx).items():
        p, w = prob[idx], words[idx]
        n = len(p)
        kw = w * (1 - p)
        tot = kw.sum()
        cb = np.concatenate([[0.0], np.cumsum(kw)[:-1]])
        ca = tot - cb - kw
        cols = [p]
        for o in (-2, -1, 1, 2):
            c = np.full(n, -1.0)
            if o < 0:
                c[-o:] = p[:n + o]
            else:
                c[:n - o] = p[o:]
            cols.append(c)
        wm = np.full(n, -1.0)
        for i in range(n):
            lo, hi = max(0, i - F.WINDOW), min(n - 1, i + F.WINDOW)
            if hi > lo:
                wm[i] = (p[lo:hi + 1].sum() - p[i]) / (hi - lo)
        cols += [wm, cb, ca, cb / tot if tot else np.zeros(n), ca / tot if tot else np.zeros(n)]
        out[idx] = np.stack(cols, axis=1)
    return out


def split_index(pidx: np.ndarray) -> dict[int, np.ndarray]:
    return split_pages(np.arange(len(pidx)), pidx)


# ---------------------------------------------------------------- model export


def export_trees(booster: lgb.Booster) -> list[dict]:
    """LightGBM trees -> [{"nodes": [...]}]; node 0 is the root. Internal node:
    {"feature": index, "threshold": t, "left": i, "right": j} — go left when x <= t (no missing
    values: features are always defined). Leaf: {"value": v}. Raw score = sum of the leaves
    reached (+ 0 init score, folded in by LightGBM); p = 1 / (1 + exp(-raw))."""
    dump = booster.dump_model()
    trees = []
    for t in dump["tree_info"]:
        nodes: list[dict] = []

        def walk(n: dict) -> int:
            i = len(nodes)
            nodes.append({})
            if "leaf_value" in n or "split_feature" not in n:
                nodes[i] = {"value": float(n.get("leaf_value", 0.0))}
                return i
            assert n["decision_type"] == "<=", n["decision_type"]
            left = walk(n["left_child"])
            right = walk(n["right_child"])
            nodes[i] = {"feature": int(n["split_feature"]), "threshold": float(n["threshold"]),
                        "left": left, "right": right}
            return i

        walk(t["tree_structure"])
        trees.append({"nodes": nodes})
    return trees


def predict_json(trees: list[dict], X: np.ndarray) -> np.ndarray:
    raw = np.zeros(len(X))
    for t in trees:
        nodes = t["nodes"]
        for r in range(len(X)):
            i = 0
            while "value" not in nodes[i]:
                n = nodes[i]
                i = n["left"] if X[r, n["feature"]] <= n["threshold"] else n["right"]
            raw[r] += nodes[i]["value"]
    return 1 / (1 + np.exp(-raw))


# ---------------------------------------------------------------- main


def matrix(rows: list[dict], names: list[str]) -> np.ndarray:
    return np.array([[r[n] for n in names] for r in rows], dtype=np.float64)


def sample_weight(words: np.ndarray, kind: str):
    if kind == "none":
        return None
    if kind == "sqrt_words":
        return np.sqrt(np.maximum(words, 1.0))
    if kind == "words":
        return np.maximum(words, 1.0)
    raise ValueError(kind)


def fit(X, y, params: dict, words: np.ndarray) -> lgb.Booster:
    p = {"objective": "binary", "verbose": -1, "num_threads": 1, "seed": SEED,
         "deterministic": True, "force_row_wise": True, "feature_pre_filter": False}
    p.update({k: v for k, v in params.items() if k not in ("num_trees", "weight")})
    ds = lgb.Dataset(X, label=y, weight=sample_weight(words, params["weight"]))
    return lgb.train(p, ds, num_boost_round=params["num_trees"])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="one hyper-parameter setting only")
    ap.add_argument("--features", default="all", choices=["all", "portable"])
    ap.add_argument("--fixed", action="store_true",
                    help="only the hyper-parameters chosen by the full grid (faster)")
    ap.add_argument("--no-stack", action="store_true", help="skip the stage-2 experiment")
    args = ap.parse_args()
    t0 = time.time()

    pages = F.load_dragnet()
    train_pages = [p for p in pages if p["split"] == "training"]
    rows, y, pidx, bidx = F.featurize(pages, train_pages)
    names = F.feature_names(args.features)
    X = matrix(rows, names)
    y = np.array(y)
    pidx = np.array(pidx)
    words = X[:, names.index("words")]
    flagged = X[:, names.index("flagged")].astype(bool)
    site_train = Counter(p["site"] for p in train_pages)
    is_train_page = np.array([pages[i]["split"] == "training" for i in range(len(pages))])
    is_noisy = np.array([len((p["gold"] or "").split()) > NOISY_GOLD_WORDS for p in pages])
    tr_mask = is_train_page[pidx] & ~is_noisy[pidx]
    te_mask = ~is_train_page[pidx]
    print(f"features: {len(rows)} blocks x {len(names)} ({time.time() - t0:.0f}s)", flush=True)

    words_pages = split_pages(words, pidx)
    te_pages = [i for i, p in enumerate(pages) if p["split"] == "test"]
    te3 = [i for i in te_pages if site_train[pages[i]["site"]] >= 3]
    noisy = {i for i, p in enumerate(pages) if len((p["gold"] or "").split()) > NOISY_GOLD_WORDS}
    tr_pages = [i for i, p in enumerate(pages) if p["split"] == "training" and i not in noisy]
    tr3 = [i for i in tr_pages if site_train[pages[i]["site"]] >= 3]
    te3c = [i for i in te3 if i not in noisy]
    te_c = [i for i in te_pages if i not in noisy]
    subsets = (("test_sites3", te3), ("test_all", te_pages),
               ("test_sites3_cleangold", te3c), ("test_all_cleangold", te_c))
    print("noisy-gold pages:", sorted(pages[i]["id"] for i in noisy), flush=True)
    results: dict = {"baseline": {}, "cv": {}, "test": {}}

    # ---- baseline: repetition only (key on >= 2 training pages of the site, or in-page repeat)
    base = split_pages(flagged, pidx)
    for name, ids in subsets:
        m = evaluate(pages, base, ids)
        results["baseline"][f"repetition/{name}"] = m
        print(fmt(f"baseline repetition [{name}]", m), flush=True)
    for pen in (1.0, 2.0, 4.0):
        bb = {pi: run_filter(r, words_pages[pi], pen) for pi, r in base.items()}
        for name, ids in subsets:
            m = evaluate(pages, bb, ids)
            results["baseline"][f"repetition+run{pen:g}/{name}"] = m
            print(fmt(f"baseline repetition+best-run pen={pen:g} [{name}]", m), flush=True)

    # ---- site-grouped CV on the training split
    Xtr, ytr = X[tr_mask], y[tr_mask]
    ptr = pidx[tr_mask]
    wtr = words[tr_mask]
    groups = np.array([pages[i]["site"] for i in ptr])
    sel_mask = np.array([site_train[pages[i]["site"]] >= 3 for i in ptr])
    base_params = {"num_trees": 200, "learning_rate": 0.1, "max_depth": 6, "num_leaves": 31,
                   "min_data_in_leaf": 40, "feature_fraction": 0.8, "bagging_fraction": 0.8,
                   "bagging_freq": 1, "lambda_l2": 1.0, "weight": "none"}
    grid = [dict(base_params)]
    if args.fixed:  # the setting chosen by the full grid (grid4 of the committed run)
        grid = [dict(base_params, weight="sqrt_words", learning_rate=0.05)]
    elif not args.quick:
        grid += [dict(base_params, weight="sqrt_words"),
                 dict(base_params, weight="words"),
                 dict(base_params, weight="sqrt_words", max_depth=4, num_leaves=15),
                 dict(base_params, weight="sqrt_words", learning_rate=0.05)]
    gkf = GroupKFold(n_splits=args.folds)
    folds = list(gkf.split(Xtr, ytr, groups))
    best = None
    oofs = {}
    for gi, params in enumerate(grid):
        t1 = time.time()
        oof = np.zeros(len(ytr))
        for a, b in folds:
            oof[b] = fit(Xtr[a], ytr[a], params, wtr[a]).predict(Xtr[b])
        oofs[gi] = oof
        prob_pages = split_pages(oof, ptr)
        # choose post-processing + threshold on CV (sites with >= 3 training pages):
        # maximise block F1 + kept-word F1 (a penalty for content words lost above 3 % was tried
        # first: it pushed the threshold to 0.8 and cost ~2 points of F1 on test; the loss is
        # mostly gold-labelled comments, see README)
        bestg = None
        for alpha in (0.0, 0.2, 0.4):
            for pen in (None, 2.0, 4.0):
                for thr in THRESHOLDS:
                    rem = decide(prob_pages, words_pages, thr, alpha, pen)
                    remg = np.concatenate([rem[pi] for pi in sorted(rem)])
                    m = fast_scores(remg, ytr, wtr, sel_mask)
                    crit = m["block_f1"] + m["word_f1"]
                    if bestg is None or crit > bestg[0]:
                        bestg = (crit, gi, alpha, pen, thr, m)
        m05 = fast_scores(oof >= 0.5, ytr, wtr, sel_mask)
        results["cv"][f"grid{gi}"] = {"params": params, "plain@0.5": m05,
                                      "best": {"alpha": bestg[2], "pen": bestg[3],
                                               "thr": bestg[4], **bestg[5]}}
        print(f"grid{gi} {params}\n   CV(sites3) plain@0.5 {m05}\n   best a={bestg[2]} "
              f"pen={bestg[3]} thr={bestg[4]} {bestg[5]} ({time.time() - t1:.0f}s)", flush=True)
        if best is None or bestg[0] > best[0]:
            best = bestg
    (_, gi, alpha, pen, thr, m) = best
    params = grid[gi]
    results["chosen"] = {"grid": gi, "params": params, "alpha": alpha, "run_penalty": pen,
                         "threshold": thr, "cv_sites3_fast": m}
    print(f"chosen grid{gi} alpha={alpha} run_penalty={pen} thr={thr}: {m}", flush=True)
    rem = decide(split_pages(oofs[gi], ptr), words_pages, thr, alpha, pen)
    for name, ids in (("cv_sites3", tr3), ("cv_all", tr_pages)):
        mm = evaluate(pages, rem, ids)
        results["cv"][f"chosen/{name}"] = mm
        print(fmt(f"CV chosen [{name}]", mm), flush=True)

    # ---- final fit, test
    bst = fit(Xtr, ytr, params, wtr)
    prob = bst.predict(X[te_mask])
    prob_pages = split_pages(prob, pidx[te_mask])
    variants = {"model": (0.0, None, 0.5), "model@thr": (0.0, None, thr),
                "model+smooth": (alpha, None, thr), "model+run": (0.0, pen or 2.0, thr),
                "chosen": (alpha, pen, thr)}
    for vname, (a_, p_, t_) in variants.items():
        rem = decide(prob_pages, words_pages, t_, a_, p_)
        for name, ids in subsets:
            mm = evaluate(pages, rem, ids)
            results["test"][f"{vname}/{name}"] = mm
            print(fmt(f"{vname} a={a_} pen={p_} thr={t_} [{name}]", mm), flush=True)

    # ---- stage 2 (stacking) experiment: 100 + 100 trees, same folds; reported, not exported
    if not args.no_stack:
        t2 = time.time()
        p1 = dict(params, num_trees=100)
        oof1 = np.zeros(len(ytr))
        for a, b in folds:
            oof1[b] = fit(Xtr[a], ytr[a], p1, wtr[a]).predict(Xtr[b])
        X2tr = np.hstack([Xtr, stack_features(oof1, wtr, ptr)])
        oof2 = np.zeros(len(ytr))
        for a, b in folds:
            oof2[b] = fit(X2tr[a], ytr[a], p1, wtr[a]).predict(X2tr[b])
        bs = None
        for thr2 in THRESHOLDS:
            m2 = fast_scores(oof2 >= thr2, ytr, wtr, sel_mask)
            c2 = m2["block_f1"] + m2["word_f1"]
            if bs is None or c2 > bs[0]:
                bs = (c2, thr2, m2)
        thr2 = bs[1]
        print(f"stack CV(sites3) thr={thr2} {bs[2]} (single-stage chosen: {m})", flush=True)
        results["stack"] = {"cv_sites3_fast": bs[2], "threshold": thr2}
        m1 = fit(Xtr, ytr, p1, wtr)
        Xte, pte, wte = X[te_mask], pidx[te_mask], words[te_mask]
        s_te = stack_features(m1.predict(Xte), wte, pte)
        m2b = fit(X2tr, ytr, p1, wtr)
        prob2 = m2b.predict(np.hstack([Xte, s_te]))
        rem2 = decide(split_pages(prob2, pte), words_pages, thr2)
        for name, ids in subsets:
            mm = evaluate(pages, rem2, ids)
            results["stack"][f"test/{name}"] = mm
            print(fmt(f"stack thr={thr2} [{name}]", mm), flush=True)
        print(f"stack experiment {time.time() - t2:.0f}s", flush=True)

    # ---- error analysis on test sites3 (chosen): where the wrongly kept words are
    rem = decide(prob_pages, words_pages, thr, alpha, pen)
    fk = Counter()
    for pi in te3:
        com = set(tri(pages[pi].get("comments") or ""))
        for b, l, r in zip(pages[pi]["blocks"], pages[pi]["label_content"],
                           rem.get(pi, np.zeros(0, dtype=bool))):
            if l == 0 and not r:
                nw = len(b.split())
                fk["wrongly_kept_words"] += nw
                t = tri(b)
                if t and sum(1 for x in t if x in com) >= 0.5 * len(t):
                    fk["of_which_comments"] += nw
    results["test"]["chosen_wrongly_kept_sites3"] = dict(fk)
    print("wrongly kept words (test sites3):", dict(fk), flush=True)

    # ---- importance
    gain = bst.feature_importance("gain")
    imp = sorted(zip(names, gain), key=lambda t: -t[1])
    results["importance_gain_top25"] = [(n, round(float(g), 1)) for n, g in imp[:25]]
    print("top features:", ", ".join(f"{n}" for n, _ in imp[:25]))

    # ---- export
    trees = export_trees(bst)
    chk = predict_json(trees, X[te_mask][:2000])
    diff = float(np.max(np.abs(chk - prob[:2000])))
    assert diff < 1e-9, diff
    model = {
        "format": "dupsift-context-gbdt", "format_version": 1,
        "feature_version": F.FEATURE_VERSION, "feature_set": args.features,
        "features": names,
        "label": "p = P(block is boilerplate); remove when smoothed p >= threshold",
        "threshold": thr, "smoothing_alpha": alpha, "run_penalty": pen,
        "feature_params": {"window": F.WINDOW, "run_penalty": F.RUN_PENALTY,
                           "flag_min_site_pages": 2, "neighbour_offsets": F.NEIGH_OFFSETS},
        "stopwords": sorted(F.STOPWORDS), "months": sorted(F.MONTHS),
        "comment_words": sorted(F.COMMENT_WORDS), "separators": "".join(sorted(F.SEPARATORS)),
        "closers": "".join(sorted(F.CLOSERS)),
        "trees_semantics": "node 0 root; go left when x <= threshold; raw = sum of leaf values; "
                           "p = 1/(1+exp(-raw))",
        "trees": trees,
        "params": params,
        "scores": {k: v for k, v in results["test"].items() if k.startswith("chosen/")},
    }
    with open(os.path.join(args.out, "model.json"), "w") as f:
        json.dump(model, f, separators=(",", ":"))
    results["seconds"] = time.time() - t0
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    print(f"model.json: {len(trees)} trees, json check max diff {diff:.2e}; "
          f"total {time.time() - t0:.0f}s", flush=True)


if __name__ == "__main__":
    main()
