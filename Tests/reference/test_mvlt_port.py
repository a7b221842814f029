"""Tests of the MVLT reference port, the torch-only safetensors I/O, the parity CLI and the checkpoint converter.

Run:  /usr/bin/python3 -m unittest Tests/reference/test_mvlt_port.py      (from the repository root)
      /usr/bin/python3 -m unittest discover -s Tests/reference -p 'test_*.py'
Needs python3 + torch only; about 30 s on 2 CPU cores.
"""
import argparse
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

import mvlt_parity as P  # noqa: E402
import mvlt_port as M  # noqa: E402
import safetensors_io as st  # noqa: E402

CONVERTER = os.path.join(ROOT, "scripts", "convert-mvlt-checkpoint")
PARITY = os.path.join(HERE, "mvlt_parity.py")

# ----------------------------------------------------------------------------------------------------------
# Spec section 11, written out (pretraining config, L = 128, vocab 30522).
# ----------------------------------------------------------------------------------------------------------
TOP = [
    ("pos_embed1", (1, 3136, 64)), ("text_pos_embed1", (1, 128, 64)),
    ("pos_embed2", (1, 784, 128)), ("text_pos_embed2", (1, 128, 128)),
    ("pos_embed3", (1, 196, 320)), ("text_pos_embed3", (1, 128, 320)),
    ("pos_embed4", (1, 50, 512)), ("text_pos_embed4", (1, 128, 512)),
]
# per stage: (C_in, D, kernel, T_in, sr, mlp hidden)
STAGES = [(3, 64, 4, 768, 8, 512), (64, 128, 2, 64, 4, 1024), (128, 320, 2, 128, 2, 1280),
          (320, 512, 2, 320, 1, 2048)]


def stage_entries(k, cin, D, kern, tin, s, hidden):
    e = [(f"patch_embed{k}.proj.weight", (D, cin, kern, kern)), (f"patch_embed{k}.proj.bias", (D,)),
         (f"patch_embed{k}.norm.weight", (D,)), (f"patch_embed{k}.norm.bias", (D,)),
         (f"text_embed{k}.0.weight", (D, tin)), (f"text_embed{k}.0.bias", (D,)),
         (f"text_embed{k}.1.weight", (D,)), (f"text_embed{k}.1.bias", (D,))]
    for j in (0, 1):
        p = f"block{k}.{j}."
        e += [(p + "norm1.weight", (D,)), (p + "norm1.bias", (D,)),
              (p + "attn.q.weight", (D, D)), (p + "attn.q.bias", (D,)),
              (p + "attn.kv.weight", (2 * D, D)), (p + "attn.kv.bias", (2 * D,)),
              (p + "attn.proj.weight", (D, D)), (p + "attn.proj.bias", (D,))]
        if s > 1:
            e += [(p + "attn.sr.weight", (D, D, s, s)), (p + "attn.sr.bias", (D,)),
                  (p + "attn.norm.weight", (D,)), (p + "attn.norm.bias", (D,))]
        e += [(p + "norm2.weight", (D,)), (p + "norm2.bias", (D,)),
              (p + "mlp.fc1.weight", (hidden, D)), (p + "mlp.fc1.bias", (hidden,)),
              (p + "mlp.fc2.weight", (D, hidden)), (p + "mlp.fc2.bias", (D,))]
    return e


