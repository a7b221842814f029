#!/usr/bin/env python3
"""MVLT parity / benchmark CLI around the reference port (mvlt_port.py). Needs python3 + torch only.

  mvlt_parity.py make   --out DIR --image-size S --text-len L --batch B --seed K [--vocab N] [--tiny]
                        [--mask-rule code|paper] [--no-perturb] [--category]
      DIR/weights.safetensors: the port's state_dict under the original MVLT names (spec section 11), both
          tied keys present (text_embeddings.word_embeddings.weight == mlm_head.mlm_decoder.weight), int64
          buffers (position_ids, BN num_batches_tracked) kept. Metadata: "config" (JSON), "format" = "mvlt".
          Unless --no-perturb, the parameters the init leaves constant (LayerNorm/BN affine, all biases,
          linear_bias, mlm_head.bias) get small random offsets and the BN running statistics random values,
          so that a swapped or ignored tensor changes the losses. Everything else is the spec-4.8 init.
      DIR/batch.safetensors: image f32 (B,3,S,S) in [0,1]; mask f32 (B,1,S,S), 1 = masked, 16-px cells
          (--mask-rule code = the original sliding-window rule, default; paper = exactly int(0.5 n^2) cells);
          input_ids i64 (B,L) = [CLS]=101 w1..wn [SEP]=102 then 0-padding, MLM-corrupted (15 % Bernoulli per
          content token, 80 % [MASK]=103 / 10 % random id / 10 % kept, at least one per sample);
          attention_mask i64 (1 on [CLS]..[SEP]); mlm_labels i64 (original id, -100 = ignore);
          itm_labels i64 (B) in {0, 1}.
      --vocab N (default 30522, the real model): rows of the word table, MLM decoder and mlm_head.bias; the
          architecture is otherwise unchanged. --tiny = defaults for a seconds-long test (S 64, L 16, B 2)
          for the sizes not given explicitly; it does NOT change the architecture. --category adds the
          sup/sub category heads (281 tensors; the losses command ignores them).

  mvlt_parity.py losses --weights W --batch BATCH [--threads T] [--clean]
      Loads the weights (config inferred from the tensors: L, vocab, heads), eval mode, float32, feeds
      image.masked_fill(mask, 1e-6) (--clean: the clean image) and input_ids, computes mir / itm / mlm /
      total = mlm + itm + 10 mir, runs total.backward() and prints ONE JSON line:
      {"mir", "itm", "mlm", "total", "grad_norms": {name: L2 norm for every parameter}, "grad_norm_total",
       "stage_mean_abs": [[mean|image tokens|, mean|text tokens|] after stage 1..4], "config": {...}}.
      The tied word/decoder matrix has one gradient (sum of both uses); its norm is listed under BOTH names,
      and counted once in grad_norm_total (= sqrt of the sum of squares over distinct parameters).

  mvlt_parity.py bench --batch B --image-size S --text-len L --threads T --steps N [--warmup W] [--vocab V]
      Times full training steps of the port: train mode, forward (even steps clean image, odd steps masked,
      as the original loop), total loss, backward, torch.optim.AdamW (lr 1e-4, betas 0.9/0.999, eps 1e-8,
      weight decay 0.01 except 1-D tensors and *.bias). Prints one JSON line with median_ms and all step times.
"""
import argparse
import json
import math
import os
import statistics
import sys
import time

try:
    import numpy as np
    import torch
except ImportError:  # pragma: no cover - e.g. a pyenv/venv python3 first on PATH: retry with the system one
    if os.path.exists("/usr/bin/python3") and os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3") \
            and not os.environ.get("MVLT_NO_REEXEC"):
        os.environ["MVLT_NO_REEXEC"] = "1"
        os.execv("/usr/bin/python3", ["/usr/bin/python3", os.path.abspath(__file__)] + sys.argv[1:])
    raise

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mvlt_port as M  # noqa: E402
import safetensors_io as st  # noqa: E402

