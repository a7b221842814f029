"""Minimal safetensors reader/writer using only torch (no `safetensors` package).

Format (https://github.com/huggingface/safetensors):
  8 bytes   little-endian u64 N = byte length of the header
  N bytes   UTF-8 JSON: {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
                         "__metadata__": {str: str}}   (optional metadata)
  rest      raw little-endian tensor bytes; offsets are relative to the start of this byte buffer.

Writer conventions (what FashionVL's Swift loader expects and what `safetensors` itself does):
  * tensors are written contiguous, sorted by name, and their data laid out in that order without gaps;
  * the JSON header is padded with spaces to a multiple of 8 bytes;
  * tensors that share storage (tied weights) are written as independent copies.

API:
  save(tensors: dict[str, Tensor], path, metadata: dict[str, str] | None = None)
  load(path) -> dict[str, Tensor]            (CPU tensors, in file order)
  load_with_metadata(path) -> (dict, dict | None)
"""
import json
import struct
import sys

import torch

DTYPE_TO_STR = {
    torch.float32: "F32",
    torch.bfloat16: "BF16",
    torch.float16: "F16",
    torch.float64: "F64",
    torch.int64: "I64",
    torch.int32: "I32",
    torch.int16: "I16",
    torch.int8: "I8",
    torch.uint8: "U8",
    torch.bool: "BOOL",
}
STR_TO_DTYPE = {v: k for k, v in DTYPE_TO_STR.items()}
ITEM_SIZE = {"F32": 4, "BF16": 2, "F16": 2, "F64": 8, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1,
             "BOOL": 1}

if sys.byteorder != "little":  # pragma: no cover - every platform FashionVL runs on is little-endian
    raise RuntimeError("safetensors_io supports little-endian hosts only")


def _tensor_bytes(t):
    t = t.detach().to("cpu").contiguous()
    if t.numel() == 0:
        return b""
    flat = t.reshape(-1)
    if flat.dtype == torch.bool:
        flat = flat.to(torch.uint8)
    elif flat.dtype != torch.uint8:
        flat = flat.view(torch.uint8)
    return flat.numpy().tobytes()


def save(tensors, path, metadata=None):
    """Write `tensors` (name -> torch.Tensor) to `path` in safetensors format."""
    header = {}
    if metadata is not None:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise TypeError("safetensors metadata must map str to str")
        header["__metadata__"] = dict(metadata)
    blobs = []
    offset = 0
    for name in sorted(tensors):
        if name == "__metadata__":
            raise ValueError("'__metadata__' is reserved and cannot be a tensor name")
        t = tensors[name]
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name}: expected a torch.Tensor, got {type(t).__name__}")
        if t.dtype not in DTYPE_TO_STR:
            raise TypeError(f"{name}: dtype {t.dtype} is not supported")
        data = _tensor_bytes(t)
        assert len(data) == t.numel() * ITEM_SIZE[DTYPE_TO_STR[t.dtype]]
        header[name] = {"dtype": DTYPE_TO_STR[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * ((8 - len(hjson) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for b in blobs:
            f.write(b)


def load_with_metadata(path):
    """Read a safetensors file; returns (tensors in file order, metadata or None)."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError(f"{path}: too short to be a safetensors file")
    (n,) = struct.unpack("<Q", raw[:8])
    if 8 + n > len(raw):
        raise ValueError(f"{path}: header length {n} exceeds the file size {len(raw)}")
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    data = memoryview(raw)[8 + n:]
    metadata = header.pop("__metadata__", None)
    out = {}
    for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        dt = info["dtype"]
        if dt not in STR_TO_DTYPE:
            raise ValueError(f"{path}: tensor {name} has unsupported dtype {dt}")
        shape = [int(s) for s in info["shape"]]
        begin, end = (int(x) for x in info["data_offsets"])
        numel = 1
        for s in shape:
            numel *= s
        if end - begin != numel * ITEM_SIZE[dt] or end > len(data) or begin < 0:
            raise ValueError(f"{path}: tensor {name}: bad data_offsets {begin}..{end} for {dt}{shape}")
        dtype = STR_TO_DTYPE[dt]
        if numel == 0:
            t = torch.zeros(shape, dtype=dtype)
        else:
            u8 = torch.frombuffer(bytearray(data[begin:end]), dtype=torch.uint8)
            if dtype == torch.bool:
                t = u8.ne(0)
            elif dtype == torch.uint8:
                t = u8
            else:
                t = u8.view(dtype)
            t = t.reshape(shape)
        out[name] = t
    return out, metadata


def load(path):
    """Read a safetensors file into a dict name -> CPU tensor."""
    return load_with_metadata(path)[0]
