"""PyTorch references for FashionVL's Kaleido-BERT inputs (spec/kaleido-bert.md §2.3, §4.2).

  kaleido_reference.py features --weights W.safetensors --input IN.safetensors --out OUT.safetensors
      EfficientNet-Lite0 (effnet_lite_port.py, eval mode) pooled features of IN's `pixels` ((N, 3, C, C) uint8
      kaleido crops), written as `pooled`.
  kaleido_reference.py captioner --weights W.safetensors --input IN.safetensors --out OUT.safetensors
      The SAT captioner port below with W's state dict (as Swift's KaleidoCaptioner saves it; dropout off), on
      IN's `features` (B, P, F) and compact `ids` (B, T): writes `total`, `ce`, `attention_reg`, `logits`,
      `alphas` and the gradient of every parameter under `grad.NAME`.
  kaleido_reference.py worker --weights W.safetensors --input IN.safetensors --threads T [--clock wall|cpu]
      answers each stdin line "N" with a JSON list of the times (ms) of N pooled forwards (features + mean, eval,
      no_grad; no classifier) of IN's `pixels`: the PyTorch side of `fashionvl bench kaleido-features`.
"""
import argparse
import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import safetensors_io as st  # noqa: E402

PAD = 0


class Attention(nn.Module):
    def __init__(self, feature_dim, hidden, attention):
        super().__init__()
        self.encoder_att = nn.Linear(feature_dim, attention)
        self.decoder_att = nn.Linear(hidden, attention)
        self.full_att = nn.Linear(attention, 1)

    def forward(self, projected, h):
        e = self.full_att(F.relu(projected + self.decoder_att(h).unsqueeze(1))).squeeze(2)
        return e.softmax(dim=1)


class Captioner(nn.Module):
    """Show, Attend and Tell decoder: LSTMCell over [embedding; gated attention context], fc over the vocab."""

    def __init__(self, feature_dim, hidden, embed, attention, vocab, lam):
        super().__init__()
        self.register_buffer("vocab_ids", torch.zeros(vocab, dtype=torch.int64))
        self.embedding = nn.Embedding(vocab, embed)
        self.attention = Attention(feature_dim, hidden, attention)
        self.init_h = nn.Linear(feature_dim, hidden)
        self.init_c = nn.Linear(feature_dim, hidden)
        self.f_beta = nn.Linear(hidden, feature_dim)
        self.decode_step = nn.LSTMCell(embed + feature_dim, hidden)
        self.fc = nn.Linear(hidden, vocab)
        self.lam = lam

    def forward(self, features, ids):
        projected = self.attention.encoder_att(features)
        mean = features.mean(dim=1)
        h, c = self.init_h(mean), self.init_c(mean)
        logits, alphas = [], []
        for t in range(ids.shape[1] - 1):
            alpha = self.attention(projected, h)
            context = torch.bmm(alpha.unsqueeze(1), features).squeeze(1) * torch.sigmoid(self.f_beta(h))
            h, c = self.decode_step(torch.cat([self.embedding(ids[:, t]), context], dim=1), (h, c))
            logits.append(self.fc(h))
            alphas.append(alpha)
        return torch.stack(logits, 1), torch.stack(alphas, 1)

    def loss(self, features, ids):
        logits, alphas = self(features, ids)
        target = ids[:, 1:]
        ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=PAD)
        real = (target != PAD).float().unsqueeze(2)
        reg = ((1 - (alphas * real).sum(dim=1)) ** 2).mean()
        return ce + self.lam * reg, ce, reg, logits, alphas


def cmd_features(a):
    import effnet_lite_port as P
    torch.set_num_threads(1)
    m = P.EfficientNetLite0()
    m.load_state_dict(st.load(a.weights), strict=True)
    m.eval()
    pixels = st.load(a.input)["pixels"]
    with torch.no_grad():
        _, pooled, _ = m(pixels)
    st.save({"pooled": pooled}, a.out)
    print(json.dumps({"pooled": list(pooled.shape)}))


def cmd_captioner(a):
    torch.set_num_threads(1)
    sd, meta = st.load_with_metadata(a.weights)
    cfg = json.loads(meta["config"])
    m = Captioner(cfg["feature_dim"], cfg["hidden"], cfg["embed"], cfg["attention"], cfg["vocab"], cfg["lambda"])
    m.load_state_dict(sd, strict=True)
    x = st.load(a.input)
    total, ce, reg, logits, alphas = m.loss(x["features"], x["ids"])
    total.backward()
    out = {"total": total.detach(), "ce": ce.detach(), "attention_reg": reg.detach(), "logits": logits.detach(),
           "alphas": alphas.detach()}
    for name, p in m.named_parameters():
        out["grad." + name] = p.grad
    st.save(out, a.out)
    print(json.dumps({"total": float(total), "ce": float(ce), "attention_reg": float(reg)}))


def cmd_worker(a):
    import time
    import effnet_lite_port as P
    torch.set_num_threads(a.threads)
    m = P.EfficientNetLite0()
    m.load_state_dict(st.load(a.weights), strict=True)
    m.eval()
    pixels = st.load(a.input)["pixels"]
    clock = time.process_time if a.clock == "cpu" else time.perf_counter
    for line in sys.stdin:
        times = []
        for _ in range(int(line)):
            t0 = clock()
            with torch.no_grad():
                m.extract_features(m.normalize(pixels)).mean(dim=(2, 3))
            times.append((clock() - t0) * 1000.0)
        print(json.dumps(times), flush=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("features", "captioner"):
        q = sub.add_parser(name)
        q.add_argument("--weights", required=True)
        q.add_argument("--input", required=True)
        q.add_argument("--out", required=True)
    w = sub.add_parser("worker")
    w.add_argument("--weights", required=True)
    w.add_argument("--input", required=True)
    w.add_argument("--threads", type=int, default=1)
    w.add_argument("--clock", choices=["wall", "cpu"], default="wall")
    a = p.parse_args(argv)
    {"features": cmd_features, "captioner": cmd_captioner, "worker": cmd_worker}[a.cmd](a)


if __name__ == "__main__":
    main()
