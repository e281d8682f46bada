#!/usr/bin/python3
"""Run a grid of rdrop trainings, resumably, and tabulate them.

usage: launch/sweep.sh SWEEP.yaml [--ranks N] [--jobs J] [--out DIR] [--dry-run] [--report-only]
                     [--baseline NAME[,NAME...]] [--variants NAME[,NAME...]] [--keep DIR]

SWEEP.yaml:
    config: configs/fashion_mlp_rdrop.yaml   # the base config
    ranks: 2                                 # mpirun -np (default 2)
    out: runs/sweep-alpha                    # one folder per run inside
    set:                                     # fixed overrides for every run (optional)
      training.epochs: 20
      data.validation: 5000
    baseline: dropout                        # optional: a variant every other is compared with,
                                             # paired by the other keys (the seed): mean ± std of
                                             # the best-val and test-at-best-val differences, in points
    variants:                                # named override sets (optional), crossed with grid
      rdrop: {}
      dropout: {rdrop.passes: 1}
      none: {rdrop.passes: 1, model.layers.0.rate: 0, model.layers.2.rate: 0}
    grid:                                    # every combination is one run
      rdrop.alpha: [0, 0.5, 1, 3]
      run.seed: [1, 2, 3]

--baseline A,B compares every variant with each of those (overriding the spec's `baseline`): one
pair of paired-difference columns per baseline, e.g. `--baseline dropout,a0` for a with / without
R-Drop verdict that must beat both controls.

--variants A,B runs (and reports) only those variants of the spec, in that order: e.g. the
variant a selection stage chose, then its with-R-Drop twin, all seeds in one pool of --jobs.

--dry-run prints every run's command and checks its config (`rdrop config`: keys, values, data
files), writing nothing; a real sweep makes the same check before it starts any run.

--jobs J runs J grid points at once, each its own `mpirun -np N` (J x N should not exceed the
cores: on a 2-core machine, --ranks 1 --jobs 2 gets the most runs per hour; wall times are then
measured with the other job running).

--keep DIR carries finished runs from one machine to the next (a study longer than one machine's
life: commit DIR, e.g. docs/results/runs/NAME): every run that finishes leaves a copy of its
records (config.yaml, status.json, metrics.jsonl; no checkpoints) in DIR/<key=value,...>, and a
finished record in DIR whose resolved config is the one this spec gives now (paths aside) counts
as that run when OUT has none: it is copied into OUT, skipped and reported. A record whose config
differs is left alone and the run is run (say so, with the first differing line).

Each run lives in OUT/<key=value,...> and is started with --resume auto: a finished run
(status.json "finished") is skipped, an interrupted one continues from its checkpoint.
OUT/results.csv and OUT/results.md hold, per run and per grid point (mean and standard
deviation over run.seed): the best validation accuracy, the test accuracy of that best
checkpoint, the final test accuracy, epochs, and wall time; under the table, the compute (finished
runs, the sum of their wall times in run-hours). Model selection looks only at
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
    unknown = set(spec) - {"config", "ranks", "jobs", "out", "set", "grid", "variants", "baseline"}
    if unknown:
        die(f"{path}: unknown keys: {', '.join(sorted(unknown))}")
    if "config" not in spec or "grid" not in spec:
        die(f"{path}: needs 'config' and 'grid'")
    grid = spec["grid"]
    if not isinstance(grid, dict) or not grid or not all(isinstance(v, list) and v for v in grid.values()):
        die(f"{path}: grid: expected KEY: [values...] entries")
    var = spec.get("variants")
    if var is not None and (not isinstance(var, dict) or not var
                            or not all(isinstance(v, dict) or v is None for v in var.values())):
        die(f"{path}: variants: expected NAME: {{KEY: value, ...}} entries")
    base = spec.get("baseline")
    if base is not None and (not var or base not in var):
        die(f"{path}: baseline: {base!r} is not one of the variants")
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


RECORDS = ("config.yaml", "status.json", "metrics.jsonl")


def comparable_config(text):
    """A resolved config's lines with the machine's paths taken out: the run folder (`out:`) and
    the checkout a data file's absolute path starts with (its last two components stay)."""
    lines = []
    for line in text.splitlines():
        key, sep, val = line.partition(": ")
        v = val.strip().strip('"')
        if sep and key.strip() == "out":
            line = key + ": <run>"
        elif sep and v.startswith("/"):
            line = key + ": " + "/".join(v.split("/")[-2:])
        lines.append(line)
    return lines


