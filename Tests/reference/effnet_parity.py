"""Drives the PyTorch EfficientNet-Lite0 port (effnet_lite_port.py) for FashionVL's Swift tests and benchmark.

  effnet_parity.py forward --weights W.safetensors --out DIR [--batch B] [--size S] [--seed K]
      writes DIR/input.safetensors (`pixels`: (B, 3, S, S) float32, uniform in [0, 255], seeded) and
      DIR/expected.safetensors (`features`, `pooled`, `logits` of the port in eval mode); prints one JSON line.
  effnet_parity.py photos --weights W.safetensors --out FILE.safetensors
      decodes Tests/reference/photos/*-224.png (PIL) into `pixels` (N, 3, 224, 224) uint8 (names, in order, in
      the metadata `names`, comma-separated) and prints the port's top-1 class per photo as one JSON line.
  effnet_parity.py worker --weights W.safetensors --out DIR --batch B --size S --threads T [--seed K] [--clock C]
      writes DIR/input.safetensors as `forward` does, then answers each stdin line "N" with a JSON list of the
      times (ms; wall clock, or the process's CPU time with --clock cpu) of N eval forwards (features + pooled +
      logits, no_grad) of that batch.
"""
import argparse
import glob
import json
import os
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import effnet_lite_port as P  # noqa: E402
import safetensors_io as st  # noqa: E402


def load_model(path):
    m = P.EfficientNetLite0()
    m.load_state_dict(st.load(path), strict=True)
    return m.eval()


def make_input(out, batch, size, seed):
    g = torch.Generator().manual_seed(seed)
    pixels = torch.rand(batch, 3, size, size, generator=g) * 255.0
    os.makedirs(out, exist_ok=True)
    st.save({"pixels": pixels}, os.path.join(out, "input.safetensors"))
    return pixels


def cmd_forward(a):
    torch.set_num_threads(a.threads)
    model = load_model(a.weights)
    pixels = make_input(a.out, a.batch, a.size, a.seed)
    with torch.no_grad():
        f, p, l = model(pixels)
    st.save({"features": f, "pooled": p, "logits": l}, os.path.join(a.out, "expected.safetensors"))
    print(json.dumps({"features": list(f.shape), "logits": list(l.shape), "top1": l.argmax(-1).tolist(),
                      "torch": torch.__version__}))


def cmd_photos(a):
    import numpy as np
    from PIL import Image
    files = sorted(glob.glob(os.path.join(HERE, "photos", "*-224.png")))
    names = [os.path.basename(f)[:-len("-224.png")] for f in files]
    arrays = [np.array(Image.open(f).convert("RGB")) for f in files]
    pixels = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
    st.save({"pixels": pixels}, a.out, metadata={"names": ",".join(names)})
    model = load_model(a.weights)
    with torch.no_grad():
        _, _, logits = model(pixels)
    probs = logits.softmax(-1)
    print(json.dumps({n: {"top1": int(i), "p": float(probs[k, i])} for k, (n, i) in
                      enumerate(zip(names, logits.argmax(-1).tolist()))}))


def cmd_worker(a):
    torch.set_num_threads(a.threads)
    model = load_model(a.weights)
    pixels = make_input(a.out, a.batch, a.size, a.seed)
    clock = time.process_time if a.clock == "cpu" else time.perf_counter
    for line in sys.stdin:
        times = []
        for _ in range(int(line)):
            t0 = clock()
            with torch.no_grad():
                model(pixels)
            times.append((clock() - t0) * 1000.0)
        print(json.dumps(times), flush=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("forward")
    w = sub.add_parser("worker")
    for q in (f, w):
        q.add_argument("--weights", required=True)
        q.add_argument("--out", required=True)
        q.add_argument("--batch", type=int, default=2)
        q.add_argument("--size", type=int, default=224)
        q.add_argument("--seed", type=int, default=0)
        q.add_argument("--threads", type=int, default=1)
    w.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                   help="wall: perf_counter; cpu: the process's CPU time (process_time), steadier on a shared machine")
    ph = sub.add_parser("photos")
    ph.add_argument("--weights", required=True)
    ph.add_argument("--out", required=True)
    a = p.parse_args(argv)
    {"forward": cmd_forward, "photos": cmd_photos, "worker": cmd_worker}[a.cmd](a)


if __name__ == "__main__":
    main()
