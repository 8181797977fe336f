#!/usr/bin/env python3
"""One comparison table from several RESULT.json files (peers and dupsift) and a truth prefix.

    python table.py --truth /tmp/c10.truth0.80 /tmp/peers/c10.*.json [--format md|tsv]

Columns: tool (with mode when not default), threads, signature MB/s, end-to-end MB/s, docs/s,
peak RSS MB, verified pairs, pair precision/recall, removed-document precision/recall, and
"x dupsift": e2e MB/s of the row divided by the e2e MB/s of the default-mode dupsift result
with the same thread count (or of another dupsift result if none matches); empty when no result has
"tool": "dupsift". Truth columns are left empty when --truth is not given.

--update FILE also writes the markdown table into FILE between the lines
`<!-- peers-table:start -->` and `<!-- peers-table:end -->`, headed by the date, the machine's
load average and --command (how the table was made), so the committed table is always the
script's output, never hand-edited.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from score import result_files, score  # noqa: E402


def fmt(x, nd=2):
    if x is None:
        return ""
    if isinstance(x, float):
        return f"{x:.{nd}f}"
    return str(x)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", nargs="+", help="RESULT.json files")
    ap.add_argument("--truth", help="truth.py output prefix")
    ap.add_argument("--format", choices=("md", "tsv"), default="md")
    ap.add_argument("--update", metavar="FILE", help="rewrite the marked table in this markdown file")
    ap.add_argument("--command", default="", help="the command that made the results (for --update)")
    args = ap.parse_args()

    rows = []
    for path in args.results:
        with open(path, encoding="utf-8") as f:
            r = json.load(f)
        r["_path"] = path
        if args.truth:
            removed, pairs = result_files(path)
            try:
                r["_score"] = score(args.truth, removed, pairs)
            except OSError as e:
                print(f"warning: cannot score {path}: {e}", file=sys.stderr)
        rows.append(r)

    dupsift = [r for r in rows if r.get("tool") == "dupsift"]

    def ratio(r):
        if not dupsift:
            return None
        # The default mode at the same thread count, else any mode at it, else the first.
        same = [d for d in dupsift if d.get("threads") == r.get("threads")] or dupsift
        ref = next((d for d in same if d.get("mode", "default") == "default"), same[0])
        base = ref.get("e2e_mb_per_s")
        return r["e2e_mb_per_s"] / base if base else None

    head = ["tool", "threads", "sig MB/s", "e2e MB/s", "docs/s", "peak RSS MB", "pairs",
            "pair P", "pair R", "removed P", "removed R", "x dupsift"]
    table = []
    for r in sorted(rows, key=lambda r: (r.get("tool") != "dupsift", r.get("tool", ""), r.get("threads", 0))):
        tool = r.get("tool", "?")
        mode = r.get("mode")
        if mode and mode not in ("default", "tokens", "xxh32"):
            tool += f" ({mode})"
        sc = r.get("_score", {})
        pp = sc.get("pairs", {})
        rp = sc.get("removed", {})
        table.append([tool, fmt(r.get("threads")), fmt(r.get("signature_mb_per_s"), 1),
                      fmt(r.get("e2e_mb_per_s"), 1), fmt(r.get("docs_per_s"), 0), fmt(r.get("peak_rss_mb"), 0),
                      fmt(r.get("verified_pairs")), fmt(pp.get("precision"), 3), fmt(pp.get("recall"), 3),
                      fmt(rp.get("precision"), 3), fmt(rp.get("recall"), 3), fmt(ratio(r), 2)])
    if args.format == "tsv":
        print("\t".join(head))
        for row in table:
            print("\t".join(row))
        return
    widths = [max(len(h), *(len(row[i]) for row in table)) for i, h in enumerate(head)]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(head, widths)) + " |",
             "|" + "|".join(("-" * (w + 1) + ":") if i else ("-" * (w + 2)) for i, w in enumerate(widths)) + "|"]
    for row in table:
        lines.append("| " + " | ".join((c.rjust(w) if i else c.ljust(w)) for i, (c, w) in enumerate(zip(row, widths))) + " |")
    print("\n".join(lines))
    if args.update:
        update_marked_table(args.update, lines, args.command)


START, END = "<!-- peers-table:start -->", "<!-- peers-table:end -->"


def update_marked_table(path: str, lines: list[str], command: str) -> None:
    """Replace the text between the markers in `path` (atomically: temp file + rename)."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if text.count(START) != 1 or text.count(END) != 1 or text.index(START) > text.index(END):
        sys.exit(f"{path}: needs exactly one {START} line before one {END} line")
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    stamp = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    head = [f"Generated {stamp} by `{command or 'benches/peers/table.py'}`; load average (1/5/15 min) "
            f"when the table was written: {load}.", ""]
    before, rest = text.split(START, 1)
    _, after = rest.split(END, 1)
    new = before + START + "\n" + "\n".join(head + lines) + "\n" + END + after
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(new)
    os.replace(tmp, path)
    print(f"updated the table in {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