def keep_record(run_dir, keep_dir):
    """Copy a finished run's records (not its checkpoints) to keep_dir."""
    os.makedirs(keep_dir, exist_ok=True)
    for f in RECORDS:
        src = os.path.join(run_dir, f)
        if os.path.exists(src):
            with open(src, "rb") as a, open(os.path.join(keep_dir, f + ".tmp"), "wb") as b:
                b.write(a.read())
            os.replace(os.path.join(keep_dir, f + ".tmp"), os.path.join(keep_dir, f))


def restore_record(name, run_dir, keep_dir, config_text):
    """A finished record in keep_dir for this run, when run_dir holds no finished run: copied in
    if its config is config_text (the one the spec resolves to now, paths aside). True if restored."""
    st = status_of(keep_dir)
    if not st or st.get("status") != "finished" or (status_of(run_dir) or {}).get("status") == "finished":
        return False
    if os.path.isdir(run_dir) and any(f.endswith(".h5") for f in os.listdir(run_dir)):
        print(f"sweep: {name}: a finished record is in {keep_dir}, but {run_dir} holds a run of its own: "
              "that one continues")
        return False
    try:
        with open(os.path.join(keep_dir, "config.yaml")) as f:
            kept = comparable_config(f.read())
    except OSError:
        kept = None
    now = comparable_config(config_text)
    if kept != now:
        diff = next((f"{a!r} there, {b!r} now" for a, b in zip(kept or [], now) if a != b),
                    "a different length" if kept else "no config.yaml")
        print(f"sweep: {name}: the finished record in {keep_dir} is of another config ({diff}): not used")
        return False
    keep_record(keep_dir, run_dir)
    print(f"sweep: {name}: finished on another machine, records restored from {keep_dir}")
    return True


