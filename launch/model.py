#!/usr/bin/python3
"""Performance model of rdrop's data-parallel step (python3 standard library only).

    step time = forward + backward + optimizer + other      (measured at 1 rank)
              + exposed allreduce                          (alpha-beta model + overlap)

Allreduce of one bucket of n bytes over p ranks (alpha = per-message latency, beta = seconds
per byte on a node's link, reduction cost folded into beta):
    tree (binomial reduce + binomial broadcast: Open MPI 4.1 libnbc's own choice for an
          MPI_Iallreduce(MPI_IN_PLACE, ...), algorithm 2): T = 2 L (alpha + n beta),   L = ceil(log2 p)
    ring (algorithm 1, what rdrop selects unless the user sets coll_libnbc_iallreduce_algorithm):
          T = 2 (p-1) alpha + 2 (p-1)/p n beta
Overlap: rdrop starts bucket k's allreduce as soon as backward has finished its gradients
(launch/stepbench.c records when, with the trainer's own backward and bucket plan); buckets
go one after another on the links; what is left after backward is exposed. A tree's reduce
half flows towards the root and its broadcast half away from it, so on full-duplex links the
next bucket's reduce overlaps this bucket's broadcast:
    tree: up_k = max(ready_k, up_k-1) + T_k/2;  down_k = max(up_k, down_k-1) + T_k/2
    ring: free_k = max(ready_k, free_k-1) + T_k
    exposed = max(0, end of the last bucket - backward)

Fit: alpha per (link, algorithm) from the 4-byte allreduce, beta by least squares over the >= 1 MB
messages of the allreduce benchmark
(comm.jsonl, launch/allreduce_bench.c run on the emulated cluster by launch/scale.sh
--comm-bench). For other link rates: beta(rate) = beta_host + 8/rate, beta_host = the fitted
beta of the unlimited emulated link (the host's TCP stack and memory copies).
Checks: every emulated training point of scaling (raw.jsonl) against
  A: compute measured at 1 rank (stepbench, scaled to the trainer's 1-rank step) + exposed model
  B: compute as measured in that very run (the trainer's compute_s; on this 2-core machine N
     ranks share the cores, which A cannot know) + exposed model
Predictions: efficiency at 8 .. 1024 nodes (1 rank per node) on 1, 10, 100 Gbit/s for the
default config and a 10x wider model (stepbench files), weak scaling (per-node batch fixed)
and strong scaling (global batch fixed, while it is >= the node count); weak scaling on the
ring also with dist.compress (half the bytes; the conversions' CPU time is not modelled).

usage: launch/model.py RESULTS_DIR [--wide STEPBENCH_JSON] [--out FILE.md]
  RESULTS_DIR: a launch/scale.sh output (raw.jsonl, stepbench.jsonl, comm.jsonl)
  --wide: stepbench output(s) of the 10x wider model (one JSON object per line, any batches)
"""
import json
import math
import os
import statistics as st
import sys


def load_jsonl(path):
    if not os.path.exists(path):
        return []
    rows = [json.loads(l) for l in open(path) if l.strip()]
    for r in rows:               # results of scale.sh before it named both algorithms explicitly
        if r.get("allreduce") == "default":
            r["allreduce"] = "tree"
    return rows


def ceil_log2(p):
    return max(1, math.ceil(math.log2(p))) if p > 1 else 0


def coeffs(alg, p, nbytes):
    """(a, b) with T = a*alpha + b*beta for one allreduce of nbytes over p ranks."""
    if p <= 1:
        return 0.0, 0.0
    if alg == "ring":
        return 2.0 * (p - 1), 2.0 * (p - 1) / p * nbytes
    L = ceil_log2(p)
    return 2.0 * L, 2.0 * L * nbytes


def allreduce_s(alg, p, nbytes, alpha, beta):
    a, b = coeffs(alg, p, nbytes)
    return a * alpha + b * beta


def fit_alpha_beta(points, alg):
    """alpha from the smallest messages (median of T/a over the rank counts: robust to one odd
    point), then beta by least squares over the messages of >= 1 MB, relative residuals."""
    small = min(n for _, n, _ in points)
    al = [t / coeffs(alg, p, n)[0] for p, n, t in points if n == small and coeffs(alg, p, n)[0] > 0]
    alpha = st.median(al) if al else 0.0
    num = den = 0.0
    for p, n, t in points:
        if n < 1 << 20:
            continue
        a, b = coeffs(alg, p, n)
        w = 1.0 / max(t, 1e-7) ** 2
        num += w * b * max(t - a * alpha, 0.0)
        den += w * b * b
    beta = num / den if den > 0 else 0.0
    return alpha, beta


