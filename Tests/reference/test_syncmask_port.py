"""Tests of the SyncMask reference port (docs/SYNCMASK.md; shared/spec/syncmask.md §8 items 12-15) and its CLI.

Run:  /usr/bin/python3 -m unittest Tests/reference/test_syncmask_port.py      (from the repository root)
Needs python3 + torch only; about 15 s on 2 CPU cores. Expected values are computed here with plain tensor / float
math (per sample, python loops), not with the port's loss functions.
"""
import copy
import json
import math
import os
import subprocess
import sys
import tempfile
import unittest

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, os.pardir, os.pardir))
sys.path.insert(0, HERE)

import safetensors_io as st  # noqa: E402
import syncmask_parity as P  # noqa: E402
import syncmask_port as M  # noqa: E402

PARITY = os.path.join(HERE, "syncmask_parity.py")
TINY = dict(image_encoder="vit", image_size=32, patch_size=16, vision_width=32, vision_depth=1, vision_heads=2,
            text_width=32, text_heads=2, text_layers=1, fusion_layers=2, intermediate_size=64, vocab_size=200,
            max_positions=32, text_length=12, embed_dim=16, queue_size=16, mim_decoder_layers=1)
TINY_CNN = dict(TINY, image_encoder="cnn", cnn_channels=[8, 8, 8, 8])        # 2^4 = 16 = patch_size; N = 4
MOMENTUM_MODULES = ("visual_encoder_m", "text_encoder_m", "vision_proj_m", "text_proj_m")


def tiny(**over):
    return M.SyncMaskConfig.from_dict(dict(TINY, **over))


def tiny_model(cfg, seed=0):
    torch.manual_seed(seed)
    model = M.SyncMask(cfg)
    batch = P.make_batch(cfg, 4, seed, cfg.alpha)
    P.perturb(model, batch, torch.Generator().manual_seed(seed + 3))
    return model, batch


