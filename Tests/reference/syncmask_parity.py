#!/usr/bin/env python3
"""SyncMask parity / benchmark CLI around the reference port (syncmask_port.py). Needs python3 + torch only.

  syncmask_parity.py make --out DIR --config JSON --batch B --seed K [--vocab V] [--alpha A] [--itc MODE]
      JSON: inline ('{"image_encoder": "vit", ...}'), a file, or a preset name (syncmask-demo, syncmask-base, or
      Sources/FashionModels/Configs/<name>.json). --vocab overrides vocab_size (at least 110: ids 101-103 are
      [CLS]/[SEP]/[MASK]).
      DIR/weights.safetensors: the full state dict (§2 names; both tied keys; momentum copies; queue buffers),
          metadata "config" (the config JSON) and "format" = "syncmask". Not the plain init: every student tensor
          of rank <= 1 (LayerNorm / GroupNorm affine, biases, cls.predictions.bias) gets N(0, 0.05) offsets and temp
          a x exp(0.1 N(0,1)) factor, so that a swapped tensor changes the losses; every momentum tensor = its
          student tensor + N(0, 0.01), so that the momentum update is visible; queues = normalised randn, a few
          idx_queue / hash_queue slots hold the batch's pids / hashes (multi-positive targets), a few are -100
          (empty), queue_ptr != 0.
      DIR/batch.safetensors: image f32 (B,3,S,S) in [0,1]; input_ids i64 (B,L) = 101 w.. 102 then 0, variable
          lengths; attention_mask i64; pids i64 (B) (samples 0 and 1 share a pid); hashes i64 (B) (samples B-2 and
          B-1 share a hash and their text, with different pids); mlm_ids / mlm_labels i64 (mlm_probability per
          content token, at least one per sample, 80 % [MASK] / 10 % random / 10 % kept; -100 = ignore);
          patch_mask i64 (B,N) (round(mim_ratio N), at least 1, per sample; 1 = masked); alpha f32 (); neg_image /
          neg_text i64 (B): the negatives of the port's semihard_top1 rule for these weights (on the similarities of
          --itc MODE, default momentum; in-batch: the student's) (random fallbacks
          drawn from torch.Generator().manual_seed(seed + 5)); neg_fallback i64 (2,B) (row 0 images, row 1 texts;
          0 = rule, 1 = S empty -> sampled from C, 2 = C empty -> uniform). Metadata: format "syncmask-batch",
          neg_rule, neg_seed.

  syncmask_parity.py losses --weights W --batch BATCH [--terms itc,itm,mlm,mim] [--threads T]
      float32, §4 steps 1-8 with the batch's negatives, total.backward(); prints ONE JSON line:
      itc, itm, mlm, mim (null when off), total, grad_norms {name: L2 norm} for every student parameter with a
      gradient (the tied word/decoder matrix under both names), grad_norm_total (distinct parameters, the tied
      matrix once), neg_image, neg_text, neg_fallback (recomputed by semihard_top1 with the batch's neg_seed),
      sync_attention_sum, sync_attention (head mean, (B, L, 1+N)), momentum_checksum (float64 sum of the distinct
      momentum parameters after the update), queue_ptr, image_queue_checksum, text_queue_checksum (after enqueue),
      terms, config.

  syncmask_parity.py bench --config JSON --batch B --threads T --steps N [--warmup W]
      Times full training steps (all four losses, backward, AdamW lr 1e-4 wd 0.02, no decay for biases / tensors
      of rank < 2, momentum copies excluded) on a synthetic batch (mlm_probability tokens / mim_ratio patches,
      15 % / 25 % by default). Prints one JSON line with median_ms and steps_ms.

  syncmask_parity.py worker --out DIR --config JSON --batch B --threads T [--seed K] [--rule-negatives]
      The PyTorch side of `fashionvl bench syncmask`: writes DIR/weights.safetensors and DIR/batch.safetensors as
      `make` does (its JSON line is not printed), loads them back, then answers each stdin line "N" with the wall
      times (ms) of N training steps as one JSON list ("0" -> [] once the files are written). A step is `bench`'s
      (all four losses, backward, AdamW lr 1e-4 wd 0.02) on the file's batch, masks and negatives; the rule's own
      choice, which the port computes and discards when negatives are given, is skipped, as in Swift. With
      --rule-negatives the semihard_top1 rule chooses the negatives every step instead. With --selected-mlm-logits
      both MLM heads (student and momentum) run on the labelled positions only, as the Swift model does (the port
      as written computes B x L x V logits and selects afterwards; the loss is the same).
"""
import argparse
import copy
import json
import math
import os
import statistics
import sys
import time

