#!/usr/bin/python3
"""Writes the image folder of Tests/CLITests/ImportCLITests.swift into argv[1]. Needs Pillow.

usage: /usr/bin/python3 Tests/reference/cli_import_images.py OUT_DIR

  red.png      6x4 RGB PNG, solid (200, 10, 10)
  blue.jpg     5x5 RGB JPEG (quality 95), solid (10, 10, 200)
  grey.png     3x3 greyscale PNG, solid 128
  corrupt.jpg  blue.jpg's header (SOI .. up to its SOS marker) followed by bytes that are no JPEG segment:
               a file that starts like a JPEG but cannot be decoded
"""
import io
import sys
from pathlib import Path

from PIL import Image


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (6, 4), (200, 10, 10)).save(out / "red.png")
    Image.new("L", (3, 3), 128).save(out / "grey.png")
    buf = io.BytesIO()
    Image.new("RGB", (5, 5), (10, 10, 200)).save(buf, format="JPEG", quality=95)
    jpeg = buf.getvalue()
    (out / "blue.jpg").write_bytes(jpeg)
    sos = jpeg.index(b"\xff\xda")
    (out / "corrupt.jpg").write_bytes(jpeg[:sos] + b"\x00garbage, not a JPEG segment\x00" * 4)


if __name__ == "__main__":
    main()
