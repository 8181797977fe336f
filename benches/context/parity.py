#!/usr/bin/env python3
"""Write the committed parity fixtures for the Rust port (tests/integration/context.rs).

    python3 benches/context/parity.py [MODEL.json]   # default: the shipped benches/context/model_joint.json
                                                     # standard library only, no corpora

* fixtures/context/predictions.json: 200 synthetic feature rows and the probability the Python
  reference evaluation of the model gives for each (rows as f64 bit patterns in hex, so that
  values placed exactly on split thresholds survive the round trip).
* fixtures/context/pages.json: a tiny made-up corpus (text written for this fixture, no corpus
  data): training pages of two sites, test pages, and for every test block the features that
  features.py computes with the repetition statistics of the training pages.
"""
import json
import math
import os
import random
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import features as F  # noqa: E402

ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
OUT = os.path.join(ROOT, "fixtures", "context")


def predict(trees: list[dict], x: list[float]) -> float:
    raw = 0.0
    for t in trees:
        nodes, i = t["nodes"], 0
        while "value" not in nodes[i]:
            n = nodes[i]
            i = n["left"] if x[n["feature"]] <= n["threshold"] else n["right"]
        raw += nodes[i]["value"]
    return 1.0 / (1.0 + math.exp(-raw))


def bits(v: float) -> str:
    return struct.pack(">d", float(v)).hex()


def synthetic_rows(model: dict, n: int) -> list[list[float]]:
    """Rows whose values hit split thresholds exactly, sit one ulp either side, or fall
    anywhere in (and a little beyond) each feature's threshold range."""
    rng = random.Random(6)
    nf = len(model["features"])
    thr: list[list[float]] = [[] for _ in range(nf)]
    for t in model["trees"]:
        for nd in t["nodes"]:
            if "feature" in nd:
                thr[nd["feature"]].append(nd["threshold"])
    rows = []
    for _ in range(n):
        row = []
        for f in range(nf):
            ts = thr[f] or [0.0]
            u = rng.random()
            if u < 0.3:
                v = rng.choice(ts)
            elif u < 0.45:
                v = math.nextafter(rng.choice(ts), math.inf)
            elif u < 0.6:
                v = math.nextafter(rng.choice(ts), -math.inf)
            elif u < 0.7:
                v = -1.0
            else:
                lo, hi = min(ts), max(ts)
                v = rng.uniform(lo - 1.0, hi + 1.0)
            row.append(v)
        rows.append(row)
    return rows


# A made-up news site and a made-up docs site. Blocks are separated by blank lines.
NAV = "Home | World | Sports | Opinion » Blogs"
FOOT = "© 2013 The Daily Example. All rights reserved."
TRAIN = [
    ("news.example", f"{NAV}\n\nMarkets rally as rates hold\n\nThe central bank kept its rate "
     "unchanged on Tuesday, and stocks rose.\n\nShare this\n\nTwitter\n\n{FOOT}"),
    ("news.example", f"{NAV}\n\nCity council approves new park\n\nAfter months of debate the "
     "council voted 7-2 to build the park.\n\nShare this\n\nTwitter\n\n{FOOT}"),
    ("news.example", f"{NAV}\n\nLocal team wins final\n\nFans celebrated late into the night "
     "(again).\n\nShare this\n\nFacebook\n\nPosted at 10:45 PM\n\n{FOOT}"),
    ("docs.example", "Navigation\n\nindex | modules | next\n\nstring — Common string "
     "operations\n\nNote\n\nThe module is always available.\n\n***"),
    ("docs.example", "Navigation\n\nindex | modules | previous\n\nos — Miscellaneous "
     "interfaces\n\nNote\n\nSee also the io module.\n\n***"),
]
TEST = [
    ("news.example", f"{NAV}\n\nStorm closes schools across the region\n\n"
     "Schools in three districts will stay closed on Friday, officials said. "
     "\u201cSafety comes first,\u201d the mayor told reporters at 9:30.\n\n"
     "Roads were icy and many buses could not run; parents were asked to check the "
     "district's website (www.example.com) for updates.\n\nShare this\n\nTwitter\n\n"
     "12 comments\n\nJane wrote: Stay safe everyone!\n\nReply\n\nReply\n\n---\n\n"
     f"CAFÉ ÜBER ALLES: a review, January 2013\n\n{FOOT}"),
    ("docs.example", "Navigation\n\nindex | modules | next\n\njson — JSON encoder and "
     "decoder\n\nNote\n\nIt is safe to call dumps() twice.\n\nContact: docs@example.org\n\n***"),
    ("blog.example", "Only one block, on a site the database has never seen: it ends here!"),
    ("news.example", ""),
]


def prep(site: str, text: str, i: int) -> dict:
    blocks = [b.strip() for b in text.split("\n\n")]
    blocks = [b for b in blocks if b]
    return {"id": f"{site}/{i}", "site": site, "blocks": blocks,
            "keys": [F.block_key(b) for b in blocks]}


def page_fixture(model: dict) -> dict:
    names = model["features"]
    assert names == F.feature_names(model["feature_set"]), "model.json vs features.py"
    train = [prep(s, t, i) for i, (s, t) in enumerate(TRAIN)]
    db = F.RepetitionDB(train)
    tests = []
    for i, (site, text) in enumerate(TEST):
        p = prep(site, text, 100 + i)
        rows = F.page_features(p, db.page_stats(p, is_train=False))
        tests.append({"site": site, "text": text, "blocks": p["blocks"],
                      "features": [[bits(r[n]) for n in names] for r in rows],
                      "prob": [predict(model["trees"], [float(r[n]) for n in names])
                               for r in rows]})
    return {"comment": "generated by benches/context/parity.py; text written for this fixture",
            "feature_version": model["feature_version"], "features": names,
            "train": [{"site": s, "text": t} for s, t in TRAIN], "test": tests}


def main() -> None:
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "model_joint.json")
    with open(src, encoding="utf-8") as f:
        model = json.load(f)
    os.makedirs(OUT, exist_ok=True)
    rows = synthetic_rows(model, 200)
    pred = {"comment": "generated by benches/context/parity.py from "
                       + os.path.relpath(src, ROOT),
            "feature_version": model["feature_version"], "features": model["features"],
            "threshold": model["threshold"],
            "rows": [[bits(v) for v in r] for r in rows],
            "prob": [predict(model["trees"], r) for r in rows]}
    with open(os.path.join(OUT, "predictions.json"), "w", encoding="utf-8") as f:
        json.dump(pred, f, separators=(",", ":"))
        f.write("\n")
    with open(os.path.join(OUT, "pages.json"), "w", encoding="utf-8") as f:
        json.dump(page_fixture(model), f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {OUT}/predictions.json ({len(rows)} rows) and pages.json", file=sys.stderr)


if __name__ == "__main__":
    main()