try:
    import torch
except ImportError:  # pragma: no cover - e.g. a pyenv python3 first on PATH: retry with the system one
    if os.path.exists("/usr/bin/python3") and os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3") \
            and not os.environ.get("SYNCMASK_NO_REEXEC"):
        os.environ["SYNCMASK_NO_REEXEC"] = "1"
        os.execv("/usr/bin/python3", ["/usr/bin/python3", os.path.abspath(__file__)] + sys.argv[1:])
    raise

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import safetensors_io as st  # noqa: E402
import effnet_lite_port as effnet  # noqa: E402
import syncmask_port as M  # noqa: E402

CLS_ID, SEP_ID, MASK_ID, PAD_ID = 101, 102, 103, 0
CONFIG_DIR = os.path.join(HERE, os.pardir, os.pardir, "Sources", "FashionModels", "Configs")
WORD_KEY = "text_encoder.bert.embeddings.word_embeddings.weight"
DECODER_KEY = "text_encoder.cls.predictions.decoder.weight"


def load_config(spec, vocab=None):
    """Inline JSON, a JSON file, or a preset / Configs name -> SyncMaskConfig."""
    s = spec.strip()
    if s.startswith("{"):
        d = json.loads(s)
    elif os.path.isfile(spec):
        with open(spec) as f:
            d = json.load(f)
    elif os.path.isfile(os.path.join(CONFIG_DIR, spec + ".json")):
        with open(os.path.join(CONFIG_DIR, spec + ".json")) as f:
            d = json.load(f)
    elif spec in M.PRESETS:
        d = dict(M.PRESETS[spec])
    else:
        raise SystemExit(f"syncmask_parity.py: --config {spec!r} is neither JSON, a file nor a known config name")
    if vocab is not None:
        d["vocab_size"] = vocab
    return M.SyncMaskConfig.from_dict(d)


# ---------------------------------------------------------------------------------------------------------------------
# Synthetic batch
# ---------------------------------------------------------------------------------------------------------------------
def mlm_corrupt(ids, attn, vocab, prob, g):
    """Per content token (not [CLS]/[SEP]/[PAD]) Bernoulli(prob), at least one per sample; 80/10/10."""
    lo = min(104, vocab - 1)
    mlm_ids = ids.clone()
    labels = torch.full_like(ids, M.IGNORE_INDEX)
    for b in range(ids.shape[0]):
        n = int(attn[b].sum()) - 2
        pick = torch.rand(n, generator=g) < prob
        if not bool(pick.any()):
            pick[int(torch.randint(0, n, (1,), generator=g))] = True
        words = ids[b, 1:n + 1]
        u = torch.rand(n, generator=g)
        rnd = torch.randint(lo, vocab, (n,), generator=g)
        corrupted = torch.where(u < 0.8, torch.full_like(words, MASK_ID), torch.where(u < 0.9, rnd, words))
        mlm_ids[b, 1:n + 1] = torch.where(pick, corrupted, words)
        labels[b, 1:n + 1] = torch.where(pick, words, torch.full_like(words, M.IGNORE_INDEX))
    return mlm_ids, labels


