#!/usr/bin/python3
"""Run a grid of rdrop trainings, resumably, and tabulate them.

usage: launch/sweep.sh SWEEP.yaml [--ranks N] [--out DIR] [--dry-run] [--report-only]

SWEEP.yaml:
    config: configs/fashion_mlp_rdrop.yaml   # the base config
    ranks: 2                                 # mpirun -np (default 2)
    out: runs/sweep-alpha                    # one folder per run inside
    set:                                     # fixed overrides for every run (optional)
      training.epochs: 20
      data.validation: 5000
    grid:                                    # every combination is one run
      rdrop.alpha: [0, 0.5, 1, 3]
      run.seed: [1, 2, 3]

Each run lives in OUT/<key=value,...> and is started with --resume auto: a finished run
(status.json "finished") is skipped, an interrupted one continues from its checkpoint.
OUT/results.csv and OUT/results.md hold, per run and per grid point (mean and standard
deviation over run.seed): the best validation accuracy, the test accuracy of that best
checkpoint, the final test accuracy, epochs, and wall time. Model selection looks only at
validation accuracy; the test set is reported, never used to choose.
"""
import csv
import itertools
import json
import math
import os
import subprocess
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def die(msg):
    print(f"sweep: {msg}", file=sys.stderr)
    sys.exit(2)


def load_spec(path):
    try:
        with open(path) as f:
            spec = yaml.safe_load(f)
    except OSError as e:
        die(f"{path}: cannot read: {e.strerror}")
    except yaml.YAMLError as e:
        die(f"{path}: not valid YAML: {e}")
    if not isinstance(spec, dict):
        die(f"{path}: expected a mapping with config, grid (and ranks, out, set)")
    unknown = set(spec) - {"config", "ranks", "out", "set", "grid"}
    if unknown:
        die(f"{path}: unknown keys: {', '.join(sorted(unknown))}")
    if "config" not in spec or "grid" not in spec:
        die(f"{path}: needs 'config' and 'grid'")
    grid = spec["grid"]
    if not isinstance(grid, dict) or not grid or not all(isinstance(v, list) and v for v in grid.values()):
        die(f"{path}: grid: expected KEY: [values...] entries")
    return spec


def scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def run_name(point):
    return ",".join(f"{k}={scalar(v)}" for k, v in point.items())


