#!/usr/bin/env python3
"""Reference for TorchTests/OptimizerTests: 10 AdamW steps (two param groups, gradient clipping) and 10 SGD
steps with momentum on a small MLP, from the weights and data in IN_DIR/init.safetensors.

usage: adamw_ref.py make OUT_DIR      writes OUT_DIR/init.safetensors (weights w1,b1,w2,b2 and data x,y)
       adamw_ref.py run OUT_DIR       writes OUT_DIR/adamw.safetensors and OUT_DIR/sgd.safetensors
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

torch.set_num_threads(1)


def forward(p, x):
    return F.linear(F.gelu(F.linear(x, p["w1"], p["b1"])), p["w2"], p["b2"])


def train(init, opt_name):
    p = {k: init[k].clone().requires_grad_(True) for k in ("w1", "b1", "w2", "b2")}
    groups = [{"params": [p["w1"], p["w2"]], "weight_decay": 0.1}, {"params": [p["b1"], p["b2"]], "weight_decay": 0.0}]
    if opt_name == "adamw":
        opt = torch.optim.AdamW(groups, lr=0.05, betas=(0.9, 0.95), eps=1e-8)
    else:
        opt = torch.optim.SGD(groups, lr=0.05, momentum=0.9)
    losses = []
    for step in range(10):
        opt.param_groups[0]["lr"] = opt.param_groups[1]["lr"] = 0.05 * (1 - step / 20)
        loss = F.cross_entropy(forward(p, init["x"]), init["y"])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(p.values()), max_norm=0.5)
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())
    out = {k: v.detach() for k, v in p.items()}
    out["losses"] = torch.tensor(losses, dtype=torch.float64)
    return out


def main():
    cmd, d = sys.argv[1], sys.argv[2]
    if cmd == "make":
        g = torch.Generator().manual_seed(5)
        init = {"w1": torch.randn(16, 8, generator=g) * 0.5, "b1": torch.randn(16, generator=g) * 0.1,
                "w2": torch.randn(4, 16, generator=g) * 0.5, "b2": torch.zeros(4),
                "x": torch.randn(32, 8, generator=g), "y": torch.randint(0, 4, (32,), generator=g)}
        safetensors_io.save(init, os.path.join(d, "init.safetensors"))
    else:
        init = safetensors_io.load(os.path.join(d, "init.safetensors"))
        safetensors_io.save(train(init, "adamw"), os.path.join(d, "adamw.safetensors"))
        safetensors_io.save(train(init, "sgd"), os.path.join(d, "sgd.safetensors"))


if __name__ == "__main__":
    main()