def random_patch_mask(B, N, ratio, g):
    k = max(1, int(round(ratio * N)))
    mask = torch.zeros(B, N, dtype=torch.int64)
    for b in range(B):
        mask[b, torch.randperm(N, generator=g)[:k]] = 1
    return mask


def make_batch(cfg, B, seed, alpha):
    if B < 3:
        raise SystemExit("syncmask_parity.py: --batch must be at least 3 (a shared pid and a shared hash)")
    if cfg.vocab_size < 110:
        raise SystemExit("syncmask_parity.py: vocab_size must be at least 110 (ids 101-103 are special)")
    g = torch.Generator().manual_seed(seed + 1)
    S, L, V = cfg.image_size, cfg.text_length, cfg.vocab_size
    if L < 3:
        raise SystemExit("syncmask_parity.py: text_length must be at least 3")
    image = torch.rand((B, 3, S, S), generator=g)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, S), torch.linspace(0, 1, S), indexing="ij")
    phase = torch.rand((B, 3, 1, 1), generator=g) * 6.28
    image = (0.5 * image + 0.25 * (1 + torch.sin(6 * xx + 4 * yy + phase))).clamp(0, 1).float()
    lo = min(104, V - 1)
    ids = torch.full((B, L), PAD_ID, dtype=torch.int64)
    attn = torch.zeros((B, L), dtype=torch.int64)
    for b in range(B):
        n = int(torch.randint(max(1, (L - 2) // 3), L - 1, (1,), generator=g))   # 1 <= n <= L-2
        ids[b, 0], ids[b, n + 1] = CLS_ID, SEP_ID
        ids[b, 1:n + 1] = torch.randint(lo, V, (n,), generator=g)
        attn[b, :n + 2] = 1
    ids[B - 1], attn[B - 1] = ids[B - 2], attn[B - 2]           # same description ...
    pids = 1000 + torch.randperm(10 ** 6 - 1000, generator=g)[:B]
    pids[1] = pids[0]                                          # ... two images of one product
    hashes = torch.randint(0, 2 ** 62, (B,), generator=g, dtype=torch.int64)
    hashes[B - 1] = hashes[B - 2]                              # ... of different products (pids B-2 != B-1)
    mlm_ids, mlm_labels = mlm_corrupt(ids, attn, V, cfg.mlm_probability, g)
    patch_mask = random_patch_mask(B, cfg.num_patches, cfg.mim_ratio, g)
    return {"image": image, "input_ids": ids, "attention_mask": attn, "pids": pids.long(), "hashes": hashes,
            "mlm_ids": mlm_ids, "mlm_labels": mlm_labels, "patch_mask": patch_mask,
            "alpha": torch.tensor(float(alpha), dtype=torch.float32)}


# ---------------------------------------------------------------------------------------------------------------------
# Weights
# ---------------------------------------------------------------------------------------------------------------------
@torch.no_grad()
def perturb(model, batch, g):
    """See `make` in the module doc."""
    cfg = model.config
    for name, p in model.student_named_parameters():
        if name == "temp":
            p.mul_(math.exp(0.1 * float(torch.randn((), generator=g))))
        elif p.dim() <= 1:
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    for student, mom in model.momentum_pairs():
        for p, pm in zip(student.parameters(), mom.parameters()):
            pm.copy_(p + 0.01 * torch.randn(p.shape, generator=g))
    backbone = getattr(model.visual_encoder, "backbone", None)
    if backbone is not None:
        # Running statistics = the batch's own (one training-mode pass with BN momentum 1), then scaled by
        # exp(0.1 N(0,1)) factors: random weights with the 0 / 1 defaults saturate ReLU6 and give every image
        # nearly the same tokens. The momentum copy gets the same buffers (as when ImageNet weights are loaded).
        bns = [m for m in backbone.modules() if isinstance(m, torch.nn.BatchNorm2d)]
        backbone.train()
        for m in bns:
            m.momentum = 1.0
        x = effnet.EfficientNetLite0.normalize(batch["image"] * 255)
        backbone.extract_features(x)
        for m in bns:
            m.momentum = effnet.BN_MOMENTUM
            m.running_var.mul_(torch.exp(0.1 * torch.randn(m.running_var.shape, generator=g)))
            m.num_batches_tracked.zero_()
        backbone.eval()
        for b, bm in zip(backbone.buffers(), model.visual_encoder_m.backbone.buffers()):
            bm.copy_(b)
    E, K = model.image_queue.shape
    model.image_queue.copy_(torch.nn.functional.normalize(torch.randn(E, K, generator=g), dim=0))
    model.text_queue.copy_(torch.nn.functional.normalize(torch.randn(E, K, generator=g), dim=0))
    model.idx_queue.copy_(1000 + torch.randint(0, 10 ** 6, (1, K), generator=g))
    model.hash_queue.copy_(torch.randint(0, 2 ** 62, (1, K), generator=g, dtype=torch.int64))
    slots = torch.randperm(K, generator=g)
    n = max(1, K // 8)
    B = batch["pids"].shape[0]
    pick = lambda: int(torch.randint(0, B, (1,), generator=g))  # noqa: E731
    for s in slots[:n]:
        model.idx_queue[0, s] = batch["pids"][pick()]
    for s in slots[n:2 * n]:
        model.hash_queue[0, s] = batch["hashes"][pick()]
    for s in slots[2 * n:3 * n]:
        model.idx_queue[0, s] = M.EMPTY_SLOT
        model.hash_queue[0, s] = M.EMPTY_SLOT
    model.queue_ptr[0] = 1 + int(torch.randint(0, K - 1, (1,), generator=g)) if K > 1 else 0
    assert cfg.temp > 0


def state_dict_for_file(model):
    return {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}


def load_model(path):
    sd, meta = st.load_with_metadata(path)
    if not meta or meta.get("format") != "syncmask" or "config" not in meta:
        raise SystemExit(f"{path}: not a SyncMask weights file (metadata format 'syncmask' and 'config' needed)")
    model = M.SyncMask(M.SyncMaskConfig.from_json(meta["config"]))
    for prefix in ("text_encoder.", "text_encoder_m."):
        wk, dk = prefix + WORD_KEY.split(".", 1)[1], prefix + DECODER_KEY.split(".", 1)[1]
        if wk in sd and dk in sd and not torch.equal(sd[wk], sd[dk]):
            raise SystemExit(f"{path}: {dk} differs from {wk}; the matrices are tied")
        if wk in sd:
            sd.setdefault(dk, sd[wk])
    model.load_state_dict(sd, strict=True)
    return model


def rule_negatives(model, batch, seed, itc="momentum"):
    """The semihard_top1 choice for this state and batch (on a copy: the step mutates momentum and queues)."""
    m = copy.deepcopy(model)
    with torch.no_grad():
        out = M.step_losses(m, batch, float(batch["alpha"]), terms=(),
                            generator=torch.Generator().manual_seed(seed), itc=itc)
    return out["rule_neg_image"], out["rule_neg_text"], out["neg_fallback"]


def cmd_make(a):
    cfg = load_config(a.config, a.vocab)
    torch.manual_seed(a.seed)
    model = M.SyncMask(cfg)
    alpha = cfg.alpha if a.alpha is None else a.alpha
    batch = make_batch(cfg, a.batch, a.seed, alpha)
    perturb(model, batch, torch.Generator().manual_seed(a.seed + 3))
    neg_seed = a.seed + 5
    batch["neg_image"], batch["neg_text"], batch["neg_fallback"] = rule_negatives(model, batch, neg_seed, getattr(a, "itc", "momentum"))
    os.makedirs(a.out, exist_ok=True)
    sd = state_dict_for_file(model)
    st.save(sd, os.path.join(a.out, "weights.safetensors"), metadata={"format": "syncmask", "config": cfg.to_json()})
    st.save(batch, os.path.join(a.out, "batch.safetensors"),
            metadata={"format": "syncmask-batch", "neg_rule": "semihard_top1", "neg_seed": str(neg_seed)})
    print(json.dumps({"out": a.out, "batch": a.batch, "tensors": len(sd), "parameters": M.count_parameters(model),
                      "queue_ptr": int(model.queue_ptr[0]), "neg_image": batch["neg_image"].tolist(),
                      "neg_text": batch["neg_text"].tolist(), "neg_fallback": batch["neg_fallback"].tolist(),
                      "config": cfg.to_dict()}))


def cmd_losses(a):
    if a.threads:
        torch.set_num_threads(a.threads)
    terms = tuple(t for t in a.terms.split(",") if t)
    model = load_model(a.weights).float().train()
    batch, bmeta = st.load_with_metadata(a.batch)
    neg_seed = int((bmeta or {}).get("neg_seed", 0))
    negatives = (batch["neg_image"], batch["neg_text"]) if "neg_image" in batch else None
    res = M.step_losses(model, batch, float(batch["alpha"]), terms=terms, negatives=negatives,
                        generator=torch.Generator().manual_seed(neg_seed), itc=a.itc)
    model.zero_grad(set_to_none=True)
    if res["total"].requires_grad:
        res["total"].backward()
    grad_norms, sq = {}, 0.0
    for name, p in model.student_named_parameters():          # distinct parameters: the tied matrix once
        if p.grad is None:
            continue
        gn = float(p.grad.detach().double().norm())
        grad_norms[name] = gn
        sq += gn * gn
    if WORD_KEY in grad_norms:
        grad_norms[DECODER_KEY] = grad_norms[WORD_KEY]
    att = res["sync_attention"].mean(1)
    out = {k: (None if res[k] is None else float(res[k])) for k in M.TERMS}
    out.update(
        total=float(res["total"]), grad_norms=grad_norms, grad_norm_total=math.sqrt(sq),
        neg_image=res["rule_neg_image"].tolist(), neg_text=res["rule_neg_text"].tolist(),
        neg_fallback=res["neg_fallback"].tolist(),
        sync_attention_sum=float(res["sync_attention"].double().sum()), sync_attention=att.tolist(),
        momentum_checksum=float(sum(p.detach().double().sum() for _, p in model.momentum_named_parameters())),
        queue_ptr=int(model.queue_ptr[0]), image_queue_checksum=float(model.image_queue.double().sum()),
        text_queue_checksum=float(model.text_queue.double().sum()), terms=list(terms),
        config=model.config.to_dict())
    print(json.dumps(out))


def cmd_bench(a):
    torch.set_num_threads(a.threads)
    cfg = load_config(a.config)
    torch.manual_seed(a.seed)
    model = M.SyncMask(cfg).train()
    opt = torch.optim.AdamW(M.weight_decay_groups(model, 0.02), lr=1e-4)
    batch = make_batch(cfg, a.batch, a.seed, cfg.alpha)
    g = torch.Generator().manual_seed(a.seed)
    times = []
    for step in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        res = M.step_losses(model, batch, cfg.alpha, generator=g)
        res["total"].backward()
        opt.step()
        dt = (time.perf_counter() - t0) * 1000.0
        if step >= a.warmup:
            times.append(dt)
    print(json.dumps({"median_ms": statistics.median(times), "steps_ms": times, "batch": a.batch,
                      "threads": torch.get_num_threads(), "parameters": M.count_parameters(model),
                      "torch": torch.__version__, "last_total": float(res["total"]), "config": cfg.to_dict()}))


def cmd_worker(a):
    import contextlib
    import io
    torch.set_num_threads(a.threads)
    with contextlib.redirect_stdout(io.StringIO()):
        cmd_make(argparse.Namespace(out=a.out, config=a.config, batch=a.batch, seed=a.seed, vocab=None, alpha=None))
    model = load_model(os.path.join(a.out, "weights.safetensors")).float().train()
    batch, bmeta = st.load_with_metadata(os.path.join(a.out, "batch.safetensors"))
    opt = torch.optim.AdamW(M.weight_decay_groups(model, 0.02), lr=1e-4)
    alpha = float(batch["alpha"])
    g = torch.Generator().manual_seed(int((bmeta or {}).get("neg_seed", 0)))
    negatives = None
    if not a.rule_negatives:
        negatives = (batch["neg_image"], batch["neg_text"])
        B = batch["pids"].shape[0]
        skipped = (torch.zeros(B, dtype=torch.int64), torch.zeros(B, dtype=torch.int64))
        M.semihard_negatives = lambda *args, **kw: skipped    # the port's discarded rule choice (see the doc)
    if a.selected_mlm_logits:
        F = torch.nn.functional
        sel = batch["mlm_labels"] != M.IGNORE_INDEX

        def selected_logits(self, h):
            return self.cls.predictions(h[sel])

        def selected_loss(logits, logits_m, labels, alpha):            # M.mlm_loss on the selected rows
            if logits.shape[0] == 0:
                return logits.sum() * 0.0
            logp = F.log_softmax(logits, dim=-1)
            ce = -logp.gather(1, labels[sel].reshape(-1, 1)).squeeze(1)
            soft = -(F.softmax(logits_m, dim=-1) * logp).sum(-1)
            return (1 - alpha) * ce.mean() + alpha * soft.mean()
        M.BertForMaskedLM.mlm_logits = selected_logits
        M.mlm_loss = selected_loss
    for line in sys.stdin:
        times = []
        for _ in range(int(line)):
            t0 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            res = M.step_losses(model, batch, alpha, negatives=negatives, generator=g)
            res["total"].backward()
            opt.step()
            times.append((time.perf_counter() - t0) * 1000.0)
        print(json.dumps(times), flush=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make", help="write weights.safetensors and batch.safetensors")
    m.add_argument("--out", required=True)
    m.add_argument("--config", required=True, help="inline JSON, a JSON file or a config name")
    m.add_argument("--batch", type=int, default=4)
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--vocab", type=int)
    m.add_argument("--alpha", type=float, help="α stored in the batch (default: the config's)")
    m.add_argument("--itc", default="momentum", choices=("momentum", "in-batch"),
                   help="ITC mode whose similarities the stored rule negatives are chosen from (in-batch: the student's)")
    l_ = sub.add_parser("losses", help="losses, gradient norms and step effects as one JSON line")
    l_.add_argument("--weights", required=True)
    l_.add_argument("--batch", required=True)
    l_.add_argument("--terms", default=",".join(M.TERMS))
    l_.add_argument("--threads", type=int, default=0)
    l_.add_argument("--itc", default="momentum", choices=("momentum", "in-batch"))
    b = sub.add_parser("bench", help="median training-step time of the port")
    b.add_argument("--config", required=True)
    b.add_argument("--batch", type=int, default=8)
    b.add_argument("--threads", type=int, default=2)
    b.add_argument("--steps", type=int, default=5)
    b.add_argument("--warmup", type=int, default=1)
    b.add_argument("--seed", type=int, default=0)
    w = sub.add_parser("worker", help="persistent timing worker for fashionvl bench syncmask")
    w.add_argument("--out", required=True)
    w.add_argument("--config", required=True)
    w.add_argument("--batch", type=int, default=8)
    w.add_argument("--threads", type=int, default=1)
    w.add_argument("--seed", type=int, default=0)
    w.add_argument("--rule-negatives", action="store_true")
    w.add_argument("--selected-mlm-logits", action="store_true")
    a = p.parse_args(argv)
    {"make": cmd_make, "losses": cmd_losses, "bench": cmd_bench, "worker": cmd_worker}[a.cmd](a)


if __name__ == "__main__":
    main()