def mean_std(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return None, None
    m = sum(xs) / len(xs)
    s = math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1)) if len(xs) > 1 else None
    return m, s     # no spread from one run


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
    keep = None
    bases = [spec["baseline"]] if spec.get("baseline") else []
    jobs = int(spec.get("jobs", 1))
    i = 1
    while i < len(args):
        if args[i] == "--ranks":
            ranks = int(args[i + 1]); i += 2
        elif args[i] == "--jobs":
            jobs = int(args[i + 1]); i += 2
        elif args[i] == "--out":
            out = args[i + 1]; i += 2
        elif args[i] == "--keep" and i + 1 < len(args):
            keep = os.path.abspath(args[i + 1]); i += 2
        elif args[i] == "--dry-run":
            dry = True; i += 1
        elif args[i] == "--report-only":
            report_only = True; i += 1
        elif args[i] in ("--variants", "--baseline") and i + 1 < len(args):
            names = [v for v in args[i + 1].split(",") if v]
            if not names or any(v not in (spec.get("variants") or {}) for v in names):
                die(f"{args[i]} {args[i + 1]}: not among the variants of {args[0]}")
            if args[i] == "--variants":
                spec["variants"] = {v: spec["variants"][v] for v in names}
            else:
                bases = names
            i += 2
        else:
            die(f"unknown argument {args[i]}")
    if jobs < 1 or ranks < 1:
        die("--ranks and --jobs must be >= 1")
    bases = [b for b in bases if b in (spec.get("variants") or {})]    # --variants may leave one out
    if jobs * ranks > (os.cpu_count() or 1):
        print(f"sweep: warning: {jobs} jobs x {ranks} ranks exceed the {os.cpu_count()} cores: "
              "runs will share cores and their wall times will say so", file=sys.stderr)
    if not out:
        out = os.path.join("runs", "sweep-" + os.path.splitext(os.path.basename(args[0]))[0])
    out = os.path.abspath(out)
    if not dry:   # a dry run writes nothing
        os.makedirs(out, exist_ok=True)
    fixed = spec.get("set") or {}
    variants = spec.get("variants") or {}
    keys = (["variant"] if variants else []) + list(spec["grid"])
    gkeys = list(spec["grid"])
    combos = [dict(zip(gkeys, c)) for c in itertools.product(*(spec["grid"][k] for k in gkeys))]
    if variants:
        points = [({"variant": v, **c}, {**(variants[v] or {}), **c}) for v in variants for c in combos]
    else:
        points = [(c, c) for c in combos]
    rdrop = os.environ.get("RDROP", os.path.join(ROOT, "build", "rdrop"))
    print(f"sweep: {len(points)} runs of {spec['config']} on {ranks} ranks, {jobs} at a time, into {out}")

    if keep and not os.access(rdrop, os.X_OK):
        die(f"{rdrop}: no rdrop binary to check the kept records' configs with (bash launch/build.sh, or set RDROP)")
    todo, checks = [], []
    for n, (point, over) in enumerate(points, 1):
        name = run_name(point)
        run_dir = os.path.join(out, name)
        sets = [f"{k}={scalar(v)}" for k, v in {**fixed, **over}.items()]
        cmd = ["bash", os.path.join(HERE, "mpirun.sh"), "-n", str(ranks), "--", rdrop, "train", spec["config"],
               "--out", run_dir, "--resume", "auto"] + [a for s in sets for a in ("--set", s)]
        if keep and not dry and (status_of(os.path.join(keep, name)) or {}).get("status") == "finished":
            cfg = subprocess.run([rdrop, "config", spec["config"], "--out", run_dir] + [a for s in sets for a in ("--set", s)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            if cfg.returncode == 0:
                restore_record(name, run_dir, os.path.join(keep, name), cfg.stdout)
        st = status_of(run_dir)
        if report_only or (st and st.get("status") == "finished"):
            state = (st or {}).get("status", "not run")
            print(f"[{n}/{len(points)}] {name}: " + ("finished, skipped" if state == "finished" else state))
        elif dry:
            print(f"[{n}/{len(points)}] {name}: would run: {' '.join(cmd)}")
            checks.append((name, run_dir, sets))
        else:
            todo.append((n, name, run_dir, st, cmd))
            checks.append((name, run_dir, sets))
    # every run's config is checked before any starts (`rdrop config`: keys, values, data files),
    # so that a typo in the last variant stops the sweep now, not hours into it
    if checks and not os.access(rdrop, os.X_OK):
        die(f"{rdrop}: no rdrop binary to run (bash launch/build.sh, or set RDROP)")
    for name, run_dir, sets in checks:
        chk = subprocess.run([rdrop, "config", spec["config"], "--out", run_dir] + [a for s in sets for a in ("--set", s)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if chk.returncode != 0:
            why = (chk.stderr.strip().splitlines() or [f"rdrop config exited {chk.returncode}"])[-1]
            die(f"{name}: {why.removeprefix('rdrop: ')} (no run was started)")
    if dry:
        print(f"sweep: dry run: {len(checks)} run configs checked, nothing written")
        return 0
    running, stop = [], False
    while todo or running:
        while todo and len(running) < jobs and not stop:
            n, name, run_dir, st, cmd = todo.pop(0)
            print(f"[{n}/{len(points)}] {name}: {'resuming' if st else 'starting'}", flush=True)
            os.makedirs(run_dir, exist_ok=True)
            log = open(os.path.join(run_dir, "sweep.log"), "a")
            running.append((name, run_dir, subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT), log))
        if stop and not running:
            break
        if not running:
            break
        pid, status = os.wait()
        for r in running:
            if r[2].pid == pid:
                name, run_dir, proc, log = r
                proc.returncode = os.waitstatus_to_exitcode(status)
                log.close()
                running.remove(r)
                rc = proc.returncode
                print(f"sweep: {name} {'finished' if rc == 0 else f'exited {rc}'}", flush=True)
                if rc == 0 and keep:
                    keep_record(run_dir, os.path.join(keep, name))
                if rc != 0:
                    print(f"sweep: {name} exited {rc} (see {run_dir}/sweep.log); rerun the sweep to resume it",
                          file=sys.stderr)
                    if rc == 75:         # stopped by a signal or max_seconds: start nothing new
                        stop = True
                break
    if keep and not dry:   # also the runs that finished before --keep was given
        for point, _ in points:
            run_dir = os.path.join(out, run_name(point))
            if (status_of(run_dir) or {}).get("status") == "finished":
                keep_record(run_dir, os.path.join(keep, run_name(point)))
    results = []
    for point, _ in points:
        name = run_name(point)
        s = summarize(read_metrics(os.path.join(out, name)))
        st = status_of(os.path.join(out, name))
        results.append({"run": name, **{k: scalar(v) for k, v in point.items()}, **s,
                        "status": (st or {}).get("status", "not run")})

    write_reports(out, keys, results, bases)
    return 75 if stop else 0


def paired_delta(runs, results, keys, base, col):
    """Column `col` (test_at_best, best_val_acc, final_test_acc) of each finished run minus that of the baseline
    variant's finished run with the same other keys (the same seed, so the same data split and
    init): (mean, std, runs ahead, pairs), in points."""
    other = [k for k in keys if k != "variant"]
    by_key = {tuple(r[k] for k in other): r for r in results
              if r["variant"] == base and r["status"] == "finished" and r[col] is not None}
    d = []
    for r in runs:
        b = by_key.get(tuple(r[k] for k in other))
        if r["status"] == "finished" and r[col] is not None and b is not None:
            d.append(100.0 * (r[col] - b[col]))
    m, sd = mean_std(d)
    return m, sd, sum(x > 0 for x in d), len(d)


def write_reports(out, keys, results, bases=()):
    if isinstance(bases, str):
        bases = [bases]
    cols = ["run"] + keys + ["best_val_acc", "best_step", "test_at_best", "final_test_acc", "epochs", "wall_s",
                             "status"]
    with open(os.path.join(out, "results.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        for r in results:
            w.writerow({c: r.get(c) for c in cols})
    group_keys = [k for k in keys if k != "run.seed"]
    # without a validation split there is no best-validation checkpoint: pair the final test
    # accuracies instead (selection on the test set is then nobody's choice: the last epoch)
    has_val = any(r["best_val_acc"] is not None for r in results)
    pair_cols = ("best_val_acc", "test_at_best") if has_val else ("final_test_acc",)
    pair_heads = [h for base in bases for h in
                  ([f"val vs {base}, paired (points)", f"test vs {base}, paired (points)"] if has_val
                   else [f"final test vs {base}, paired (points)"])]
    groups = {}
    for r in results:
        groups.setdefault(tuple(r[k] for k in group_keys), []).append(r)
    lines = ["| " + " | ".join(group_keys + ["seeds", "best val acc", "test acc at best val",
                                            "final test acc", "epochs", "wall time / run", "s / epoch"]
                            + pair_heads) + " |",
             "|" + "---|" * (len(group_keys) + 7 + len(pair_heads))]
    for gk, runs in groups.items():
        # the figures of a grid point come from its finished runs only: a run still going (or
        # stopped) would pull the mean towards its early epochs
        rs = [r for r in runs if r["status"] == "finished"]
        seeds = str(len(rs)) + (f" (+{len(runs) - len(rs)} unfinished)" if len(rs) < len(runs) else "")
        bv, tb, ft = (mean_std([r[c] for r in rs]) for c in ("best_val_acc", "test_at_best", "final_test_acc"))
        wall, _ = mean_std([r["wall_s"] for r in rs])
        ep = max([r["epochs"] or 0 for r in rs] or [0])
        per_ep, _ = mean_std([r["wall_s"] / r["epochs"] for r in rs if r["wall_s"] and r["epochs"]])
        cells = list(gk) + [seeds, fmt(*bv), fmt(*tb), fmt(*ft), str(ep), f"{wall:.0f} s" if wall else "—",
                            f"{per_ep:.1f}" if per_ep else "—"]
        for base in bases:
            for col in pair_cols:
                if runs[0]["variant"] == base:
                    cells.append("(baseline)")
                    continue
                m, sd, ahead, n = paired_delta(runs, results, keys, base, col)
                cells.append("—" if m is None else
                             f"{m:+.2f}" + (f" ± {sd:.2f}" if sd is not None else "") + f" ({ahead} of {n} ahead)")
        lines.append("| " + " | ".join(cells) + " |")
    # the compute the table cost: what a study's report has to say (wall times as measured, so
    # with --jobs J each includes the other jobs' share of the machine)
    done = [r for r in results if r["status"] == "finished" and r["wall_s"]]
    hours = sum(r["wall_s"] for r in done) / 3600.0
    lines += ["", f"Compute: {len(done)} finished run{'s' if len(done) != 1 else ''}, {hours:.2f} run-hours "
              "(the sum of their wall times)."]
    text = "\n".join(lines) + "\n"
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write(text)
    print(text, end="")
    print(f"sweep: wrote {out}/results.csv and {out}/results.md")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
