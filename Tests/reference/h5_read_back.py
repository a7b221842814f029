"""Reads a Fashion-Gen HDF5 file with h5py and prints it as one JSON object, so a test can check that what
FashionVL wrote is what h5py sees: keys with dtype and shape, every text column decoded as latin-1 (NUL padding
stripped by numpy), numeric columns, and every image's bytes as a flat list.

usage: h5_read_back.py FILE.h5
"""
import json
import sys

import h5py

with h5py.File(sys.argv[1], "r") as f:
    out = {"keys": {k: [f[k].dtype.str, list(f[k].shape)] for k in sorted(f.keys())}}
    for key in sorted(f.keys()):
        data = f[key][()]
        if key == "input_image":
            out[key] = [row.reshape(-1).tolist() for row in data]
        elif data.dtype.kind == "S":
            out[key] = [v.decode("latin-1") for v in data[:, 0]]
        else:
            out[key] = data[:, 0].tolist()
print(json.dumps(out, ensure_ascii=True))
