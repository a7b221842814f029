"""PyTorch reference port of SyncMask as FashionVL builds it (docs/SYNCMASK.md; method: shared/spec/syncmask.md).

FashionVL's numerical reference for the Swift model (Sources/FashionModels/SyncMask*.swift): the same state dict must
give the same losses and gradients. Needs python3 + torch only (torch >= 1.13; attention is written out, no SDPA).
Section numbers (§) refer to docs/SYNCMASK.md.

    cfg = SyncMaskConfig.from_json('{"image_encoder": "vit", "image_size": 32, ...}')   # §1 keys
    model = SyncMask(cfg)                      # parameter names of §2; momentum copies; queues
    out = step_losses(model, batch, alpha)     # §4 steps 1-8: itc / itm / mlm / mim / total, negatives, attention
    out["total"].backward()

`batch` holds image (B,3,S,S) in [0,1], input_ids / attention_mask (B,L) i64, pids / hashes (B) i64, mlm_ids /
mlm_labels (B,L) i64 (-100 = not masked) and patch_mask (B,N) (1 / True = masked). No dropout anywhere.
"""
import copy
import json
import math
from dataclasses import asdict, dataclass, field, fields

import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import effnet_lite_port as effnet  # noqa: E402

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
IGNORE_INDEX = -100      # MLM label of an unmasked position
EMPTY_SLOT = -100        # idx_queue / hash_queue value of a never-filled slot
MASK_BIAS = -10000.0     # additive attention bias of a padding key
TERMS = ("itc", "itm", "mlm", "mim")
ITM_RULES = ("semihard_top1", "semihard_sample", "albef")
FALLBACK_NONE, FALLBACK_SAMPLE_C, FALLBACK_UNIFORM = 0, 1, 2   # neg_fallback codes


# ---------------------------------------------------------------------------------------------------------------------
# §1 config
# ---------------------------------------------------------------------------------------------------------------------
@dataclass
class SyncMaskConfig:
    """The JSON keys of §1; the defaults are the syncmask-demo column."""
    family: str = "syncmask"
    image_encoder: str = "cnn"              # "vit" | "cnn" | "efficientnet_lite0"
    image_size: int = 64
    patch_size: int = 16
    cnn_channels: list = field(default_factory=lambda: [16, 32, 64, 128])   # ignored for vit
    vision_width: int = 128
    vision_depth: int = 1
    vision_heads: int = 4
    text_width: int = 128
    text_heads: int = 4
    text_layers: int = 1
    fusion_layers: int = 2
    intermediate_size: int = 512
    vocab_size: int = 30522
    max_positions: int = 512
    text_length: int = 32
    embed_dim: int = 128
    temp: float = 0.07
    queue_size: int = 4096
    momentum: float = 0.995
    alpha: float = 0.4
    mim_decoder_layers: int = 1
    sync_layer: int = -1
    mlm_probability: float = 0.15
    mim_ratio: float = 0.25
    pool_factor: int = 2
    text_pool: str = "cls"                  # ITC text feature: "cls" state or "mean" over real tokens

    @classmethod
    def from_dict(cls, d):
        """Unknown keys are ignored (registry configs may carry training settings); known keys are type-checked."""
        known = {f.name for f in fields(cls)}
        cfg = cls(**{k: v for k, v in d.items() if k in known})
        if cfg.cnn_channels is None:
            cfg.cnn_channels = []
        cfg.cnn_channels = [int(c) for c in cfg.cnn_channels]
        cfg.validate()
        return cfg

    @classmethod
    def from_json(cls, text):
        return cls.from_dict(json.loads(text))

    def to_dict(self):
        return asdict(self)

    def to_json(self):
        return json.dumps(self.to_dict(), sort_keys=True)

    @property
    def grid(self):
        return self.image_size // self.patch_size

    @property
    def num_patches(self):
        return self.grid * self.grid

    @property
    def sync_layer_index(self):
        """0-based index within the fusion layers."""
        return self.fusion_layers - 1 if self.sync_layer == -1 else self.sync_layer

    def validate(self):
        def need(ok, msg):
            if not ok:
                raise ValueError(f"syncmask config: {msg}")
        need(self.family == "syncmask", f"family must be 'syncmask', got {self.family!r}")
        need(self.image_encoder in ("vit", "cnn", "efficientnet_lite0"),
             f"image_encoder must be 'vit', 'cnn' or 'efficientnet_lite0', got {self.image_encoder!r}")
        if self.image_encoder == "efficientnet_lite0":
            need(self.patch_size == 32, f"efficientnet_lite0: patch_size must be 32 (the feature grid's stride), got {self.patch_size}")
        need(self.patch_size > 0 and self.image_size > 0 and self.image_size % self.patch_size == 0,
             f"image_size {self.image_size} must be a positive multiple of patch_size {self.patch_size}")
        if self.image_encoder == "cnn":
            need(len(self.cnn_channels) > 0 and self.patch_size == 2 ** len(self.cnn_channels),
                 f"cnn: patch_size {self.patch_size} must equal 2^len(cnn_channels) = 2^{len(self.cnn_channels)}")
            need(all(c > 0 and c % 4 == 0 for c in self.cnn_channels),
                 f"cnn_channels {self.cnn_channels} must be positive multiples of 4 (GroupNorm with 4 groups)")
        need(self.vision_width % self.vision_heads == 0, "vision_width must be a multiple of vision_heads")
        need(self.text_width % self.text_heads == 0, "text_width must be a multiple of text_heads")
        need(self.vision_depth >= 0 and self.text_layers >= 0 and self.mim_decoder_layers >= 0, "negative depth")
        need(self.fusion_layers >= 1, "fusion_layers must be at least 1 (ITM, MLM and the sync masks need one)")
        need(self.sync_layer == -1 or 0 <= self.sync_layer < self.fusion_layers,
             f"sync_layer must be -1 or in 0..<{self.fusion_layers}, got {self.sync_layer}")
        need(1 <= self.text_length <= self.max_positions, "text_length must be in 1...max_positions")
        need(self.vocab_size >= 1 and self.embed_dim >= 1 and self.intermediate_size >= 1, "non-positive size")
        need(self.queue_size >= 1, "queue_size must be positive")
        need(0.0 <= self.momentum <= 1.0, "momentum must be in [0, 1]")
        need(self.temp > 0, "temp must be positive")


