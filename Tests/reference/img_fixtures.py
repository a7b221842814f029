#!/usr/bin/python3
"""Writes the image fixtures of Tests/FashionDataTests/ImageDecodeTests.swift into the folder argv[1].

Every fixture has hand-known pixels (see the test for the expected values). Needs Pillow.
Usage: /usr/bin/python3 Tests/reference/img_fixtures.py OUT_DIR
"""
import struct
import sys
import zlib
from pathlib import Path

from PIL import Image


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def header_only_png(width: int, height: int) -> bytes:
    """A PNG whose IHDR announces width x height (RGB, 8 bit) with a tiny, useless IDAT: a bomb header."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + png_chunk(b"IEND", b"")


def strip_adobe_app14(jpeg: bytes) -> bytes:
    """Removes the Adobe APP14 segment (FF EE) so the CMYK transform is unknown."""
    i = 2
    while i + 4 <= len(jpeg) and jpeg[i] == 0xFF:
        marker, length = jpeg[i + 1], struct.unpack(">H", jpeg[i + 2:i + 4])[0]
        if marker == 0xEE:
            return jpeg[:i] + jpeg[i + 2 + length:]
        if marker == 0xDA:
            break
        i += 2 + length
    raise SystemExit("no APP14 marker found")


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)

    rgb = Image.new("RGB", (3, 2))
    rgb.putdata([(255, 0, 0), (0, 255, 0), (0, 0, 255), (10, 20, 30), (128, 128, 128), (255, 255, 255)])
    rgb.save(out / "rgb.png")

    grey = Image.new("L", (2, 2))
    grey.putdata([0, 100, 200, 255])
    grey.save(out / "grey.png")

    rgba = Image.new("RGBA", (2, 1))
    rgba.putdata([(255, 0, 0, 128), (0, 0, 255, 0)])
    rgba.save(out / "rgba.png")

    grey16 = Image.new("I;16", (2, 1))
    grey16.putdata([0x1234, 0xFF00])
    grey16.save(out / "grey16.png")

    cmyk = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # pure red ink
    cmyk.save(out / "cmyk.jpg", quality=95)
    (out / "cmyk_no_adobe.jpg").write_bytes(strip_adobe_app14((out / "cmyk.jpg").read_bytes()))

    Image.new("RGB", (16, 16), (40, 160, 90)).save(out / "green.jpg", quality=95)
    good = (out / "green.jpg").read_bytes()
    (out / "corrupt.jpg").write_bytes(good[:2] + b"\xff\xc0\x00\x03garbage" * 8)
    (out / "truncated.png").write_bytes((out / "rgb.png").read_bytes()[:40])
    (out / "not_an_image.jpg").write_bytes(b"hello, this is text\n")
    (out / "bomb.png").write_bytes(header_only_png(100_000, 100_000))
    (out / "wide.png").write_bytes(header_only_png(20_000, 10))


if __name__ == "__main__":
    main()