TEXT_AND_HEADS = [
    ("text_embeddings.position_ids", (1, 512)),
    ("text_embeddings.word_embeddings.weight", (30522, 768)),
    ("text_embeddings.position_embeddings.weight", (512, 768)),
    ("text_embeddings.token_type_embeddings.weight", (2, 768)),
    ("text_embeddings.LayerNorm.weight", (768,)), ("text_embeddings.LayerNorm.bias", (768,)),
    ("mlm_head_embed.0.weight", (768, 512)), ("mlm_head_embed.0.bias", (768,)),
    ("mlm_head_embed.1.weight", (768,)), ("mlm_head_embed.1.bias", (768,)),
    ("mlm_head.bias", (30522,)),
    ("mlm_head.transform.dense.weight", (768, 768)), ("mlm_head.transform.dense.bias", (768,)),
    ("mlm_head.transform.LayerNorm.weight", (768,)), ("mlm_head.transform.LayerNorm.bias", (768,)),
    ("mlm_head.mlm_decoder.weight", (30522, 768)),
    ("itm_head_embed.0.weight", (768, 512)), ("itm_head_embed.0.bias", (768,)),
    ("itm_head_embed.1.weight", (768,)), ("itm_head_embed.1.bias", (768,)),
    ("itm_head.linear_bias", (2,)), ("itm_head.linear.weight", (2, 768)), ("itm_head.linear.bias", (2,)),
]
CATEGORY = [
    ("sup_cls_head_embed.0.weight", (768, 512)), ("sup_cls_head_embed.0.bias", (768,)),
    ("sup_cls_head_embed.1.weight", (768,)), ("sup_cls_head_embed.1.bias", (768,)),
    ("sup_cls_head.linear_bias", (48,)), ("sup_cls_head.linear.weight", (48, 768)), ("sup_cls_head.linear.bias", (48,)),
    ("sub_cls_head_embed.0.weight", (768, 512)), ("sub_cls_head_embed.0.bias", (768,)),
    ("sub_cls_head_embed.1.weight", (768,)), ("sub_cls_head_embed.1.bias", (768,)),
    ("sub_cls_head.linear_bias", (122,)), ("sub_cls_head.linear.weight", (122, 768)), ("sub_cls_head.linear.bias", (122,)),
]
T2I_CB = [("reduction1", (64, 128, 3, 3)), ("reduction2", (64, 320, 3, 3)), ("reduction3", (64, 512, 3, 3)),
          ("conv_upsample1", (64, 64, 3, 3)), ("conv_upsample2", (64, 64, 3, 3)),
          ("conv_upsample3", (64, 64, 3, 3)), ("conv_upsample4", (64, 64, 3, 3)),
          ("conv_upsample5", (128, 128, 3, 3)), ("conv_concat2", (128, 128, 3, 3)),
          ("conv_concat3", (192, 192, 3, 3)), ("conv4", (192, 192, 3, 3))]


def t2i_entries():
    e = []
    for m, w in T2I_CB:
        c = w[0]
        e += [(f"t2i_head.{m}.0.weight", w), (f"t2i_head.{m}.1.weight", (c,)), (f"t2i_head.{m}.1.bias", (c,)),
              (f"t2i_head.{m}.1.running_mean", (c,)), (f"t2i_head.{m}.1.running_var", (c,)),
              (f"t2i_head.{m}.1.num_batches_tracked", ())]
    return e + [("t2i_head.score.0.weight", (3, 192, 1, 1)), ("t2i_head.score.0.bias", (3,))]


def spec_table(category=False):
    e = list(TOP)
    for k, row in enumerate(STAGES, 1):
        e += stage_entries(k, *row)
    e += TEXT_AND_HEADS
    if category:
        e += CATEGORY
    return e + t2i_entries()


INT64 = {"text_embeddings.position_ids"} | {f"t2i_head.{m}.1.num_batches_tracked" for m, _ in T2I_CB}


def run(args, **kw):
    return subprocess.run([sys.executable] + args, capture_output=True, text=True, cwd=ROOT, **kw)


