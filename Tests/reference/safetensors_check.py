#!/usr/bin/env python3
"""For TorchTests/SafeTensorsTests. usage:
  safetensors_check.py write PATH   writes one tensor of every dtype (values below), prints nothing
  safetensors_check.py read PATH    reads a file written by Swift, prints {name: [dtype, shape, sum as float]}
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402


def tensors():
    base = torch.arange(12, dtype=torch.float64).reshape(3, 4) - 5.5
    return {"f32": base.float(), "bf16": base.to(torch.bfloat16), "f16": base.half(), "f64": base,
            "i64": base.long() * 1000000007, "i32": base.int(), "u8": (base + 6).to(torch.uint8),
            "bool": base > 0, "scalar": torch.tensor(2.5), "empty": torch.zeros(0, 3)}


cmd, path = sys.argv[1], sys.argv[2]
if cmd == "write":
    safetensors_io.save(tensors(), path, metadata={"origin": "python"})
else:
    d = safetensors_io.load(path)
    print(json.dumps({k: [str(v.dtype), list(v.shape), float(v.double().sum())] for k, v in d.items()}, sort_keys=True))
