"""Independent PyTorch port of MVLT (pvlt_tiny + MLM / ITM / MIR heads) from shared/spec/mvlt.md.

This is FashionVL's numerical reference for the Swift implementation. It needs only python3 + torch (Debian's
python3-torch, torch >= 1.13); no timm, transformers or safetensors. Section numbers refer to the spec.

    model = MVLT(MVLTConfig(image_size=256, text_len=128))
    mir, itm, mlm = model(image, input_ids)    # (B,3,S,S), (B,2), (B,L,V)
    out = losses(model, batch)                 # dict mir / itm / mlm / total

The state_dict has exactly the names, shapes, dtypes and order of spec section 11 (267 entries for the
pretraining config; +14 with `category=True`; 196 for the category-only fine-tuning config
`MVLTConfig(mlm=False, itm=False, mir=False, category=True)`). `mlm_head.mlm_decoder.weight` IS the Parameter
`text_embeddings.word_embeddings.weight` (tied); both keys appear in the state_dict.

Options beyond the code's behaviour (all default to the code, spec section 10):
  * `pos_embed_quirk` (True): skip the position-table resize whenever a stage's H*W equals 3136 (stage 1's
    224-px count), as the code does; False = resize whenever the grid differs from the stored one.
  * `text_first` (False): paper order <text; image> inside a stage instead of the code's image-first order.
  * `text_embedding_init` ("code"): "bert" starts the BERT position/type tables at N(0, 0.02) (BERT's own
    init) instead of nn.Embedding's N(0, 1), which the code leaves in place.
  * `vocab_size` (30522): rows of the word table, the MLM decoder and mlm_head.bias (the code hard-codes
    30522; smaller values only exist for quick tests).
"""
import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

DIMS = (64, 128, 320, 512)
HEADS = (1, 2, 5, 8)
MLP_RATIOS = (8, 8, 4, 4)
SR_RATIOS = (8, 4, 2, 1)
DEPTHS = (2, 2, 2, 2)
PATCH = (4, 2, 2, 2)
PE_GRID = (56, 28, 14, 7)          # stored position grids (PVT at img_size 224)
PE_SLOTS = (3136, 784, 196, 50)    # stage 4 keeps PVT's cls slot 0 (unused)
BERT_HIDDEN = 768
BERT_MAX_POS = 512
BERT_TYPES = 2
DEFAULT_VOCAB = 30522
DROP_PATH_RATE = 0.1
DECODER_CHANNELS = 64
N_SUP, N_SUB = 48, 122
MASK_FILL = 1e-6
W_MIR, W_ITM, W_MLM = 10.0, 1.0, 1.0
IGNORE_INDEX = -100


@dataclass
class MVLTConfig:
    image_size: int = 256
    text_len: int = 128
    vocab_size: int = DEFAULT_VOCAB
    mlm: bool = True          # loss_type 'mlm'
    itm: bool = True          # loss_type 'itm'
    mir: bool = True          # loss_type 't2i' (the MIR decoder `t2i_head`)
    category: bool = False    # loss_type 'cls' (sup/sub category heads, 48 / 122 classes)
    pos_embed_quirk: bool = True
    text_first: bool = False
    drop_path_rate: float = DROP_PATH_RATE
    bert_dropout: float = 0.1
    text_embedding_init: str = "code"   # "bert": position/type tables N(0, 0.02) instead of nn.Embedding's N(0, 1)

    def validate(self):
        if self.image_size <= 0 or self.image_size % 32 != 0:
            raise ValueError(f"image_size must be a positive multiple of 32, got {self.image_size}")
        if not 1 <= self.text_len <= BERT_MAX_POS:
            raise ValueError(f"text_len must be in 1...{BERT_MAX_POS}, got {self.text_len}")
        if self.vocab_size < 1:
            raise ValueError("vocab_size must be positive")
        if self.text_embedding_init not in ("code", "bert"):
            raise ValueError(f"text_embedding_init must be 'code' or 'bert', got {self.text_embedding_init!r}")


def _gelu_erf(x):
    return x * 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))


class DropPath(nn.Module):
    """Per-sample stochastic depth (timm 0.3.2): kept samples are divided by the keep probability."""

    def __init__(self, p):
        super().__init__()
        self.p = float(p)

    def forward(self, x):
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        shape = (x.shape[0],) + (1,) * (x.dim() - 1)
        mask = torch.floor(keep + torch.rand(shape, dtype=x.dtype, device=x.device))
        return x.div(keep) * mask


