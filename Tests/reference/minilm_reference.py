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
import struct
import sys

import torch

DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64, "I64": torch.int64}


def load_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    start = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        buf = bytearray(data[start + b:start + e])
        t = torch.frombuffer(buf, dtype=DTYPES[info["dtype"]]) if e > b else torch.empty(0, dtype=DTYPES[info["dtype"]])
        out[name] = t.reshape(info["shape"]).clone()
    return out


def save_safetensors(tensors, path):
    header, blobs, offset = {}, [], 0
    names = {torch.float32: "F32", torch.int64: "I64"}
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        raw = t.numpy().tobytes()
        header[name] = {"dtype": names[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        blobs.append(raw)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


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
    w = load_safetensors(args.weights)
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
    save_safetensors(w, args.out + "/bert_w32.safetensors")
    save_safetensors({"conv_stem.weight": r(32, 3, 3, 3), "bn1.weight": torch.ones(32), "bn1.bias": torch.zeros(32),
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
