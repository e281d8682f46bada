#!/usr/bin/env python3
"""Summarise the runs of tests/bench/run.sh: one markdown table on stdout, all runs + the
summary as JSON.

    summarize.py DETAILS_DIR OUT_JSON THREADS

Per case, every figure is the median over the rounds of each run's own median over its
windows. Ratios between cases (rdrop/PyTorch, R-Drop overhead) are taken per round, from runs
made next to each other, and their median is reported.
"""
import glob
import json
import os
import re
import statistics
import sys


def load(details):
    runs = {}
    for path in sorted(glob.glob(os.path.join(details, "*.json"))):
        m = re.match(r"(.+)-(\d+)\.json$", os.path.basename(path))
        with open(path) as f:
            runs.setdefault(m.group(1), {})[int(m.group(2))] = json.load(f)
    return runs


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def field(runs, case, *keys):
    out = []
    for r in runs.get(case, {}).values():
        v = r
        for k in keys:
            v = v.get(k) if isinstance(v, dict) else None
        out.append(v)
    return med(out)


def ratio(runs, a, b, key="samples_per_s"):
    rounds = set(runs.get(a, {})) & set(runs.get(b, {}))
    return med([runs[a][r][key] / runs[b][r][key] for r in sorted(rounds)
                if runs[a][r].get(key) and runs[b][r].get(key)])


def fmt(v, spec=".0f"):
    return "-" if v is None else format(v, spec)


