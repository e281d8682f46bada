#!/usr/bin/python3
"""Write a small image classification set as gzip'd IDX files (test helper, numpy only).

usage: make_tiny_idx.py OUTDIR [--train N] [--test N] [--size S] [--seed K]
Creates OUTDIR/{train,test}-{images-idx3,labels-idx1}-ubyte.gz: S x S uint8 images of 10
classes, each class a fixed random blob pattern plus noise and a random shift of up to 1
pixels, so that a small CNN learns it in a few hundred steps.
"""
import gzip
import os
import struct
import sys

import numpy as np


def write_idx(path, arr):
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    magic = 0x00000800 | arr.ndim
    with gzip.open(path, "wb") as f:
        f.write(struct.pack(">I", magic))
        for d in arr.shape:
            f.write(struct.pack(">I", d))
        f.write(arr.tobytes())


def make(rng, protos, n, size):
    y = rng.integers(0, 10, n)
    x = np.empty((n, size, size), np.float64)
    for i in range(n):
        img = np.roll(protos[y[i]], (rng.integers(-1, 2), rng.integers(-1, 2)), axis=(0, 1))
        x[i] = img + rng.normal(0, 20, (size, size))
    return np.clip(x, 0, 255).astype(np.uint8), y.astype(np.uint8)


def main(argv):
    out, opts = argv[1], dict(train=512, test=128, size=12, seed=1)
    for i in range(2, len(argv), 2):
        opts[argv[i].lstrip("-")] = int(argv[i + 1])
    rng = np.random.default_rng(opts["seed"])
    s = opts["size"]
    protos = rng.uniform(0, 255, (10, s, s)) * (rng.uniform(0, 1, (10, s, s)) > 0.6)
    os.makedirs(out, exist_ok=True)
    for split in ("train", "test"):
        x, y = make(rng, protos, opts[split], s)
        write_idx(os.path.join(out, f"{split}-images-idx3-ubyte.gz"), x)
        write_idx(os.path.join(out, f"{split}-labels-idx1-ubyte.gz"), y)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
