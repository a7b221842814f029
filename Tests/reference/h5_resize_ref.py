"""PIL bilinear resizes of the loader test image, for LoaderTests to compare ImageResampler with.

usage: h5_resize_ref.py IN_SIZE OUT_SIZE   prints the resized RGB bytes (row-major) as a JSON list.
The input is pixel (y, x, c) = (37 y + 11 x + 67 c) % 256 as uint8.
"""
import json
import sys

import numpy as np
from PIL import Image

n, out = int(sys.argv[1]), int(sys.argv[2])
y, x, c = np.meshgrid(np.arange(n), np.arange(n), np.arange(3), indexing="ij")
image = Image.fromarray(((37 * y + 11 * x + 67 * c) % 256).astype(np.uint8), "RGB")
print(json.dumps(np.asarray(image.resize((out, out), Image.BILINEAR)).reshape(-1).tolist()))
