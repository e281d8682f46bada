#!/usr/bin/python3
"""The probe-KL side of the R-Drop strength study (configs/sweeps/rdrop_strength.yaml).

usage: launch/rdrop_strength_report.py SWEEP_OUT [CSV_OUT] [--units TEST_IMAGES.gz] [--epochs 1,5,10,20]

Reads every run folder of SWEEP_OUT (OUT/<variant=...,optimizer.lr=...,run.seed=...>) and
prints, per variant and lr (mean over the finished seeds): the probe KL (the pass-to-pass KL on
256 fixed training samples, docs/rdrop-strength.md) at a few epochs, the training KL of the
last epoch, the test accuracy of the first evaluation, and whether a run collapsed (final test
accuracy below 0.5: a near-constant output makes the KL term zero). CSV_OUT (optional) gets
one row per run and evaluation: run, variant, lr, seed, epoch, probe_kl, val_acc, test_acc.
--units: a second table from each run's last checkpoint (h5py + numpy, dropout off) on the
first 2,000 test images: the share of hidden units never active (ReLU output 0 on every
image) per hidden layer, and the spread of the logits across images (mean over classes of the
standard deviation): a near-zero spread is a constant output.
--epochs: the evaluations whose probe KL the table shows (default 2,10,20,30,40,50).
"""
import csv
import json
import os
import sys
from collections import defaultdict

EPOCHS = (2, 10, 20, 30, 40, 50)


def parse_name(name):
    return dict(kv.split("=", 1) for kv in name.split(","))


def load(run_dir):
    rows = []
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        for line in f:
            if line.strip():
                rows.append(json.loads(line))
    return rows


def finished(run_dir):
    try:
        with open(os.path.join(run_dir, "status.json")) as f:
            return json.load(f).get("status") == "finished"
    except (OSError, ValueError):
        return False


def unit_stats(run_dir, images):
    import glob
    import gzip
    import h5py
    import numpy as np
    ckpts = sorted(glob.glob(os.path.join(run_dir, "ckpt-*.h5")))
    if not ckpts:
        return None
    with h5py.File(ckpts[-1], "r") as f:
        layers = [(f["model"][n]["kernel"][()], f["model"][n]["bias"][()], f["model"][n].attrs["activation"])
                  for n in f["model"].attrs["order"]]
    x = np.frombuffer(gzip.open(images).read()[16:], np.uint8)
    h = x.reshape(-1, layers[0][0].shape[0])[:2000].astype(np.float32) / 255
    dead = []
    for w, b, act in layers:
        h = h @ w + b
        if act == "relu":
            h = np.maximum(h, 0)
            dead.append(float((h.max(0) <= 0).mean()))
    return dead, float(h.std(0).mean())


def main(argv):
    units = None
    global EPOCHS
    if "--epochs" in argv:
        i = argv.index("--epochs")
        EPOCHS = tuple(int(e) for e in argv[i + 1].split(","))
        argv = argv[:i] + argv[i + 2:]
    if "--units" in argv:
        i = argv.index("--units")
        units = argv[i + 1]
        argv = argv[:i] + argv[i + 2:]
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = argv[1]
    if not os.path.isdir(out):
        print(f"rdrop_strength_report: {out}: no such sweep folder", file=sys.stderr)
        return 1
    per_eval, groups = [], defaultdict(list)
    for name in sorted(os.listdir(out)):
        d = os.path.join(out, name)
        if not os.path.isdir(d) or "=" not in name or not finished(d):
            continue
        p = parse_name(name)
        rows = load(d)
        test = {r["epoch"]: r for r in rows if r["kind"] == "eval" and r["split"] == "test"}
        val = {r["epoch"]: r for r in rows if r["kind"] == "eval" and r["split"] == "val"}
        train = [r for r in rows if r["kind"] == "train"]
        for ep in sorted(test):
            per_eval.append([name, p["variant"], p["optimizer.lr"], p["run.seed"], ep,
                             test[ep].get("probe_kl", ""), val.get(ep, {}).get("acc", ""), test[ep]["acc"]])
        last = max(test)
        groups[(p["variant"], p["optimizer.lr"])].append({
            "probe": {ep: test[ep].get("probe_kl") for ep in EPOCHS if ep in test},
            "train_kl": train[-1]["kl"] if train else None,
            "first_test": test[min(test)]["acc"],
            "final_test": test[last]["acc"],
            "seed": p["run.seed"],
            "units": unit_stats(d, units) if units else None,
        })
    if len(argv) > 2:
        with open(argv[2], "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["run", "variant", "optimizer.lr", "run.seed", "epoch", "probe_kl", "val_acc", "test_acc"])
            w.writerows(per_eval)
    mean = lambda v: sum(v) / len(v) if v else float("nan")
    head = ["variant", "lr", "seeds"] + [f"probe KL ep {e}" for e in EPOCHS] + \
           ["train KL (last epoch)", "test acc, first eval", "final test acc", "collapsed (< 0.5)"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for (v, lr), runs in groups.items():
        cells = [v, lr, str(len(runs))]
        for e in EPOCHS:
            vals = [r["probe"][e] for r in runs if r["probe"].get(e) is not None]
            cells.append(f"{mean(vals):.4f}" if vals else "—")
        cells.append(f"{mean([r['train_kl'] for r in runs]):.4f}")
        cells.append(f"{mean([r['first_test'] for r in runs]):.4f}")
        cells.append(f"{mean([r['final_test'] for r in runs]):.4f}")
        cells.append(f"{sum(r['final_test'] < 0.5 for r in runs)} of {len(runs)}")
        print("| " + " | ".join(cells) + " |")
    if units:
        print()
        print("| variant | lr | seeds | dead hidden units, layer 1 | dead hidden units, layer 2 | logit spread (std over images) |")
        print("|---|---|---|---|---|---|")
        for (v, lr), runs in groups.items():
            st = [r["units"] for r in runs if r["units"]]
            if not st:
                continue
            d1 = mean([s[0][0] for s in st])
            d2 = mean([s[0][1] for s in st]) if len(st[0][0]) > 1 else float("nan")
            print(f"| {v} | {lr} | {len(st)} | {100 * d1:.1f}% | {100 * d2:.1f}% | {mean([s[1] for s in st]):.4f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