def status_of(run_dir):
    try:
        with open(os.path.join(run_dir, "status.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def read_metrics(run_dir):
    rows = []
    try:
        with open(os.path.join(run_dir, "metrics.jsonl")) as f:
            for line in f:
                if line.strip():
                    rows.append(json.loads(line))
    except OSError:
        pass
    return rows


def summarize(rows):
    """Best val acc, test acc at that step, final test acc, epochs, wall seconds."""
    val = [r for r in rows if r["kind"] == "eval" and r.get("split") == "val"]
    test = {r["step"]: r["acc"] for r in rows if r["kind"] == "eval" and r.get("split") == "test"}
    train = [r for r in rows if r["kind"] == "train"]
    out = {"best_val_acc": None, "best_step": None, "test_at_best": None, "final_test_acc": None,
           "epochs": None, "wall_s": None}
    if val:
        best = max(val, key=lambda r: (r["acc"], -r["step"]))
        out.update(best_val_acc=best["acc"], best_step=best["step"], test_at_best=test.get(best["step"]))
    if test:
        out["final_test_acc"] = test[max(test)]
    if rows:
        out["epochs"] = max(r["epoch"] for r in rows)
    # time_s restarts in a resumed process: add up each process's last value
    wall, prev = 0.0, 0.0
    for r in train:
        if r["time_s"] < prev:
            wall += prev
        prev = r["time_s"]
    out["wall_s"] = wall + prev if train else None
    return out


def mean_std(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return None, None
    m = sum(xs) / len(xs)
    s = math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1)) if len(xs) > 1 else 0.0
    return m, s


def fmt(m, s=None, digits=4):
    if m is None:
        return "—"
    return f"{m:.{digits}f}" if s is None else f"{m:.{digits}f} ± {s:.{digits}f}"


def main(argv):
    args = argv[1:]
    if not args or args[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    spec = load_spec(args[0])
    ranks, out, dry, report_only = int(spec.get("ranks", 2)), spec.get("out"), False, False
    i = 1
    while i < len(args):
        if args[i] == "--ranks":
            ranks = int(args[i + 1]); i += 2
        elif args[i] == "--out":
            out = args[i + 1]; i += 2
        elif args[i] == "--dry-run":
            dry = True; i += 1
        elif args[i] == "--report-only":
            report_only = True; i += 1
        else:
            die(f"unknown argument {args[i]}")
    if not out:
        out = os.path.join("runs", "sweep-" + os.path.splitext(os.path.basename(args[0]))[0])
    out = os.path.abspath(out)
    os.makedirs(out, exist_ok=True)
    fixed = spec.get("set") or {}
    keys = list(spec["grid"])
    points = [dict(zip(keys, combo)) for combo in itertools.product(*(spec["grid"][k] for k in keys))]
    rdrop = os.environ.get("RDROP", os.path.join(ROOT, "build", "rdrop"))
    print(f"sweep: {len(points)} runs of {spec['config']} on {ranks} ranks into {out}")

    results = []
    for n, point in enumerate(points, 1):
        name = run_name(point)
        run_dir = os.path.join(out, name)
        st = status_of(run_dir)
        sets = [f"{k}={scalar(v)}" for k, v in {**fixed, **point}.items()]
        cmd = ["bash", os.path.join(HERE, "mpirun.sh"), "-n", str(ranks), "--", rdrop, "train", spec["config"],
               "--out", run_dir, "--resume", "auto"] + [a for s in sets for a in ("--set", s)]
        if report_only or (st and st.get("status") == "finished"):
            print(f"[{n}/{len(points)}] {name}: {'finished, skipped' if st else 'not run'}")
        elif dry:
            print(f"[{n}/{len(points)}] {name}: would run: {' '.join(cmd)}")
        else:
            print(f"[{n}/{len(points)}] {name}: {'resuming' if st else 'starting'}", flush=True)
            os.makedirs(run_dir, exist_ok=True)
            with open(os.path.join(run_dir, "sweep.log"), "a") as log:
                rc = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT)
            if rc != 0:
                print(f"sweep: {name} exited {rc} (see {run_dir}/sweep.log); rerun the sweep to resume it",
                      file=sys.stderr)
                if rc == 75:
                    return 75
        s = summarize(read_metrics(run_dir))
        results.append({"run": name, **{k: scalar(v) for k, v in point.items()}, **s})

    write_reports(out, keys, results)
    return 0


def write_reports(out, keys, results):
    cols = ["run"] + keys + ["best_val_acc", "best_step", "test_at_best", "final_test_acc", "epochs", "wall_s"]
    with open(os.path.join(out, "results.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        for r in results:
            w.writerow({c: r.get(c) for c in cols})
    group_keys = [k for k in keys if k != "run.seed"]
    groups = {}
    for r in results:
        groups.setdefault(tuple(r[k] for k in group_keys), []).append(r)
    lines = ["| " + " | ".join(group_keys + ["seeds", "best val acc", "test acc at best val",
                                            "final test acc", "epochs", "wall time / run"]) + " |",
             "|" + "---|" * (len(group_keys) + 6)]
    for gk, rs in groups.items():
        bv, tb, ft = (mean_std([r[c] for r in rs]) for c in ("best_val_acc", "test_at_best", "final_test_acc"))
        wall, _ = mean_std([r["wall_s"] for r in rs])
        ep = max((r["epochs"] or 0) for r in rs)
        lines.append("| " + " | ".join(list(gk) + [str(len(rs)), fmt(*bv), fmt(*tb), fmt(*ft), str(ep),
                                                  f"{wall:.0f} s" if wall else "—"]) + " |")
    text = "\n".join(lines) + "\n"
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write(text)
    print(text, end="")
    print(f"sweep: wrote {out}/results.csv and {out}/results.md")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
