"""Compares the model tensors of two FashionVL checkpoints (safetensors; `optimizer.*` left out).

usage: compare_checkpoints.py A.safetensors B.safetensors [PREVIOUS.safetensors]
Prints one JSON line: the largest absolute difference between A and B over all model tensors (and the tensor it
is in), the number of tensors, and with PREVIOUS (A's checkpoint one step earlier) the largest change of one
optimizer step, so that a test can tell a round-off difference from a real one; and the same two figures over
the BatchNorm running statistics alone (`running_stats`, when there are any: what SyncBatchNorm computes). Fails
when the names or shapes differ.
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
    p = model_tensors(sys.argv[3]) if len(sys.argv) > 3 else None

    def step(keys):
        return max((a[k].double() - p[k].double()).abs().max().item() for k in keys if a[k].numel() and a[k].is_floating_point())

    if p is not None:
        out["max_step_change"] = step(a)
    stats = [k for k in a if k.endswith(("running_mean", "running_var"))]
    if stats:
        out["running_stats"] = {"max_abs_diff": max((a[k].double() - b[k].double()).abs().max().item() for k in stats)}
        if p is not None:
            out["running_stats"]["max_step_change"] = step(stats)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
