"""Fixtures for the kaleido-prepare CLI tests (Tests/CLITests/KaleidoPrepareCLITests.swift).

  kaleido_cli_fixtures.py catalog OUT.h5 --side S --rows N [--first-product P] [--blank-row R]
      a Fashion-Gen-schema file (the columns of h5_make_fixture.py) of N S-px images, each a coloured rectangle on
      a white studio background, except row R, which is all white (no foreground: the full-image fallback).
  kaleido_cli_fixtures.py foreign OUT.safetensors --arch efficientnet-lite0|resnet50
      a small weights file with a few keys of the named architecture (zeros), for the other-architecture errors.
  kaleido_cli_fixtures.py boxes CACHE.safetensors
      prints {"boxes": [[x1, x2, y1, y2] per row], "features": shape} of a feature cache as one JSON line.
"""
import argparse
import json
import os
import sys

import h5py
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import safetensors_io as st  # noqa: E402

WORDS = ["coat", "dress", "bag", "shirt", "skirt", "boots"]


def text(values):
    return np.array([v.encode("latin-1") for v in values], dtype="S").reshape(-1, 1)


def cmd_catalog(a):
    n, s = a.rows, a.side
    images = np.full((n, s, s, 3), 246, dtype=np.uint8)
    for r in range(n):
        if r == a.blank_row:
            continue
        x0, y0 = (r * 3) % max(1, s // 4) + s // 8, (r * 5) % max(1, s // 4) + s // 8
        x1, y1 = min(s, x0 + s // 2), min(s, y0 + (2 * s) // 3)
        images[r, y0:y1, x0:x1] = [(40 * r + 30) % 256, (90 + 17 * r) % 256, 30]
    names = ["red %s with pockets" % WORDS[r % len(WORDS)] for r in range(n)]
    cats = ["TOPS"] * n
    with h5py.File(a.out, "w") as f:
        f.create_dataset("input_image", data=images, chunks=(1, s, s, 3))
        for key, value in {
            "input_name": text(names),
            "input_description": text(["A test item."] * n),
            "input_concat_description": text([x + " A test item." for x in names]),
            "input_category": text(cats),
            "input_subcategory": text(["T-SHIRTS"] * n),
            "input_brand": text(["Maison"] * n),
            "input_composition": text(["100% coton"] * n),
            "input_department": text(["CLOTHING"] * n),
            "input_gender": text(["WOMEN"] * n),
            "input_season": text(["SS17"] * n),
            "input_pose": text(["id_gridfs_1"] * n),
            "input_productID": np.arange(a.first_product, a.first_product + n, dtype=np.int32).reshape(-1, 1),
            "input_msrpUSD": np.full((n, 1), 10.0, dtype=np.float32),
            "index": np.arange(n, dtype=np.int64).reshape(-1, 1),
            "index_2": (np.arange(n, dtype=np.float64) + 100).reshape(-1, 1),
        }.items():
            f.create_dataset(key, data=value)


def cmd_foreign(a):
    if a.arch == "efficientnet-lite0":
        t = {"_conv_stem.weight": torch.zeros(32, 3, 3, 3), "_bn0.weight": torch.ones(32),
             "_blocks.0._depthwise_conv.weight": torch.zeros(32, 1, 3, 3)}
    else:
        t = {"conv1.weight": torch.zeros(64, 3, 7, 7), "bn1.weight": torch.ones(64),
             "layer1.0.conv1.weight": torch.zeros(64, 64, 1, 1)}
    st.save(t, a.out)


def cmd_boxes(a):
    t = st.load(a.cache)
    print(json.dumps({"boxes": t["boxes"].tolist(), "features": list(t["features"].shape)}))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("catalog")
    c.add_argument("out")
    c.add_argument("--side", type=int, required=True)
    c.add_argument("--rows", type=int, required=True)
    c.add_argument("--first-product", type=int, default=100)
    c.add_argument("--blank-row", type=int, default=-1)
    f = sub.add_parser("foreign")
    f.add_argument("out")
    f.add_argument("--arch", required=True, choices=["efficientnet-lite0", "resnet50"])
    b = sub.add_parser("boxes")
    b.add_argument("cache")
    a = p.parse_args(argv)
    {"catalog": cmd_catalog, "foreign": cmd_foreign, "boxes": cmd_boxes}[a.cmd](a)


if __name__ == "__main__":
    main()
