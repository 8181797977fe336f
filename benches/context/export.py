#!/usr/bin/env python3
"""Convert the research output `model.json` into the model file shipped inside dupsift.

    python3 benches/context/export.py [benches/context/model_joint.json] [src/context/model.bin]

The shipped model is the joint one (dragnet + python docs, `joint.py --export`); the
dragnet-only research model is `model.json`.

Standard library only (no venv needed). The Rust side (`src/context/model.rs`) embeds the
result with `include_bytes!` and refuses a file whose versions or feature names differ from
its own. Layout, little-endian:

    magic         8 bytes  b"DSCTXGB\\0"
    format        u16      MODEL_FORMAT_VERSION (this layout) = 1
    features      u16      feature_version of model.json (the feature definitions)
    meta_len      u32      then meta_len bytes of UTF-8 JSON: every field of model.json but
                           "trees" (features, threshold, run_penalty, word lists, scores...)
    n_trees       u32      then per tree: u32 n_nodes, then n_nodes nodes of 20 bytes:
                           i32 feature (-1 = leaf), f64 threshold (leaf: value), u32 left, u32 right
    crc32         u32      zlib.crc32 of every byte before it

Node 0 of a tree is its root; an internal node goes left when x <= threshold.
"""
import json
import os
import struct
import sys
import zlib

MAGIC = b"DSCTXGB\0"
MODEL_FORMAT_VERSION = 1


def export(model: dict, src_name: str) -> bytes:
    assert model["format"] == "dupsift-context-gbdt", model["format"]
    assert model["format_version"] == 1, model["format_version"]
    meta = {k: v for k, v in model.items() if k != "trees"}
    meta["source"] = os.path.basename(src_name)
    meta_bytes = json.dumps(meta, separators=(",", ":"), sort_keys=True).encode("utf-8")
    out = bytearray(MAGIC)
    out += struct.pack("<HHI", MODEL_FORMAT_VERSION, model["feature_version"], len(meta_bytes))
    out += meta_bytes
    out += struct.pack("<I", len(model["trees"]))
    for t in model["trees"]:
        nodes = t["nodes"]
        out += struct.pack("<I", len(nodes))
        for n in nodes:
            if "value" in n:
                out += struct.pack("<idII", -1, float(n["value"]), 0, 0)
            else:
                out += struct.pack("<idII", int(n["feature"]), float(n["threshold"]),
                                   int(n["left"]), int(n["right"]))
    out += struct.pack("<I", zlib.crc32(bytes(out)))
    return bytes(out)


def main() -> None:
    src = sys.argv[1] if len(sys.argv) > 1 else "benches/context/model_joint.json"
    dst = sys.argv[2] if len(sys.argv) > 2 else "src/context/model.bin"
    with open(src, encoding="utf-8") as f:
        model = json.load(f)
    data = export(model, src)
    with open(dst, "wb") as f:
        f.write(data)
    print(f"{dst}: {len(data)} bytes, {len(model['trees'])} trees, "
          f"feature_version {model['feature_version']}, threshold {model['threshold']}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
