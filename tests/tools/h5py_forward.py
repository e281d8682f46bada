#!/usr/bin/python3
"""Load an rdrop checkpoint with h5py and run the forward pass in numpy (README example).

usage: h5py_forward.py CHECKPOINT TEST_IMAGES.gz TEST_LABELS.gz
Prints {"accuracy": ..., "samples": ...} as JSON. Needs python3-h5py and python3-numpy.
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

ckpt, images, labels = sys.argv[1:4]
f = h5py.File(ckpt, "r")
layers = [f["model"][name] for name in f["model"].attrs["order"]]
x = np.frombuffer(gzip.open(images).read()[16:], np.uint8)
y = np.frombuffer(gzip.open(labels).read()[8:], np.uint8)
h = x.reshape(len(y), -1).astype(np.float32) / 255          # the only preprocessing
for g in layers:                                            # dropout is off at inference
    h = ACT[g.attrs["activation"]](h @ g["kernel"][()] + g["bias"][()])
print(json.dumps({"accuracy": float((h.argmax(1) == y).mean()), "samples": int(len(y))}))
