"""Kaleido-BERT in plain PyTorch: the reference the Swift model (Sources/FashionModels/Kaleido*.swift) is checked
against. Written from shared/spec/kaleido-bert.md §3 and §6 (the released TF code's structure: BERT over
[text ; 55 patches], per-level bias-free projectors, a shared 5->H position projector, the seven losses summed),
not from the Swift code. Parameter names: Hugging Face BERT for the BERT parts, the TF code's task names for
the per-level projectors and heads.

  KaleidoBERT(config)            config: dict with hidden, layers, heads, intermediate_size, vocab_size,
                                 max_positions, text_length, feature_dim (dropout is not modelled: eval parity)
  model.encode(ids, mask, features, positions) -> (B, L + 55, H)
  losses(model, batch, terms)    batch: dict of tensors (see kaleido_parity.py); terms: set of names
                                 -> dict name -> scalar tensor, plus "total"
"""
import math

import torch
from torch import nn
import torch.nn.functional as F

LEVEL_SIZES = [1, 4, 9, 16, 25]
LEVEL_OFFSETS = [0, 1, 5, 14, 30]
PATCHES = 55
TERMS = ["amlm", "itm", "rr", "jps", "cp", "g2cm", "b2cm"]


class SelfAttention(nn.Module):
    def __init__(self, h, heads):
        super().__init__()
        self.query, self.key, self.value = nn.Linear(h, h), nn.Linear(h, h), nn.Linear(h, h)
        self.heads = heads

    def forward(self, x, additive_mask):
        b, n, h = x.shape
        d = h // self.heads

        def split(t):
            return t.view(b, n, self.heads, d).transpose(1, 2)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        scores = q @ k.transpose(-2, -1) / math.sqrt(d) + additive_mask
        return (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, n, h)


class ResidualOutput(nn.Module):
    def __init__(self, i, h):
        super().__init__()
        self.dense = nn.Linear(i, h)
        self.LayerNorm = nn.LayerNorm(h, eps=1e-12)

    def forward(self, x, residual):
        return self.LayerNorm(self.dense(x) + residual)


class Attention(nn.Module):
    def __init__(self, h, heads):
        super().__init__()
        setattr(self, "self", SelfAttention(h, heads))
        self.output = ResidualOutput(h, h)

    def forward(self, x, mask):
        return self.output(getattr(self, "self")(x, mask), x)


class Intermediate(nn.Module):
    def __init__(self, h, i):
        super().__init__()
        self.dense = nn.Linear(h, i)

    def forward(self, x):
        return F.gelu(self.dense(x))


class Layer(nn.Module):
    def __init__(self, h, heads, i):
        super().__init__()
        self.attention = Attention(h, heads)
        self.intermediate = Intermediate(h, i)
        self.output = ResidualOutput(i, h)

    def forward(self, x, mask):
        a = self.attention(x, mask)
        return self.output(self.intermediate(a), a)


class Encoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layer = nn.ModuleList([Layer(c["hidden"], c["heads"], c["intermediate_size"]) for _ in range(c["layers"])])


class TextEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        h = c["hidden"]
        self.word_embeddings = nn.Embedding(c["vocab_size"], h, padding_idx=0)
        self.position_embeddings = nn.Embedding(c["max_positions"], h)
        self.token_type_embeddings = nn.Embedding(2, h)
        self.LayerNorm = nn.LayerNorm(h, eps=1e-12)

    def forward(self, ids):
        pos = torch.arange(ids.shape[1])
        return self.LayerNorm(self.word_embeddings(ids) + self.position_embeddings(pos)[None]
                              + self.token_type_embeddings.weight[0])


class Pooler(nn.Module):
    def __init__(self, h):
        super().__init__()
        self.dense = nn.Linear(h, h)

    def forward(self, states):
        return torch.tanh(self.dense(states[:, 0]))


class Bert(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embeddings = TextEmbeddings(c)
        self.encoder = Encoder(c)
        self.pooler = Pooler(c["hidden"])


class ImageEmbeddings(nn.Module):
    NAMES = ["rotation_projector", "jigsaw_projector", "camouflage_projector", "grey_projector", "blank_projector"]

    def __init__(self, c):
        super().__init__()
        h, d = c["hidden"], c["feature_dim"]
        for name in self.NAMES:
            setattr(self, name, nn.Linear(d, h, bias=False))
        self.position_projector = nn.Linear(5, h, bias=False)
        self.token_type_embeddings = nn.Embedding(6, h)
        self.LayerNorm = nn.LayerNorm(h, eps=1e-12)

    def forward(self, features, positions):
        parts = []
        for k, name in enumerate(self.NAMES, start=1):
            f = features[:, LEVEL_OFFSETS[k - 1]:LEVEL_OFFSETS[k - 1] + LEVEL_SIZES[k - 1]]
            parts.append(getattr(self, name)(f) + self.token_type_embeddings.weight[k])
        return self.LayerNorm(torch.cat(parts, 1) + self.position_projector(positions))


class PredictionTransform(nn.Module):
    def __init__(self, h):
        super().__init__()
        self.dense = nn.Linear(h, h)
        self.LayerNorm = nn.LayerNorm(h, eps=1e-12)


class Predictions(nn.Module):
    def __init__(self, h, vocab):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(vocab))
        self.transform = PredictionTransform(h)

    def forward(self, x, word_table):
        return F.linear(self.transform.LayerNorm(F.gelu(self.transform.dense(x))), word_table, self.bias)