# ---------------------------------------------------------------------------------------------------------------------
# docs/SYNCMASK.md §2, written out independently of the module classes
# ---------------------------------------------------------------------------------------------------------------------
def spec_table(c):
    Wv, Wt, E, V, K = c.vision_width, c.text_width, c.embed_dim, c.vocab_size, c.queue_size
    N, p, I = (c.image_size // c.patch_size) ** 2, c.patch_size, c.intermediate_size
    t = {}

    def lin(n, i, o):
        t[n + ".weight"], t[n + ".bias"] = (o, i), (o,)

    def norm(n, d):
        t[n + ".weight"], t[n + ".bias"] = (d,), (d,)

    def vit_blocks(pre, n):
        for j in range(n):
            b = f"{pre}blocks.{j}."
            norm(b + "norm1", Wv)
            lin(b + "attn.qkv", Wv, 3 * Wv)
            lin(b + "attn.proj", Wv, Wv)
            norm(b + "norm2", Wv)
            lin(b + "mlp.fc1", Wv, 4 * Wv)
            lin(b + "mlp.fc2", 4 * Wv, Wv)

    def visual(pre):
        t[pre + "cls_token"], t[pre + "pos_embed"] = (1, 1, Wv), (1, 1 + N, Wv)
        if c.image_encoder == "vit":
            t[pre + "mask_token"] = (1, 1, Wv)
            t[pre + "patch_embed.proj.weight"], t[pre + "patch_embed.proj.bias"] = (Wv, 3, p, p), (Wv,)
        else:
            t[pre + "mask_token"] = (1, 3, 1, 1)
            ch = [3] + c.cnn_channels
            for i in range(len(c.cnn_channels)):
                t[f"{pre}stages.{i}.conv.weight"], t[f"{pre}stages.{i}.conv.bias"] = (ch[i + 1], ch[i], 3, 3), (ch[i + 1],)
                norm(f"{pre}stages.{i}.norm", ch[i + 1])
            lin(pre + "proj", ch[-1], Wv)
        vit_blocks(pre, c.vision_depth)
        norm(pre + "norm", Wv)

    def text(pre):
        b = pre + "bert."
        t[b + "embeddings.word_embeddings.weight"] = (V, Wt)
        t[b + "embeddings.position_embeddings.weight"] = (c.max_positions, Wt)
        t[b + "embeddings.token_type_embeddings.weight"] = (2, Wt)
        norm(b + "embeddings.LayerNorm", Wt)
        for k in range(c.text_layers + c.fusion_layers):
            lay = f"{b}encoder.layer.{k}."
            for q in ("query", "key", "value"):
                lin(lay + "attention.self." + q, Wt, Wt)
            lin(lay + "attention.output.dense", Wt, Wt)
            norm(lay + "attention.output.LayerNorm", Wt)
            if k >= c.text_layers:
                lin(lay + "crossattention.self.query", Wt, Wt)
                lin(lay + "crossattention.self.key", Wv, Wt)
                lin(lay + "crossattention.self.value", Wv, Wt)
                lin(lay + "crossattention.output.dense", Wt, Wt)
                norm(lay + "crossattention.output.LayerNorm", Wt)
            lin(lay + "intermediate.dense", Wt, I)
            lin(lay + "output.dense", I, Wt)
            norm(lay + "output.LayerNorm", Wt)
        lin(pre + "cls.predictions.transform.dense", Wt, Wt)
        norm(pre + "cls.predictions.transform.LayerNorm", Wt)
        t[pre + "cls.predictions.bias"] = (V,)
        t[pre + "cls.predictions.decoder.weight"] = (V, Wt)

    visual("visual_encoder.")
    text("text_encoder.")
    lin("vision_proj", Wv, E)
    lin("text_proj", Wt, E)
    t["temp"] = ()
    lin("itm_head", Wt, 2)
    for j in range(c.mim_decoder_layers):
        b = f"mim_decoder.blocks.{j}."
        norm(b + "norm1", Wv)
        lin(b + "attn.qkv", Wv, 3 * Wv)
        lin(b + "attn.proj", Wv, Wv)
        norm(b + "norm_cross", Wv)
        lin(b + "cross_attn.query", Wv, Wv)
        lin(b + "cross_attn.key", Wt, Wv)
        lin(b + "cross_attn.value", Wt, Wv)
        lin(b + "cross_attn.proj", Wv, Wv)
        norm(b + "norm2", Wv)
        lin(b + "mlp.fc1", Wv, 4 * Wv)
        lin(b + "mlp.fc2", 4 * Wv, Wv)
    norm("mim_decoder.norm", Wv)
    lin("mim_decoder.head", Wv, 3 * p * p)
    visual("visual_encoder_m.")
    text("text_encoder_m.")
    lin("vision_proj_m", Wv, E)
    lin("text_proj_m", Wt, E)
    buffers = {"image_queue": ((E, K), torch.float32), "text_queue": ((E, K), torch.float32),
               "idx_queue": ((1, K), torch.int64), "hash_queue": ((1, K), torch.int64),
               "queue_ptr": ((1,), torch.int64)}
    return t, buffers


class Structure(unittest.TestCase):
    def test_state_dict_matches_spec_names(self):
        for cfg in (tiny(), M.SyncMaskConfig.from_dict(TINY_CNN), tiny(text_layers=2, fusion_layers=1, sync_layer=0)):
            with self.subTest(encoder=cfg.image_encoder, text_layers=cfg.text_layers):
                sd = M.SyncMask(cfg).state_dict()
                params, buffers = spec_table(cfg)
                want = {k: v for k, v in params.items()}
                want.update({k: s for k, (s, _) in buffers.items()})
                self.assertEqual(sorted(set(sd) - set(want)), [], "unexpected keys")
                self.assertEqual(sorted(set(want) - set(sd)), [], "missing keys")
                for k, shape in want.items():
                    self.assertEqual(tuple(sd[k].shape), shape, k)
                    dtype = buffers[k][1] if k in buffers else torch.float32
                    self.assertEqual(sd[k].dtype, dtype, k)

    def test_tie_momentum_and_buffers(self):
        model = M.SyncMask(tiny())
        for pre in ("text_encoder", "text_encoder_m"):
            te = getattr(model, pre)
            self.assertIs(te.cls.predictions.decoder.weight, te.bert.embeddings.word_embeddings.weight)
        self.assertIsNot(model.text_encoder.bert.embeddings.word_embeddings.weight,
                         model.text_encoder_m.bert.embeddings.word_embeddings.weight)
        for name, p in model.named_parameters():
            self.assertEqual(p.requires_grad, name.split(".")[0] not in MOMENTUM_MODULES, name)
        self.assertEqual(model.temp.shape, ())
        self.assertAlmostEqual(float(model.temp), 0.07, places=7)
        self.assertTrue(torch.all(model.idx_queue == -100) and torch.all(model.hash_queue == -100))
        self.assertTrue(torch.allclose(model.image_queue.norm(dim=0), torch.ones(16), atol=1e-6))
        self.assertEqual(int(model.queue_ptr[0]), 0)

    def test_config_keys_and_validation(self):
        demo = {"family": "syncmask", "image_encoder": "cnn", "image_size": 64, "patch_size": 16,
                "cnn_channels": [16, 32, 64, 128], "vision_width": 128, "vision_depth": 1, "vision_heads": 4,
                "text_width": 128, "text_heads": 4, "text_layers": 1, "fusion_layers": 2, "intermediate_size": 512,
                "vocab_size": 30522, "max_positions": 512, "text_length": 32, "embed_dim": 128, "temp": 0.07,
                "queue_size": 4096, "momentum": 0.995, "alpha": 0.4, "mim_decoder_layers": 1, "sync_layer": -1,
                "mlm_probability": 0.15, "mim_ratio": 0.25, "pool_factor": 2, "text_pool": "cls"}
        cfg = M.SyncMaskConfig.from_json(json.dumps(demo))
        self.assertEqual(cfg.to_dict(), demo)
        self.assertEqual(M.SyncMaskConfig(), cfg)
        self.assertEqual((cfg.num_patches, cfg.sync_layer_index), (16, 1))
        base = M.SyncMaskConfig.from_dict(M.PRESETS["syncmask-base"])
        self.assertEqual((base.num_patches, base.sync_layer_index, base.queue_size), (256, 2, 65536))
        for bad in (dict(family="mvlt"), dict(patch_size=8), dict(cnn_channels=[6, 8, 8, 8]), dict(sync_layer=2),
                    dict(sync_layer=-2), dict(image_encoder="resnet"), dict(text_length=600), dict(vision_heads=3)):
            with self.subTest(bad=bad), self.assertRaises(ValueError):
                M.SyncMaskConfig.from_dict(dict(demo, **bad))


    def test_efficientnet_stem(self):
        """image_encoder efficientnet_lite0: the backbone's lukemelas names under visual_encoder.backbone, its own
        normalisation, BatchNorm on the running statistics in training mode, masked 32-px patches before the
        backbone; patch_size must be 32."""
        import effnet_lite_port as E
        cfg = tiny(image_encoder="efficientnet_lite0", image_size=64, patch_size=32)
        model, batch = tiny_model(cfg)
        ve = model.visual_encoder
        names = {k[len("visual_encoder.backbone."):] for k in model.state_dict() if k.startswith("visual_encoder.backbone.")}
        self.assertEqual(names, set(E.EfficientNetLite0().state_dict()))
        self.assertEqual(tuple(ve.proj.weight.shape), (cfg.vision_width, 1280))
        model.train()
        img = batch["image"]
        with torch.no_grad():
            var = ve.backbone._bn1.running_var.clone()
            out = ve(img)
            self.assertTrue(torch.equal(var, ve.backbone._bn1.running_var))
            self.assertFalse(ve.backbone.training)
            alone = ve(img[:1])
            self.assertLess(float((out[:1] - alone).abs().max()), 1e-3)   # batch statistics would move it by ~1
            grid = ve.backbone.extract_features((img * 255 - 127) / 128)
            tokens = ve.proj(grid.flatten(2).transpose(1, 2))
            x = torch.cat((ve.cls_token + tokens.mean(1, keepdim=True), tokens), 1) + ve.pos_embed
            for blk in ve.blocks:
                x = blk(x)
            self.assertLess(float((ve.norm(x) - out).abs().max()), 1e-5)
            # Masking patch 3 (bottom right) changes only what the backbone sees there.
            mask = torch.zeros(img.shape[0], 4, dtype=torch.bool)
            mask[:, 3] = True
            masked = (img * 255 - 127) / 128
            masked[:, :, 32:, 32:] = ve.mask_token.reshape(1, 3, 1, 1)
            ref = ve.proj(ve.backbone.extract_features(masked).flatten(2).transpose(1, 2))
            x = torch.cat((ve.cls_token + ref.mean(1, keepdim=True), ref), 1) + ve.pos_embed
            for blk in ve.blocks:
                x = blk(x)
            self.assertLess(float((ve.norm(x) - ve(img, mask)).abs().max()), 1e-5)
        for bad in (dict(patch_size=16), dict(image_size=48)):
            with self.subTest(bad=bad), self.assertRaises(ValueError):
                tiny(image_encoder="efficientnet_lite0", **dict(dict(image_size=64, patch_size=32), **bad))


# ---------------------------------------------------------------------------------------------------------------------
# Item 12: ITC targets
# ---------------------------------------------------------------------------------------------------------------------
class ITCTargets(unittest.TestCase):
    def test_multi_positive_targets(self):
        model, batch = tiny_model(tiny())
        pids, hashes = batch["pids"], batch["hashes"]
        with torch.no_grad():
            model.idx_queue.copy_(torch.arange(16).reshape(1, 16) + 5)       # no match with the batch ...
            model.hash_queue.copy_(torch.arange(16).reshape(1, 16) + 5)
            model.idx_queue[0, 3] = pids[0]                                    # ... except these slots
            model.hash_queue[0, 5] = hashes[2]
            model.idx_queue[0, 7], model.hash_queue[0, 7] = pids[2], hashes[2]   # both match: one positive
        P_bank = pids.tolist() + model.idx_queue[0].tolist()
        H_bank = hashes.tolist() + model.hash_queue[0].tolist()
        queue = model.text_queue.clone()
        for alpha in (0.0, 0.4):
            m = copy.deepcopy(model)
            out = M.step_losses(m, batch, alpha, terms=())
            tau = float(m.temp)
            T_bank = torch.cat((out["text_feat_m"].T, queue), 1).double()
            ks = []
            for i in range(4):
                pos = [j for j in range(20) if P_bank[j] == int(pids[i]) or H_bank[j] == int(hashes[i])]
                ks.append(len(pos))
                logits = [float(out["image_feat_m"][i].double() @ T_bank[:, j]) / tau for j in range(20)]
                mx = max(logits)
                z = sum(math.exp(x - mx) for x in logits)
                q = out["q_i2t"][i]
                self.assertAlmostEqual(float(q.sum()), 1.0, places=5)
                self.assertAlmostEqual(float(out["q_t2i"][i].sum()), 1.0, places=5)
                for j in range(20):
                    want = alpha * math.exp(logits[j] - mx) / z + ((1 - alpha) / len(pos) if j in pos else 0.0)
                    self.assertAlmostEqual(float(q[j]), want, delta=1e-5, msg=f"alpha {alpha} row {i} col {j}")
            self.assertEqual(ks, [3, 3, 4, 4])


# ---------------------------------------------------------------------------------------------------------------------
# Item 13: semi-hard ITM negatives
# ---------------------------------------------------------------------------------------------------------------------
def brute_force(row, i, pids, hashes):
    C = [j for j in range(len(row)) if j != i and pids[j] != pids[i] and hashes[j] != hashes[i]]
    S = [j for j in C if row[j] < row[i]]
    return C, S


class SemiHard(unittest.TestCase):
    pids = torch.tensor([0, 0, 1, 2, 3])
    hashes = torch.tensor([10, 11, 12, 11, 14])

    def pick(self, row, i, rule="semihard_top1", seed=0, pids=None, hashes=None):
        return M.choose_negative(torch.tensor(row, dtype=torch.float64), i,
                                 self.pids if pids is None else pids, self.hashes if hashes is None else hashes,
                                 rule, torch.Generator().manual_seed(seed))

    def test_top1_excludes_same_pid_and_hash(self):
        # anchor 1 (pid 0, hash 11): 0 shares the pid, 3 the hash; both are closer than any candidate
        self.assertEqual(self.pick([4.9, 5.0, 4.0, 4.95, 3.0], 1), (2, 0))
        # a candidate above the positive (2) is never the top-1; 4 is the best below it
        self.assertEqual(self.pick([9.0, 5.0, 7.0, 8.0, 3.0], 1), (4, 0))
        # ties: lowest index
        self.assertEqual(self.pick([1.0, 5.0, 2.0, 1.0, 2.0], 1), (2, 0))
        self.assertEqual(self.pick([1.0, 0.0, 0.5, 2.0, 1.0], 3), (0, 0))        # anchor 3: C = {0, 2, 4}

    def test_empty_S_samples_C_by_exp(self):
        row = [0.0, 1.0, 2.0, 0.0, 1.5]                     # anchor 1: C = {2, 4}, both above the positive
        counts = {2: 0, 4: 0}
        n = 3000
        for seed in range(n):
            j, flag = self.pick(row, 1, seed=seed)
            self.assertEqual(flag, M.FALLBACK_SAMPLE_C)
            counts[j] += 1
        p2 = math.exp(2.0) / (math.exp(2.0) + math.exp(1.5))
        self.assertAlmostEqual(counts[2] / n, p2, delta=0.03)
        self.assertEqual(self.pick(row, 1, seed=7), self.pick(row, 1, seed=7))

    def test_empty_C_is_uniform(self):
        same = torch.zeros(5, dtype=torch.int64)
        seen = set()
        for seed in range(200):
            j, flag = self.pick([1.0, 2.0, 3.0, 4.0, 5.0], 2, seed=seed, pids=same)
            self.assertEqual(flag, M.FALLBACK_UNIFORM)
            self.assertNotEqual(j, 2)
            seen.add(j)
        self.assertEqual(seen, {0, 1, 3, 4})

    def test_sample_and_albef_rules(self):
        row = [0.0, 5.0, 4.0, 0.0, 3.0, 6.0]
        pids, hashes = torch.tensor([0, 1, 2, 3, 4, 5]), torch.tensor([0, 1, 2, 1, 4, 5])
        for seed in range(100):
            j, flag = self.pick(row, 1, "semihard_sample", seed, pids, hashes)   # S = {0, 2, 4}
            self.assertIn(j, (0, 2, 4))
            self.assertEqual(flag, 0)
            j, flag = self.pick(row, 1, "albef", seed, pids, hashes)             # C = {0, 2, 4, 5}
            self.assertIn(j, (0, 2, 4, 5))
            self.assertEqual(flag, 0)

    def test_random_rows_against_brute_force(self):
        g = torch.Generator().manual_seed(3)
        for trial in range(300):
            B = 6
            sim = torch.randn(B, B, generator=g)
            pids = torch.randint(0, 4, (B,), generator=g)
            hashes = torch.randint(0, 4, (B,), generator=g)
            neg, flags = M.semihard_negatives(sim, pids, hashes, "semihard_top1", torch.Generator().manual_seed(trial))
            for i in range(B):
                row = sim[i].tolist()
                C, S = brute_force(row, i, pids.tolist(), hashes.tolist())
                j = int(neg[i])
                self.assertNotEqual(j, i)
                if not C:
                    self.assertEqual(int(flags[i]), 2)
                    continue
                self.assertNotEqual(int(pids[j]), int(pids[i]))
                self.assertNotEqual(int(hashes[j]), int(hashes[i]))
                if S:
                    self.assertEqual(int(flags[i]), 0)
                    self.assertEqual(j, max(S, key=lambda k: (row[k], -k)))
                else:
                    self.assertEqual(int(flags[i]), 1)
                    self.assertIn(j, C)

    def test_step_uses_in_batch_student_logits(self):
        model, batch = tiny_model(tiny())
        queue = model.image_queue.clone()
        out = M.step_losses(model, batch, 0.4, terms=("itm",), generator=torch.Generator().manual_seed(0))
        tau = float(model.temp)
        s_t2i = (out["text_feat"] @ out["image_feat_m"].T / tau).detach()
        s_i2t = (out["image_feat"] @ out["text_feat_m"].T / tau).detach()
        for sim, neg, fb in ((s_t2i, out["rule_neg_image"], out["neg_fallback"][0]),
                             (s_i2t, out["rule_neg_text"], out["neg_fallback"][1])):
            for i in range(4):
                C, S = brute_force(sim[i].tolist(), i, batch["pids"].tolist(), batch["hashes"].tolist())
                if S:
                    self.assertEqual(int(neg[i]), max(S, key=lambda k: (float(sim[i, k]), -k)))
                    self.assertEqual(int(fb[i]), 0)
                elif C:
                    self.assertIn(int(neg[i]), C)
                    self.assertEqual(int(fb[i]), 1)
        self.assertFalse(torch.equal(queue, model.image_queue))


# ---------------------------------------------------------------------------------------------------------------------
# Item 14: momentum update and queues
# ---------------------------------------------------------------------------------------------------------------------
def student_of(momentum_name):
    head, rest = momentum_name.split(".", 1)
    return head[:-2] + "." + rest


class MomentumAndQueues(unittest.TestCase):
    def test_momentum_update_over_two_steps(self):
        model, batch = tiny_model(M.SyncMaskConfig.from_dict(TINY_CNN))
        m = model.config.momentum
        opt = torch.optim.AdamW(M.weight_decay_groups(model), lr=1e-3)
        params = dict(model.named_parameters())
        for step in range(2):
            mom_old = {n: p.detach().clone() for n, p in model.momentum_named_parameters()}
            student = {n: p.detach().clone() for n, p in model.named_parameters()}
            out = M.step_losses(model, batch, 0.4)
            for n, old in mom_old.items():
                want = m * old + (1 - m) * student[student_of(n)]
                self.assertLess(float((params[n] - want).abs().max()), 1e-6, n)
                self.assertFalse(params[n].requires_grad)
            opt.zero_grad()
            out["total"].backward()
            self.assertTrue(all(params[n].grad is None for n in mom_old))
            opt.step()
        # the tied matrix is one parameter in both copies and moved once
        tm = model.text_encoder_m
        self.assertIs(tm.cls.predictions.decoder.weight, tm.bert.embeddings.word_embeddings.weight)

    def test_enqueue_wraps_when_K_is_not_a_multiple_of_B(self):
        model = M.SyncMask(tiny(queue_size=10))
        E = model.config.embed_dim
        with torch.no_grad():
            model.queue_ptr[0] = 8
        expected_ptr = [2, 6, 0, 4]
        for step in range(4):
            before = {k: getattr(model, k).clone() for k in ("image_queue", "text_queue", "idx_queue", "hash_queue")}
            ptr = int(model.queue_ptr[0])
            v, t = torch.randn(4, E), torch.randn(4, E)
            pids, hashes = torch.arange(4) + 10 * step, torch.arange(4) + 100 * step
            M.enqueue(model, v, t, pids, hashes)
            slots = [(ptr + b) % 10 for b in range(4)]
            self.assertEqual(int(model.queue_ptr[0]), expected_ptr[step])
            for b, s in enumerate(slots):
                self.assertTrue(torch.equal(model.image_queue[:, s], v[b]))
                self.assertTrue(torch.equal(model.text_queue[:, s], t[b]))
                self.assertEqual(int(model.idx_queue[0, s]), int(pids[b]))
                self.assertEqual(int(model.hash_queue[0, s]), int(hashes[b]))
            rest = [s for s in range(10) if s not in slots]
            for k, old in before.items():
                self.assertTrue(torch.equal(getattr(model, k)[:, rest], old[:, rest]), k)

    def test_step_enqueues_momentum_features(self):
        model, batch = tiny_model(tiny())
        with torch.no_grad():
            model.queue_ptr[0] = 14                                        # K = 16, B = 4: wraps to 2
        out = M.step_losses(model, batch, 0.4, terms=("itc",))
        self.assertEqual(int(model.queue_ptr[0]), 2)
        for b, s in enumerate((14, 15, 0, 1)):
            self.assertTrue(torch.equal(model.image_queue[:, s], out["image_feat_m"][b]))
            self.assertTrue(torch.equal(model.text_queue[:, s], out["text_feat_m"][b]))
            self.assertEqual(int(model.idx_queue[0, s]), int(batch["pids"][b]))
            self.assertEqual(int(model.hash_queue[0, s]), int(batch["hashes"][b]))


# ---------------------------------------------------------------------------------------------------------------------
# Item 15: 2-sample hand-computed losses
# ---------------------------------------------------------------------------------------------------------------------
def unit(x):
    return x / math.sqrt(sum(float(a) ** 2 for a in x))


def log_softmax_list(xs):
    mx = max(xs)
    lse = mx + math.log(sum(math.exp(x - mx) for x in xs))
    return [x - lse for x in xs]


class HandComputed(unittest.TestCase):
    def setUp(self):
        torch.manual_seed(11)
        cfg = tiny(queue_size=4)
        model = M.SyncMask(cfg)
        g = torch.Generator().manual_seed(12)
        L, V = cfg.text_length, cfg.vocab_size
        ids = torch.zeros(2, L, dtype=torch.int64)
        mask = torch.zeros(2, L, dtype=torch.int64)
        for b, n in enumerate((6, 9)):
            ids[b, 0], ids[b, n + 1] = 101, 102
            ids[b, 1:n + 1] = torch.randint(104, V, (n,), generator=g)
            mask[b, :n + 2] = 1
        mlm_ids, labels = ids.clone(), torch.full_like(ids, -100)
        for b, positions in enumerate(((2, 5), (1, 4, 8))):
            for k, pos in enumerate(positions):
                labels[b, pos] = ids[b, pos]
                mlm_ids[b, pos] = 103 if k == 0 else int(torch.randint(104, V, (1,), generator=g))
        self.batch = {"image": torch.rand(2, 3, 32, 32, generator=g).double(), "input_ids": ids,
                      "attention_mask": mask, "pids": torch.tensor([7, 8]), "hashes": torch.tensor([70, 80]),
                      "mlm_ids": mlm_ids, "mlm_labels": labels,
                      "patch_mask": torch.tensor([[1, 0, 0, 1], [0, 1, 0, 0]])}
        P.perturb(model, {"pids": self.batch["pids"], "hashes": self.batch["hashes"]}, g)
        with torch.no_grad():                                   # queue: pid 7 in slot 0, hash 80 in slot 2
            model.idx_queue.copy_(torch.tensor([[7, 1, 2, -100]]))
            model.hash_queue.copy_(torch.tensor([[11, 12, 80, -100]]))
            model.temp.fill_(0.6)                               # clamped to 0.5 by the step
        self.model = model.double()

    def expected(self, alpha):
        """Plain re-implementation of §4 steps 1-5 for B = 2, one sample at a time."""
        ref = copy.deepcopy(self.model)
        m = ref.config.momentum
        sd = ref.state_dict()
        with torch.no_grad():
            for n, p in ref.momentum_named_parameters():
                p.copy_(m * sd[n] + (1 - m) * sd[student_of(n)])
        tau = min(max(float(ref.temp), 0.001), 0.5)
        b = self.batch
        P_bank = b["pids"].tolist() + ref.idx_queue[0].tolist()
        H_bank = b["hashes"].tolist() + ref.hash_queue[0].tolist()
        with torch.no_grad():
            one = lambda k, key: b[key][k:k + 1]  # noqa: E731
            img_m = [ref.visual_encoder_m(one(k, "image")) for k in range(2)]
            txt_m = [ref.text_encoder_m.bert.text(one(k, "input_ids"), one(k, "attention_mask")) for k in range(2)]
            v_m = [unit(ref.vision_proj_m(x[0, 0])) for x in img_m]
            t_m = [unit(ref.text_proj_m(x[0, 0])) for x in txt_m]
            img = [ref.visual_encoder(one(k, "image")) for k in range(2)]
            txt = [ref.text_encoder.bert.text(one(k, "input_ids"), one(k, "attention_mask")) for k in range(2)]
            v = [unit(ref.vision_proj(x[0, 0])) for x in img]
            t = [unit(ref.text_proj(x[0, 0])) for x in txt]
        V_bank = v_m + [ref.image_queue[:, j] for j in range(4)]
        T_bank = t_m + [ref.text_queue[:, j] for j in range(4)]
        dot = lambda a, c: sum(float(x) * float(y) for x, y in zip(a, c))  # noqa: E731
        itc = 0.0
        for i in range(2):
            pos = [j for j in range(6) if P_bank[j] == int(b["pids"][i]) or H_bank[j] == int(b["hashes"][i])]
            for feat, feat_m, bank in ((v[i], v_m[i], T_bank), (t[i], t_m[i], V_bank)):
                p_m = [math.exp(x) for x in log_softmax_list([dot(feat_m, bank[j]) / tau for j in range(6)])]
                logp = log_softmax_list([dot(feat, bank[j]) / tau for j in range(6)])
                q = [alpha * p_m[j] + (1 - alpha) * (1.0 / len(pos) if j in pos else 0.0) for j in range(6)]
                itc += -sum(q[j] * logp[j] for j in range(6)) / 2 / 2
        # ITM: with distinct pids and hashes the only candidate of each anchor is the other sample
        bert = ref.text_encoder.bert

        def itm_logits(ti, ii):
            with torch.no_grad():
                h, _ = bert.fusion(txt[ti], one(ti, "attention_mask"), img[ii])
                return ref.itm_head(h[0, 0]).tolist()
        pairs = [(0, 0, 1), (1, 1, 1), (0, 1, 0), (1, 0, 0), (1, 0, 0), (0, 1, 0)]   # (text, image, label)
        itm = sum(-log_softmax_list(itm_logits(ti, ii))[y] for ti, ii, y in pairs) / 6
        # MLM
        terms = []
        with torch.no_grad():
            for k in range(2):
                mk = one(k, "attention_mask")
                h, _ = bert.fusion(bert.text(one(k, "mlm_ids"), mk), mk, img[k])
                logits = ref.text_encoder.cls.predictions(h)[0]
                bm = ref.text_encoder_m.bert
                h_m, _ = bm.fusion(bm.text(one(k, "mlm_ids"), mk), mk, img_m[k])
                logits_m = ref.text_encoder_m.cls.predictions(h_m)[0]
                for pos in range(b["mlm_ids"].shape[1]):
                    w = int(b["mlm_labels"][k, pos])
                    if w == -100:
                        continue
                    logp = log_softmax_list(logits[pos].tolist())
                    q = [math.exp(x) for x in log_softmax_list(logits_m[pos].tolist())]
                    terms.append((1 - alpha) * -logp[w] + alpha * -sum(qa * la for qa, la in zip(q, logp)))
        return itc, itm, sum(terms) / len(terms)

    def test_itc_itm_mlm(self):
        for alpha in (0.0, 0.4):
            with self.subTest(alpha=alpha):
                itc, itm, mlm = self.expected(alpha)
                model = copy.deepcopy(self.model)
                out = M.step_losses(model, self.batch, alpha, terms=("itc", "itm", "mlm"))
                self.assertEqual(out["neg_image"].tolist(), [1, 0])
                self.assertEqual(out["neg_text"].tolist(), [1, 0])
                self.assertAlmostEqual(float(model.temp), 0.5)
                self.assertAlmostEqual(float(out["itc"]), itc, places=9)
                self.assertAlmostEqual(float(out["itm"]), itm, places=9)
                self.assertAlmostEqual(float(out["mlm"]), mlm, places=9)
                self.assertIsNone(out["mim"])
                self.assertAlmostEqual(float(out["total"]), itc + itm + mlm, places=9)

    def test_mim_pixel_order_and_loss(self):
        model = copy.deepcopy(self.model)
        out = M.step_losses(model, self.batch, 0.4, terms=("mim",))
        img = self.batch["image"]
        p, mask = 16, self.batch["patch_mask"]
        with torch.no_grad():
            txt = model.text_encoder.bert.text(self.batch["input_ids"], self.batch["attention_mask"])
            pred = model.mim_decoder(model.visual_encoder(img, mask.bool()), txt, self.batch["attention_mask"])
        total, count = 0.0, 0
        for b in range(2):
            for n in range(4):
                r, c = divmod(n, 2)
                vals = [float(img[b, ch, r * p + y, c * p + x]) for y in range(p) for x in range(p) for ch in range(3)]
                self.assertTrue(torch.equal(M.patchify(img, p)[b, n], torch.tensor(vals, dtype=img.dtype)))
                if not mask[b, n]:
                    continue
                mean = sum(vals) / len(vals)
                var = sum((x - mean) ** 2 for x in vals) / len(vals)
                target = [(x - mean) / math.sqrt(var + 1e-6) for x in vals]
                total += sum((float(a) - t_) ** 2 for a, t_ in zip(pred[b, n], target))
                count += 1
        self.assertAlmostEqual(float(out["mim"]), total / (3 * p * p * count), places=9)


class Gradients(unittest.TestCase):
    def test_directional_derivative_matches_finite_differences(self):
        """float64: d/dε total(θ + ε d) by central differences == Σ grad · d, for both image encoders (catches a
        wrong backward anywhere in the graph, e.g. torch 1.13's F.gelu with a non-contiguous gradient). The paths
        that are stop-gradient by design are held still: momentum 1 (θ' does not follow θ) and no step along temp
        (τ in the ITC targets is detached)."""
        for cfg in (tiny(momentum=1.0), M.SyncMaskConfig.from_dict(dict(TINY_CNN, momentum=1.0))):
            with self.subTest(encoder=cfg.image_encoder):
                model, batch = tiny_model(cfg)
                model = model.double()
                batch = {k: (v.double() if v.is_floating_point() else v) for k, v in batch.items()}
                negs = (torch.tensor([2, 3, 0, 1]), torch.tensor([3, 2, 1, 0]))
                g = torch.Generator().manual_seed(5)
                names = [n for n, _ in model.student_named_parameters()]
                direction = {n: torch.randn(p.shape, generator=g, dtype=torch.float64) * (n != "temp")
                             for n, p in model.student_named_parameters()}

                def total(eps, grad=False):
                    m = copy.deepcopy(model)
                    with torch.no_grad():
                        for n, p in m.student_named_parameters():
                            p.add_(eps * direction[n])
                    out = M.step_losses(m, batch, 0.4, negatives=negs)
                    if grad:
                        out["total"].backward()
                        return sum(float((p.grad * direction[n]).sum()) for n, p in m.student_named_parameters())
                    return float(out["total"])
                eps = 1e-6
                fd = (total(eps) - total(-eps)) / (2 * eps)
                self.assertEqual(len(names), len(direction))
                self.assertAlmostEqual(total(0.0, grad=True), fd, delta=1e-5 * max(1.0, abs(fd)))


    def test_float32_gradients_match_float64(self):
        """The float32 kernels (what parity runs) against float64 (checked above), parameter by parameter: torch
        1.13's float32 F.gelu backward, for one, is wrong for non-contiguous gradients while float64 is right."""
        for cfg in (tiny(), M.SyncMaskConfig.from_dict(TINY_CNN)):
            with self.subTest(encoder=cfg.image_encoder):
                model, batch = tiny_model(cfg)
                grads = {}
                for dtype in (torch.float32, torch.float64):
                    m = copy.deepcopy(model).to(dtype)
                    b = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in batch.items()}
                    out = M.step_losses(m, b, 0.4, negatives=(torch.tensor([2, 3, 0, 1]), torch.tensor([3, 2, 1, 0])))
                    out["total"].backward()
                    grads[dtype] = {n: p.grad.double() for n, p in m.student_named_parameters()}
                g32, g64 = grads[torch.float32], grads[torch.float64]
                total = math.sqrt(sum(float(g.norm()) ** 2 for g in g64.values()))
                for n, g in g64.items():
                    err = float((g32[n] - g).norm())
                    self.assertLessEqual(err, 1e-3 * float(g.norm()) + 1e-6 * total, n)


