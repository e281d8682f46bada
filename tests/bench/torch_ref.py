#!/usr/bin/python3
"""PyTorch peer of rdrop_bench: the same R-Drop MLP step, timed the same way.

    /usr/bin/python3 tests/bench/torch_ref.py [--threads 1] [--hidden 1024,1024] [--batch 128]
        [--passes 2] [--alpha 1.0] [--idx DIR] [--warmup 10] [--windows 11] [--window-s 0.5]
        [--json FILE] [--model mlp|cnn] [--memory-format nchw|channels_last]

Model: dropout 0.2, then per hidden width: Linear + ReLU + dropout 0.5, then Linear(10).
Step: the batch twice (doubled batch, one forward), loss = mean CE of both passes +
alpha * mean symmetric KL (0.5*(KL(P||Q)+KL(Q||P))), backward, SGD momentum 0.9 lr 0.05,
max-norm 3 on the hidden kernels (renorm of each output unit's weights). The batch is
gathered from uint8 images and scaled by 1/255 inside the timed step, like rdrop.
--model cnn: the benchmark CNN of docs/conv.md (configs/bench/fashion_cnn_bench.yaml):
dropout 0.1, conv 32 3x3 same + ReLU, max_pool 2, dropout 0.25, conv 64 3x3 same + ReLU,
max_pool 2, dropout 0.25, Linear 256 + ReLU, dropout 0.5, Linear 10; max-norm 3 on both conv
kernels (per output filter) and the hidden Linear; oneDNN convolutions in NCHW or channels_last.
Data: the Fashion-MNIST IDX files when --idx holds them, else random uint8 of that shape.
Prints one JSON object; exits 77 with a notice when torch is missing. A peer for
comparison only: rdrop never depends on it.
"""
import argparse
import gzip
import json
import os
import statistics
import sys
import time

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError as exc:  # pragma: no cover - depends on the machine
    print(f"torch_ref: skipped: PyTorch is not available to {sys.executable} ({exc}); "
          "install python3-torch (Debian) to compare", file=sys.stderr)
    sys.exit(77)


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    return arr.reshape(dims[0], -1) if ndim > 1 else arr


def load_data(idx_dir, n_random=60000):
    if idx_dir:
        img = os.path.join(idx_dir, "train-images-idx3-ubyte.gz")
        lab = os.path.join(idx_dir, "train-labels-idx1-ubyte.gz")
        if os.path.exists(img) and os.path.exists(lab):
            return torch.from_numpy(read_idx(img).copy()), torch.from_numpy(read_idx(lab).astype(np.int64)), "idx"
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n_random, 784), dtype=torch.uint8, generator=g)
    y = torch.randint(0, 10, (n_random,), dtype=torch.int64, generator=g)
    return x, y, "random"


class MLP(torch.nn.Module):
    def __init__(self, hidden):
        super().__init__()
        widths = [784] + hidden
        self.hidden = torch.nn.ModuleList(torch.nn.Linear(a, b) for a, b in zip(widths, widths[1:]))
        self.out = torch.nn.Linear(widths[-1], 10)

    def forward(self, x):
        x = F.dropout(x, 0.2, self.training)
        for lin in self.hidden:
            x = F.dropout(F.relu(lin(x)), 0.5, self.training)
        return self.out(x)


class CNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = torch.nn.Linear(64 * 7 * 7, 256)
        self.out = torch.nn.Linear(256, 10)
        self.hidden = [self.conv1, self.conv2, self.fc1]   # max-norm 3 on these

    def forward(self, x):
        x = F.dropout(x, 0.1, self.training)
        x = F.dropout(F.max_pool2d(F.relu(self.conv1(x)), 2), 0.25, self.training)
        x = F.dropout(F.max_pool2d(F.relu(self.conv2(x)), 2), 0.25, self.training)
        x = F.dropout(F.relu(self.fc1(torch.flatten(x, 1))), 0.5, self.training)
        return self.out(x)


def rdrop_loss(logits, y, passes, alpha):
    if passes == 1:
        return F.cross_entropy(logits, y)
    a, b = logits.chunk(2)
    lp, lq = F.log_softmax(a, dim=1), F.log_softmax(b, dim=1)
    ce = 0.5 * (F.nll_loss(lp, y) + F.nll_loss(lq, y))
    d = lp - lq
    kl = 0.5 * ((lp.exp() - lq.exp()) * d).sum(dim=1).mean()
    return ce + alpha * kl


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--hidden", default="1024,1024")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--passes", type=int, default=2, choices=(1, 2))
    ap.add_argument("--alpha", type=float, default=1.0)
    ap.add_argument("--idx", default="")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--windows", type=int, default=11)
    ap.add_argument("--window-s", type=float, default=0.5)
    ap.add_argument("--json", default="")
    ap.add_argument("--model", default="mlp", choices=("mlp", "cnn"))
    ap.add_argument("--memory-format", default="nchw", choices=("nchw", "channels_last"))
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(0)
    X, Y, source = load_data(args.idx)
    hidden = [int(h) for h in args.hidden.split(",") if h]
    cnn = args.model == "cnn"
    fmt = torch.channels_last if args.memory_format == "channels_last" else torch.contiguous_format
    model = CNN().to(memory_format=fmt) if cnn else MLP(hidden)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    B, n = args.batch, X.shape[0]
    state = {"perm": torch.randperm(n), "pos": 0}

    def step():
        if state["pos"] + B > n:
            state["perm"], state["pos"] = torch.randperm(n), 0
        idx = state["perm"][state["pos"]:state["pos"] + B]
        state["pos"] += B
        x = X[idx].float().div_(255.0)
        if cnn:
            x = x.view(-1, 1, 28, 28).contiguous(memory_format=fmt)
        y = Y[idx]
        if args.passes == 2:
            x = torch.cat([x, x])
        loss = rdrop_loss(model(x), y, args.passes, args.alpha)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            for lin in model.hidden:
                lin.weight.renorm_(2, 0, 3.0)   # torch [out, in]: each output unit's row

    t0 = time.perf_counter()
    for _ in range(args.warmup):
        step()
    per_step = (time.perf_counter() - t0) / max(args.warmup, 1)
    steps = max(2, int(args.window_s / per_step))
    sps, share, spc = [], [], []
    for _ in range(args.windows):
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(steps):
            step()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        sps.append(B * steps / wall)
        share.append(cpu / wall)
        spc.append(B * steps / cpu)
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    res = {"label": "pytorch", "torch": torch.__version__, "threads": args.threads,
           "model": args.model + ("/" + args.memory_format if cnn else ""), "hidden": [] if cnn else hidden,
           "batch": B, "passes": args.passes, "data": source, "windows": args.windows,
           "steps_per_window": steps, "samples_per_s": round(statistics.median(sps), 1),
           "cpu_share": round(statistics.median(share), 3),
           "samples_per_cpu_s": round(statistics.median(spc), 1),
           "samples_per_s_windows": [round(s, 1) for s in sps], "loadavg_end": load}
    text = json.dumps(res)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