class Cls(nn.Module):
    def __init__(self, h, vocab):
        super().__init__()
        self.predictions = Predictions(h, vocab)


class CamouflageContrast(nn.Module):
    """FashionVL's `camouflage_head: "contrast"`: logit_s = scale * d_s / mean(d), d_s = |W h_s - mean_t W h_t|^2."""

    def __init__(self, h):
        super().__init__()
        self.dense = nn.Linear(h, min(64, h), bias=False)
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, k3):
        z = self.dense(k3)
        d = (z - z.mean(1, keepdim=True)).pow(2).sum(-1)
        return d / (d.mean(1, keepdim=True) + 1e-6) * self.scale


class KaleidoBERT(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        h, d = c["hidden"], c["feature_dim"]
        self.bert = Bert(c)
        self.image_embeddings = ImageEmbeddings(c)
        self.cls = Cls(h, c["vocab_size"])
        self.itm_head = nn.Linear(h, 2)
        self.rotation_head = nn.Linear(h, 4)
        self.jigsaw_head = nn.Linear(4 * h, 24)
        if c.get("camouflage_head", "linear") == "contrast":
            self.camouflage_contrast = CamouflageContrast(h)
        else:
            self.camouflage_head = nn.Linear(9 * h, 9)
        self.grey_head = nn.Linear(h, d, bias=False)
        self.blank_head = nn.Linear(h, d, bias=False)

    def encode(self, ids, mask, features, positions):
        b = ids.shape[0]
        x = torch.cat([self.bert.embeddings(ids), self.image_embeddings(features, positions)], 1)
        full = torch.cat([mask, torch.ones(b, PATCHES, dtype=mask.dtype)], 1)
        additive = (1 - full.float())[:, None, None, :] * -10000.0
        for layer in self.bert.encoder.layer:
            x = layer(x, additive)
        return x

    def level(self, k, states):
        start = self.c["text_length"] + LEVEL_OFFSETS[k - 1]
        return states[:, start:start + LEVEL_SIZES[k - 1]]


def reconstruction_kl(prediction, target):
    """Keras KLD of softmax(target) vs softmax(prediction), both clipped into [1e-7, 1]; mean over patches, batch."""
    q = target.softmax(-1).clamp(1e-7, 1)
    p = prediction.softmax(-1).clamp(1e-7, 1)
    return (q * (q / p).log()).sum(-1).mean()


def losses(model, x, terms=TERMS):
    states = model.encode(x["ids"], x["attention_mask"], x["features"], x["positions"])
    b, _, h = states.shape
    out = {}
    if "amlm" in terms:
        pos = x["mlm_positions"]
        gathered = states.gather(1, pos[:, :, None].expand(b, pos.shape[1], h))
        logits = model.cls.predictions(gathered, model.bert.embeddings.word_embeddings.weight)
        ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), x["mlm_ids"].reshape(-1), reduction="none")
        w = x["mlm_weights"].reshape(-1)
        out["amlm"] = (ce * w).sum() / (w.sum() + 1e-5)
    if "itm" in terms:
        out["itm"] = F.cross_entropy(model.itm_head(model.bert.pooler(states)), x["itm_labels"])
    if "rr" in terms:
        out["rr"] = F.cross_entropy(model.rotation_head(model.level(1, states).reshape(b, h)), x["rotation"])
    if "jps" in terms:
        out["jps"] = F.cross_entropy(model.jigsaw_head(model.level(2, states).reshape(b, 4 * h)), x["jigsaw"])
    if "cp" in terms:
        k3 = model.level(3, states)
        logits = model.camouflage_contrast(k3) if hasattr(model, "camouflage_contrast") else model.camouflage_head(k3.reshape(b, 9 * h))
        out["cp"] = F.cross_entropy(logits, x["camouflage"])
    for name, k, slots, targets, head in [("g2cm", 4, "grey_positions", "grey_targets", model.grey_head),
                                          ("b2cm", 5, "blank_positions", "blank_targets", model.blank_head)]:
        if name in terms:
            s = x[slots]
            picked = model.level(k, states).gather(1, s[:, :, None].expand(b, s.shape[1], h))
            out[name] = reconstruction_kl(head(picked), x[targets])
    out["total"] = sum(out[t] for t in TERMS if t in out)
    return out
