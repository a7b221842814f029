"""Plain-torch BERT forward over a Hugging Face BERT safetensors file (no `transformers`, no `safetensors` package):
the reference for SyncMask's pretrained text tower (Sources/FashionModels/SyncMaskPretrained.swift).

  embed --weights FILE --ids '[[101, ...], ...]' --mask '[[1, ...], ...]' [--layers N]
      prints one JSON line: "embedding" = all-MiniLM-L6-v2's sentence embedding (every layer, mean over the real
      tokens, L2-normalised; sentence-transformers' Pooling(mean) + Normalize), and "states" = the hidden states
      (B, L, W) after the first N layers (default: all), flattened.
  fixtures --out DIR
      writes files that are not a valid MiniLM text tower: bert_w32.safetensors (BERT keys, width 32, 6 layers),
      image_tower.safetensors (an image model's keys).
BERT as in HF `BertModel` (post-LN, LayerNorm eps 1e-12, exact GELU, additive key mask (1 - mask) * -10000,
token type 0, positions 0..L-1).
"""
import argparse
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

def bert_states(w, ids, mask, layers, heads):
    """Hidden states after `layers` BERT layers; w holds HF names without the `bert.` prefix."""
    w = {k[5:] if k.startswith("bert.") else k: v.float() for k, v in w.items()}
    ln = lambda x, p: torch.nn.functional.layer_norm(x, x.shape[-1:], w[p + ".weight"], w[p + ".bias"], eps=1e-12)
    lin = lambda x, p: x @ w[p + ".weight"].t() + w[p + ".bias"]
    B, L = ids.shape
    h = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:L] \
        + w["embeddings.token_type_embeddings.weight"][0]
    h = ln(h, "embeddings.LayerNorm")
    key_mask = ((1.0 - mask.float()) * -10000.0)[:, None, None, :]
    W = h.shape[-1]
    d = W // heads
    split = lambda t: t.view(B, L, heads, d).transpose(1, 2)
    for i in range(layers):
        p = "encoder.layer.%d." % i
        q, k, v = (split(lin(h, p + "attention.self." + n)) for n in ("query", "key", "value"))
        a = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(d) + key_mask, dim=-1) @ v
        a = a.transpose(1, 2).reshape(B, L, W)
        h = ln(lin(a, p + "attention.output.dense") + h, p + "attention.output.LayerNorm")
        f = torch.nn.functional.gelu(lin(h, p + "intermediate.dense"))
        h = ln(lin(f, p + "output.dense") + h, p + "output.LayerNorm")
    return h


def embed(args):
    w = safetensors_io.load(args.weights)
    ids = torch.tensor(json.loads(args.ids), dtype=torch.int64)
    mask = torch.tensor(json.loads(args.mask), dtype=torch.int64)
    all_layers = 1 + max(int(k.split(".")[2]) for k in w if k.startswith("encoder.layer."))
    with torch.no_grad():
        full = bert_states(w, ids, mask, all_layers, args.heads)
        m = mask.unsqueeze(-1).float()
        pooled = (full * m).sum(1) / m.sum(1).clamp(min=1e-9)
        emb = torch.nn.functional.normalize(pooled, p=2, dim=1)
        states = bert_states(w, ids, mask, args.layers or all_layers, args.heads)
    print(json.dumps({"embedding": emb.tolist(), "states": states.flatten().tolist(), "file_layers": all_layers}))


def fixtures(args):
    g = torch.Generator().manual_seed(0)
    r = lambda *s: torch.randn(*s, generator=g) * 0.02
    w = {"embeddings.word_embeddings.weight": r(30522, 32), "embeddings.position_embeddings.weight": r(512, 32),
         "embeddings.token_type_embeddings.weight": r(2, 32), "embeddings.LayerNorm.weight": torch.ones(32),
         "embeddings.LayerNorm.bias": torch.zeros(32)}
    for i in range(6):
        p = "encoder.layer.%d." % i
        for n in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"):
            w[p + n + ".weight"], w[p + n + ".bias"] = r(32, 32), torch.zeros(32)
        w[p + "intermediate.dense.weight"], w[p + "intermediate.dense.bias"] = r(64, 32), torch.zeros(64)
        w[p + "output.dense.weight"], w[p + "output.dense.bias"] = r(32, 64), torch.zeros(32)
        for n in ("attention.output.LayerNorm", "output.LayerNorm"):
            w[p + n + ".weight"], w[p + n + ".bias"] = torch.ones(32), torch.zeros(32)
    safetensors_io.save(w, args.out + "/bert_w32.safetensors")
    safetensors_io.save({"conv_stem.weight": r(32, 3, 3, 3), "bn1.weight": torch.ones(32), "bn1.bias": torch.zeros(32),
                      "blocks.0.0.conv_dw.weight": r(32, 1, 3, 3), "classifier.weight": r(1000, 1280)},
                     args.out + "/image_tower.safetensors")
    print(json.dumps({"written": ["bert_w32.safetensors", "image_tower.safetensors"]}))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("embed")
    e.add_argument("--weights", required=True)
    e.add_argument("--ids", required=True)
    e.add_argument("--mask", required=True)
    e.add_argument("--layers", type=int, default=0)
    e.add_argument("--heads", type=int, default=12)
    f = sub.add_parser("fixtures")
    f.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(1)
    {"embed": embed, "fixtures": fixtures}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