def rate_of(link):
    """bits/s of a link name like 1gbit, 10gbit+1ms, 500mbit; None for unlimited/local."""
    bw = link.split("+")[0].lower()
    for suf, mul in (("gbit", 1e9), ("mbit", 1e6), ("kbit", 1e3)):
        if bw.endswith(suf):
            return float(bw[: -len(suf)]) * mul
    return None


def delay_of(link):
    if "+" not in link:
        return 0.0
    d = link.split("+", 1)[1]
    for suf, mul in (("us", 1e-6), ("ms", 1e-3), ("s", 1.0)):
        if d.endswith(suf):
            return float(d[: -len(suf)]) * mul
    return 0.0


class Profile:
    """One rank's step at any per-rank batch: forward+backward linear in the batch (fitted on
    stepbench points), optimizer constant, bucket readiness as fractions of backward."""

    def __init__(self, benches):
        self.benches = sorted(benches, key=lambda r: r["batch"])
        b = [r["batch"] for r in self.benches]
        fb = [r["fwd_ms"] + r["bwd_ms"] for r in self.benches]
        bw = [r["bwd_ms"] for r in self.benches]
        self.fb = linfit(b, fb)
        self.bw = linfit(b, bw)
        self.opt_ms = st.median([r["opt_ms"] for r in self.benches])
        ref = self.benches[-1]
        self.params = ref["params"]
        self.buckets = [((hi - lo) * 4, ready / ref["bwd_ms"] if ref["bwd_ms"] > 0 else 1.0)
                        for lo, hi, ready in ref["buckets"]]

    def fwdbwd_ms(self, batch):
        return max(self.fb[0] + self.fb[1] * batch, 1e-3)

    def bwd_ms(self, batch):
        return max(self.bw[0] + self.bw[1] * batch, 1e-3)


def linfit(x, y):
    if len(x) == 1:
        return 0.0, y[0] / x[0]
    mx, my = st.mean(x), st.mean(y)
    sxx = sum((a - mx) ** 2 for a in x)
    b = sum((a - mx) * (c - my) for a, c in zip(x, y)) / sxx if sxx > 0 else 0.0
    return my - b * mx, b


def exposed_ms(profile, batch, p, alg, alpha, beta, speed=1.0, byte_factor=1.0):
    """Exposed allreduce time (ms) after backward, buckets in the trainer's order; speed scales
    the backward (a slower CPU leaves more time to hide communication); byte_factor scales the
    bytes on the wire (0.5: dist.compress bf16/fp16, docs/scale.md)."""
    if p <= 1:
        return 0.0
    bwd = speed * profile.bwd_ms(batch)
    up = down = 0.0              # when the links towards / away from the root are free
    for nbytes, frac in profile.buckets:
        ready = frac * bwd
        t = 1e3 * allreduce_s(alg, p, nbytes * byte_factor, alpha, beta)
        if alg == "ring":        # every step uses both directions of every link: one after another
            up = down = max(ready, up, down) + t
        else:                    # tree: reduce flows up, broadcast flows down (full duplex), so the
            up = max(ready, up) + t / 2              # next bucket's reduce overlaps this broadcast
            down = max(up, down) + t / 2
    return max(0.0, max(up, down) - bwd)


