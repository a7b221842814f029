#!/usr/bin/env python3
"""Reference values for TorchTests/OpParityTests: same inputs, same ops, PyTorch on the same libtorch.

usage: torch_ops_ref.py OUT_DIR   writes OUT_DIR/inputs.safetensors and OUT_DIR/expected.safetensors.
Every case name here has a twin in Tests/TorchTests/OpParityTests.swift.
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

torch.set_num_threads(1)
g = torch.Generator().manual_seed(1234)


def rn(*shape):
    return torch.randn(*shape, generator=g)


inp = {
    "a": rn(4, 5), "b": rn(5, 3), "bias3": rn(3), "w35": rn(3, 5),
    "ba": rn(2, 4, 5), "bb": rn(2, 5, 3), "bc": rn(2, 4, 3),
    "img": rn(2, 3, 8, 8), "cw": rn(4, 3, 3, 3), "cb": rn(4), "tw": rn(4, 2, 3, 3),
    "q": rn(2, 2, 5, 4), "k": rn(2, 2, 6, 4), "v": rn(2, 2, 6, 4), "amask": rn(5, 6),
    "bmask": (torch.rand(5, 6, generator=g) > 0.3),
    "logits": rn(6, 5), "target": torch.tensor([0, 4, -100, 2, 1, 3]), "probs": torch.rand(6, 5, generator=g),
    "x": rn(3, 4, 5), "ln_w": rn(5), "ln_b": rn(5), "gn_w": rn(4), "gn_b": rn(4),
    "idx": torch.tensor([2, 0, 3]), "gidx": torch.randint(0, 5, (3, 4, 5), generator=g),
    "emb": rn(10, 4), "ids": torch.tensor([[1, 0, 9], [3, 3, 0]]),
}
inp["bmask"] = inp["bmask"].clone()
inp["bmask"][:, 0] = True  # every query attends somewhere

out = {}
a, b = inp["a"], inp["b"]
out["matmul"] = a @ b
out["bmm"] = torch.bmm(inp["ba"], inp["bb"])
out["baddbmm"] = torch.baddbmm(inp["bc"], inp["ba"], inp["bb"], beta=0.5, alpha=2.0)
out["linear"] = F.linear(a, inp["w35"], inp["bias3"])
out["conv2d"] = F.conv2d(inp["img"], inp["cw"], inp["cb"], stride=2, padding=1)
ct_in = inp["img"][:, :, :4, :4].contiguous()
ct_w = inp["tw"][:3].contiguous()
out["conv_transpose2d"] = F.conv_transpose2d(ct_in, ct_w, None, stride=2, padding=1, output_padding=1)
x = inp["x"]
out["layer_norm"] = F.layer_norm(x, [5], inp["ln_w"], inp["ln_b"], 1e-6)
out["group_norm"] = F.group_norm(inp["img"].repeat(1, 2, 1, 1)[:, :4], 2, inp["gn_w"], inp["gn_b"], 1e-5)
rm, rv = torch.zeros(3), torch.ones(3)
out["batch_norm"] = F.batch_norm(inp["img"], rm, rv, None, None, True, 0.1, 1e-5)
out["batch_norm.running_mean"], out["batch_norm.running_var"] = rm, rv
out["gelu"], out["relu"], out["sigmoid"], out["tanh"] = F.gelu(x), F.relu(x), torch.sigmoid(x), torch.tanh(x)
out["softmax"], out["log_softmax"] = torch.softmax(x, -1), torch.log_softmax(x, 1)
q, k, v = inp["q"], inp["k"], inp["v"]
out["attention.additive"] = torch.softmax(q @ k.transpose(-2, -1) * 0.5 + inp["amask"], -1) @ v
out["attention.bool"] = torch.softmax((q @ k.transpose(-2, -1) * 0.5).masked_fill(~inp["bmask"], float("-inf")), -1) @ v
out["attention.scale"] = torch.softmax(q @ k.transpose(-2, -1) * 0.125, -1) @ v
img = inp["img"]
out["bilinear"] = F.interpolate(img, size=(11, 5), mode="bilinear", align_corners=False)
out["bilinear.ac"] = F.interpolate(img, size=(16, 16), mode="bilinear", align_corners=True)
out["nearest"] = F.interpolate(img, size=(5, 12), mode="nearest")
out["bicubic"] = F.interpolate(img, size=(12, 12), mode="bicubic", align_corners=False)
out["pad"] = F.pad(img, (1, 2, 0, 3), value=0.5)
out["cat"] = torch.cat([a, a * 2], 1)
out["stack"] = torch.stack([a, a + 1], 0)
out["split.1"] = torch.split(x, 2, dim=2)[1]
out["chunk.2"] = torch.chunk(x, 3, dim=2)[2]
out["permute"] = x.permute(2, 0, 1).contiguous()
out["flatten"] = x.flatten(1)
out["unfold"] = x.unfold(2, 2, 1).contiguous()
out["slice.step"] = x[:, 1:4:2, ::2].contiguous()
out["expand"] = inp["bias3"].view(1, 3).expand(4, 3).contiguous()
out["repeat"] = a.repeat(2, 1)
out["index_select"] = torch.index_select(x, 2, inp["idx"])
out["gather"] = torch.gather(x, 2, inp["gidx"])
out["scatter"] = torch.zeros(3, 4, 5).scatter(2, inp["gidx"], x)
out["scatter_add"] = torch.zeros(3, 4, 5).scatter_add(2, inp["gidx"], x)
out["masked_fill"] = x.masked_fill(x > 0.5, -1.0)
out["where"] = torch.where(x > 0, x, x * 0.1)
out["sum.dims"] = x.sum(dim=(0, 2), keepdim=True)
out["mean"] = x.mean()
out["max.values"], out["max.indices"] = x.max(dim=1)
out["var"], out["std"] = x.var(dim=2), x.std(dim=(1, 2), keepdim=True)
out["norm"], out["norm.dims"] = x.norm(), x.norm(p=1, dim=2)
out["logsumexp"] = torch.logsumexp(x, dim=1)
out["argmax"] = x.argmax(dim=2)
out["topk.values"], out["topk.indices"] = x.topk(2, dim=-1)
out["sort.values"], out["sort.indices"] = x.sort(dim=1, descending=True)
out["gt"] = (x > 0.2)
out["logical"] = torch.logical_and(x > 0, x < 1).logical_or(x < -1)
out["clamp"] = x.clamp(-0.5, 0.7)
out["math"] = (x.abs().sqrt() + x.pow(2).exp().log1p() + x.abs().add(1).rsqrt())
out["embedding"] = F.embedding(inp["ids"], inp["emb"], padding_idx=0)
lg, tg = inp["logits"], inp["target"]
out["cross_entropy"] = F.cross_entropy(lg, tg, ignore_index=-100)
out["cross_entropy.smooth"] = F.cross_entropy(lg, tg, ignore_index=-100, label_smoothing=0.1)
out["kl_div"] = F.kl_div(torch.log_softmax(lg, 1), inp["probs"], reduction="mean")
out["smooth_l1"] = F.smooth_l1_loss(lg, inp["probs"], beta=0.5)
out["mse"], out["l1"] = F.mse_loss(lg, inp["probs"]), F.l1_loss(lg, inp["probs"])
out["bce_logits"] = F.binary_cross_entropy_with_logits(lg, inp["probs"])
gen = torch.Generator().manual_seed(7)
out["rand"] = torch.rand(3, 4, generator=gen)
out["randn"] = torch.randn(3, 4, generator=gen)
out["randint"] = torch.randint(0, 10, (6,), generator=gen)
out["randperm"] = torch.randperm(8, generator=gen)
out["bernoulli"] = torch.bernoulli(torch.full((10,), 0.5), generator=gen)

# gradients of composite losses
xs = {n: inp[n].clone().requires_grad_(True) for n in ("a", "w35", "bias3", "ln_w", "ln_b")}
h = F.layer_norm(F.gelu(F.linear(xs["a"], xs["w35"], xs["bias3"])).repeat(1, 2)[:, :5], [5], xs["ln_w"], xs["ln_b"])
loss1 = (torch.softmax(h, -1) * torch.arange(5.0)).sum() + h.pow(2).mean()
loss1.backward()
for n, t in xs.items():
    out[f"grad1.{n}"] = t.grad
ci = inp["img"].clone().requires_grad_(True)
cw = inp["cw"].clone().requires_grad_(True)
y = F.conv2d(ci, cw, None, stride=1, padding=1)
y = F.batch_norm(y, None, None, None, None, True, 0.1, 1e-5)
loss2 = F.smooth_l1_loss(F.interpolate(F.relu(y), size=(4, 4), mode="bilinear", align_corners=True), torch.zeros(2, 4, 4, 4))
loss2.backward()
out["grad2.img"], out["grad2.cw"] = ci.grad, cw.grad
qq, kk, vv = (inp[n].clone().requires_grad_(True) for n in ("q", "k", "v"))
att = torch.softmax(qq @ kk.transpose(-2, -1) * 0.5, -1) @ vv
lg2 = lg.clone().requires_grad_(True)
loss3 = att.square().sum() + F.cross_entropy(lg2, tg, label_smoothing=0.1)
loss3.backward()
out["grad3.q"], out["grad3.k"], out["grad3.v"], out["grad3.logits"] = qq.grad, kk.grad, vv.grad, lg2.grad
out = {k: v for k, v in out.items() if v is not None}
out = {k: (v.to(torch.uint8) if v.dtype == torch.bool else v) for k, v in out.items()}

d = sys.argv[1]
os.makedirs(d, exist_ok=True)
safetensors_io.save(inp, os.path.join(d, "inputs.safetensors"))
safetensors_io.save(out, os.path.join(d, "expected.safetensors"))
print(len(out))