PRESETS = {
    "syncmask-demo": {},
    "syncmask-base": dict(image_encoder="vit", image_size=256, patch_size=16, cnn_channels=[], vision_width=768,
                          vision_depth=12, vision_heads=12, text_width=768, text_heads=12, text_layers=6,
                          fusion_layers=6, intermediate_size=3072, text_length=128, embed_dim=256,
                          queue_size=65536, mim_decoder_layers=2, sync_layer=2),
}


def gelu(x):
    """Exact GELU written out: torch 1.13's F.gelu backward is wrong when its incoming gradient is not contiguous
    (here: the last cnn stage, whose output is flattened and transposed)."""
    return x * 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))


# ---------------------------------------------------------------------------------------------------------------------
# Attention (softmax(q k^T / sqrt(d)) v, heads split as (B, len, h, d))
# ---------------------------------------------------------------------------------------------------------------------
def key_mask_bias(attention_mask, dtype):
    """(B, L) 0/1 -> additive bias (B, 1, 1, L): (1 - mask) * -10000."""
    return ((1.0 - attention_mask.to(dtype)) * MASK_BIAS)[:, None, None, :]


def multi_head_attention(q, k, v, heads, bias=None):
    """q (B,Lq,W), k/v (B,Lk,W) already projected -> (out (B,Lq,W), probs (B,h,Lq,Lk))."""
    B, Lq, W = q.shape
    Lk, d = k.shape[1], W // heads
    q = q.reshape(B, Lq, heads, d).transpose(1, 2)
    k = k.reshape(B, Lk, heads, d).transpose(1, 2)
    v = v.reshape(B, Lk, heads, d).transpose(1, 2)
    scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(d)
    if bias is not None:
        scores = scores + bias
    probs = scores.softmax(dim=-1)
    out = torch.matmul(probs, v).transpose(1, 2).reshape(B, Lq, W)
    return out, probs


# ---------------------------------------------------------------------------------------------------------------------
# visual_encoder (pre-LN ViT blocks, LN eps 1e-6, exact GELU) with a vit, cnn or efficientnet_lite0 stem
# ---------------------------------------------------------------------------------------------------------------------
class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        return self.proj(multi_head_attention(q, k, v, self.heads)[0])


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(gelu(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, 4 * dim)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, p, width):
        super().__init__()
        self.proj = nn.Conv2d(3, width, kernel_size=p, stride=p)


class ConvStage(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel_size=3, stride=2, padding=1)
        self.norm = nn.GroupNorm(4, cout, eps=1e-5)

    def forward(self, x):
        return gelu(self.norm(self.conv(x)))


def normalize_image(x):
    mean = torch.tensor(CLIP_MEAN, dtype=x.dtype).reshape(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD, dtype=x.dtype).reshape(1, 3, 1, 1)
    return (x - mean) / std


def pixel_mask(patch_mask, grid, p):
    """(B, N) patch mask -> (B, 1, S, S) bool pixel mask (patch n = row n // grid, column n % grid)."""
    m = patch_mask.bool().reshape(-1, 1, grid, grid)
    return m.repeat_interleave(p, dim=2).repeat_interleave(p, dim=3)


class VisualEncoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        W, N = cfg.vision_width, cfg.num_patches
        self.cls_token = nn.Parameter(torch.zeros(1, 1, W))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + N, W))
        if cfg.image_encoder == "vit":
            self.mask_token = nn.Parameter(torch.zeros(1, 1, W))
            self.patch_embed = PatchEmbed(cfg.patch_size, W)
        elif cfg.image_encoder == "efficientnet_lite0":
            # ImageNet EfficientNet-Lite0 under its lukemelas names; BatchNorm always in eval mode (frozen running
            # statistics), _fc / _dropout unused (kept so that the converted file loads as it is).
            self.mask_token = nn.Parameter(torch.zeros(1, 3, 1, 1))
            self.backbone = effnet.EfficientNetLite0()
            self.proj = nn.Linear(1280, W)
        else:
            self.mask_token = nn.Parameter(torch.zeros(1, 3, 1, 1))
            chans = [3] + list(cfg.cnn_channels)
            self.stages = nn.ModuleList([ConvStage(chans[i], chans[i + 1]) for i in range(len(cfg.cnn_channels))])
            self.proj = nn.Linear(chans[-1], W)
        self.blocks = nn.ModuleList([Block(W, cfg.vision_heads) for _ in range(cfg.vision_depth)])
        self.norm = nn.LayerNorm(W, eps=1e-6)

    def forward(self, image, patch_mask=None):
        """image (B,3,S,S) in [0,1]; patch_mask (B,N), true = masked -> (B, 1+N, Wv)."""
        cfg = self.cfg
        if cfg.image_encoder == "efficientnet_lite0":
            self.backbone.eval()
            x = effnet.EfficientNetLite0.normalize(image * 255)              # (x·255 − 127) / 128, not CLIP's
            if patch_mask is not None:
                x = torch.where(pixel_mask(patch_mask, cfg.grid, cfg.patch_size), self.mask_token, x)
            tokens = self.proj(self.backbone.extract_features(x).flatten(2).transpose(1, 2))
            cls = self.cls_token + tokens.mean(1, keepdim=True)
            x = torch.cat((cls, tokens), dim=1) + self.pos_embed
            for blk in self.blocks:
                x = blk(x)
            return self.norm(x)
        x = normalize_image(image)
        if cfg.image_encoder == "vit":
            tokens = self.patch_embed.proj(x).flatten(2).transpose(1, 2)
            if patch_mask is not None:
                tokens = torch.where(patch_mask.bool()[:, :, None], self.mask_token.to(tokens.dtype), tokens)
            cls = self.cls_token.expand(x.shape[0], -1, -1)
        else:
            if patch_mask is not None:
                x = torch.where(pixel_mask(patch_mask, cfg.grid, cfg.patch_size), self.mask_token, x)
            for stage in self.stages:
                x = stage(x)
            tokens = self.proj(x.flatten(2).transpose(1, 2))
            cls = self.cls_token + tokens.mean(1, keepdim=True)
        x = torch.cat((cls, tokens), dim=1) + self.pos_embed
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)


# ---------------------------------------------------------------------------------------------------------------------
# text_encoder (BERT, post-LN, LN eps 1e-12, exact GELU) with ALBEF's fusion layers and the tied MLM head
# ---------------------------------------------------------------------------------------------------------------------
class BertSelfAttention(nn.Module):
    def __init__(self, width, kv_width, heads):
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(width, width)
        self.key = nn.Linear(kv_width, width)
        self.value = nn.Linear(kv_width, width)

    def forward(self, h, kv, bias):
        return multi_head_attention(self.query(h), self.key(kv), self.value(kv), self.heads, bias)


class BertOutput(nn.Module):
    """dense + residual, then LayerNorm (BertSelfOutput and BertOutput alike)."""

    def __init__(self, width_in, width):
        super().__init__()
        self.dense = nn.Linear(width_in, width)
        self.LayerNorm = nn.LayerNorm(width, eps=1e-12)

    def forward(self, x, residual):
        return self.LayerNorm(self.dense(x) + residual)


class BertAttention(nn.Module):
    def __init__(self, width, kv_width, heads):
        super().__init__()
        self.self = BertSelfAttention(width, kv_width, heads)
        self.output = BertOutput(width, width)

    def forward(self, h, kv, bias=None):
        ctx, probs = self.self(h, kv, bias)
        return self.output(ctx, h), probs


class BertIntermediate(nn.Module):
    def __init__(self, width, inter):
        super().__init__()
        self.dense = nn.Linear(width, inter)

    def forward(self, x):
        return gelu(self.dense(x))


