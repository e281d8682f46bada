#!/usr/bin/python3
"""Load an rdrop checkpoint with h5py and run the forward pass in numpy (README example).

usage: h5py_forward.py CHECKPOINT TEST_IMAGES.gz TEST_LABELS.gz
Prints {"accuracy": ..., "samples": ...} as JSON. Needs python3-h5py and python3-numpy.
MLP files: the groups of /model attribute `order` in turn. Files with conv2d layers
(format_version 2, docs/conv.md): the layers of the `architecture` JSON in turn, samples
NHWC [N, H, W, C], conv2d kernels [KH, KW, C_in, C_out], TensorFlow's `same` padding
(the smaller half before), max_pool windows that fit (floor), flatten (channels last)
before the first dense layer.
"""
import gzip
import json
import sys

import h5py
import numpy as np

ACT = {
    "linear": lambda z: z,
    "relu": lambda z: np.maximum(z, 0),
    "tanh": np.tanh,
    "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
}


def windows(h, kh, kw, sh, sw):
    """[N, OH, OW, KH, KW, C] views of the valid windows of h [N, H, W, C]."""
    n, H, W, c = h.shape
    oh, ow = (H - kh) // sh + 1, (W - kw) // sw + 1
    s = h.strides
    return np.lib.stride_tricks.as_strided(h, (n, oh, ow, kh, kw, c), (s[0], s[1] * sh, s[2] * sw, s[1], s[2], s[3]))


def conv2d(h, g):
    k, b = g["kernel"][()], g["bias"][()]
    kh, kw = k.shape[:2]
    sh, sw = (int(v) for v in g.attrs["stride"])
    if g.attrs["padding"] == "same":
        pads = []
        for size, kk, ss in ((h.shape[1], kh, sh), (h.shape[2], kw, sw)):
            out = -(-size // ss)
            total = max((out - 1) * ss + kk - size, 0)
            pads.append((total // 2, total - total // 2))
        h = np.pad(h, ((0, 0), pads[0], pads[1], (0, 0)))
    z = np.tensordot(windows(h, kh, kw, sh, sw), k, axes=([3, 4, 5], [0, 1, 2])) + b
    return ACT[g.attrs["activation"]](z)


ckpt, images, labels = sys.argv[1:4]
f = h5py.File(ckpt, "r")
x = np.frombuffer(gzip.open(images).read()[16:], np.uint8)
y = np.frombuffer(gzip.open(labels).read()[8:], np.uint8)
h = x.reshape(len(y), -1).astype(np.float32) / 255          # the only preprocessing
if f.attrs["format_version"] == 1:                          # MLP: dense layers in order
    for g in (f["model"][name] for name in f["model"].attrs["order"]):   # dropout is off at inference
        h = ACT[g.attrs["activation"]](h @ g["kernel"][()] + g["bias"][()])
else:
    arch = json.loads(f["model"].attrs["architecture"])
    h = h.reshape([len(y)] + arch[0]["output_shape"])       # the "input" entry: [H, W, C]
    count = {"conv2d": 0, "dense": 0}
    for layer in arch[1:]:
        t = layer["type"]
        if t == "conv2d":
            h = conv2d(h, f["model"][f"conv2d_{count['conv2d']}"])
        elif t == "max_pool":
            h = windows(h, *layer["size"], *layer["stride"]).max(axis=(3, 4))
        elif t == "dense":
            g = f["model"][f"dense_{count['dense']}"]
            h = ACT[g.attrs["activation"]](h.reshape(len(y), -1) @ g["kernel"][()] + g["bias"][()])
        if t in count:
            count[t] += 1
        assert list(h.shape[1:]) == layer["output_shape"][-h.ndim + 1:] or t == "dense", (t, h.shape)
    h = h.reshape(len(y), -1)
print(json.dumps({"accuracy": float((h.argmax(1) == y).mean()), "samples": int(len(y))}))