class PatchEmbed(nn.Module):
    """Conv (kernel = stride) + LayerNorm(1e-5) over the flattened tokens (section 4.4)."""

    def __init__(self, cin, dim, k):
        super().__init__()
        self.proj = nn.Conv2d(cin, dim, kernel_size=k, stride=k)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x):
        x = self.proj(x)
        H, W = x.shape[2], x.shape[3]
        return self.norm(x.flatten(2).transpose(1, 2)), H, W


class Attention(nn.Module):
    """Section 4.5: q over all tokens; k/v over [LN(SR-conv(image part)); text part] (all tokens when SR = 1)."""

    def __init__(self, dim, heads, sr):
        super().__init__()
        self.heads = heads
        self.head_dim = dim // heads
        self.scale = self.head_dim ** -0.5
        self.sr_ratio = sr
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)
        if sr > 1:
            self.sr = nn.Conv2d(dim, dim, kernel_size=sr, stride=sr)
            self.norm = nn.LayerNorm(dim)
        # Not in the original (it never masks padding): (B, L) bool, True = a real text token; when set, padding
        # keys get no attention. Only scripts/itm-probe sets it.
        self.text_keep = None

    def forward(self, u, H, W, L, img_start):
        B, N, C = u.shape
        h, d = self.heads, self.head_dim
        q = self.q(u).reshape(B, N, h, d).transpose(1, 2)                       # B h N d
        if self.sr_ratio > 1:
            if img_start == 0:                                                  # code: image first
                img, txt = u[:, :H * W], u[:, H * W:]
            else:                                                               # paper: text first
                txt, img = u[:, :L], u[:, L:]
            m = img.transpose(1, 2).reshape(B, C, H, W)
            m = self.norm(self.sr(m).flatten(2).transpose(1, 2))
            src = torch.cat((m, txt), dim=1) if img_start == 0 else torch.cat((txt, m), dim=1)
        else:
            src = u
        kv = self.kv(src).reshape(B, -1, 2, h, d).permute(2, 0, 3, 1, 4)
        k, v = kv[0], kv[1]                                                     # B h M d
        logits = torch.matmul(q, k.transpose(-2, -1)).mul_(self.scale)
        if self.text_keep is not None:
            image_keys = torch.ones(B, k.shape[2] - L, dtype=torch.bool)
            keep = torch.cat((image_keys, self.text_keep) if img_start == 0 else (self.text_keep, image_keys), 1)
            logits = logits.masked_fill(~keep[:, None, None, :], float("-inf"))
        attn = logits.softmax(dim=-1)
        out = torch.matmul(attn, v).transpose(1, 2).reshape(B, N, C)
        return self.proj(out)


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim, heads, mlp_ratio, sr, drop_path):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads, sr)
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, dim * mlp_ratio)

    def forward(self, z, H, W, L, img_start):
        z = z + self.drop_path(self.attn(self.norm1(z), H, W, L, img_start))
        return z + self.drop_path(self.mlp(self.norm2(z)))


class BertEmbeddings(nn.Module):
    """Section 4.2: (word + type 0) + position, LayerNorm(1e-12), Dropout(0.1)."""

    def __init__(self, vocab, dropout):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab, BERT_HIDDEN, padding_idx=0)
        self.position_embeddings = nn.Embedding(BERT_MAX_POS, BERT_HIDDEN)
        self.token_type_embeddings = nn.Embedding(BERT_TYPES, BERT_HIDDEN)
        self.LayerNorm = nn.LayerNorm(BERT_HIDDEN, eps=1e-12)
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("position_ids", torch.arange(BERT_MAX_POS).unsqueeze(0))

    def forward(self, ids):
        L = ids.shape[1]
        e = self.word_embeddings(ids) + self.token_type_embeddings(torch.zeros_like(ids))
        e = e + self.position_embeddings(self.position_ids[:, :L])
        return self.dropout(self.LayerNorm(e))


def _head_embed(dim_in):
    return nn.Sequential(nn.Linear(dim_in, BERT_HIDDEN), nn.LayerNorm(BERT_HIDDEN))


class HeadTransform(nn.Module):
    def __init__(self):
        super().__init__()
        self.dense = nn.Linear(BERT_HIDDEN, BERT_HIDDEN)
        self.LayerNorm = nn.LayerNorm(BERT_HIDDEN)

    def forward(self, x):
        return self.LayerNorm(_gelu_erf(self.dense(x)))


