#!/usr/bin/python3
"""PyTorch peer of `rdrop train` for accuracy cross-checks: the same recipe, trained by PyTorch.

    /usr/bin/python3 tests/bench/torch_train.py [--model cnn|vgg] [--epochs 20] [--seed 1]
        [--init he_uniform|torch_default] [--validation 5000] [--rates 0.1,0.25,0.25,0.5]
        [--max-norm 3] [--lr 0.05] [--nesterov] [--wd 0] [--decay-biases] [--flip] [--shift 0]
        [--passes 1] [--alpha 0] [--idx datasets/fashion-mnist] [--threads 1] [--json FILE]
        [--checkpoint FILE]

Question it answers: does rdrop reach the accuracy PyTorch reaches with the same recipe? The
step arithmetic is checked against PyTorch autograd by the oracles (tests/data/*_reference.json);
this checks everything around it over a whole run (data scaling, augmentation, schedule, init,
decay, max-norm). Semantics follow rdrop's (docs/ARCHITECTURE.md, DESIGN's step): inputs
uint8/255; `he_uniform` = U(+-sqrt(6/fan_in)) kernels and zero biases (`torch_default` keeps
PyTorch's own init); SGD `v = mu v + g, w -= lr v` (PyTorch's, as rdrop's), Nesterov likewise;
weight decay on kernels only unless --decay-biases; cosine lr computed per step, T = all steps;
max-norm after each update on every constrained layer's output units; flip = left-right mirror
with p 1/2, shift = dx, dy uniform in [-s, s] with zeros shifted in; the validation split is the
last N of a seeded permutation (rdrop picks its own by its seed: a different split, the same
size); the last partial batch of an epoch is trained on. Models:
  cnn: dropout r0 -> conv 32 3x3 same relu -> pool 2 -> dropout r1 -> conv 64 -> pool -> dropout r2
       -> dense 256 relu -> dropout r3 -> dense 10 (configs/bench/fashion_cnn_bench.yaml);
       max-norm on both convs and dense 256
  vgg: conv 64-64 -> pool -> dropout r0 -> conv 128-128 -> pool -> dropout r1 -> dense 512 ->
       dropout r2 -> dense 10 (configs/fashion_cnn_best.yaml); max-norm on none unless given
--checkpoint FILE: the whole state (weights, momentum, RNG states, position, history) is saved
there after every epoch (written to FILE.tmp, then renamed), and a run started with the same
FILE resumes from it (its arguments must match: it says so and exits 2 if they do not); a
VGG run takes hours, so it can span machine sessions.
Prints a line per epoch and one JSON object at the end. A peer for comparison only: rdrop never
depends on it; exits 77 when torch is missing.
"""
import argparse
import json
import math
import os
import sys
import time

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError as exc:  # pragma: no cover - depends on the machine
    print(f"torch_train: skipped: PyTorch is not available to {sys.executable} ({exc})", file=sys.stderr)
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_ref import read_idx  # noqa: E402  (the same IDX reader as the speed peer)


class Net(torch.nn.Module):
    def __init__(self, model, rates):
        super().__init__()
        self.model, self.rates = model, rates
        if model == "cnn":
            self.convs = torch.nn.ModuleList([torch.nn.Conv2d(1, 32, 3, padding=1),
                                              torch.nn.Conv2d(32, 64, 3, padding=1)])
            self.fc = torch.nn.Linear(64 * 7 * 7, 256)
            self.constrained = [self.convs[0], self.convs[1], self.fc]
        else:
            self.convs = torch.nn.ModuleList([torch.nn.Conv2d(1, 64, 3, padding=1),
                                              torch.nn.Conv2d(64, 64, 3, padding=1),
                                              torch.nn.Conv2d(64, 128, 3, padding=1),
                                              torch.nn.Conv2d(128, 128, 3, padding=1)])
            self.fc = torch.nn.Linear(128 * 7 * 7, 512)
            self.constrained = []
        self.out = torch.nn.Linear(self.fc.out_features, 10)

    def forward(self, x):
        r, t = self.rates, self.training
        if self.model == "cnn":
            x = F.dropout(x, r[0], t)
            x = F.dropout(F.max_pool2d(F.relu(self.convs[0](x)), 2), r[1], t)
            x = F.dropout(F.max_pool2d(F.relu(self.convs[1](x)), 2), r[2], t)
            x = F.dropout(F.relu(self.fc(torch.flatten(x, 1))), r[3], t)
        else:
            x = F.relu(self.convs[1](F.relu(self.convs[0](x))))
            x = F.dropout(F.max_pool2d(x, 2), r[0], t)
            x = F.relu(self.convs[3](F.relu(self.convs[2](x))))
            x = F.dropout(F.max_pool2d(x, 2), r[1], t)
            x = F.dropout(F.relu(self.fc(torch.flatten(x, 1))), r[2], t)
        return self.out(x)


