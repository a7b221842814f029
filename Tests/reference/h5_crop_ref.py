"""MVLT's product crop in PIL (shared/spec/mvlt.md §3), for LoaderTests: 1-bit conversion with Floyd-Steinberg
dithering, the box of the black pixels (right/bottom exclusive as PIL's crop, so the last black row/column is
dropped), then a bilinear resize of the crop to OUT x OUT.

usage: h5_crop_ref.py N OUT   prints {"bits": [...N*N 0/1, 1 = black], "box": [x0, y0, x1, y1], "resized": [...]}
The N x N test image: white, a mid-grey patch (170) at rows 2-3, columns 2-5 (dithers to some black pixels),
and a product at rows 7..N-10, columns 9..N-6 with colour ((200 - 3x) % 256, (120 + 2y) % 256, (x y) % 256).
"""
import json
import sys

import numpy as np
from PIL import Image

n, out = int(sys.argv[1]), int(sys.argv[2])
a = np.full((n, n, 3), 255, dtype=np.uint8)
a[2:4, 2:6] = 170
for y in range(7, n - 9):
    for x in range(9, n - 5):
        a[y, x] = ((200 - 3 * x) % 256, (120 + 2 * y) % 256, (x * y) % 256)
img = Image.fromarray(a, "RGB")
bits = np.asarray(img.convert("1"))          # True = white
ys, xs = np.where(~bits)
box = (int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max()))
resized = np.asarray(img.crop(box).resize((out, out), Image.BILINEAR))
print(json.dumps({"bits": (~bits).astype(int).reshape(-1).tolist(), "box": list(box),
                  "resized": resized.reshape(-1).tolist()}))