CLS_ID, SEP_ID, MASK_ID, PAD_ID = 101, 102, 103, 0
GRID_CELL, GRID_RATIO = 16, 0.5


# -------------------------------------------------------------------------------------------------------
# Synthetic batch (spec sections 2, 3)
# -------------------------------------------------------------------------------------------------------
def grid_mask(size, rs, rule="code"):
    """(1, size, size) float32 mask of 16-px cells, 1 = masked. rule 'code': the original generate_grid_mask
    (cells shuffled; row i = cells i..i+n-1 of that list, shuffled again); 'paper': exactly int(0.5 n^2)
    uniformly chosen cells. `rs` is a numpy RandomState."""
    n = size // GRID_CELL
    if n * GRID_CELL != size:
        raise ValueError(f"image size {size} is not a multiple of {GRID_CELL}")
    P = n * n
    Mk = int(GRID_RATIO * P)
    cells = [0] * (P - Mk) + [1] * Mk
    rs.shuffle(cells)
    if rule == "code":
        rows = []
        for i in range(n):
            row = cells[i:i + n]
            rs.shuffle(row)
            rows.append(row)
        grid = np.array(rows, dtype=np.float32)
    elif rule == "paper":
        grid = np.array(cells, dtype=np.float32).reshape(n, n)
    else:
        raise ValueError(f"unknown mask rule {rule!r}")
    m = torch.from_numpy(grid).repeat_interleave(GRID_CELL, 0).repeat_interleave(GRID_CELL, 1)
    return m.unsqueeze(0)


