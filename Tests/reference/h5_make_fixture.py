"""Writes a small Fashion-Gen-schema HDF5 file with h5py, as the published files are written (shared/DATA.md §1).

usage: h5_make_fixture.py OUT.h5 [good|no_image|bad_text_shape|mismatched_rows]

Five rows of 8x8 images; pixel (row r, y, x, channel c) = (31 r + 7 y + 3 x + 11 c) % 256. Numeric keys use
varied dtypes (int32 productID, float32 msrpUSD, int64 index, float64 index_2) and the text is latin-1 with
accents. HDF5Tests.swift pins the same values.
"""
import sys

import h5py
import numpy as np

N, S = 5, 8
NAMES = ["Crème T-shirt", "Blouson en cuir", "Jupe plissée", "Bottes à lacets", "Sac fourre-tout"]
DESCRIPTIONS = ["Coton biologique, col rond.", "Cuir d'agneau; fermeture éclair.", "Taille haute, doublée.",
                "Semelle crantée.", ""]
CATEGORIES = ["TOPS", "JACKETS & COATS", "SKIRTS", "SHOES", "BAGS"]
SUBCATEGORIES = ["T-SHIRTS", "LEATHER JACKETS", "MIDI SKIRTS", "BOOTS", "TOTE BAGS"]
PRODUCT_IDS = [1001, 1001, 2002, 3003, 4004]
PRICES = [49.5, 49.5, 120.25, 310.0, 75.75]


def text(values):
    return np.array([v.encode("latin-1") for v in values], dtype="S").reshape(-1, 1)


def main():
    out, variant = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "good")
    r, y, x, c = np.meshgrid(np.arange(N), np.arange(S), np.arange(S), np.arange(3), indexing="ij")
    images = ((31 * r + 7 * y + 3 * x + 11 * c) % 256).astype(np.uint8)
    columns = {
        "input_name": text(NAMES),
        "input_description": text(DESCRIPTIONS),
        "input_concat_description": text([n + " " + d for n, d in zip(NAMES, DESCRIPTIONS)]),
        "input_category": text(CATEGORIES),
        "input_subcategory": text(SUBCATEGORIES),
        "input_brand": text(["Maison Noé"] * N),
        "input_composition": text(["100% coton"] * N),
        "input_department": text(["CLOTHING"] * N),
        "input_gender": text(["WOMEN", "WOMEN", "WOMEN", "MEN", "WOMEN"]),
        "input_season": text(["SS17"] * N),
        "input_pose": text(["id_gridfs_1", "id_gridfs_2", "id_gridfs_1", "id_gridfs_1", "id_gridfs_1"]),
        "input_productID": np.array(PRODUCT_IDS, dtype=np.int32).reshape(-1, 1),
        "input_msrpUSD": np.array(PRICES, dtype=np.float32).reshape(-1, 1),
        "index": np.arange(N, dtype=np.int64).reshape(-1, 1),
        "index_2": (np.arange(N, dtype=np.float64) + 100).reshape(-1, 1),
    }
    if variant == "bad_text_shape":
        columns["input_name"] = np.concatenate([columns["input_name"]] * 2, axis=1)
    elif variant == "mismatched_rows":
        columns["input_brand"] = columns["input_brand"][:N - 1]
    elif variant != "good" and variant != "no_image":
        sys.exit("unknown variant " + variant)
    with h5py.File(out, "w") as f:
        if variant != "no_image":
            f.create_dataset("input_image", data=images, chunks=(1, S, S, 3), compression="gzip")
        for key, value in columns.items():
            f.create_dataset(key, data=value)


if __name__ == "__main__":
    main()