class MLMHead(nn.Module):
    """transform -> decoder tied to the word table (no bias) + separate bias (section 4.6)."""

    def __init__(self, word_weight):
        super().__init__()
        vocab = word_weight.shape[0]
        self.bias = nn.Parameter(torch.zeros(vocab))
        self.transform = HeadTransform()
        self.mlm_decoder = nn.Linear(BERT_HIDDEN, vocab, bias=False)
        self.mlm_decoder.weight = word_weight

    def forward(self, x):
        return F.linear(self.transform(x), self.mlm_decoder.weight) + self.bias


class LinearHead(nn.Module):
    """ITM / category head: Linear(768, n) + a second, separate bias `linear_bias`."""

    def __init__(self, n):
        super().__init__()
        self.linear_bias = nn.Parameter(torch.zeros(n))
        self.linear = nn.Linear(BERT_HIDDEN, n)

    def forward(self, x):
        return self.linear(x) + self.linear_bias


def _cb(cin, cout):
    """"CB" = Conv3x3 (pad 1, no bias) + BatchNorm2d, no activation."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout))


def _up2(x):
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)


class MIRDecoder(nn.Module):
    """Section 4.7 (`t2i_head`): cascaded partial decoder over stages 2-4, then 1x1 score and bilinear x8."""

    def __init__(self, c=DECODER_CHANNELS):
        super().__init__()
        self.reduction1 = _cb(DIMS[1], c)
        self.reduction2 = _cb(DIMS[2], c)
        self.reduction3 = _cb(DIMS[3], c)
        self.conv_upsample1 = _cb(c, c)
        self.conv_upsample2 = _cb(c, c)
        self.conv_upsample3 = _cb(c, c)
        self.conv_upsample4 = _cb(c, c)
        self.conv_upsample5 = _cb(2 * c, 2 * c)
        self.conv_concat2 = _cb(2 * c, 2 * c)
        self.conv_concat3 = _cb(3 * c, 3 * c)
        self.conv4 = _cb(3 * c, 3 * c)
        self.score = nn.Sequential(nn.Conv2d(3 * c, 3, 1),
                                   nn.Upsample(scale_factor=8, mode="bilinear", align_corners=True))

    def forward(self, f2, f3, f4):
        lo, mid, hi = self.reduction1(f2), self.reduction2(f3), self.reduction3(f4)
        up_hi = _up2(hi)
        a = self.conv_upsample1(up_hi) * mid
        b = self.conv_upsample2(_up2(mid)) * self.conv_upsample3(_up2(a)) * lo
        a2 = self.conv_concat2(torch.cat((a, self.conv_upsample4(up_hi)), 1))
        b2 = self.conv_concat3(torch.cat((b, self.conv_upsample5(_up2(a2))), 1))
        return self.score(self.conv4(b2))


class MVLT(nn.Module):
    def __init__(self, config=None, **kwargs):
        super().__init__()
        cfg = config if config is not None else MVLTConfig(**kwargs)
        if config is not None and kwargs:
            raise ValueError("pass either a config or keyword arguments")
        cfg.validate()
        self.config = cfg
        L = cfg.text_len
        dpr = [x.item() for x in torch.linspace(0, cfg.drop_path_rate, sum(DEPTHS))]
        cur = 0
        for i in range(4):
            cin = 3 if i == 0 else DIMS[i - 1]
            tin = BERT_HIDDEN if i == 0 else DIMS[i - 1]
            setattr(self, f"patch_embed{i + 1}", PatchEmbed(cin, DIMS[i], PATCH[i]))
            setattr(self, f"text_embed{i + 1}", nn.Sequential(nn.Linear(tin, DIMS[i]), nn.LayerNorm(DIMS[i])))
            setattr(self, f"pos_embed{i + 1}", nn.Parameter(torch.zeros(1, PE_SLOTS[i], DIMS[i])))
            setattr(self, f"text_pos_embed{i + 1}", nn.Parameter(torch.zeros(1, L, DIMS[i])))
            setattr(self, f"block{i + 1}", nn.ModuleList(
                [Block(DIMS[i], HEADS[i], MLP_RATIOS[i], SR_RATIOS[i], dpr[cur + j]) for j in range(DEPTHS[i])]))
            cur += DEPTHS[i]
        self.text_embeddings = BertEmbeddings(cfg.vocab_size, cfg.bert_dropout)
        if cfg.mlm:
            self.mlm_head_embed = _head_embed(DIMS[-1])
            self.mlm_head = MLMHead(self.text_embeddings.word_embeddings.weight)
        if cfg.itm:
            self.itm_head_embed = _head_embed(DIMS[-1])
            self.itm_head = LinearHead(2)
        if cfg.category:
            self.sup_cls_head_embed = _head_embed(DIMS[-1])
            self.sup_cls_head = LinearHead(N_SUP)
            self.sub_cls_head_embed = _head_embed(DIMS[-1])
            self.sub_cls_head = LinearHead(N_SUB)
        if cfg.mir:
            self.t2i_head = MIRDecoder()
        self.reset_parameters()

    # ---------------------------------------------------------------------------------------------------
    @torch.no_grad()
    def reset_parameters(self):
        """Section 4.8 without the PVT weights: trunc-normal(0.02, bounds +-2) for position tables and every
        Linear (so also the tied word table), zero biases, LayerNorm 1/0, embeddings N(0,1) (row 0 of the word
        table zero unless the tied decoder overwrote it), convs PyTorch default, BN 1/0, extra biases 0."""
        for i in range(4):
            nn.init.trunc_normal_(getattr(self, f"pos_embed{i + 1}"), std=0.02, a=-2.0, b=2.0)
            nn.init.trunc_normal_(getattr(self, f"text_pos_embed{i + 1}"), std=0.02, a=-2.0, b=2.0)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02, a=-2.0, b=2.0)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if self.config.text_embedding_init == "bert":
            nn.init.trunc_normal_(self.text_embeddings.position_embeddings.weight, std=0.02, a=-2.0, b=2.0)
            nn.init.trunc_normal_(self.text_embeddings.token_type_embeddings.weight, std=0.02, a=-2.0, b=2.0)

    # ---------------------------------------------------------------------------------------------------
    def _image_pos(self, k, H, W):
        table = getattr(self, f"pos_embed{k + 1}")
        if k == 3:
            table = table[:, 1:]
        g = PE_GRID[k]
        if self.config.pos_embed_quirk:
            if H * W == PE_SLOTS[0]:
                return table
        elif H == g and W == g:
            return table
        m = table.reshape(1, g, g, -1).permute(0, 3, 1, 2)
        m = F.interpolate(m, size=(H, W), mode="bilinear", align_corners=False)
        return m.reshape(1, -1, H * W).permute(0, 2, 1)

    def features(self, image, input_ids, stats=None):
        """Stage outputs: image maps [(B,D_k,H_k,W_k)] and text tokens [(B,L,D_k)] for k = 1..4.
        If `stats` is a list, (mean |image tokens|, mean |text tokens|) of each stage is appended to it."""
        B, L = input_ids.shape
        if L != self.config.text_len:
            raise ValueError(f"input_ids has length {L}, model text_len is {self.config.text_len}")
        x = image
        y = self.text_embeddings(input_ids)
        img_feats, txt_feats = [], []
        text_first = self.config.text_first
        for k in range(4):
            x, H, W = getattr(self, f"patch_embed{k + 1}")(x)
            y = getattr(self, f"text_embed{k + 1}")(y)
            xi = x + self._image_pos(k, H, W)
            yt = y + getattr(self, f"text_pos_embed{k + 1}")
            z = torch.cat((yt, xi), 1) if text_first else torch.cat((xi, yt), 1)
            img_start = L if text_first else 0
            for blk in getattr(self, f"block{k + 1}"):
                z = blk(z, H, W, L, img_start)
            if text_first:
                y, x = torch.split(z, [L, H * W], dim=1)
            else:
                x, y = torch.split(z, [H * W, L], dim=1)
            if stats is not None:
                stats.append((x.detach().abs().mean().item(), y.detach().abs().mean().item()))
            x = x.reshape(B, H, W, -1).permute(0, 3, 1, 2).contiguous()
            img_feats.append(x)
            txt_feats.append(y)
        return img_feats, txt_feats

    def forward_all(self, image, input_ids, stats=None):
        """All heads of the configuration: dict with mir (B,3,S,S), itm (B,2), mlm (B,L,V), sup_cls (B,48),
        sub_cls (B,122); absent heads are None."""
        img, txt = self.features(image, input_ids, stats)
        t = txt[-1]
        cls = t[:, 0]
        out = dict(mir=None, itm=None, mlm=None, sup_cls=None, sub_cls=None)
        if self.config.mlm:
            out["mlm"] = self.mlm_head(self.mlm_head_embed(t))
        if self.config.itm:
            out["itm"] = self.itm_head(self.itm_head_embed(cls))
        if self.config.category:
            out["sup_cls"] = self.sup_cls_head(self.sup_cls_head_embed(cls))
            out["sub_cls"] = self.sub_cls_head(self.sub_cls_head_embed(cls))
        if self.config.mir:
            out["mir"] = self.t2i_head(img[1], img[2], img[3])
        return out

    def forward(self, image, input_ids):
        """(mir_image (B,3,S,S), itm_logits (B,2), mlm_logits (B,L,V)); None for heads not configured."""
        o = self.forward_all(image, input_ids)
        return o["mir"], o["itm"], o["mlm"]


# -------------------------------------------------------------------------------------------------------
def spec_state_shapes(text_len=128, vocab_size=DEFAULT_VOCAB, mlm=True, itm=True, mir=True, category=False):
    """The state-dict table of spec section 11, written out independently of the module classes:
    ordered dict name -> (shape tuple, torch dtype), in PyTorch's state_dict order."""
    f32, i64 = torch.float32, torch.int64
    out = {}
    L, V = text_len, vocab_size
    for k in range(4):
        out[f"pos_embed{k + 1}"] = ((1, PE_SLOTS[k], DIMS[k]), f32)
        out[f"text_pos_embed{k + 1}"] = ((1, L, DIMS[k]), f32)
    for k in range(4):
        D, cin, kk = DIMS[k], (3,) + DIMS[:3], PATCH[k]
        tin = (BERT_HIDDEN,) + DIMS[:3]
        p = f"patch_embed{k + 1}."
        out[p + "proj.weight"] = ((D, cin[k], kk, kk), f32)
        out[p + "proj.bias"] = ((D,), f32)
        out[p + "norm.weight"] = ((D,), f32)
        out[p + "norm.bias"] = ((D,), f32)
        p = f"text_embed{k + 1}."
        out[p + "0.weight"] = ((D, tin[k]), f32)
        out[p + "0.bias"] = ((D,), f32)
        out[p + "1.weight"] = ((D,), f32)
        out[p + "1.bias"] = ((D,), f32)
        s, r = SR_RATIOS[k], MLP_RATIOS[k]
        for j in range(DEPTHS[k]):
            p = f"block{k + 1}.{j}."
            out[p + "norm1.weight"] = ((D,), f32)
            out[p + "norm1.bias"] = ((D,), f32)
            out[p + "attn.q.weight"] = ((D, D), f32)
            out[p + "attn.q.bias"] = ((D,), f32)
            out[p + "attn.kv.weight"] = ((2 * D, D), f32)
            out[p + "attn.kv.bias"] = ((2 * D,), f32)
            out[p + "attn.proj.weight"] = ((D, D), f32)
            out[p + "attn.proj.bias"] = ((D,), f32)
            if s > 1:
                out[p + "attn.sr.weight"] = ((D, D, s, s), f32)
                out[p + "attn.sr.bias"] = ((D,), f32)
                out[p + "attn.norm.weight"] = ((D,), f32)
                out[p + "attn.norm.bias"] = ((D,), f32)
            out[p + "norm2.weight"] = ((D,), f32)
            out[p + "norm2.bias"] = ((D,), f32)
            out[p + "mlp.fc1.weight"] = ((r * D, D), f32)
            out[p + "mlp.fc1.bias"] = ((r * D,), f32)
            out[p + "mlp.fc2.weight"] = ((D, r * D), f32)
            out[p + "mlp.fc2.bias"] = ((D,), f32)
    H = BERT_HIDDEN
    out["text_embeddings.position_ids"] = ((1, BERT_MAX_POS), i64)
    out["text_embeddings.word_embeddings.weight"] = ((V, H), f32)
    out["text_embeddings.position_embeddings.weight"] = ((BERT_MAX_POS, H), f32)
    out["text_embeddings.token_type_embeddings.weight"] = ((BERT_TYPES, H), f32)
    out["text_embeddings.LayerNorm.weight"] = ((H,), f32)
    out["text_embeddings.LayerNorm.bias"] = ((H,), f32)

    def head_embed(p):
        out[p + "0.weight"] = ((H, DIMS[-1]), f32)
        out[p + "0.bias"] = ((H,), f32)
        out[p + "1.weight"] = ((H,), f32)
        out[p + "1.bias"] = ((H,), f32)

    def linear_head(p, n):
        out[p + "linear_bias"] = ((n,), f32)
        out[p + "linear.weight"] = ((n, H), f32)
        out[p + "linear.bias"] = ((n,), f32)

    if mlm:
        head_embed("mlm_head_embed.")
        out["mlm_head.bias"] = ((V,), f32)
        out["mlm_head.transform.dense.weight"] = ((H, H), f32)
        out["mlm_head.transform.dense.bias"] = ((H,), f32)
        out["mlm_head.transform.LayerNorm.weight"] = ((H,), f32)
        out["mlm_head.transform.LayerNorm.bias"] = ((H,), f32)
        out["mlm_head.mlm_decoder.weight"] = ((V, H), f32)
    if itm:
        head_embed("itm_head_embed.")
        linear_head("itm_head.", 2)
    if category:
        head_embed("sup_cls_head_embed.")
        linear_head("sup_cls_head.", N_SUP)
        head_embed("sub_cls_head_embed.")
        linear_head("sub_cls_head.", N_SUB)
    if mir:
        c = DECODER_CHANNELS
        cbs = [("reduction1", DIMS[1], c), ("reduction2", DIMS[2], c), ("reduction3", DIMS[3], c),
               ("conv_upsample1", c, c), ("conv_upsample2", c, c), ("conv_upsample3", c, c),
               ("conv_upsample4", c, c), ("conv_upsample5", 2 * c, 2 * c), ("conv_concat2", 2 * c, 2 * c),
               ("conv_concat3", 3 * c, 3 * c), ("conv4", 3 * c, 3 * c)]
        for m, ci, co in cbs:
            p = f"t2i_head.{m}."
            out[p + "0.weight"] = ((co, ci, 3, 3), f32)
            out[p + "1.weight"] = ((co,), f32)
            out[p + "1.bias"] = ((co,), f32)
            out[p + "1.running_mean"] = ((co,), f32)
            out[p + "1.running_var"] = ((co,), f32)
            out[p + "1.num_batches_tracked"] = ((), i64)
        out["t2i_head.score.0.weight"] = ((3, 3 * c, 1, 1), f32)
        out["t2i_head.score.0.bias"] = ((3,), f32)
    return out