class ModelStructure(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        torch.manual_seed(0)
        cls.model = M.MVLT(M.MVLTConfig(image_size=256, text_len=128))

    def test_state_dict_matches_spec_table(self):
        sd = self.model.state_dict()
        table = spec_table()
        self.assertEqual(len(table), 267)
        self.assertEqual(len(sd), 267)
        self.assertEqual(list(sd), [n for n, _ in table])          # names and PyTorch order
        for name, shape in table:
            self.assertEqual(tuple(sd[name].shape), shape, name)
            self.assertEqual(sd[name].dtype, torch.int64 if name in INT64 else torch.float32, name)
        self.assertTrue(torch.equal(sd["text_embeddings.position_ids"], torch.arange(512).unsqueeze(0)))
        # the independent table in mvlt_port (used by the converter) agrees too
        self.assertEqual([(k, v[0]) for k, v in M.spec_state_shapes().items()], table)

    def test_parameter_count_and_tie(self):
        self.assertEqual(M.count_parameters(self.model), 40_025_089)
        m = self.model
        self.assertIs(m.mlm_head.mlm_decoder.weight, m.text_embeddings.word_embeddings.weight)
        text = sum(p.numel() for n, p in m.named_parameters() if n.startswith("text_embeddings."))
        self.assertEqual(text, 30522 * 768 + 512 * 768 + 2 * 768 + 2 * 768)   # 23.8 M

    def test_init(self):
        m = self.model
        w = m.text_embeddings.word_embeddings.weight
        self.assertLess(abs(float(w.std()) - 0.02), 0.002)              # trunc-normal through the decoder
        self.assertNotEqual(float(w[0].abs().sum()), 0.0)               # row 0 overwritten
        self.assertGreater(float(m.text_embeddings.position_embeddings.weight.std()), 0.9)   # N(0,1)
        self.assertEqual(float(m.mlm_head.bias.abs().sum()), 0.0)
        self.assertEqual(float(m.itm_head.linear_bias.abs().sum()), 0.0)
        self.assertTrue(torch.all(m.block1[0].norm1.weight == 1))
        self.assertEqual(m.block1[0].norm1.eps, 1e-6)
        self.assertEqual(m.text_embeddings.LayerNorm.eps, 1e-12)
        self.assertEqual(m.patch_embed1.norm.eps, 1e-5)
        dp = [blk.drop_path.p for k in range(1, 5) for blk in getattr(m, f"block{k}")]
        for a, b in zip(dp, [i * 0.1 / 7 for i in range(8)]):
            self.assertAlmostEqual(a, b, places=6)

    def test_other_configs(self):
        cat = M.MVLT(M.MVLTConfig(image_size=64, text_len=128, category=True))
        sd = cat.state_dict()
        self.assertEqual(len(sd), 281)
        self.assertEqual([(k, tuple(v.shape)) for k, v in sd.items()], spec_table(category=True))
        ft = M.MVLT(M.MVLTConfig(image_size=64, text_len=128, mlm=False, itm=False, mir=False, category=True))
        self.assertEqual(len(ft.state_dict()), 196)
        with self.assertRaises(ValueError):
            M.MVLTConfig(image_size=100).validate()

    def test_forward_256(self):
        m = self.model.eval()
        ids = torch.randint(0, 30522, (1, 128))
        with torch.no_grad():
            mir, itm, mlm = m(torch.rand(1, 3, 256, 256), ids)
        self.assertEqual(tuple(mir.shape), (1, 3, 256, 256))
        self.assertEqual(tuple(itm.shape), (1, 2))
        self.assertEqual(tuple(mlm.shape), (1, 128, 30522))
        self.assertTrue(torch.isfinite(mir).all() and torch.isfinite(mlm).all())


class PositionTables(unittest.TestCase):
    def test_resize_rule(self):
        m = M.MVLT(M.MVLTConfig(image_size=64, text_len=8))
        # 256 px: every stage resized (bilinear, align_corners False)
        p = m._image_pos(0, 64, 64)
        ref = torch.nn.functional.interpolate(m.pos_embed1.reshape(1, 56, 56, 64).permute(0, 3, 1, 2), size=(64, 64),
                                              mode="bilinear", align_corners=False)
        self.assertTrue(torch.equal(p, ref.flatten(2).transpose(1, 2)))
        # stage 4 drops slot 0
        p4 = m._image_pos(3, 7, 7)
        self.assertTrue(torch.allclose(p4, m.pos_embed4[:, 1:], atol=1e-7))
        # the quirk: any stage whose H*W == 3136 uses the stored table unchanged
        self.assertIs(m._image_pos(0, 56, 56), m.pos_embed1)
        self.assertEqual(tuple(m._image_pos(1, 4, 4).shape), (1, 16, 128))


class Losses(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        torch.manual_seed(1)
        cls.model = M.MVLT(M.MVLTConfig(image_size=64, text_len=16))
        cls.batch = P.make_batch(2, 64, 16, 30522, seed=4)

    def test_total_and_finite_eval(self):
        m = self.model.eval()
        r = M.losses(m, self.batch)
        for k in ("mir", "itm", "mlm", "total"):
            self.assertTrue(math.isfinite(float(r[k])), k)
        self.assertAlmostEqual(float(r["total"]), float(r["mlm"] + r["itm"] + 10 * r["mir"]), places=5)
        self.assertAlmostEqual(float(r["mlm"]), math.log(30522), delta=1.0)     # near-uniform at init
        r["total"].backward()
        for n, p in m.named_parameters():
            self.assertIsNotNone(p.grad, n)
            self.assertTrue(torch.isfinite(p.grad).all(), n)
        m.zero_grad(set_to_none=True)
        # masked input differs from clean input; mir target is the clean image in both cases
        r2 = M.losses(m, self.batch, masked=False)
        self.assertNotAlmostEqual(float(r2["mir"]), float(r["mir"]), places=7)

    def test_train_mode_step(self):
        m = self.model.train()
        opt = torch.optim.AdamW(M.weight_decay_groups(m), lr=1e-4)
        r = M.losses(m, self.batch)
        r["total"].backward()
        opt.step()
        m.zero_grad(set_to_none=True)
        self.assertTrue(math.isfinite(float(r["total"])))
        groups = M.weight_decay_groups(m)
        self.assertTrue(all(p.dim() > 1 for p in groups[1]["params"]))
        self.assertEqual(len(groups[0]["params"]) + len(groups[1]["params"]), len(list(m.parameters())))
        self.assertEqual(m.t2i_head.conv4[1].num_batches_tracked.item(), 1)
        m.eval()

    def test_grid_mask(self):
        import numpy as np
        rs = np.random.RandomState(0)
        mk = P.grid_mask(64, rs)
        self.assertEqual(tuple(mk.shape), (1, 64, 64))
        cells = mk[0, ::16, ::16]
        self.assertTrue(torch.equal(mk[0], cells.repeat_interleave(16, 0).repeat_interleave(16, 1)))
        paper = P.grid_mask(256, rs, "paper")
        self.assertEqual(int(paper[0, ::16, ::16].sum()), 128)
        b = self.batch
        self.assertTrue(torch.all(b["input_ids"][:, 0] == 101))
        self.assertTrue(torch.all((b["input_ids"] == 102).sum(1) >= 1))
        self.assertTrue(torch.all((b["mlm_labels"] != -100).sum(1) >= 1))
        self.assertTrue(torch.all(b["attention_mask"] == (b["input_ids"] != 0).long()))


class SafetensorsIO(unittest.TestCase):
    def test_round_trip_all_dtypes(self):
        g = torch.Generator().manual_seed(0)
        tensors = {
            "f32": torch.randn(3, 5, generator=g),
            "bf16": torch.randn(4, 2, generator=g).bfloat16(),
            "f16": torch.randn(7, generator=g).half(),
            "f64": torch.randn(2, 2, 2, generator=g).double(),
            "i64": torch.randint(-2**40, 2**40, (6,), generator=g),
            "i32": torch.randint(-2**30, 2**30, (3, 1), generator=g, dtype=torch.int32),
            "u8": torch.randint(0, 256, (9,), generator=g, dtype=torch.uint8),
            "bool": torch.rand(5, generator=g) > 0.5,
            "scalar": torch.tensor(42, dtype=torch.int64),
            "empty": torch.zeros(0, 3),
            "a_noncontig": torch.randn(4, 6, generator=g).t(),
        }
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "t.safetensors")
            st.save(tensors, path, metadata={"k": "v"})
            back, meta = st.load_with_metadata(path)
            self.assertEqual(meta, {"k": "v"})
            self.assertEqual(set(back), set(tensors))
            for k, t in tensors.items():
                self.assertEqual(back[k].dtype, t.dtype, k)
                self.assertEqual(back[k].shape, t.shape, k)
                self.assertTrue(torch.equal(back[k], t), k)
            with open(path, "rb") as f:
                raw = f.read()
            n = int.from_bytes(raw[:8], "little")
            self.assertEqual(n % 8, 0)
            header = json.loads(raw[8:8 + n])
            names = sorted(k for k in header if k != "__metadata__")
            offs = [header[k]["data_offsets"] for k in names]
            self.assertEqual(offs[0][0], 0)
            for a, b in zip(offs, offs[1:]):
                self.assertEqual(a[1], b[0])                      # sorted by name, contiguous layout
            self.assertEqual(offs[-1][1], len(raw) - 8 - n)
            self.assertEqual(header["bf16"]["dtype"], "BF16")
            self.assertEqual(header["scalar"]["shape"], [])


class CLIAndConverter(unittest.TestCase):
    def test_parity_cli(self):
        with tempfile.TemporaryDirectory() as d:
            r = run([PARITY, "make", "--out", d, "--image-size", "64", "--text-len", "16", "--batch", "2",
                     "--seed", "3", "--vocab", "2000"])
            self.assertEqual(r.returncode, 0, r.stderr)
            w = st.load(os.path.join(d, "weights.safetensors"))
            self.assertEqual(len(w), 267)
            self.assertTrue(torch.equal(w["mlm_head.mlm_decoder.weight"], w["text_embeddings.word_embeddings.weight"]))
            self.assertEqual(tuple(w["mlm_head.bias"].shape), (2000,))
            b = st.load(os.path.join(d, "batch.safetensors"))
            self.assertEqual({k: (tuple(v.shape), v.dtype) for k, v in b.items()}, {
                "image": ((2, 3, 64, 64), torch.float32), "mask": ((2, 1, 64, 64), torch.float32),
                "input_ids": ((2, 16), torch.int64), "attention_mask": ((2, 16), torch.int64),
                "mlm_labels": ((2, 16), torch.int64), "itm_labels": ((2,), torch.int64)})
            r = run([PARITY, "losses", "--weights", os.path.join(d, "weights.safetensors"),
                     "--batch", os.path.join(d, "batch.safetensors")])
            self.assertEqual(r.returncode, 0, r.stderr)
            lines = [ln for ln in r.stdout.splitlines() if ln.strip()]
            self.assertEqual(len(lines), 1)
            out = json.loads(lines[0])
            self.assertAlmostEqual(out["total"], out["mlm"] + out["itm"] + 10 * out["mir"], places=4)
            model = P.load_model(os.path.join(d, "weights.safetensors"), 64)
            names = {n for n, _ in model.named_parameters()} | {"mlm_head.mlm_decoder.weight"}
            self.assertEqual(set(out["grad_norms"]), names)
            sq = sum(v * v for k, v in out["grad_norms"].items() if k != "mlm_head.mlm_decoder.weight")
            self.assertAlmostEqual(out["grad_norm_total"], math.sqrt(sq), places=6)
            # same numbers in-process
            res = M.losses(model.eval(), b)
            self.assertAlmostEqual(float(res["total"]), out["total"], places=5)

    def test_converter(self):
        torch.manual_seed(2)
        m = M.MVLT(M.MVLTConfig(image_size=64, text_len=16, vocab_size=1000))
        sd = m.state_dict()
        with tempfile.TemporaryDirectory() as d:
            ck = os.path.join(d, "checkpoint.pth")
            torch.save({"model": {"module." + k: v for k, v in sd.items()}, "epoch": 5,
                        "args": argparse.Namespace(lr=1.0), "optimizer": {}}, ck)
            out = os.path.join(d, "w.safetensors")
            r = run([CONVERTER, ck, out])
            self.assertEqual(r.returncode, 0, r.stderr)
            back, meta = st.load_with_metadata(out)
            self.assertEqual(set(back), set(sd))
            for k, v in sd.items():
                self.assertEqual(back[k].dtype, v.dtype, k)
                self.assertTrue(torch.equal(back[k], v), k)
            self.assertEqual(meta["format"], "mvlt")
            self.assertEqual(json.loads(meta["config"])["text_len"], 16)
            # --drop-tied: the word table only; a bare state_dict without position_ids is accepted
            bare = {k: v for k, v in sd.items() if k != "text_embeddings.position_ids"}
            torch.save(bare, ck)
            r = run([CONVERTER, ck, out, "--drop-tied"])
            self.assertEqual(r.returncode, 0, r.stderr)
            back = st.load(out)
            self.assertEqual(set(back), set(sd) - {"mlm_head.mlm_decoder.weight"})
            self.assertTrue(torch.equal(back["text_embeddings.position_ids"], torch.arange(512).unsqueeze(0)))
            # errors
            r = run([CONVERTER, os.path.join(d, "nope.pth"), out])
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("not found", r.stderr)
            torch.save({"optimizer": {}, "epoch": 1}, ck)
            r = run([CONVERTER, ck, out])
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("no state_dict", r.stderr)
            broken = dict(sd)
            del broken["block2.1.attn.sr.weight"]
            broken["block2.1.attn.extra"] = torch.zeros(1)
            broken["itm_head.linear.weight"] = torch.zeros(3, 768)
            torch.save({"model": broken}, ck)
            r = run([CONVERTER, ck, out])
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("missing (1): block2.1.attn.sr.weight", r.stderr)
            self.assertIn("unexpected (1): block2.1.attn.extra", r.stderr)
            self.assertIn("itm_head.linear.weight", r.stderr)


if __name__ == "__main__":
    unittest.main()
