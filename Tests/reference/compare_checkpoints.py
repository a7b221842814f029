"""Compares the model tensors of two FashionVL checkpoints (safetensors; `optimizer.*` left out).

usage: compare_checkpoints.py A.safetensors B.safetensors [PREVIOUS.safetensors]
Prints one JSON line: the largest absolute difference between A and B over all model tensors (and the tensor it
is in), the number of tensors, and with PREVIOUS (A's checkpoint one step earlier) the largest change of one
optimizer step, so that a test can tell a round-off difference from a real one. Fails when the names or shapes
differ.
"""
import json
import sys

import torch

from safetensors_io import load


def model_tensors(path):
    return {k: v for k, v in load(path).items() if not k.startswith("optimizer.")}


def main():
    a, b = model_tensors(sys.argv[1]), model_tensors(sys.argv[2])
    if a.keys() != b.keys():
        sys.exit(f"different tensors: only in A {sorted(a.keys() - b.keys())[:5]}, only in B {sorted(b.keys() - a.keys())[:5]}")
    worst, where = 0.0, None
    for k in sorted(a):
        if a[k].shape != b[k].shape:
            sys.exit(f"{k}: shape {list(a[k].shape)} vs {list(b[k].shape)}")
        d = (a[k].double() - b[k].double()).abs().max().item() if a[k].numel() else 0.0
        if d > worst:
            worst, where = d, k
    out = {"max_abs_diff": worst, "worst_tensor": where, "tensors": len(a)}
    if len(sys.argv) > 3:
        p = model_tensors(sys.argv[3])
        out["max_step_change"] = max(
            (a[k].double() - p[k].double()).abs().max().item() for k in a if a[k].numel() and a[k].is_floating_point())
    print(json.dumps(out))


if __name__ == "__main__":
    main()