# -------------------------------------------------------------------------------------------------------
def count_parameters(model):
    """Trainable parameters, the tied word/decoder matrix counted once (named_parameters deduplicates)."""
    return sum(p.numel() for p in model.parameters())


def losses(model, batch, masked=True, stats=None):
    """Spec sections 5 and 12: input = image.masked_fill(mask, 1e-6) (the clean image if masked=False) and
    input_ids; mir = SmoothL1(out, clean image, beta 1, mean over all values), itm = CE(itm_logits, itm_labels),
    mlm = CE(mlm_logits over B*L, mlm_labels, ignore_index -100), total = 1 mlm + 1 itm + 10 mir.
    `batch` holds image (B,3,S,S), mask (B,1,S,S) 1 = masked, input_ids (B,L), mlm_labels (B,L), itm_labels (B).
    Returns a dict of 0-d tensors mir / itm / mlm / total (and the outputs under "outputs")."""
    image = batch["image"]
    x = image.masked_fill(batch["mask"].bool(), MASK_FILL) if masked else image
    o = model.forward_all(x, batch["input_ids"], stats=stats)
    mir = F.smooth_l1_loss(o["mir"], image, beta=1.0)
    itm = F.cross_entropy(o["itm"].reshape(-1, 2), batch["itm_labels"].reshape(-1))
    V = o["mlm"].shape[-1]
    mlm = F.cross_entropy(o["mlm"].reshape(-1, V), batch["mlm_labels"].reshape(-1), ignore_index=IGNORE_INDEX)
    total = W_MLM * mlm + W_ITM * itm + W_MIR * mir
    return {"mir": mir, "itm": itm, "mlm": mlm, "total": total, "outputs": o}


def weight_decay_groups(model, weight_decay=0.01):
    """timm create_optimizer grouping (section 6): no decay for 1-D tensors and names ending in `.bias`."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.dim() == 1 or name.endswith(".bias") else decay).append(p)
    return [{"params": no_decay, "weight_decay": 0.0}, {"params": decay, "weight_decay": weight_decay}]