class BertLayer(nn.Module):
    def __init__(self, cfg, fusion):
        super().__init__()
        Wt = cfg.text_width
        self.attention = BertAttention(Wt, Wt, cfg.text_heads)
        if fusion:
            self.crossattention = BertAttention(Wt, cfg.vision_width, cfg.text_heads)
        self.intermediate = BertIntermediate(Wt, cfg.intermediate_size)
        self.output = BertOutput(cfg.intermediate_size, Wt)

    def forward(self, h, bias, image=None):
        h, _ = self.attention(h, h, bias)
        probs = None
        if image is not None:
            h, probs = self.crossattention(h, image)       # keys/values: all 1+N image tokens, no mask
        return self.output(self.intermediate(h), h), probs


class BertEmbeddings(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.word_embeddings = nn.Embedding(cfg.vocab_size, cfg.text_width)
        self.position_embeddings = nn.Embedding(cfg.max_positions, cfg.text_width)
        self.token_type_embeddings = nn.Embedding(2, cfg.text_width)
        self.LayerNorm = nn.LayerNorm(cfg.text_width, eps=1e-12)

    def forward(self, ids):
        L = ids.shape[1]
        e = self.word_embeddings(ids) + self.position_embeddings.weight[:L].unsqueeze(0)
        return self.LayerNorm(e + self.token_type_embeddings.weight[0])


class BertEncoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.layer = nn.ModuleList([BertLayer(cfg, fusion=k >= cfg.text_layers)
                                    for k in range(cfg.text_layers + cfg.fusion_layers)])


class BertModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.embeddings = BertEmbeddings(cfg)
        self.encoder = BertEncoder(cfg)

    def text(self, ids, attention_mask):
        """'text' mode: embeddings + the self-attention-only layers -> (B, L, Wt)."""
        h = self.embeddings(ids)
        bias = key_mask_bias(attention_mask, h.dtype)
        for layer in self.encoder.layer[:self.cfg.text_layers]:
            h = layer(h, bias)[0]
        return h

    def fusion(self, h, attention_mask, image):
        """Fusion layers on a text-mode output with the image tokens -> (hidden (B,L,Wt), [cross-attention
        probabilities (B, heads, L, 1+N) of every fusion layer])."""
        bias = key_mask_bias(attention_mask, h.dtype)
        probs = []
        for layer in self.encoder.layer[self.cfg.text_layers:]:
            h, p = layer(h, bias, image)
            probs.append(p)
        return h, probs


class PredictionHeadTransform(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.dense = nn.Linear(width, width)
        self.LayerNorm = nn.LayerNorm(width, eps=1e-12)


class LMPredictionHead(nn.Module):
    def __init__(self, cfg, word_embeddings):
        super().__init__()
        self.transform = PredictionHeadTransform(cfg.text_width)
        self.decoder = nn.Linear(cfg.text_width, cfg.vocab_size, bias=False)
        self.decoder.weight = word_embeddings.weight           # tied: one Parameter, two state-dict keys
        self.bias = nn.Parameter(torch.zeros(cfg.vocab_size))

    def forward(self, h):
        t = self.transform
        return F.linear(t.LayerNorm(gelu(t.dense(h))), self.decoder.weight) + self.bias


class OnlyMLMHead(nn.Module):
    def __init__(self, cfg, word_embeddings):
        super().__init__()
        self.predictions = LMPredictionHead(cfg, word_embeddings)


class BertForMaskedLM(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.bert = BertModel(cfg)
        self.cls = OnlyMLMHead(cfg, self.bert.embeddings.word_embeddings)

    def mlm_logits(self, h):
        return self.cls.predictions(h)


# ---------------------------------------------------------------------------------------------------------------------
# mim_decoder: pre-LN blocks (self-attention over 1+N image tokens, cross-attention to the text) + pixel head
# ---------------------------------------------------------------------------------------------------------------------
class CrossAttention(nn.Module):
    def __init__(self, width, kv_width, heads):
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(width, width)
        self.key = nn.Linear(kv_width, width)
        self.value = nn.Linear(kv_width, width)
        self.proj = nn.Linear(width, width)

    def forward(self, x, text, bias):
        return self.proj(multi_head_attention(self.query(x), self.key(text), self.value(text), self.heads, bias)[0])


class MIMBlock(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        Wv = cfg.vision_width
        self.norm1 = nn.LayerNorm(Wv, eps=1e-6)
        self.attn = Attention(Wv, cfg.vision_heads)
        self.norm_cross = nn.LayerNorm(Wv, eps=1e-6)
        self.cross_attn = CrossAttention(Wv, cfg.text_width, cfg.vision_heads)
        self.norm2 = nn.LayerNorm(Wv, eps=1e-6)
        self.mlp = Mlp(Wv, 4 * Wv)

    def forward(self, x, text, bias):
        x = x + self.attn(self.norm1(x))
        x = x + self.cross_attn(self.norm_cross(x), text, bias)
        return x + self.mlp(self.norm2(x))


class MIMDecoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.blocks = nn.ModuleList([MIMBlock(cfg) for _ in range(cfg.mim_decoder_layers)])
        self.norm = nn.LayerNorm(cfg.vision_width, eps=1e-6)
        self.head = nn.Linear(cfg.vision_width, 3 * cfg.patch_size ** 2)

    def forward(self, image_tokens, text_hidden, attention_mask):
        """(B,1+N,Wv), (B,L,Wt), (B,L) -> (B, N, 3p^2)."""
        bias = key_mask_bias(attention_mask, image_tokens.dtype)
        x = image_tokens
        for blk in self.blocks:
            x = blk(x, text_hidden, bias)
        return self.head(self.norm(x))[:, 1:]


# ---------------------------------------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------------------------------------
class SyncMask(nn.Module):
    def __init__(self, config=None):
        super().__init__()
        cfg = config if config is not None else SyncMaskConfig()
        cfg.validate()
        self.config = cfg
        E, K = cfg.embed_dim, cfg.queue_size
        self.visual_encoder = VisualEncoder(cfg)
        self.text_encoder = BertForMaskedLM(cfg)
        self.vision_proj = nn.Linear(cfg.vision_width, E)
        self.text_proj = nn.Linear(cfg.text_width, E)
        self.temp = nn.Parameter(torch.tensor(float(cfg.temp)))
        self.itm_head = nn.Linear(cfg.text_width, 2)
        self.mim_decoder = MIMDecoder(cfg)
        self.reset_parameters()
        for name in ("visual_encoder", "text_encoder", "vision_proj", "text_proj"):
            m = copy.deepcopy(getattr(self, name))              # deepcopy keeps the word/decoder tie inside the copy
            m.requires_grad_(False)
            setattr(self, name + "_m", m)
        self.register_buffer("image_queue", F.normalize(torch.randn(E, K), dim=0))
        self.register_buffer("text_queue", F.normalize(torch.randn(E, K), dim=0))
        self.register_buffer("idx_queue", torch.full((1, K), EMPTY_SLOT, dtype=torch.int64))
        self.register_buffer("hash_queue", torch.full((1, K), EMPTY_SLOT, dtype=torch.int64))
        self.register_buffer("queue_ptr", torch.zeros(1, dtype=torch.int64))

    @torch.no_grad()
    def reset_parameters(self):
        """ALBEF-style init (not part of the parity contract: the state dict is): trunc-normal(0.02) for Linear
        weights, tokens and position tables, N(0, 0.02) for embeddings, zero biases, norms 1/0, convs PyTorch's
        default, temp = config temp."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Embedding):
                nn.init.normal_(m.weight, std=0.02)
            elif isinstance(m, (nn.LayerNorm, nn.GroupNorm)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        ve = self.visual_encoder
        for p in (ve.cls_token, ve.pos_embed, ve.mask_token):
            nn.init.trunc_normal_(p, std=0.02)
        nn.init.zeros_(self.text_encoder.cls.predictions.bias)
        self.temp.fill_(self.config.temp)

    def momentum_pairs(self):
        return [(self.visual_encoder, self.visual_encoder_m), (self.text_encoder, self.text_encoder_m),
                (self.vision_proj, self.vision_proj_m), (self.text_proj, self.text_proj_m)]

    def student_named_parameters(self):
        """Distinct trainable parameters (the tied word/decoder matrix once), momentum copies excluded."""
        return [(n, p) for n, p in self.named_parameters() if p.requires_grad]

    def momentum_named_parameters(self):
        return [(n, p) for n, p in self.named_parameters()
                if n.split(".")[0] in ("visual_encoder_m", "text_encoder_m", "vision_proj_m", "text_proj_m")]


# ---------------------------------------------------------------------------------------------------------------------
# §4 pieces
# ---------------------------------------------------------------------------------------------------------------------
@torch.no_grad()
def momentum_update(model):
    """θ' <- m·θ' + (1-m)·θ over the four momentum pairs (tied matrix once)."""
    m = model.config.momentum
    for student, mom in model.momentum_pairs():
        for p, pm in zip(student.parameters(), mom.parameters()):
            pm.mul_(m).add_(p.detach(), alpha=1.0 - m)


def project_text(model, proj, states, attention_mask):
    """ITC text feature: the [CLS] state, or (text_pool = "mean") the mean of the real tokens' states."""
    if model.config.text_pool == "mean":
        m = attention_mask.to(states.dtype).unsqueeze(2)
        return F.normalize(proj((states * m).sum(1) / m.sum(1).clamp(min=1)), dim=-1)
    return project_cls(proj, states)


def project_cls(proj, tokens):
    return F.normalize(proj(tokens[:, 0]), dim=-1, eps=1e-12)


def multi_positive_targets(pids, hashes, pid_bank, hash_bank, dtype=torch.float32):
    """ŷ (B, B+K): y_ij = (pid_i == P_j) or (hash_i == H_j), each row divided by its sum."""
    y = (pids.reshape(-1, 1) == pid_bank.reshape(1, -1)) | (hashes.reshape(-1, 1) == hash_bank.reshape(1, -1))
    y = y.to(dtype)
    return y / y.sum(1, keepdim=True)


def itc_loss(s_i2t, s_t2i, q_i2t, q_t2i):
    """½ [mean_i -Σ_j q_i2t log_softmax(s_i2t) + mean_i -Σ_j q_t2i log_softmax(s_t2i)]."""
    l_i2t = -(F.log_softmax(s_i2t, dim=1) * q_i2t).sum(1).mean()
    l_t2i = -(F.log_softmax(s_t2i, dim=1) * q_t2i).sum(1).mean()
    return (l_i2t + l_t2i) / 2


def _sample_proportional_exp(s, allowed, generator):
    idx = allowed.nonzero().flatten()
    vals = s[idx].double()
    w = torch.exp(vals - vals.max())
    k = int(torch.multinomial(w / w.sum(), 1, generator=generator))
    return int(idx[k])


def choose_negative(s, i, pids, hashes, rule="semihard_top1", generator=None, margin=math.inf):
    """One anchor: s = its row of the in-batch block (B,), i = its index. Returns (j, fallback code):
    0 = the rule itself, 1 = S empty -> sampled from C with p ∝ exp(s_j), 2 = C empty -> uniform over j != i."""
    if rule not in ITM_RULES:
        raise ValueError(f"itm negative rule must be one of {ITM_RULES}, got {rule!r}")
    B = s.shape[0]
    if B < 2:
        raise ValueError("semi-hard negatives need a batch of at least 2")
    s = s.detach()
    ar = torch.arange(B)
    C = (ar != i) & (pids != pids[i]) & (hashes != hashes[i])
    if not bool(C.any()):
        r = int(torch.randint(0, B - 1, (1,), generator=generator))
        return (r if r < i else r + 1), FALLBACK_UNIFORM
    if rule == "albef":
        return _sample_proportional_exp(s, C, generator), FALLBACK_NONE
    pos = s[i]
    S = C & (s < pos) & (s >= pos - margin)
    if not bool(S.any()):
        return _sample_proportional_exp(s, C, generator), FALLBACK_SAMPLE_C
    if rule == "semihard_sample":
        return _sample_proportional_exp(s, S, generator), FALLBACK_NONE
    masked = torch.where(S, s, torch.full_like(s, -math.inf))
    best = masked.max()
    return int((masked == best).nonzero().flatten()[0]), FALLBACK_NONE   # lowest index on ties


def semihard_negatives(sim, pids, hashes, rule="semihard_top1", generator=None, margin=math.inf):
    """Rows of sim (B,B) are anchors. Returns (neg (B) i64, fallback (B) i64)."""
    picks = [choose_negative(sim[i], i, pids, hashes, rule, generator, margin) for i in range(sim.shape[0])]
    return (torch.tensor([j for j, _ in picks], dtype=torch.int64),
            torch.tensor([f for _, f in picks], dtype=torch.int64))


@torch.no_grad()
def enqueue(model, image_feat, text_feat, pids, hashes):
    """Positions (ptr + 0..<B) mod K get v', t', pids, hashes; ptr <- (ptr + B) mod K."""
    K = model.image_queue.shape[1]
    B = image_feat.shape[0]
    if B > K:
        raise ValueError(f"batch {B} is larger than the queue {K}")
    ptr = int(model.queue_ptr[0])
    pos = (ptr + torch.arange(B)) % K
    model.image_queue[:, pos] = image_feat.T.to(model.image_queue.dtype)
    model.text_queue[:, pos] = text_feat.T.to(model.text_queue.dtype)
    model.idx_queue[0, pos] = pids.reshape(-1)
    model.hash_queue[0, pos] = hashes.reshape(-1)
    model.queue_ptr[0] = (ptr + B) % K


def mlm_loss(logits, logits_m, labels, alpha):
    """(1-α)·mean CE + α·mean(-Σ_w q' log p) over the positions with labels != -100 (0 when there are none)."""
    sel = labels != IGNORE_INDEX
    n = int(sel.sum())
    if n == 0:
        return logits.sum() * 0.0
    logp = F.log_softmax(logits[sel], dim=-1)
    ce = -logp.gather(1, labels[sel].reshape(-1, 1)).squeeze(1)
    soft = -(F.softmax(logits_m[sel], dim=-1) * logp).sum(-1)
    return (1 - alpha) * ce.mean() + alpha * soft.mean()


def patchify(image, p):
    """(B,3,S,S) -> (B, N, 3p^2), pixel order (row in patch, column in patch, channel)."""
    B, C, S, _ = image.shape
    h = S // p
    return image.reshape(B, C, h, p, h, p).permute(0, 2, 4, 3, 5, 1).reshape(B, h * h, p * p * C)


def mim_target(image, p):
    x = patchify(image, p)
    mean = x.mean(-1, keepdim=True)
    var = x.var(-1, unbiased=False, keepdim=True)
    return (x - mean) / torch.sqrt(var + 1e-6)


def mim_loss(pred, image, patch_mask, p):
    """Σ_masked ||pred - target||² / (3p² · #masked) on the [0,1] input pixels (0 when nothing is masked)."""
    m = patch_mask.bool()
    n = int(m.sum())
    if n == 0:
        return pred.sum() * 0.0
    err = ((pred - mim_target(image, p)) ** 2).sum(-1)
    return err[m].sum() / (3 * p * p * n)


# ---------------------------------------------------------------------------------------------------------------------
# Evaluation (DualEncoder): student encoders
# ---------------------------------------------------------------------------------------------------------------------
def image_embeddings(model, images):
    return project_cls(model.vision_proj, model.visual_encoder(images))


def text_embeddings(model, ids, attention_mask):
    return project_text(model, model.text_proj, model.text_encoder.bert.text(ids, attention_mask), attention_mask)


def itm_probabilities(model, images, ids, attention_mask):
    """P(match) of pair b for b in 0..<B: softmax(itm_head(fusion [CLS]))[:, 1]."""
    bert = model.text_encoder.bert
    h, _ = bert.fusion(bert.text(ids, attention_mask), attention_mask, model.visual_encoder(images))
    return F.softmax(model.itm_head(h[:, 0]), dim=-1)[:, 1]


# ---------------------------------------------------------------------------------------------------------------------
# §4: one step
# ---------------------------------------------------------------------------------------------------------------------
def step_losses(model, batch, alpha, terms=TERMS, negatives=None, rule="semihard_top1", generator=None,
                margin=math.inf, itc="momentum"):
    """§4 steps 1-8. `negatives` = (neg_image, neg_text) to use instead of the rule's choice (the rule's choice is
    still computed and returned as rule_neg_image / rule_neg_text / neg_fallback). Momentum update, momentum pass,
    sync pass, student encoders and enqueue always run; a term not in `terms` is neither computed nor added (None).
    Returns a dict: itc, itm, mlm, mim, total (0-d tensors), neg_image, neg_text (used), rule_neg_image,
    rule_neg_text, neg_fallback (2,B), sync_attention (B,heads,L,1+N), q_i2t, q_t2i, image_feat(_m),
    text_feat(_m). `itc`: "momentum" (ALBEF, the spec) or "in-batch" (CLIP: the student features of the batch on
    both sides, the in-batch multi-positive ground truth as target; the ITM rule reads these similarities)."""
    if itc not in ("momentum", "in-batch"):
        raise ValueError(f"unknown itc mode {itc!r}; known: momentum, in-batch")
    terms = tuple(terms)
    bad = [t for t in terms if t not in TERMS]
    if bad:
        raise ValueError(f"unknown loss terms {bad}; known: {TERMS}")
    image, ids, mask = batch["image"], batch["input_ids"], batch["attention_mask"]
    pids, hashes = batch["pids"].reshape(-1), batch["hashes"].reshape(-1)
    B = image.shape[0]
    alpha = float(alpha)
    cfg = model.config
    out = {t: None for t in TERMS}

    # 1. temperature clamp and momentum update
    with torch.no_grad():
        model.temp.clamp_(0.001, 0.5)
    momentum_update(model)
    tau = model.temp

    # 2. momentum pass, banks, ITC targets, sync pass
    with torch.no_grad():
        img_m = model.visual_encoder_m(image)
        v_m = project_cls(model.vision_proj_m, img_m)
        txt_m = model.text_encoder_m.bert.text(ids, mask)
        t_m = project_text(model, model.text_proj_m, txt_m, mask)
        V_bank = torch.cat((v_m.T, model.image_queue.clone()), dim=1)
        T_bank = torch.cat((t_m.T, model.text_queue.clone()), dim=1)
        P_bank = torch.cat((pids, model.idx_queue.reshape(-1)))
        H_bank = torch.cat((hashes, model.hash_queue.reshape(-1)))
        y_hat = multi_positive_targets(pids, hashes, P_bank, H_bank, v_m.dtype)
        tau_d = tau.detach()
        q_i2t = alpha * F.softmax(v_m @ T_bank / tau_d, dim=1) + (1 - alpha) * y_hat
        q_t2i = alpha * F.softmax(t_m @ V_bank / tau_d, dim=1) + (1 - alpha) * y_hat
        _, probs = model.text_encoder_m.bert.fusion(txt_m, mask, img_m)
        sync_attention = probs[cfg.sync_layer_index]

    # 3. student encoders, ITC
    img = model.visual_encoder(image)
    v = project_cls(model.vision_proj, img)
    txt = model.text_encoder.bert.text(ids, mask)
    t = project_text(model, model.text_proj, txt, mask)
    if itc == "momentum":
        s_i2t = v @ T_bank / tau
        s_t2i = t @ V_bank / tau
    else:
        s_i2t = v @ t.T / tau
        s_t2i = s_i2t.T
        q_i2t = q_t2i = multi_positive_targets(pids, hashes, pids, hashes, v.dtype)
    if "itc" in terms:
        out["itc"] = itc_loss(s_i2t, s_t2i, q_i2t, q_t2i)

    # 4. ITM with semi-hard negatives
    if B >= 2 or "itm" in terms:                     # a single sample has no negative (choose_negative raises)
        with torch.no_grad():
            rule_img, fb_img = semihard_negatives(s_t2i[:, :B].detach(), pids, hashes, rule, generator, margin)
            rule_txt, fb_txt = semihard_negatives(s_i2t[:, :B].detach(), pids, hashes, rule, generator, margin)
    else:
        rule_img = rule_txt = fb_img = fb_txt = torch.zeros(0, dtype=torch.int64)
    neg_image, neg_text = (rule_img, rule_txt) if negatives is None else (
        negatives[0].reshape(-1).long(), negatives[1].reshape(-1).long())
    bert = model.text_encoder.bert
    if "itm" in terms:
        h_pos, _ = bert.fusion(txt, mask, img)
        h_neg, _ = bert.fusion(torch.cat((txt, txt[neg_text])), torch.cat((mask, mask[neg_text])),
                               torch.cat((img[neg_image], img)))
        logits = model.itm_head(torch.cat((h_pos[:, 0], h_neg[:, 0])))
        labels = torch.cat((torch.ones(B, dtype=torch.int64), torch.zeros(2 * B, dtype=torch.int64)))
        out["itm"] = F.cross_entropy(logits, labels)

    # 5. MLM on the masked text with the clean image; momentum soft labels
    if "mlm" in terms:
        mlm_ids, mlm_labels = batch["mlm_ids"], batch["mlm_labels"]
        h, _ = bert.fusion(bert.text(mlm_ids, mask), mask, img)
        logits = model.text_encoder.mlm_logits(h)
        with torch.no_grad():
            bm = model.text_encoder_m.bert
            h_m, _ = bm.fusion(bm.text(mlm_ids, mask), mask, img_m)
            logits_m = model.text_encoder_m.mlm_logits(h_m)
        out["mlm"] = mlm_loss(logits, logits_m, mlm_labels, alpha)

    # 6. MIM on the masked image with the clean text
    if "mim" in terms:
        patch_mask = batch["patch_mask"].bool()
        pred = model.mim_decoder(model.visual_encoder(image, patch_mask), txt, mask)
        out["mim"] = mim_loss(pred, image, patch_mask, cfg.patch_size)

    # 7. total
    on = [out[k] for k in TERMS if out[k] is not None]
    out["total"] = sum(on[1:], on[0]) if on else torch.zeros((), dtype=image.dtype)

    # 8. enqueue
    enqueue(model, v_m, t_m, pids, hashes)
    out.update(neg_image=neg_image, neg_text=neg_text, rule_neg_image=rule_img, rule_neg_text=rule_txt,
               neg_fallback=torch.stack((fb_img, fb_txt)), sync_attention=sync_attention, q_i2t=q_i2t, q_t2i=q_t2i,
               image_feat=v, text_feat=t, image_feat_m=v_m, text_feat_m=t_m)
    return out


def weight_decay_groups(model, weight_decay=0.02):
    """AdamW groups: decay for trainable tensors of rank >= 2 not named *.bias; none for biases, 1-D and 0-D
    tensors (temp). Momentum copies (no gradient) are left out."""
    decay, no_decay = [], []
    for name, p in model.student_named_parameters():
        (no_decay if p.dim() < 2 or name.endswith(".bias") else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def count_parameters(model):
    """Trainable parameters, the tied matrix once."""
    return sum(p.numel() for _, p in model.student_named_parameters())