def augment(x, flip, shift, gen):
    """x [B,1,28,28]: mirror with p 1/2, then shift by (dy, dx) in [-s, s], zeros shifted in."""
    if flip:
        m = torch.rand(x.shape[0], generator=gen) < 0.5
        x[m] = x[m].flip(3)
    if shift:
        s, H, W = shift, x.shape[2], x.shape[3]
        pad = F.pad(x, (s, s, s, s))
        d = torch.randint(0, 2 * s + 1, (x.shape[0], 2), generator=gen)
        rows = (d[:, 0, None] + torch.arange(H))[:, :, None]          # [B, H, 1]
        cols = (d[:, 1, None] + torch.arange(W))[:, None, :]          # [B, 1, W]
        x = pad[torch.arange(x.shape[0])[:, None, None], :, rows, cols].permute(0, 3, 1, 2).contiguous()
    return x


def accuracy(model, X, Y):
    model.eval()
    right = 0
    with torch.no_grad():
        for i in range(0, X.shape[0], 1000):
            right += (model(X[i:i + 1000]).argmax(1) == Y[i:i + 1000]).sum().item()
    model.train()
    return right / X.shape[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="cnn", choices=("cnn", "vgg"))
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--init", default="he_uniform", choices=("he_uniform", "torch_default"))
    ap.add_argument("--validation", type=int, default=5000)
    ap.add_argument("--rates", default="")
    ap.add_argument("--max-norm", type=float, default=-1.0, help="default: 3 for cnn, none for vgg")
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--nesterov", action="store_true")
    ap.add_argument("--wd", type=float, default=0.0)
    ap.add_argument("--decay-biases", action="store_true")
    ap.add_argument("--flip", action="store_true")
    ap.add_argument("--shift", type=int, default=0)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--passes", type=int, default=1, choices=(1, 2))
    ap.add_argument("--alpha", type=float, default=0.0)
    ap.add_argument("--idx", default="datasets/fashion-mnist")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default="")
    ap.add_argument("--checkpoint", default="")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed + 1000)
    rates = [float(r) for r in a.rates.split(",")] if a.rates else \
        ([0.1, 0.25, 0.25, 0.5] if a.model == "cnn" else [0.25, 0.25, 0.5])
    max_norm = a.max_norm if a.max_norm >= 0 else (3.0 if a.model == "cnn" else 0.0)

    def load(kind):
        x = read_idx(os.path.join(a.idx, f"{kind}-images-idx3-ubyte.gz"))
        y = read_idx(os.path.join(a.idx, f"{kind}-labels-idx1-ubyte.gz"))
        return (torch.from_numpy(x.astype(np.float32) / 255.0).view(-1, 1, 28, 28),
                torch.from_numpy(y.astype(np.int64)))
    X, Y = load("train")
    Xt, Yt = load("t10k")
    perm = torch.randperm(X.shape[0], generator=gen)
    n_train = X.shape[0] - a.validation
    Xv, Yv = X[perm[n_train:]], Y[perm[n_train:]]
    X, Y = X[perm[:n_train]], Y[perm[:n_train]]

    model = Net(a.model, rates)
    if a.init == "he_uniform":
        for mod in list(model.convs) + [model.fc, model.out]:
            torch.nn.init.kaiming_uniform_(mod.weight, mode="fan_in", nonlinearity="relu")
            torch.nn.init.zeros_(mod.bias)
    kernels = [m.weight for m in list(model.convs) + [model.fc, model.out]]
    biases = [m.bias for m in list(model.convs) + [model.fc, model.out]]
    groups = [{"params": kernels, "weight_decay": a.wd},
              {"params": biases, "weight_decay": a.wd if a.decay_biases else 0.0}]
    opt = torch.optim.SGD(groups, lr=a.lr, momentum=a.momentum, nesterov=a.nesterov)
    steps_per_epoch = math.ceil(n_train / a.batch)
    T, t = steps_per_epoch * a.epochs, 0
    history, t0, first = [], time.time(), 1
    same = {k: v for k, v in vars(a).items() if k not in ("json", "checkpoint", "threads")}
    if a.checkpoint and os.path.exists(a.checkpoint):
        ck = torch.load(a.checkpoint)
        if ck["args"] != same:
            print(f"torch_train: {a.checkpoint}: written with other arguments ({ck['args']}); "
                  "use another --checkpoint", file=sys.stderr)
            sys.exit(2)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        torch.set_rng_state(ck["torch_rng"])
        gen.set_state(ck["gen"])
        t, history, first = ck["t"], ck["history"], ck["epoch"] + 1
        t0 -= history[-1]["wall_s"] if history else 0.0
        print(f"torch_train: resumed from {a.checkpoint} after epoch {ck['epoch']}", file=sys.stderr)
    for epoch in range(first, a.epochs + 1):
        order = torch.randperm(n_train, generator=gen)
        right = seen = 0
        for i in range(0, n_train, a.batch):
            for g in opt.param_groups:
                g["lr"] = 0.5 * a.lr * (1 + math.cos(math.pi * min(t, T) / T))
            idx = order[i:i + a.batch]
            x, y = augment(X[idx].clone(), a.flip, a.shift, gen), Y[idx]
            if a.passes == 2:
                logits = model(torch.cat([x, x]))
                p, q = logits.chunk(2)
                lp, lq = F.log_softmax(p, 1), F.log_softmax(q, 1)
                kl = 0.5 * ((lp.exp() - lq.exp()) * (lp - lq)).sum(1).mean()
                loss = 0.5 * (F.nll_loss(lp, y) + F.nll_loss(lq, y)) + a.alpha * kl
                p_out = p
            else:
                p_out = model(x)
                loss = F.cross_entropy(p_out, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            t += 1
            if max_norm > 0:
                with torch.no_grad():
                    for mod in model.constrained:
                        mod.weight.renorm_(2, 0, max_norm)   # each output unit / filter
            right += (p_out.argmax(1) == y).sum().item()
            seen += y.shape[0]
        row = {"epoch": epoch, "train_acc": round(right / seen, 4),
               "val_acc": round(accuracy(model, Xv, Yv), 4) if a.validation else None,
               "test_acc": round(accuracy(model, Xt, Yt), 4), "wall_s": round(time.time() - t0, 1)}
        history.append(row)
        print(json.dumps(row), flush=True)
        if a.checkpoint:
            torch.save({"args": same, "epoch": epoch, "t": t, "history": history,
                        "model": model.state_dict(), "opt": opt.state_dict(),
                        "torch_rng": torch.get_rng_state(), "gen": gen.get_state()},
                       a.checkpoint + ".tmp")
            os.replace(a.checkpoint + ".tmp", a.checkpoint)
    best = max(history, key=lambda r: (r["val_acc"] or 0, r["epoch"])) if a.validation else history[-1]
    res = {"label": "pytorch", "torch": torch.__version__, "args": vars(a), "rates": rates,
           "max_norm": max_norm, "final_test_acc": history[-1]["test_acc"],
           "best_val_acc": best["val_acc"], "test_acc_at_best_val": best["test_acc"],
           "best_epoch": best["epoch"], "wall_s": history[-1]["wall_s"], "history": history}
    print(json.dumps(res))
    if a.json:
        with open(a.json, "w") as f:
            f.write(json.dumps(res) + "\n")


if __name__ == "__main__":
    main()