def fmt_ms(x):
    return f"{x:.1f}"


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__)
        return 0 if len(argv) >= 2 else 2
    res = argv[1]
    wide_files, out = [], None
    i = 2
    while i < len(argv):
        if argv[i] == "--wide":
            wide_files.append(argv[i + 1]); i += 2
        elif argv[i] == "--out":
            out = argv[i + 1]; i += 2
        else:
            print(f"model.py: unknown argument {argv[i]}", file=sys.stderr); return 2
    raw = load_jsonl(os.path.join(res, "raw.jsonl"))
    comm = load_jsonl(os.path.join(res, "comm.jsonl"))
    bench = load_jsonl(os.path.join(res, "stepbench.jsonl"))
    if not bench:
        print("model.py: no stepbench.jsonl in the results (launch/scale.sh builds launch/stepbench.c)", file=sys.stderr)
        return 1
    lines = []
    say = lines.append
    prof = Profile(bench)

    # ---- 1. fit alpha, beta per (link, algorithm) ----
    fits = {}
    say("### Allreduce fit (alpha-beta, per link and algorithm)\n")
    say("Least squares over the allreduce benchmark (message sizes 4 B .. rdrop's buckets, 2-4 emulated "
        "nodes; medians of 9). `ring` = libnbc algorithm 1 (rdrop's default), `tree` = binomial reduce + "
        "broadcast (algorithm 2, Open MPI 4.1 libnbc's own choice for an in-place MPI_Iallreduce).\n")
    say("| link | algorithm | alpha (us) | beta (ns/B) | effective GB/s (1/beta) | nominal GB/s | points | median / max error (>= 1 MB) |")
    say("|---|---|---:|---:|---:|---:|---:|---:|")
    by = {}
    for r in comm:
        if r.get("where") != "cluster":
            continue
        by.setdefault((r["link"], r["allreduce"]), []).append((r["ranks"], r["bytes"], r["ms"] / 1e3))
    for (link, alg), pts in sorted(by.items(), key=lambda kv: (rate_of(kv[0][0]) or 1e30, delay_of(kv[0][0]), kv[0][1]), reverse=False):
        a, b = fit_alpha_beta(pts, alg)
        fits[(link, alg)] = (a, b)
        errs = [abs(allreduce_s(alg, p, n, a, b) - t) / t for p, n, t in pts if n >= 1 << 20]
        rate = rate_of(link)
        say(f"| {link} | {alg} | {a * 1e6:.1f} | {b * 1e9:.3f} | {1 / b / 1e9 if b > 0 else float('inf'):.2f} | "
            f"{rate / 8e9 if rate else float('nan'):.3g} | {len(pts)} | {100 * st.median(errs) if errs else 0:.0f}% / {100 * max(errs) if errs else 0:.0f}% |")
    say("")
    # the host's own costs (TCP stack, copies, reduction) are a property of the transport, not of the
    # algorithm: both algorithms use the unlimited link's fit (ring preferred)
    hfit = fits.get(("unlimited", "ring")) or fits.get(("unlimited", "tree")) or (50e-6, 0.3e-9)
    host = {"tree": hfit, "ring": hfit}
    for (link, alg), (a, b) in sorted(fits.items()):
        rate = rate_of(link)
        if rate:
            pred = host[alg][1] + 8.0 / rate
            say(f"- {link} {alg}: fitted beta {b * 1e9:.2f} ns/B vs beta_host + 8/rate = {pred * 1e9:.2f} ns/B")
        if delay_of(link) > 0:
            say(f"- {link} {alg}: alpha {a * 1e6:.0f} us with {delay_of(link) * 1e3:g} ms one-way delay "
                f"(alpha_host {host[alg][0] * 1e6:.0f} us)")
    say("")

    # ---- 2. every emulated point: prediction vs measurement ----
    base = [r for r in raw if r["ranks"] == 1 and r["where"] == "local"]
    if base:
        gb = base[0]["global_batch"]
        t1_step = st.median([r["step_ms"] for r in base])
        t1_comp = st.median([r["trainer_compute_ms"] for r in base])
        kappa = (t1_comp - prof.opt_ms) / prof.fwdbwd_ms(gb) if prof.fwdbwd_ms(gb) > 0 else 1.0
        other1 = t1_step - t1_comp
        say(f"### Step model vs measurement (every emulated point)\n")
        say(f"1-rank step at batch {gb}: {t1_step:.1f} ms measured (trainer compute {t1_comp:.1f} ms incl. optimizer "
            f"{prof.opt_ms:.1f} ms; other {other1:.1f} ms). stepbench forward+backward scaled by "
            f"{kappa:.2f} to the trainer's 1-rank compute. A = 1-rank compute + modelled exposed allreduce; "
            f"B = compute measured in the run + modelled exposed allreduce.\n")
        say("| mode | nodes | link | allreduce | batch/rank | measured step ms | A: predicted | A error | B: predicted | B error | exposed comm measured | exposed predicted A / B |")
        say("|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        groups = {}
        for r in raw:
            if r["where"] != "cluster":
                continue
            groups.setdefault((r["mode"], r["nodes"], r["ppn"], r["link"], r["allreduce"], r["global_batch"]), []).append(r)
        errs_a, errs_b = [], []
        for k in sorted(groups, key=lambda k: (k[0], rate_of(k[3]) or 1e30, delay_of(k[3]), k[4], k[1])):
            rs = groups[k]
            mode, nodes, ppn, link, alg, gbatch = k
            p = nodes * ppn
            bl = gbatch / p
            meas = st.median([r["step_ms"] for r in rs])
            meas_comm = st.median([r["comm_exposed_ms"] for r in rs])
            meas_comp = st.median([r["trainer_compute_ms"] for r in rs])
            fit = fits.get((link, alg))
            if fit is None:
                say(f"| {mode} | {nodes} | {link} | {alg} | {bl:g} | {meas:.1f} | (no allreduce fit for this link) | | | | {meas_comm:.1f} | |")
                continue
            exp = exposed_ms(prof, bl, p, alg, *fit, speed=kappa)
            pa = kappa * prof.fwdbwd_ms(bl) + prof.opt_ms + other1 + exp
            speed_b = max(meas_comp - prof.opt_ms, 1e-3) / prof.fwdbwd_ms(bl)
            exp_b = exposed_ms(prof, bl, p, alg, *fit, speed=speed_b)
            pb = meas_comp + other1 + exp_b
            ea, eb = (pa - meas) / meas, (pb - meas) / meas
            errs_a.append(abs(ea)); errs_b.append(abs(eb))
            say(f"| {mode} | {nodes} | {link} | {alg} | {bl:g} | {meas:.1f} | {pa:.1f} | {100 * ea:+.0f}% | {pb:.1f} | {100 * eb:+.0f}% | {meas_comm:.1f} | {exp:.1f} / {exp_b:.1f} |")
        if errs_a:
            say(f"\nMedian |error|: A {100 * st.median(errs_a):.0f}%, B {100 * st.median(errs_b):.0f}% over {len(errs_a)} points.\n")

    # ---- 3. predictions ----
    wide = []
    for f in wide_files:
        wide += load_jsonl(f)
    models = [("default config", prof)]
    if wide:
        models.append((f"10x wider ({Profile(wide).params / 1e6:.0f} M parameters)", Profile(wide)))
    rates = [1e9, 10e9, 100e9]
    nodes_list = [8, 16, 32, 64, 128, 256, 512, 1024]
    strong_nodes = [8, 16, 32, 64, 128]
    a_host = {alg: host[alg][0] for alg in host}
    b_host = {alg: host[alg][1] for alg in host}
    say("### Predicted efficiency at scale (1 rank per node)\n")
    say(f"alpha = {a_host['ring'] * 1e6:.0f} us and "
        f"beta = beta_host ({b_host['ring'] * 1e9:.2f} ns/B) + 8/rate, both fitted on "
        "the emulated cluster (TCP over veth); compute, optimizer and bucket readiness from stepbench at 1 rank. "
        "Weak: every node keeps a batch of 128 (global batch 128 x nodes), efficiency = T(1 rank) / T(N). "
        "Strong: global batch 128 split over the nodes (at most 128 nodes: one sample each), efficiency = T(1) / (N T(N)).\n")
    for name, pr in models:
        b1 = 128
        t1 = pr.fwdbwd_ms(b1) + pr.opt_ms
        say(f"**{name}**: 1-rank step {t1:.0f} ms at batch 128 (forward+backward {pr.fwdbwd_ms(b1):.0f}, optimizer "
            f"{pr.opt_ms:.1f}); gradient {pr.params * 4 / 1e6:.1f} MB in {len(pr.buckets)} buckets.\n")
        hdr = "| nodes | " + " | ".join(f"{int(r / 1e9)} Gbit/s {alg}" for r in rates for alg in ("tree", "ring")) + " |"
        for mode in ("weak", "strong"):
            say(f"{mode} scaling:\n")
            say(hdr)
            say("|---:|" + "---:|" * (len(rates) * 2))
            for n in (nodes_list if mode == "weak" else strong_nodes):
                cells = []
                for rate in rates:
                    for alg, key in (("tree", "tree"), ("ring", "ring")):
                        alpha, beta = a_host[key], b_host[key] + 8.0 / rate
                        if mode == "weak":
                            bl = b1
                            tn = pr.fwdbwd_ms(bl) + pr.opt_ms + exposed_ms(pr, bl, n, key, alpha, beta)
                            e = t1 / tn
                        else:
                            if n > b1:
                                cells.append("n/a"); continue
                            bl = b1 / n
                            tn = pr.fwdbwd_ms(bl) + pr.opt_ms + exposed_ms(pr, bl, n, key, alpha, beta)
                            e = t1 / (n * tn)
                        cells.append(f"{e:.2f}")
                say(f"| {n} | " + " | ".join(cells) + " |")
            say("")
        # dist.compress (docs/scale.md): the ring with half the bytes; the conversions' CPU cost
        # (two passes over the gradient plus the 16-bit reduction) is not modelled (not fitted).
        say("weak scaling, ring, float32 vs dist.compress bf16/fp16 (half the bytes; conversion cost not modelled):\n")
        say("| nodes | " + " | ".join(f"{int(r / 1e9)} Gbit/s {v}" for r in rates for v in ("fp32", "16-bit")) + " |")
        say("|---:|" + "---:|" * (len(rates) * 2))
        for n in nodes_list:
            cells = []
            for rate in rates:
                alpha, beta = a_host["ring"], b_host["ring"] + 8.0 / rate
                for factor in (1.0, 0.5):
                    tn = pr.fwdbwd_ms(b1) + pr.opt_ms + exposed_ms(pr, b1, n, "ring", alpha, beta, byte_factor=factor)
                    cells.append(f"{t1 / tn:.2f}")
            say(f"| {n} | " + " | ".join(cells) + " |")
        say("")
    text = "\n".join(lines) + "\n"
    print(text)
    if out:
        open(out, "w").write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
