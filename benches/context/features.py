#!/usr/bin/env python3
"""Block features for context-aware boilerplate detection (issue 6). Research code, not shipped.

Third-party data is NOT in the repo: the loaders below read it from /work/shared/corpora
(dragnet: AGPLv3 data; python-docs: PSF licence). Nothing read here is written into the repo.

Every feature is defined so that the Rust port can compute the same number; README.md of this
folder lists the definitions. Orientation: label y = 1 means BOILERPLATE (the block is removed),
y = 0 means content (kept).  y = 1 - block_label_derived (dragnet) / 1 - block_label (python docs).
"""
from __future__ import annotations

import os
import gzip
import hashlib
import json
import lzma
import re
import unicodedata
from collections import Counter, defaultdict

_SHARED = os.environ.get("DUPSIFT_SHARED", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared"))
DRAGNET = _SHARED + "/corpora/dragnet/pages.jsonl.gz"
PYDOCS = _SHARED + "/corpora/debian-docs/python-docs.jsonl.xz"

FEATURE_VERSION = 1

# ---------------------------------------------------------------- segmentation + normalization


def blocks_of(text: str, labels: list[int]) -> tuple[list[str], list[int]]:
    """Blocks = text.split("\\n\\n"), each stripped, empty ones dropped.

    The corpora's labels are aligned with the non-empty blocks: for every dragnet page but one
    len(text.split("\\n\\n")) == len(labels) and no block is empty or has outer whitespace; the
    exception, R427 (an empty "ERROR" page), has text "" -> one empty block and 0 labels, which
    dropping empty blocks aligns. We assert the alignment instead of guessing.
    """
    bl = [b.strip() for b in text.split("\n\n")]
    bl = [b for b in bl if b]
    assert len(bl) == len(labels), (len(bl), len(labels))
    return bl, labels


def _norm_once(text: str) -> str:
    out: list[str] = []
    pending = False
    for ch in unicodedata.normalize("NFKC", text):
        for c in ch.lower():
            if c.isspace():
                pending = True
            elif c.isalpha() or c.isnumeric():
                if pending and out:
                    out.append(" ")
                pending = False
                out.append("0" if c.isnumeric() else c)
    s = "".join(out)
    if not s.isascii():
        s = unicodedata.normalize("NFKC", s)
    return s


def normalize(text: str) -> str:
    """dupsift's normalizer (src/normalize.rs): NFKC, lowercase, numeric chars -> '0', drop chars
    that are neither alphanumeric nor whitespace (no space inserted), collapse whitespace runs to
    one space, strip; repeated to a fixed point (<= 5 rounds) for non-ASCII text."""
    s = _norm_once(text)
    if s.isascii():
        return s
    for _ in range(4):
        t = _norm_once(s)
        if t == s:
            break
        s = t
    return s


def block_key(block: str) -> str:
    """Repetition key: normalize(block); blocks that normalize to "" ("|", "»", "--") use the
    stripped raw text prefixed by U+0001 so that "|" and "»" stay different keys."""
    k = normalize(block)
    return k if k else "\x01" + block


# ---------------------------------------------------------------- text features

# English stop words (jusText-style short list). Shipped with the model (model.json "stopwords").
STOPWORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further had
has have having he her here hers herself him himself his how i if in into is it its itself just
me more most my myself no nor not now of off on once only or other our ours ourselves out over
own same she should so some such than that the their theirs them themselves then there these
they this those through to too under until up very was we were what when where which while who
whom why will with would you your yours yourself yourselves also may might must said says one
two new would like
""".split())

TERMINAL = set(".!?")
CLOSERS = set("\"')]}\u201d\u2019\u00bb")  # " ' ) ] } ” ’ »
SEPARATORS = set("|\u00bb\u00ab\u00b7\u2022\u203a\u2039\u25aa\u25ba\u2013\u2014/>")  # | » « · • › ‹ ▪ ► – — / >
MONTHS = frozenset("january february march april may june july august september october "
                   "november december jan feb mar apr jun jul aug sep sept oct nov dec".split())
TIME_RE = re.compile(r"[0-9]{1,2}:[0-9]{2}")
COMMENT_WORDS = frozenset("reply replies comment comments wrote says posted permalink".split())


def _strip_token(w: str) -> str:
    """lowercase, strip leading/trailing chars that are not alphanumeric."""
    i, j = 0, len(w)
    while i < j and not (w[i].isalpha() or w[i].isnumeric()):
        i += 1
    while j > i and not (w[j - 1].isalpha() or w[j - 1].isnumeric()):
        j -= 1
    return w[i:j].lower()


def text_features(block: str) -> dict:
    words = block.split()  # Unicode whitespace split
    nw = len(words)
    nc = len(block)  # Unicode scalar values
    toks = [_strip_token(w) for w in words]
    toks_ne = [t for t in toks if t]
    n_alpha = sum(1 for c in block if c.isalpha())
    n_digit = sum(1 for c in block if c.isnumeric())
    n_upper = sum(1 for c in block if c.isupper())
    n_punct = sum(1 for c in block if not (c.isalpha() or c.isnumeric() or c.isspace()))
    n_sep = sum(1 for c in block if c in SEPARATORS)
    t = block.rstrip()
    while t and t[-1] in CLOSERS:
        t = t[:-1]
    last = t[-1] if t else ""
    low = block.lower()
    return {
        "words": nw,
        "chars": nc,
        "mean_word_len": (sum(len(w) for w in words) / nw) if nw else 0.0,
        "stop_frac": (sum(1 for x in toks if x in STOPWORDS) / nw) if nw else 0.0,
        "punct_frac": n_punct / nc if nc else 0.0,
        "digit_frac": n_digit / nc if nc else 0.0,
        "upper_frac": n_upper / n_alpha if n_alpha else 0.0,
        "alpha_frac": n_alpha / nc if nc else 0.0,
        "cap_word_frac": (sum(1 for w in words if w[0].isupper()) / nw) if nw else 0.0,
        "ends_terminal": 1 if last in TERMINAL else 0,
        "ends_colon": 1 if last == ":" else 0,
        "sep_count": n_sep,
        "has_copyright": 1 if ("\u00a9" in block or "(c)" in low or "copyright" in low) else 0,
        "has_url": 1 if ("http" in low or "www." in low or ".com" in low) else 0,
        "has_at": 1 if "@" in block else 0,
        "has_time": 1 if TIME_RE.search(block) else 0,
        "has_month": 1 if any(x in MONTHS for x in toks_ne) else 0,
        "comment_word": 1 if any(x in COMMENT_WORDS for x in toks_ne) else 0,
        "first_upper": 1 if block[:1].isupper() else 0,
    }


TEXT_FEATURES = list(text_features("x").keys())

# ---------------------------------------------------------------- repetition statistics


class RepetitionDB:
    """Counts over TRAINING pages only: for every site, how many of its training pages contain
    each key (a page counts once per key), and for every key the set of sites containing it."""

    def __init__(self, train_pages: list[dict]):
        self.site_pages: Counter = Counter()
        self.site_key: dict[str, Counter] = defaultdict(Counter)
        key_sites: dict[str, set] = defaultdict(set)
        for p in train_pages:
            s = p["site"]
            self.site_pages[s] += 1
            ks = set(p["keys"])
            self.site_key[s].update(ks)
            for k in ks:
                key_sites[k].add(s)
        self.key_sites = key_sites

    def page_stats(self, p: dict, is_train: bool):
        """Per-block (site_count, site_pages, other_sites) for page p. For a training page the
        page itself is left out (leave-one-out): site_count - 1 and site_pages - 1."""
        s = p["site"]
        loo = 1 if is_train else 0
        sp = self.site_pages.get(s, 0) - loo
        sk = self.site_key.get(s, Counter())
        out = []
        for k in p["keys"]:
            c = sk.get(k, 0) - loo
            sites = self.key_sites.get(k)
            other = (len(sites) - (1 if s in sites else 0)) if sites else 0
            out.append((c, sp, other))
        return out


REP_FEATURES = ["site_pages", "site_count", "site_frac", "other_sites", "inpage_count",
                "inpage_first", "flagged"]

# ---------------------------------------------------------------- position / context

NEIGH_FEATURES = ["words", "site_frac", "stop_frac", "ends_terminal", "flagged", "punct_frac",
                  "comment_word", "has_time"]
NEIGH_OFFSETS = [-2, -1, 1, 2]
WINDOW = 3  # flagged density over blocks i-3..i+3 (clipped to the page), excluding i
RUN_PENALTY = 2.0  # best-run score: +words if not flagged, -RUN_PENALTY*words if flagged

POS_FEATURES = ["n_blocks", "idx", "rel_pos", "rel_pos_words", "page_words",
                "flag_density", "flag_density_words",
                "kept_words_before", "kept_words_after", "kept_frac_before", "kept_frac_after",
                "run_side", "run_dist", "run_words_frac",
                "longest_dist", "longest_rel_dist", "longest_words"]


# Features whose scale depends on page length or site size (absolute counts / indices). The
# "portable" feature set leaves them out (their relative versions stay) -- a transfer test.
ABSOLUTE_FEATURES = ["n_blocks", "idx", "page_words", "kept_words_before", "kept_words_after",
                     "site_pages", "site_count", "longest_dist", "longest_words", "run_dist"]


def feature_names(kind: str = "all") -> list[str]:
    if kind == "portable":
        return [n for n in feature_names("all") if n not in ABSOLUTE_FEATURES]
    assert kind == "all", kind
    names = list(TEXT_FEATURES) + list(REP_FEATURES) + list(POS_FEATURES)
    for o in NEIGH_OFFSETS:
        for f in NEIGH_FEATURES:
            names.append(f"n{o:+d}_{f}")
    return names


def best_run(scores: list[float]) -> tuple[int, int]:
    """Maximum-sum contiguous run [a, b] (inclusive; Kadane, first maximum, ties keep earliest).
    Returns (-1, -1) when every score is <= 0."""
    best, a_best, b_best = 0.0, -1, -1
    cur, a = 0.0, 0
    for i, s in enumerate(scores):
        if cur <= 0:
            cur, a = s, i
        else:
            cur += s
        if cur > best:
            best, a_best, b_best = cur, a, i
    return a_best, b_best


def page_features(p: dict, rep: list[tuple[int, int, int]]) -> list[dict]:
    blocks, keys = p["blocks"], p["keys"]
    n = len(blocks)
    tf = [text_features(b) for b in blocks]
    kc = Counter(keys)
    seen: set = set()
    rows = []
    for i in range(n):
        c, sp, other = rep[i]
        r = dict(tf[i])
        r["site_pages"] = sp
        r["site_count"] = c
        r["site_frac"] = c / sp if sp > 0 else 0.0
        r["other_sites"] = other
        r["inpage_count"] = kc[keys[i]] - 1
        r["inpage_first"] = 0 if keys[i] in seen else 1
        seen.add(keys[i])
        # baseline flag: key on >= 2 other training pages of the site, or repeated in the page
        r["flagged"] = 1 if (c >= 2 or r["inpage_count"] >= 1) else 0
        rows.append(r)
    words = [r["words"] for r in rows]
    flagged = [r["flagged"] for r in rows]
    total = sum(words)
    kept = [w if not f else 0 for w, f in zip(words, flagged)]
    total_kept = sum(kept)
    scores = [float(w) if not f else -RUN_PENALTY * w for w, f in zip(words, flagged)]
    ra, rb = best_run(scores)
    run_words = sum(words[ra:rb + 1]) if ra >= 0 else 0
    # longest non-flagged block (by words; first on ties); -1 when none
    li, lw = -1, 0
    for i in range(n):
        if not flagged[i] and words[i] > lw:
            li, lw = i, words[i]
    cum = 0
    kept_before = 0
    for i in range(n):
        r = rows[i]
        r["n_blocks"] = n
        r["idx"] = i
        r["rel_pos"] = i / (n - 1) if n > 1 else 0.0
        r["rel_pos_words"] = cum / total if total else 0.0
        r["page_words"] = total
        lo, hi = max(0, i - WINDOW), min(n - 1, i + WINDOW)
        idxs = [j for j in range(lo, hi + 1) if j != i]
        r["flag_density"] = (sum(flagged[j] for j in idxs) / len(idxs)) if idxs else 0.0
        ww = sum(words[j] for j in idxs)
        r["flag_density_words"] = (sum(words[j] for j in idxs if flagged[j]) / ww) if ww else 0.0
        r["kept_words_before"] = kept_before
        r["kept_words_after"] = total_kept - kept_before - kept[i]
        r["kept_frac_before"] = kept_before / total_kept if total_kept else 0.0
        r["kept_frac_after"] = r["kept_words_after"] / total_kept if total_kept else 0.0
        if ra < 0:
            r["run_side"], r["run_dist"] = 2, n
        elif i < ra:
            r["run_side"], r["run_dist"] = -1, ra - i
        elif i > rb:
            r["run_side"], r["run_dist"] = 1, i - rb
        else:
            r["run_side"], r["run_dist"] = 0, 0
        r["run_words_frac"] = run_words / total if total else 0.0
        if li < 0:
            r["longest_dist"], r["longest_rel_dist"] = n, 1.0
        else:
            r["longest_dist"] = i - li
            r["longest_rel_dist"] = (i - li) / n
        r["longest_words"] = lw
        cum += words[i]
        kept_before += kept[i]
    for i in range(n):
        r = rows[i]
        for o in NEIGH_OFFSETS:
            j = i + o
            for f in NEIGH_FEATURES:
                r[f"n{o:+d}_{f}"] = rows[j][f] if 0 <= j < n else -1
    return rows


# ---------------------------------------------------------------- loading


def _prep(p: dict, site: str, labels: list[int]) -> dict:
    blocks, labels = blocks_of(p["text"], labels)
    return {
        "id": p["id"], "site": site, "blocks": blocks, "keys": [block_key(b) for b in blocks],
        "label_content": list(labels), "gold": p.get("gold_main"),
        "comments": p.get("gold_comments"),
    }


def load_dragnet() -> list[dict]:
    out = []
    with gzip.open(DRAGNET, "rt", encoding="utf-8") as f:
        for line in f:
            p = json.loads(line)
            q = _prep(p, p["domain"], p["block_label_derived"])
            q["split"] = p["split"]
            out.append(q)
    return out


def pydocs_split(page_id: str) -> str:
    """Python docs split: training when the first byte of sha1(id) < 179 (~70 %), else test."""
    return "training" if hashlib.sha1(page_id.encode()).digest()[0] < 179 else "test"


def load_pydocs() -> list[dict]:
    out = []
    with lzma.open(PYDOCS, "rt", encoding="utf-8") as f:
        for line in f:
            p = json.loads(line)
            q = _prep(p, "docs.python.org", p["block_label"])
            q["split"] = pydocs_split(p["id"])
            # gold text for kept-text scoring = the content blocks joined
            q["gold"] = "\n".join(b for b, l in zip(q["blocks"], q["label_content"]) if l == 1)
            out.append(q)
    return out


def featurize(pages: list[dict], train_pages: list[dict]):
    """Rows (list of dict) for every block of `pages`, using repetition statistics of
    `train_pages`. Pages whose split is 'training' (and are in train_pages) get leave-one-out
    counts. Returns (rows, y, page_index, block_index)."""
    db = RepetitionDB(train_pages)
    train_ids = {p["id"] for p in train_pages}
    rows, y, pidx, bidx = [], [], [], []
    for pi, p in enumerate(pages):
        rep = db.page_stats(p, p["id"] in train_ids)
        fr = page_features(p, rep)
        for bi, r in enumerate(fr):
            rows.append(r)
            y.append(1 - p["label_content"][bi])
            pidx.append(pi)
            bidx.append(bi)
    return rows, y, pidx, bidx


if __name__ == "__main__":
    import sys
    import time
    t = time.time()
    pages = load_dragnet()
    tr = [p for p in pages if p["split"] == "training"]
    rows, y, _, _ = featurize(pages, tr)
    print(len(pages), "pages", len(rows), "blocks", sum(y), "boilerplate",
          f"{time.time() - t:.1f}s", file=sys.stderr)
    print(json.dumps(rows[100], indent=1))