# ---------------------------------------------------------------------------------------------------------------------
# Evaluation helpers, masking, sync attention
# ---------------------------------------------------------------------------------------------------------------------
class Pieces(unittest.TestCase):
    def test_eval_functions_and_sync_attention(self):
        model, batch = tiny_model(tiny())
        x, ids, mask = batch["image"], batch["input_ids"], batch["attention_mask"]
        with torch.no_grad():
            v = M.image_embeddings(model, x)
            t = M.text_embeddings(model, ids, mask)
            prob = M.itm_probabilities(model, x, ids, mask)
            _, probs_old = model.text_encoder_m.bert.fusion(model.text_encoder_m.bert.text(ids, mask), mask,
                                                            model.visual_encoder_m(x))
        self.assertTrue(torch.allclose(v.norm(dim=1), torch.ones(4)) and torch.allclose(t.norm(dim=1), torch.ones(4)))
        self.assertTrue(bool(((prob > 0) & (prob < 1)).all()))
        out = M.step_losses(model, batch, 0.4, terms=())
        self.assertTrue(torch.allclose(out["image_feat"], v, atol=1e-6))     # the step leaves the student alone
        self.assertTrue(torch.allclose(out["text_feat"], t, atol=1e-6))
        A = out["sync_attention"]
        self.assertEqual(tuple(A.shape), (4, 2, 12, 5))
        self.assertTrue(torch.allclose(A.sum(-1), torch.ones(4, 2, 12), atol=1e-6))
        # the pass uses the momentum copies after the update, and the last fusion layer (sync_layer -1)
        with torch.no_grad():
            _, probs_new = model.text_encoder_m.bert.fusion(model.text_encoder_m.bert.text(ids, mask), mask,
                                                            model.visual_encoder_m(x))
        self.assertTrue(torch.allclose(probs_new[-1], A, atol=1e-6))
        self.assertFalse(torch.allclose(probs_new[0], A, atol=1e-6))
        self.assertFalse(torch.allclose(probs_old[-1], A, atol=1e-9))

    def test_patch_masking(self):
        for cfg in (tiny(), M.SyncMaskConfig.from_dict(TINY_CNN)):
            model, batch = tiny_model(cfg)
            x = batch["image"]
            none = torch.zeros(4, 4, dtype=torch.bool)
            one = none.clone()
            one[0, 3] = True
            with torch.no_grad():
                base = model.visual_encoder(x)
                self.assertTrue(torch.equal(model.visual_encoder(x, none), base))
                masked = model.visual_encoder(x, one)
            self.assertFalse(torch.allclose(masked[0], base[0]))
            self.assertTrue(torch.allclose(masked[1:], base[1:], atol=1e-6))  # samples do not mix
        pm = M.pixel_mask(torch.tensor([[0, 0, 0, 1]]), 2, 16)[0, 0]
        self.assertTrue(bool(pm[16:, 16:].all()) and not bool(pm[:16].any()) and not bool(pm[:, :16].any()))


