#!/usr/bin/python3
"""Writes the malformed-input corpus of Tests/CLITests/CorpusCLITests.swift next to this script (the files are
committed; rerun only to change them). Needs Pillow and h5py. Every file is described in manifest.json with the
outcome the CLI must give; run by one test.

usage: /usr/bin/python3 Tests/corpus/make_corpus.py [--binary .build/debug/fashionvl]

With --binary, also writes checkpoints/ and runs/ from a one-step pretraining run of a tiny MVLT config (made
with that binary in a temp folder, then shrunk to a 104-word vocabulary and damaged one way per case).
"""
import io
import json
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import h5py
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent
HEADER = "image_path,product_id,title,description,category,subcategory\n"


def write(rel: str, data) -> None:
    p = ROOT / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data if isinstance(data, bytes) else data.encode())


def images() -> None:
    buf = io.BytesIO()
    Image.new("RGB", (6, 4), (200, 10, 10)).save(buf, format="PNG")
    png = buf.getvalue()
    write("images/ok.png", png)
    write("images/truncated.png", png[: len(png) // 2])
    write("images/text.jpg", "this is not a JPEG\n")
    write("images/empty.png", b"")
    # A PNG whose IHDR announces 100000 x 100000 pixels (the decompression-bomb guard refuses it from the header).
    ihdr = struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)
    import zlib
    chunk = b"IHDR" + ihdr
    write("images/bomb.png", b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk
          + struct.pack(">I", zlib.crc32(chunk) & 0xFFFFFFFF))
    buf = io.BytesIO()
    Image.new("RGB", (5, 5), (10, 10, 200)).save(buf, format="JPEG", quality=95)
    jpeg = buf.getvalue()
    sos = jpeg.index(b"\xff\xda")
    write("images/corrupt.jpg", jpeg[:sos] + b"\x00garbage\x00" * 4)
    # images/huffman-overflow*.jpg are not made here: scripts/fuzz image found them (DHT tables of more than the 256
    # symbols stb_image 2.27 can hold: an out-of-bounds write under UBSan; -2: a table in an APP segment's
    # reach, -3: FF fill bytes before SOI, -4: a table cut by the end of the file); committed as found.


def tables() -> None:
    write("tables/empty.csv", "")
    write("tables/header-only.csv", HEADER)
    write("tables/missing-column.csv", "image_path,product_id,title,description,category\nok.png,1,a,b,TOPS\n")
    write("tables/unterminated-quote.csv", HEADER + 'ok.png,1,"open,b,c,d\n')
    write("tables/bad-utf8-header.csv", b"image_path,product_id,ti\xfftle,description,category,subcategory\n")
    write("tables/conflicting-ids.csv", HEADER + "ok.png,7,Red tee,Cotton.,TOPS,T\nok.png,7,Blue bag,Cotton.,TOPS,T\n")
    write("tables/outside-paths.csv", HEADER + "../tables/header-only.csv,1,a,b,TOPS,T\n/etc/hostname,2,a,b,TOPS,T\n")
    write("tables/bad-id.csv", HEADER + "ok.png,abc,a,b,TOPS,T\n")
    write("tables/short-row.csv", HEADER + "ok.png,1,a\n")
    write("tables/good.csv", HEADER + "ok.png,1,a,b,TOPS,T\n")
    write("tables/empty.jsonl", "")
    write("tables/blank-lines.jsonl", "\n   \n\n")
    write("tables/not-objects.jsonl", '[1, 2]\n"text"\n{"image": \n')
    write("tables/bad-utf8.jsonl", b'{"image": "ok.png", "id": 1, "title": "\xff"}\n')
    write("tables/table.xlsx", b"PK\x03\x04")
    for name in ["truncated.png", "text.jpg", "empty.png", "bomb.png", "corrupt.jpg", "huffman-overflow.jpg",
                 "huffman-overflow-2.jpg", "huffman-overflow-3.jpg", "huffman-overflow-4.jpg"]:
        write(f"tables/image-{name.replace('.', '-')}.csv", HEADER + f"{name},1,a,b,TOPS,T\n")


def configs() -> None:
    write("configs/syntax.json", '{"image_size": 64,\n  "text_length": 16,,\n}')
    write("configs/unterminated.json", '{"image_size": 64')
    write("configs/unknown-key.json", '{"image_size": 64, "imagesize": 3}')
    write("configs/unknown-nested-key.json", '{"heads": {"mirr": false}}')
    write("configs/absurd-size.json", '{"embed_dims": [64, 128, 320, 5000000]}')
    write("configs/wrong-type.json", '{"image_size": "big"}')
    write("configs/unknown-family.json", '{"family": "clip"}')
    write("configs/syncmask-unknown-key.json", '{"family": "syncmask", "queue": 3}')
    write("configs/not-object.json", "[1, 2, 3]")


def safetensors() -> None:
    def st(header: dict, data: bytes) -> bytes:
        h = json.dumps(header).encode()
        return struct.pack("<Q", len(h)) + h + data
    f32 = {"dtype": "F32", "shape": [2]}
    write("safetensors/short.safetensors", b"\x01\x02\x03")
    write("safetensors/not-json.safetensors", struct.pack("<Q", 4) + b"nope")
    write("safetensors/gap.safetensors", st({"a": {**f32, "data_offsets": [0, 8]}, "b": {**f32, "data_offsets": [12, 20]}}, bytes(20)))
    write("safetensors/trailing.safetensors", st({"a": {**f32, "data_offsets": [0, 8]}}, bytes(16)))
    write("safetensors/overlap.safetensors", st({"a": {**f32, "data_offsets": [0, 8]}, "b": {**f32, "data_offsets": [4, 12]}}, bytes(12)))
    write("safetensors/bad-dtype.safetensors", st({"a": {"dtype": "Q7", "shape": [2], "data_offsets": [0, 8]}}, bytes(8)))
    write("safetensors/huge-length.safetensors", struct.pack("<Q", 1 << 40) + b"{}")
    # Found by scripts/fuzz safetensors: 2^61 elements of 4 bytes overflowed in the error message (a trap).
    write("safetensors/size-overflow.safetensors", st({"a": {"dtype": "F32", "shape": [1 << 52, 1 << 9], "data_offsets": [0, 0]}}, b""))


TEXT_KEYS = ["input_name", "input_description", "input_category", "input_subcategory", "input_brand",
             "input_composition", "input_department", "input_gender", "input_season", "input_pose",
             "input_concat_description"]

def catalog(rel: str, rows: int = 2, image=(4, 4, 3), dtype=np.uint8, text_rows=None, drop=()) -> None:
    n = rows if text_rows is None else text_rows
    with h5py.File(ROOT / rel, "w") as f:
        f.create_dataset("input_image", data=np.zeros((rows,) + image, dtype=dtype))
        for k in TEXT_KEYS:
            if k not in drop:
                f.create_dataset(k, data=np.array([[b"x"]] * n, dtype="S10"))
        if "input_msrpUSD" not in drop:
            f.create_dataset("input_msrpUSD", data=np.zeros((n, 1), dtype=np.float32))
        for k in ["input_productID", "index", "index_2"]:
            if k not in drop:
                f.create_dataset(k, data=np.arange(n, dtype=np.int64).reshape(-1, 1))


def hdf5() -> None:
    write("hdf5/text.h5", "not an HDF5 file\n")
    write("hdf5/empty.h5", b"")
    p = ROOT / "hdf5/no-keys.h5"
    with h5py.File(p, "w") as f:
        f.create_dataset("unrelated", data=np.zeros(3, dtype=np.uint8))
    catalog("hdf5/good.h5")
    # hdf5/h5hl-protect-segv.h5 is not made here: scripts/fuzz hdf5 found it (libhdf5 1.10.8 segfaults in H5HL_protect
    # on its corrupt local heap); committed as found (= Fuzz/hdf5/known-crashes/h5hl-protect-segv.h5).
    # hdf5/h5d-chunk-fpe.h5 likewise (integer division by zero in H5D__chunk_set_info, a chunk dimension of 0).
    catalog("hdf5/zero-rows.h5", rows=0)
    catalog("hdf5/image-3d.h5", image=(4, 4))
    catalog("hdf5/image-not-square.h5", image=(4, 5, 3))
    catalog("hdf5/image-float.h5", dtype=np.float32)
    catalog("hdf5/rows-disagree.h5", text_rows=3)
    catalog("hdf5/no-product-id.h5", drop=("input_productID",))
    full = io.BytesIO()
    with h5py.File(full, "w") as f:
        f.create_dataset("input_image", data=np.zeros((2, 4, 4, 3), dtype=np.uint8))
    write("hdf5/truncated.h5", full.getvalue()[:600])


def hdf5_storage() -> None:
    """Added 2026-12-03 (third session): storage refusals and a bad chunk in the middle of a file."""
    # Storage refused before any data is read (FashionGenSchema.checkStorage).
    def storage(rel: str, **image_args) -> None:
        catalog(rel)
        with h5py.File(ROOT / rel, "a") as f:
            del f["input_image"]
            f.create_dataset("input_image", shape=(2, 4, 4, 3), dtype=np.uint8, **image_args)

    # External storage: the image bytes would be read from a file the HDF5 file names (any file the user can read).
    storage("hdf5/external-storage.h5", external=[("/etc/hostname", 0, 96)])
    storage("hdf5/lzf-filter.h5", chunks=(1, 4, 4, 3), compression="lzf")  # h5py's own filter, not in libhdf5
    # Chunks of (2^23, 4, 4, 3) bytes = 384 MiB: libhdf5 would allocate a whole chunk to read one row.
    storage("hdf5/huge-chunk.h5", chunks=(1 << 23, 4, 4, 3), maxshape=(None, 4, 4, 3))
    vds = ROOT / "hdf5/virtual-dataset.h5"
    catalog("hdf5/virtual-dataset.h5")
    with h5py.File(vds, "a") as f:
        del f["input_image"]
        layout = h5py.VirtualLayout(shape=(2, 4, 4, 3), dtype=np.uint8)
        layout[:] = h5py.VirtualSource("/etc/other.h5", "input_image", shape=(2, 4, 4, 3))
        f.create_virtual_dataset("input_image", layout)
    # A bad chunk in the middle: rows 0 and 4 read, row 2's gzip stream is garbage. The child check read only the
    # first and last rows, so `inspect` accepted the file and a command failed (or libhdf5 crashed) on row 2.
    mid = ROOT / "hdf5/bad-middle-chunk.h5"
    catalog("hdf5/bad-middle-chunk.h5", rows=5)
    with h5py.File(mid, "a") as f:
        del f["input_image"]
        rng = np.random.default_rng(0)
        f.create_dataset("input_image", data=rng.integers(0, 255, (5, 4, 4, 3), dtype=np.uint8), chunks=(1, 4, 4, 3),
                         compression="gzip")
    with h5py.File(mid, "r") as f:
        info = f["input_image"].id.get_chunk_info(2)
    data = bytearray(mid.read_bytes())
    data[info.byte_offset: info.byte_offset + info.size] = b"\xff" * info.size
    mid.write_bytes(bytes(data))


def tokenizer() -> None:
    """stdin of `fashionvl tokenize` (JSONL {"text": ...})."""
    def line(text: str) -> str:
        return json.dumps({"text": text}, ensure_ascii=True) + "\n"
    write("tokenizer/invalid-utf8.jsonl", b'{"text": "caf\xe9 noir"}\n')
    write("tokenizer/nul-escaped.jsonl", line("red\x00dress"))
    write("tokenizer/nul-raw.jsonl", b'{"text": "red\x00dress"}\n')
    write("tokenizer/long-word.jsonl", line("a" * 1_000_000))
    write("tokenizer/punctuation.jsonl", line("!!! ... ?!,;: ---") + line("\u3002\u300c\u300d\u00bf\u00a1"))
    write("tokenizer/rtl-combining.jsonl", line("\u05e9\u05de\u05dc\u05d4 \u0641\u0633\u062a\u0627\u0646")
          + line("cafe\u0301 e\u0301le\u0301gant n\u0303 \u0301"))
    write("tokenizer/emoji.jsonl", line("\U0001F457 dress \U0001F460\U0001F45C")
          + line("\U0001F468\u200d\U0001F469\u200d\U0001F467 \U0001F3FD\ufe0f"))
    write("tokenizer/not-text.jsonl", '{"txt": "red dress"}\n')


# A tiny MVLT (the checkpoints stay a few kB once the vocabulary is cut to 104 words).
TINY = {"image_size": 32, "text_length": 8, "text_hidden": 8, "max_positions": 8, "embed_dims": [8, 8, 8, 8],
        "num_heads": [1, 1, 1, 1], "mlp_ratios": [1, 1, 1, 1], "depths": [1, 1, 1, 1], "sr_ratios": [1, 1, 1, 1],
        "decoder_channels": 4, "pvt_grid": [8, 4, 2, 1]}
VOCAB = 30522
SMALL_VOCAB = 104


def runs(binary: str) -> None:
    sys.path.insert(0, str(ROOT.parent / "reference"))
    import safetensors_io as st
    import torch

    work = Path(tempfile.mkdtemp(prefix="fvl-corpus-"))
    try:
        (work / "tiny.json").write_text(json.dumps(TINY))
        subprocess.run([binary, "synth", "--out", str(work / "data"), "--products", "24", "--image-size", "64"],
                       check=True, stdout=subprocess.DEVNULL)
        subprocess.run([binary, "pretrain", "--config", str(work / "tiny.json"), "--data", str(work / "data"),
                        "--out", str(work / "run"), "--steps", "1", "--checkpoint-every", "1", "--batch", "4",
                        "--eval-batches", "1", "--threads", "1"], check=True, stdout=subprocess.DEVNULL)
        base = work / "run"
        config = json.loads((base / "config.json").read_text())
        last = json.loads((base / "last.json").read_text())
        tensors = st.load(base / last["weights"])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    # Model weights only, the vocabulary cut to SMALL_VOCAB (every case fails before any text is tokenized).
    weights = {}
    for k, v in tensors.items():
        if k.startswith("optimizer."):
            continue
        for d, n in enumerate(v.shape):
            if n == VOCAB:
                v = v.narrow(d, 0, SMALL_VOCAB)
        weights[k] = v.clone()
    config["model"]["vocab_size"] = SMALL_VOCAB
    last["optimizerSteps"] = []

    def run_folder(rel: str, cfg=None, lst=None, w=None, metrics=None, raw_last=None, raw_weights=None,
                   raw_cfg=None) -> Path:
        d = ROOT / rel
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
        (d / "config.json").write_text(raw_cfg if raw_cfg is not None else
                                       json.dumps(cfg if cfg is not None else config, indent=1, sort_keys=True))
        if raw_last is not None:
            (d / "last.json").write_bytes(raw_last)
        elif lst is not False:
            (d / "last.json").write_text(json.dumps(lst or last, indent=1, sort_keys=True))
        if raw_weights is not None or w is not None:
            (d / "checkpoints").mkdir()
        if raw_weights is not None:
            (d / last["weights"]).write_bytes(raw_weights)
        elif w is not None:
            st.save(w, d / last["weights"], metadata={"format": "fashionvl-checkpoint", "step": "1"})
        if metrics is not None:
            (d / "metrics.jsonl").write_text(metrics)
        return d

    # Checkpoints: read by `evaluate mig --checkpoint RUN` (the one loading path: Module.loadStateDict).
    full = run_folder("checkpoints/truncated", w=weights)
    data = (full / last["weights"]).read_bytes()
    run_folder("checkpoints/truncated", raw_weights=data[: len(data) // 2])
    name = "block1.0.mlp.fc1.weight"
    assert name in weights, sorted(weights)[:20]
    run_folder("checkpoints/wrong-dtype", w={**weights, name: weights[name].to(torch.int32)})
    run_folder("checkpoints/missing-tensor", w={k: v for k, v in weights.items() if k != name})
    nan = weights[name].clone()
    nan.view(-1)[::3] = float("nan")
    run_folder("checkpoints/nan-weights", w={**weights, name: nan})
    wide = json.loads(json.dumps(config))
    wide["model"]["mlp_ratios"] = [2, 1, 1, 1]
    run_folder("checkpoints/wrong-shape-for-config", cfg=wide, w=weights)

    # Run folders.
    run_folder("runs/missing-last", lst=False, w=weights)
    run_folder("runs/corrupt-last", raw_last=b'{"step": 1, "epoch": 0, "weigh')
    # A hand-edited config.json with a comma missing at the end of line 2 (`evaluate`, `pretrain --resume`).
    run_folder("runs/corrupt-config", raw_cfg=json.dumps(config, indent=1, sort_keys=True).replace(",\n", "\n", 1))
    run_folder("runs/missing-checkpoint")
    torn = "".join(json.dumps({"step": s, "loss": 2.0 - 0.1 * s, "lr": 1e-4}) + "\n" for s in range(1, 4))
    run_folder("runs/torn-metrics", w=weights, metrics=torn + '{"step": 4, "loss": 1.')
    other = json.loads(json.dumps(config))
    other["model"] = {"family": "syncmask"}
    run_folder("runs/other-family", cfg=other)


def kaleido() -> None:
    """Added 2026-12-03 (kaleido-prepare --backbone): weights files of the other backbone's architecture (a few zero
    tensors under its names) and an 8 px catalog for them (kaleido-prepare refuses images under 5 px first)."""
    def weights(rel: str, shapes: dict) -> None:
        header, offset = {}, 0
        for name, shape in shapes.items():
            size = 4 * int(np.prod(shape))
            header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [offset, offset + size]}
            offset += size
        h = json.dumps(header).encode()
        write(rel, struct.pack("<Q", len(h)) + h + bytes(offset))
    weights("safetensors/effnet-named.safetensors", {"_conv_stem.weight": (32, 3, 3, 3), "_bn0.weight": (32,)})
    weights("safetensors/resnet-named.safetensors", {"conv1.weight": (64, 3, 7, 7), "bn1.weight": (64,)})
    catalog("hdf5/kaleido-8px.h5", rows=4, image=(8, 8, 3))


if __name__ == "__main__":
    images()
    tables()
    configs()
    safetensors()
    hdf5()
    hdf5_storage()
    tokenizer()
    kaleido()
    if "--binary" in sys.argv:
        runs(sys.argv[sys.argv.index("--binary") + 1])
