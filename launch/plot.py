#!/usr/bin/python3
"""Turn rdrop metrics.jsonl files into PNG curves with gnuplot.

usage: launch/plot.sh [-o OUT.png] [--title TEXT] RUN_DIR [RUN_DIR...]

One figure, four panels, every run in each: cross-entropy and KL (training), accuracy
(train / validation / test), learning rate, and the probe KL between two dropout passes
(measured at each evaluation, docs/rdrop-strength.md), all against epochs. A run is labelled by its
folder name; for sweep folders (`variant=a1,optimizer.lr=0.05,run.seed=1`) only the parts that
differ between the runs are kept (`variant=` dropped: `a1`), the shared ones go to the title.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile


def load(run_dir):
    rows = []
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        for line in f:
            if line.strip():
                rows.append(json.loads(line))
    ends = [r["step"] / r["epoch"] for r in rows if r["kind"] == "eval" and r["epoch"] > 0]
    spe = min(ends) if ends else None
    x = (lambda s: s / spe) if spe else (lambda s: s)
    return rows, x, "epoch" if spe else "step"


def write_series(tmp, name, pts):
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        for a, b in pts:
            f.write(f"{a} {b}\n")
    return path


def short_labels(runs):
    """Labels from run folder names: the comma-separated key=value parts all runs share are left
    out (returned joined, for the title); `variant=NAME` becomes NAME."""
    names = [os.path.basename(os.path.normpath(r)) for r in runs]
    parts = [n.split(",") for n in names]
    common = set(parts[0]).intersection(*parts[1:]) if len(parts) > 1 else set()
    labels = []
    for n, ps in zip(names, parts):
        keep = [p[len("variant="):] if p.startswith("variant=") else p for p in ps if p not in common]
        labels.append(",".join(keep) or n)
    if len(set(labels)) < len(labels):          # two runs would look alike: keep the full names
        return names, ""
    return labels, ",".join(p for p in parts[0] if p in common)


def main(argv):
    args, out, title, runs = argv[1:], "curves.png", None, []
    i = 0
    while i < len(args):
        if args[i] in ("-h", "--help"):
            print(__doc__); return 0
        if args[i] == "-o":
            out = args[i + 1]; i += 2
        elif args[i] == "--title":
            title = args[i + 1]; i += 2
        else:
            runs.append(args[i]); i += 1
    if not runs:
        print(__doc__, file=sys.stderr); return 2
    if not shutil.which("gnuplot"):
        print("plot: gnuplot not found: apt-get install gnuplot-nox", file=sys.stderr); return 1
    labels, shared = short_labels(runs)
    if title is None:
        title = "rdrop" + (": " + shared.replace("_", "\\\\_") if shared else "")
    tmp = tempfile.mkdtemp(prefix="rdrop-plot-")
    panels = {"loss": [], "acc": [], "lr": [], "probe": []}
    xlabel = "epoch"
    for k, run in enumerate(runs):
        try:
            rows, x, xlabel = load(run)
        except OSError as e:
            print(f"plot: {run}/metrics.jsonl: {e.strerror}", file=sys.stderr); return 1
        label = labels[k].replace("_", "\\\\_")
        train = [r for r in rows if r["kind"] == "train"]
        ser = {
            ("loss", "CE"): [(x(r["step"]), r["ce"]) for r in train],
            ("loss", "KL"): [(x(r["step"]), r["kl"]) for r in train],
            ("acc", "train"): [(x(r["step"]), r["acc"]) for r in train],
            ("lr", "lr"): [(x(r["step"]), r["lr"]) for r in train],
        }
        for split in ("val", "test"):
            ser[("acc", split)] = [(x(r["step"]), r["acc"]) for r in rows
                                   if r["kind"] == "eval" and r.get("split") == split]
        ser[("probe", "probe")] = [(x(r["step"]), r["probe_kl"]) for r in rows
                                   if r["kind"] == "eval" and "probe_kl" in r]
        for (panel, what), pts in ser.items():
            if pts:
                f = write_series(tmp, f"{k}-{panel}-{what}.dat", pts)
                panels[panel].append((f, f"{label} {what}", k, what))
    dash = {"CE": 1, "KL": 2, "train": 3, "val": 2, "test": 1, "lr": 1, "probe": 1}
    script = [f"set terminal pngcairo size 1400,1000 font ',10'", f"set output '{out}'",
              "set multiplot layout 2,2 title '" + title.replace("'", "") + "'", "set grid",
              f"set xlabel '{xlabel}'", "set key outside right top"]
    for panel, ylabel, logy in (("loss", "training loss terms (per sample)", True),
                                ("acc", "accuracy", False), ("lr", "learning rate", False),
                                ("probe", "probe KL between two dropout passes", False)):
        script.append(f"set ylabel '{ylabel}'")
        script.append("set logscale y" if logy else "unset logscale y")
        items = [f"'{f}' using 1:2 with lines lw 2 lc {k + 1} dt {dash[w]} title '{t}'"
                 for f, t, k, w in panels[panel]]
        script.append("plot " + ", ".join(items) if items else "plot 0 notitle")
    script.append("unset multiplot")
    r = subprocess.run(["gnuplot"], input="\n".join(script), text=True, capture_output=True)
    shutil.rmtree(tmp, ignore_errors=True)
    if r.returncode != 0:
        print(f"plot: gnuplot failed: {r.stderr.strip()}", file=sys.stderr); return 1
    print(f"plot: wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