# ---------------------------------------------------------------------------------------------------------------------
# CLI: make -> losses round trip, bench
# ---------------------------------------------------------------------------------------------------------------------
LOSSES_KEYS = {"itc", "itm", "mlm", "mim", "total", "grad_norms", "grad_norm_total", "neg_image", "neg_text",
               "neg_fallback", "sync_attention_sum", "sync_attention", "momentum_checksum", "queue_ptr",
               "image_queue_checksum", "text_queue_checksum", "terms", "config"}


def run(args):
    r = subprocess.run([sys.executable, PARITY] + args, capture_output=True, text=True, cwd=ROOT, timeout=120)
    if r.returncode != 0:
        raise AssertionError(f"{args[0]} failed ({r.returncode}):\n{r.stderr}")
    return json.loads(r.stdout.strip().splitlines()[-1])


class CLI(unittest.TestCase):
    def round_trip(self, cfg_dict, B=4):
        with tempfile.TemporaryDirectory() as d:
            made = run(["make", "--out", d, "--config", json.dumps(cfg_dict), "--batch", str(B), "--seed", "3"])
            W, Bt = os.path.join(d, "weights.safetensors"), os.path.join(d, "batch.safetensors")
            sd, meta = st.load_with_metadata(W)
            batch, bmeta = st.load_with_metadata(Bt)
            res = run(["losses", "--weights", W, "--batch", Bt, "--threads", "1"])
            part = run(["losses", "--weights", W, "--batch", Bt, "--terms", "itc,mim"]) \
                if cfg_dict["image_encoder"] == "vit" else None
        cfg = M.SyncMaskConfig.from_json(meta["config"])
        self.assertEqual(meta["format"], "syncmask")
        self.assertEqual(made["tensors"], len(sd))
        return cfg, sd, batch, bmeta, res, part

    def check_files(self, cfg, sd, batch, B):
        params, buffers = spec_table(cfg)
        self.assertEqual(set(sd), set(params) | set(buffers))
        self.assertTrue(torch.equal(sd["text_encoder.cls.predictions.decoder.weight"],
                                    sd["text_encoder.bert.embeddings.word_embeddings.weight"]))
        for n in params:                                  # perturbed: no constant vectors, momentum != student
            if n.split(".")[0] in MOMENTUM_MODULES:
                self.assertFalse(torch.equal(sd[n], sd[student_of(n)]), n)
            elif sd[n].dim() == 1:
                self.assertGreater(float(sd[n].std()), 0.0, n)
        self.assertNotEqual(float(sd["temp"]), 0.07)
        K = cfg.queue_size
        self.assertNotEqual(int(sd["queue_ptr"][0]), 0)
        self.assertTrue(bool(torch.isin(batch["pids"], sd["idx_queue"]).any()))
        self.assertTrue(bool(torch.isin(batch["hashes"], sd["hash_queue"]).any()))
        self.assertTrue(torch.allclose(sd["image_queue"].norm(dim=0), torch.ones(K), atol=1e-5))
        L, N, S = cfg.text_length, cfg.num_patches, cfg.image_size
        shapes = {"image": (B, 3, S, S), "input_ids": (B, L), "attention_mask": (B, L), "pids": (B,), "hashes": (B,),
                  "mlm_ids": (B, L), "mlm_labels": (B, L), "patch_mask": (B, N), "alpha": (), "neg_image": (B,),
                  "neg_text": (B,), "neg_fallback": (2, B)}
        self.assertEqual({k: tuple(v.shape) for k, v in batch.items()}, shapes)
        for k, v in batch.items():
            self.assertEqual(v.dtype, torch.float32 if k in ("image", "alpha") else torch.int64, k)
        self.assertTrue(0 <= float(batch["image"].min()) and float(batch["image"].max()) <= 1)
        self.assertLess(len(set(batch["pids"].tolist())), B)
        pairs = [(i, j) for i in range(B) for j in range(i + 1, B)
                 if batch["hashes"][i] == batch["hashes"][j] and batch["pids"][i] != batch["pids"][j]]
        self.assertTrue(pairs)
        self.assertTrue(bool(((batch["mlm_labels"] != -100).sum(1) >= 1).all()))
        self.assertTrue(bool((batch["patch_mask"].sum(1) >= 1).all()))
        self.assertTrue(bool((batch["input_ids"][:, 0] == 101).all()))
        lengths = batch["attention_mask"].sum(1)
        for b in range(B):
            self.assertEqual(int(batch["input_ids"][b, int(lengths[b]) - 1]), 102)
            self.assertTrue(bool((batch["input_ids"][b, int(lengths[b]):] == 0).all()))

    def check_losses(self, cfg, sd, batch, res, B):
        self.assertEqual(set(res), LOSSES_KEYS)
        for k in M.TERMS:
            self.assertTrue(math.isfinite(res[k]) and res[k] > 0, k)
        self.assertAlmostEqual(res["total"], sum(res[k] for k in M.TERMS), places=4)
        self.assertEqual(res["neg_image"], batch["neg_image"].tolist())
        self.assertEqual(res["neg_text"], batch["neg_text"].tolist())
        self.assertEqual(res["neg_fallback"], batch["neg_fallback"].tolist())
        params, _ = spec_table(cfg)
        student = {n for n in params if n.split(".")[0] not in MOMENTUM_MODULES}
        self.assertEqual(set(res["grad_norms"]), student)
        gn = res["grad_norms"]
        self.assertEqual(gn["text_encoder.cls.predictions.decoder.weight"],
                         gn["text_encoder.bert.embeddings.word_embeddings.weight"])
        distinct = [v for n, v in gn.items() if n != "text_encoder.cls.predictions.decoder.weight"]
        self.assertAlmostEqual(res["grad_norm_total"], math.sqrt(sum(v * v for v in distinct)), places=6)
        self.assertEqual(res["queue_ptr"], (int(sd["queue_ptr"][0]) + B) % cfg.queue_size)
        m = cfg.momentum
        want = 0.0
        for n in params:
            if n.split(".")[0] in MOMENTUM_MODULES and n != "text_encoder_m.cls.predictions.decoder.weight":
                want += float((m * sd[n].double() + (1 - m) * sd[student_of(n)].double()).sum())
        self.assertAlmostEqual(res["momentum_checksum"], want, delta=1e-6 * max(1.0, abs(want)) + 1e-4)
        self.assertNotAlmostEqual(res["image_queue_checksum"], float(sd["image_queue"].double().sum()), places=6)
        A = torch.tensor(res["sync_attention"])
        self.assertEqual(tuple(A.shape), (B, cfg.text_length, 1 + cfg.num_patches))
        self.assertTrue(torch.allclose(A.sum(-1), torch.ones(B, cfg.text_length), atol=1e-5))
        self.assertAlmostEqual(res["sync_attention_sum"], B * cfg.text_heads * cfg.text_length, places=3)

    def test_round_trip_vit(self):
        cfg, sd, batch, bmeta, res, part = self.round_trip(TINY)
        self.check_files(cfg, sd, batch, 4)
        self.check_losses(cfg, sd, batch, res, 4)
        self.assertEqual(bmeta["neg_rule"], "semihard_top1")
        self.assertIsNone(part["itm"])
        self.assertIsNone(part["mlm"])
        self.assertAlmostEqual(part["itc"], res["itc"], places=5)
        self.assertAlmostEqual(part["mim"], res["mim"], places=5)
        self.assertAlmostEqual(part["total"], part["itc"] + part["mim"], places=5)
        self.assertNotIn("itm_head.weight", part["grad_norms"])

    def test_round_trip_cnn(self):
        cfg, sd, batch, _, res, _ = self.round_trip(dict(TINY_CNN, queue_size=10), B=4)
        self.assertEqual(cfg.image_encoder, "cnn")
        self.check_files(cfg, sd, batch, 4)
        self.check_losses(cfg, sd, batch, res, 4)

    def test_bench(self):
        res = run(["bench", "--config", json.dumps(TINY), "--batch", "4", "--threads", "1", "--steps", "2",
                   "--warmup", "0"])
        self.assertEqual(len(res["steps_ms"]), 2)
        self.assertGreater(res["median_ms"], 0)
        self.assertTrue(math.isfinite(res["last_total"]))


if __name__ == "__main__":
    unittest.main()