def make_text(B, L, vocab, g):
    """[CLS] w1..wn [SEP] [PAD]...; MLM corruption 15 % Bernoulli, 80/10/10; labels -100 elsewhere."""
    if L < 3:
        raise ValueError("text length must be at least 3")
    lo = 999 if vocab > 2000 else min(104, vocab - 1)   # content ids: ordinary word pieces where possible
    ids = torch.full((B, L), PAD_ID, dtype=torch.int64)
    attn = torch.zeros((B, L), dtype=torch.int64)
    labels = torch.full((B, L), M.IGNORE_INDEX, dtype=torch.int64)
    for b in range(B):
        n = int(torch.randint(max(1, (L - 2) // 3), L - 1, (1,), generator=g))   # 1 <= n <= L-2
        words = torch.randint(lo, vocab, (n,), generator=g)
        ids[b, 0] = CLS_ID
        ids[b, 1:n + 1] = words
        ids[b, n + 1] = SEP_ID
        attn[b, :n + 2] = 1
        pick = torch.rand(n, generator=g) < 0.15
        if not bool(pick.any()):
            pick[int(torch.randint(0, n, (1,), generator=g))] = True
        u = torch.rand(n, generator=g)
        rnd = torch.randint(0, vocab, (n,), generator=g)
        corrupted = torch.where(u < 0.8, torch.full_like(words, MASK_ID), torch.where(u < 0.9, rnd, words))
        ids[b, 1:n + 1] = torch.where(pick, corrupted, words)
        labels[b, 1:n + 1] = torch.where(pick, words, torch.full_like(words, M.IGNORE_INDEX))
    return ids, attn, labels


def make_batch(B, S, L, vocab, seed, mask_rule="code"):
    g = torch.Generator().manual_seed(seed + 1)
    rs = np.random.RandomState(seed + 2)
    image = torch.rand((B, 3, S, S), generator=g)
    # a smooth component so that the MIR target is not pure noise
    yy, xx = torch.meshgrid(torch.linspace(0, 1, S), torch.linspace(0, 1, S), indexing="ij")
    phase = torch.rand((B, 3, 1, 1), generator=g) * 6.28
    image = (0.5 * image + 0.25 * (1 + torch.sin(6 * xx + 4 * yy + phase))).clamp(0, 1).float()
    mask = torch.stack([grid_mask(S, rs, mask_rule) for _ in range(B)])
    ids, attn, labels = make_text(B, L, vocab, g)
    itm = torch.randint(0, 2, (B,), generator=g, dtype=torch.int64)
    return {"image": image, "mask": mask, "input_ids": ids, "attention_mask": attn, "mlm_labels": labels,
            "itm_labels": itm}


# -------------------------------------------------------------------------------------------------------
def config_from_state(sd):
    """MVLTConfig (without image size) inferred from a state_dict's tensors."""
    if "text_pos_embed1" not in sd or "text_embeddings.word_embeddings.weight" not in sd:
        raise ValueError("not an MVLT state_dict (text_pos_embed1 / word embeddings missing)")
    return M.MVLTConfig(
        text_len=int(sd["text_pos_embed1"].shape[1]),
        vocab_size=int(sd["text_embeddings.word_embeddings.weight"].shape[0]),
        mlm="mlm_head.bias" in sd, itm="itm_head.linear.weight" in sd, mir="t2i_head.score.0.weight" in sd,
        category="sup_cls_head.linear.weight" in sd)


def load_model(path, image_size):
    sd = st.load(path)
    cfg = config_from_state(sd)
    cfg.image_size = image_size
    model = M.MVLT(cfg)
    wk, dk = "text_embeddings.word_embeddings.weight", "mlm_head.mlm_decoder.weight"
    if cfg.mlm:
        if dk in sd and not torch.equal(sd[dk], sd[wk]):
            raise ValueError(f"{dk} differs from {wk}: the matrices must be tied")
        sd.setdefault(dk, sd[wk])
    sd.setdefault("text_embeddings.position_ids", torch.arange(M.BERT_MAX_POS).unsqueeze(0))
    model.load_state_dict(sd, strict=True)
    return model


@torch.no_grad()
def perturb(model, g):
    for name, p in model.named_parameters():
        if p.dim() == 1:
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    for name, b in model.named_buffers():
        if name.endswith("running_mean"):
            b.copy_(0.1 * torch.randn(b.shape, generator=g))
        elif name.endswith("running_var"):
            b.copy_(0.5 + torch.rand(b.shape, generator=g))
        elif name.endswith("num_batches_tracked"):
            b.fill_(7)


def cmd_make(a):
    S = a.image_size if a.image_size is not None else (64 if a.tiny else 256)
    L = a.text_len if a.text_len is not None else (16 if a.tiny else 128)
    B = a.batch if a.batch is not None else (2 if a.tiny else 8)
    if a.vocab < 104:
        sys.exit("mvlt_parity.py make: --vocab must be at least 104 (ids 101-103 are [CLS]/[SEP]/[MASK])")
    torch.manual_seed(a.seed)
    cfg = M.MVLTConfig(image_size=S, text_len=L, vocab_size=a.vocab, category=a.category)
    model = M.MVLT(cfg)
    if not a.no_perturb:
        perturb(model, torch.Generator().manual_seed(a.seed + 3))
    os.makedirs(a.out, exist_ok=True)
    sd = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    meta = {"format": "mvlt", "config": json.dumps({"image_size": S, "text_len": L, "vocab_size": a.vocab,
                                                    "category": a.category, "seed": a.seed,
                                                    "perturbed": not a.no_perturb})}
    st.save(sd, os.path.join(a.out, "weights.safetensors"), metadata=meta)
    batch = make_batch(B, S, L, a.vocab, a.seed, a.mask_rule)
    st.save(batch, os.path.join(a.out, "batch.safetensors"),
            metadata={"format": "mvlt-batch", "mask_rule": a.mask_rule})
    print(json.dumps({"out": a.out, "image_size": S, "text_len": L, "batch": B, "vocab": a.vocab,
                      "tensors": len(sd), "parameters": M.count_parameters(model)}))


def cmd_losses(a):
    if a.threads:
        torch.set_num_threads(a.threads)
    batch = st.load(a.batch)
    S = int(batch["image"].shape[-1])
    model = load_model(a.weights, S).float().eval()
    batch = {k: (v.float() if v.is_floating_point() else v) for k, v in batch.items()}
    stats = []
    res = M.losses(model, batch, masked=not a.clean, stats=stats)
    model.zero_grad(set_to_none=True)
    res["total"].backward()
    grad_norms, sq = {}, 0.0
    for name, p in model.named_parameters():          # distinct parameters (the tied matrix once)
        gn = 0.0 if p.grad is None else float(p.grad.detach().double().norm())
        grad_norms[name] = gn
        sq += gn * gn
    if model.config.mlm:                               # list the tied matrix under its second name too
        grad_norms["mlm_head.mlm_decoder.weight"] = grad_norms["text_embeddings.word_embeddings.weight"]
    out = {k: float(res[k]) for k in ("mir", "itm", "mlm", "total")}
    out["grad_norms"] = grad_norms
    out["grad_norm_total"] = math.sqrt(sq)
    out["stage_mean_abs"] = [[i, t] for i, t in stats]
    c = model.config
    out["config"] = {"image_size": c.image_size, "text_len": c.text_len, "vocab_size": c.vocab_size,
                     "batch": int(batch["image"].shape[0]), "masked": not a.clean, "threads": torch.get_num_threads()}
    print(json.dumps(out))


def cmd_bench(a):
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = M.MVLT(M.MVLTConfig(image_size=a.image_size, text_len=a.text_len, vocab_size=a.vocab)).train()
    opt = torch.optim.AdamW(M.weight_decay_groups(model, 0.01), lr=1e-4, betas=(0.9, 0.999), eps=1e-8)
    batch = make_batch(a.batch, a.image_size, a.text_len, a.vocab, 0)
    times = []
    for step in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        res = M.losses(model, batch, masked=(step % 2 == 1))
        res["total"].backward()
        opt.step()
        dt = (time.perf_counter() - t0) * 1000.0
        if step >= a.warmup:
            times.append(dt)
    print(json.dumps({"median_ms": statistics.median(times), "steps_ms": times, "batch": a.batch,
                      "image_size": a.image_size, "text_len": a.text_len, "threads": torch.get_num_threads(),
                      "vocab": a.vocab, "torch": torch.__version__, "last_total": float(res["total"])}))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make", help="write weights.safetensors and batch.safetensors")
    m.add_argument("--out", required=True)
    m.add_argument("--image-size", type=int)
    m.add_argument("--text-len", type=int)
    m.add_argument("--batch", type=int)
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--vocab", type=int, default=M.DEFAULT_VOCAB)
    m.add_argument("--tiny", action="store_true", help="defaults S 64, L 16, B 2 (same architecture)")
    m.add_argument("--mask-rule", choices=["code", "paper"], default="code")
    m.add_argument("--category", action="store_true", help="add the sup/sub category heads (+14 tensors)")
    m.add_argument("--no-perturb", action="store_true", help="keep the plain spec-4.8 init")
    l_ = sub.add_parser("losses", help="losses and gradient norms as one JSON line")
    l_.add_argument("--weights", required=True)
    l_.add_argument("--batch", required=True)
    l_.add_argument("--threads", type=int, default=0)
    l_.add_argument("--clean", action="store_true", help="feed the clean image instead of the masked one")
    b = sub.add_parser("bench", help="median training-step time of the port")
    b.add_argument("--batch", type=int, default=8)
    b.add_argument("--image-size", type=int, default=256)
    b.add_argument("--text-len", type=int, default=128)
    b.add_argument("--threads", type=int, default=2)
    b.add_argument("--steps", type=int, default=5)
    b.add_argument("--warmup", type=int, default=1)
    b.add_argument("--vocab", type=int, default=M.DEFAULT_VOCAB)
    a = p.parse_args(argv)
    {"make": cmd_make, "losses": cmd_losses, "bench": cmd_bench}[a.cmd](a)


if __name__ == "__main__":
    main()
