#!/usr/bin/env python3
"""Kaleido-BERT parity CLI around the reference port (kaleido_port.py). Needs python3 + torch only.

  kaleido_parity.py make --out DIR --config JSON --batch B --seed K
      JSON: a config file (KaleidoConfig keys). Writes
      DIR/weights.safetensors: the port's state dict (both tied keys), initialised N(0, 0.02) and every tensor of
          rank <= 1 (LayerNorm affine, biases, cls.predictions.bias) offset by N(0, 0.05), so that a swapped
          tensor changes the losses; metadata "config", "format" = "kaleido".
      DIR/batch.safetensors: ids i64 (B,L) = 101 w.. 102 then 0 (variable lengths, some [MASK] 103);
          attention_mask i64; features f32 (B,55,D) randn (K5 rows of blank slots zeroed); positions f32 (B,55,5)
          in [0,1]; mlm_positions / mlm_ids i64 (B,10) and mlm_weights f32 (B,10) (1 to 4 real slots, padding slots
          position 0 / id 0 / weight 0); itm_labels, rotation (0..3), jigsaw (0..23), camouflage (0..8) i64 (B);
          grey_positions i64 (B,2) (distinct, 0..15), grey_targets f32 (B,2,D); blank_positions i64 (B,3)
          (distinct, 0..24), blank_targets f32 (B,3,D).

  kaleido_parity.py losses --weights W --batch BATCH [--terms amlm,itm,rr,jps,cp,g2cm,b2cm]
      float32, eval mode, total.backward(); prints ONE JSON line: each loss (null when off), total, grad_norms
      {name: L2 norm} (the tied word/decoder matrix under the word key), kl_identical (the KL of the batch's grey
      targets with themselves: 0).
"""
import argparse
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import safetensors_io as st  # noqa: E402
import kaleido_port as K  # noqa: E402

WORD_KEY = "bert.embeddings.word_embeddings.weight"
DECODER_KEY = "cls.predictions.decoder.weight"


def load_config(path):
    c = {"hidden": 768, "layers": 12, "heads": 12, "intermediate_size": 3072, "vocab_size": 30522,
         "max_positions": 512, "text_length": 64, "feature_dim": 2048}
    with open(path) as f:
        c.update(json.load(f))
    return c


def make(args):
    c = load_config(args.config)
    torch.manual_seed(args.seed)
    model = K.KaleidoBERT(c)
    g = torch.Generator().manual_seed(args.seed)
    state = {}
    for name, t in model.state_dict().items():
        if t.dim() >= 2:
            v = torch.randn(t.shape, generator=g) * 0.02
            if name.endswith("word_embeddings.weight"):
                v[0] = 0
        else:
            v = (torch.ones(t.shape) if name.endswith(("LayerNorm.weight", ".scale")) else torch.zeros(t.shape)) \
                + torch.randn(t.shape, generator=g) * 0.05
        state[name] = v.contiguous()
    state[DECODER_KEY] = state[WORD_KEY].clone()
    os.makedirs(args.out, exist_ok=True)
    st.save(state, os.path.join(args.out, "weights.safetensors"), metadata={"config": json.dumps(c), "format": "kaleido"})

    b, l, d, v = args.batch, c["text_length"], c["feature_dim"], c["vocab_size"]
    ids = torch.zeros(b, l, dtype=torch.int64)
    mask = torch.zeros(b, l, dtype=torch.int64)
    for i in range(b):
        n = int(torch.randint(3, l - 1, (1,), generator=g))
        ids[i, 0] = 101
        ids[i, 1:n] = torch.randint(104, v, (n - 1,), generator=g)
        ids[i, n] = 102
        mask[i, :n + 1] = 1
        ids[i, 1] = 103
    slots = 10
    mlm_positions = torch.zeros(b, slots, dtype=torch.int64)
    mlm_ids = torch.zeros(b, slots, dtype=torch.int64)
    mlm_weights = torch.zeros(b, slots)
    for i in range(b):
        real = int(mask[i].sum()) - 2
        k = min(real, int(torch.randint(1, 5, (1,), generator=g)))
        pos = 1 + torch.randperm(real, generator=g)[:k]
        mlm_positions[i, :k] = pos.sort().values
        mlm_ids[i, :k] = torch.randint(104, v, (k,), generator=g)
        mlm_weights[i, :k] = 1
    features = torch.randn(b, K.PATCHES, d, generator=g)
    grey = torch.stack([torch.randperm(16, generator=g)[:2] for _ in range(b)])
    blank = torch.stack([torch.randperm(25, generator=g)[:3] for _ in range(b)])
    for i in range(b):
        for p in blank[i]:
            features[i, 30 + int(p)] = 0
    x0 = torch.rand(b, K.PATCHES, 2, generator=g) * 0.5
    positions = torch.cat([x0[..., :1], x0[..., :1] + 0.5, x0[..., 1:], x0[..., 1:] + 0.5, torch.full((b, K.PATCHES, 1), 0.25)], 2)
    batch = {
        "ids": ids, "attention_mask": mask, "features": features, "positions": positions.contiguous(),
        "mlm_positions": mlm_positions, "mlm_ids": mlm_ids, "mlm_weights": mlm_weights,
        "itm_labels": torch.randint(0, 2, (b,), generator=g), "rotation": torch.randint(0, 4, (b,), generator=g),
        "jigsaw": torch.randint(0, 24, (b,), generator=g), "camouflage": torch.randint(0, 9, (b,), generator=g),
        "grey_positions": grey, "grey_targets": torch.randn(b, 2, d, generator=g),
        "blank_positions": blank, "blank_targets": torch.randn(b, 3, d, generator=g),
    }
    st.save(batch, os.path.join(args.out, "batch.safetensors"), metadata={"format": "kaleido-batch"})


def losses(args):
    tensors, meta = st.load_with_metadata(args.weights)
    c = json.loads(meta["config"])
    model = K.KaleidoBERT(c)
    tensors = dict(tensors)
    tensors.pop(DECODER_KEY, None)
    model.load_state_dict(tensors)
    model.eval()
    x = st.load(args.batch)
    terms = args.terms.split(",")
    out = K.losses(model, x, terms)
    out["total"].backward()
    norms = {name: float(p.grad.norm()) for name, p in model.named_parameters() if p.grad is not None}
    result = {t: (float(out[t]) if t in out else None) for t in K.TERMS}
    result["total"] = float(out["total"])
    result["grad_norms"] = norms
    result["kl_identical"] = float(K.reconstruction_kl(x["grey_targets"], x["grey_targets"]))
    print(json.dumps(result))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("--out", required=True)
    m.add_argument("--config", required=True)
    m.add_argument("--batch", type=int, default=3)
    m.add_argument("--seed", type=int, default=0)
    lo = sub.add_parser("losses")
    lo.add_argument("--weights", required=True)
    lo.add_argument("--batch", required=True)
    lo.add_argument("--terms", default=",".join(K.TERMS))
    args = p.parse_args()
    {"make": make, "losses": losses}[args.cmd](args)


if __name__ == "__main__":
    main()