def main():
    details, out, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    runs = load(details)
    cases = [("r1", "default, 1 rank"), ("r1_passes1", "default, passes 1, 1 rank"),
             ("r2_overlap", "default, 2 ranks, overlap on"), ("r2_no_overlap", "default, 2 ranks, overlap off"),
             ("gemm", "GEMM-dominated (2048-2048, batch 256), 1 rank"), ("cnn", "benchmark CNN (docs/conv.md), 1 rank")]
    summary = {"threads_per_rank": threads, "rounds": max((len(v) for v in runs.values()), default=0), "cases": {}}
    print(f"| case | samples/s | CPU share | step ms | masks | forward | backward | exposed comm | optimizer "
          f"| GFLOP/s | sgemm GFLOP/s | achieved/sgemm | peak RSS MB (expected) | mallocs/step |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for case, title in cases:
        if case not in runs:
            continue
        ph = lambda k: field(runs, case, "phases_ms", k)
        step = field(runs, case, "step_ms")
        comm = ph("comm_exposed")
        rss = med([max(r["rss_peak_bytes"]) for r in runs[case].values()])
        exp = field(runs, case, "rss_expected_bytes")
        row = {"samples_per_s": field(runs, case, "samples_per_s"), "step_ms": step,
               "phases_ms": {k: ph(k) for k in runs[case][min(runs[case])]["phases_ms"]},
               "comm_exposed_frac": field(runs, case, "comm_exposed_frac"),
               "achieved_gflops": field(runs, case, "achieved_gflops"),
               "sgemm_gflops": field(runs, case, "sgemm_gflops"),
               "achieved_over_sgemm": field(runs, case, "achieved_over_sgemm"),
               "rss_peak_bytes_max_rank": rss, "rss_expected_bytes": exp,
               "rss_ratio": field(runs, case, "rss_ratio"), "mallocs_per_step": field(runs, case, "mallocs_per_step"),
               "ranks": field(runs, case, "ranks"), "cpu_share": field(runs, case, "cpu_share"),
               "cpu_ms_per_step": field(runs, case, "cpu_ms_per_step")}
        summary["cases"][case] = row
        print(f"| {title} | {fmt(row['samples_per_s'])} | {fmt(row['cpu_share'], '.2f')} | {fmt(step, '.2f')} "
              f"| {fmt(ph('masks'), '.2f')} "
              f"| {fmt(ph('forward'), '.2f')} | {fmt(ph('backward'), '.2f')} "
              f"| {fmt(comm, '.2f')} ({fmt(100 * row['comm_exposed_frac'], '.1f')}%) | {fmt(ph('optimizer'), '.2f')} "
              f"| {fmt(row['achieved_gflops'], '.1f')} | {fmt(row['sgemm_gflops'], '.1f')} "
              f"| {fmt(row['achieved_over_sgemm'], '.2f')} | {fmt(rss / 2**20, '.1f')} ({fmt(exp / 2**20, '.1f')}, "
              f"x{fmt(row['rss_ratio'], '.2f')}) | {fmt(row['mallocs_per_step'], '.1f')} |")
    for case in ("torch", "torch_passes1", "torch_blas_unset", "torch_cnn", "torch_cnn_nchw"):
        if case in runs:
            summary["cases"][case] = {"samples_per_s": field(runs, case, "samples_per_s"),
                                      "cpu_share": field(runs, case, "cpu_share"),
                                      "samples_per_cpu_s": field(runs, case, "samples_per_cpu_s")}
    vs_torch = ratio(runs, "r1", "torch")
    vs_torch_cpu = ratio(runs, "r1", "torch", "samples_per_cpu_s")
    rd_over = ratio(runs, "r1_passes1", "r1", "samples_per_cpu_s")
    th_over = ratio(runs, "torch_passes1", "torch", "samples_per_cpu_s")
    scaling = ratio(runs, "r2_overlap", "r1")
    # What rdrop would reach if its step took exactly the sgemm time of its GEMMs.
    ceiling = med([runs["r1"][r]["batch"] / (runs["r1"][r]["gemm_gflop_per_step"] / runs["r1"][r]["sgemm_gflops"])
                   / runs["torch"][r]["samples_per_s"]
                   for r in sorted(set(runs.get("r1", {})) & set(runs.get("torch", {})))
                   if runs["r1"][r].get("sgemm_gflops")])
    summary["ratios"] = {"rdrop_over_pytorch_1rank": vs_torch, "rdrop_over_pytorch_1rank_per_cpu_s": vs_torch_cpu, "rdrop_rdrop_overhead_per_sample": rd_over,
                         "pytorch_rdrop_overhead_per_sample": th_over, "speedup_2_ranks_over_1": scaling,
                         "sgemm_bound_over_pytorch_1rank": ceiling}
    print()
    print("| comparison | value |")
    print("|---|---:|")
    t = summary["cases"].get("torch", {}).get("samples_per_s")
    ts = summary["cases"].get("torch", {}).get("cpu_share")
    print(f"| PyTorch {threads} thread, default config: samples/s (CPU share) | {fmt(t)} ({fmt(ts, '.2f')}) |")
    print(f"| rdrop / PyTorch, 1 rank x {threads} thread | {fmt(vs_torch, '.2f')}x |")
    print(f"| the same per CPU-second (samples / CPU s: insensitive to other jobs' time slices) "
          f"| {fmt(vs_torch_cpu, '.2f')}x |")
    print(f"| bound: rdrop's GEMMs at the sgemm speed alone, nothing else / PyTorch | {fmt(ceiling, '.2f')}x |")
    u = summary["cases"].get("torch_blas_unset", {}).get("samples_per_s")
    if u:
        print(f"| PyTorch with OPENBLAS_NUM_THREADS unset (OpenBLAS threads = cores): samples/s | {fmt(u)} |")
        print(f"| rdrop / that | {fmt(ratio(runs, 'r1', 'torch_blas_unset'), '.2f')}x |")
    for tc, title in (("torch_cnn", "channels_last"), ("torch_cnn_nchw", "NCHW")):
        if "cnn" in runs and tc in runs:
            r_cnn = ratio(runs, "cnn", tc)
            r_cnn_cpu = ratio(runs, "cnn", tc, "samples_per_cpu_s")
            summary["ratios"][f"cnn_rdrop_over_{tc}"] = r_cnn
            summary["ratios"][f"cnn_rdrop_over_{tc}_per_cpu_s"] = r_cnn_cpu
            print(f"| benchmark CNN: rdrop / PyTorch {title}, samples/s (per CPU-second) "
                  f"| {fmt(r_cnn, '.2f')}x ({fmt(r_cnn_cpu, '.2f')}x) |")
    print(f"| R-Drop overhead per sample (CPU time passes 2 / passes 1), rdrop | {fmt(rd_over, '.2f')}x |")
    print(f"| R-Drop overhead per sample, PyTorch | {fmt(th_over, '.2f')}x |")
    print(f"| 2 ranks / 1 rank samples/s (overlap on) | {fmt(scaling, '.2f')}x |")
    for case in ("r2_overlap", "r2_no_overlap"):
        if case in summary["cases"]:
            c = summary["cases"][case]
            # The least disturbed window: on a shared machine most of the wait is for a rank
            # that another job's time slice delayed.
            best = min((min(r["comm_exposed_frac_windows"]) for r in runs[case].values()
                        if r.get("comm_exposed_frac_windows")), default=None)
            c["comm_exposed_frac_best_window"] = best
            print(f"| exposed communication, {case.replace('r2_', '2 ranks, ').replace('_', ' ')} "
                  f"| {fmt(c['phases_ms']['comm_exposed'], '.2f')} ms = {fmt(100 * c['comm_exposed_frac'], '.1f')}% "
                  f"of the step (best window {fmt(None if best is None else 100 * best, '.1f')}%) |")
    # The 1-minute load average at the start of every run, as a range: the cases run
    # round-robin and the benchmark's own runs load the machine, so no single run speaks for all.
    loads = sorted(float(r["loadavg_start"].split()[0]) for v in runs.values() for r in v.values()
                   if r.get("loadavg_start"))
    summary["loadavg_start_min_max"] = [loads[0], loads[-1]] if loads else None
    if loads:
        print(f"\n1-minute load average at the start of the {len(loads)} runs: {loads[0]:.2f} to {loads[-1]:.2f}")
    summary["runs"] = runs
    with open(out, "w") as f:
        json.dump(summary, f, indent=1)
        f.write("\n")
    print(f"\n(medians of {summary['rounds']} round(s); every run: {out})")


if __name__ == "__main__":
    main()
