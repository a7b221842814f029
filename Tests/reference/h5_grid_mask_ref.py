"""The MVLT grid mask rule in numpy, as the original code computes it (shared/spec/mvlt.md §3), for given
permutations, so LoaderTests can check GridMask.cells against it.

usage: h5_grid_mask_ref.py JSON   with JSON = {"n": 16, "masked": 128, "perm": [...n*n...], "row_perms": [[...n...] * n]}
prints the n x n grid (1 = masked) as JSON for the sliding-window rule and the paper's random-cells rule.
"""
import json
import sys

import numpy as np

args = json.loads(sys.argv[1])
n, masked = args["n"], args["masked"]
perm, row_perms = np.array(args["perm"]), np.array(args["row_perms"])
cells = np.hstack([np.zeros(n * n - masked), np.ones(masked)])[perm]   # the shuffled list c
sliding = np.stack([cells[i:i + n][row_perms[i]] for i in range(n)])    # row i = c[i:i+n], shuffled again
paper = cells.reshape(n, n)                                             # row i = c[i*n:(i+1)*n]
print(json.dumps({"sliding": sliding.astype(int).tolist(), "paper": paper.astype(int).tolist()}))
