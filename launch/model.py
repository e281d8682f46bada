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
ring also with dist.compress (half the bytes; here the conversions' CPU time is not modelled,
the --features section below models it).

Scale features (docs/scale.md; --features), per optimizer step of a rank with batch b:
  compute   = k kappa fwdbwd(b/k) + optimizer + k n c_pass      (training.accumulate k: k micro-
              batches; k passes over the n gradient floats to accumulate them; kappa scales
              stepbench to the trainer's 1-rank compute)
  overlap   only the LAST micro-batch's backward; dist.overlap off (the run's verdict): every bucket
            starts after backward
  16-bit    (dist.compress bf16/fp16) half the bytes per bucket; + compress n_b floats on the CPU
            when bucket b starts (inside backward when it starts there), + expand them after it
            arrives, + the 16-bit reduction op on the (p-1)/p n_b floats a rank reduces: per-float
            CPU costs measured by launch/halfbench.c (not fitted)
  hierarchical (dist.hierarchical, P ranks per node, N nodes) per bucket, pipelined over buckets:
            node-local reduce ceil(log2 P) (alpha_l + n beta_l), the leaders' ring over N nodes at
            the network's alpha, beta, node-local broadcast as the reduce; alpha_l, beta_l (shared
            memory) fitted on a 2-rank allreduce benchmark on one machine (binomial: 2 (alpha_l + n beta_l))
  buckets   the trainer's bucket plan for the run's dist.bucket_mb (stepbench --set dist.bucket_mb=X)
Checks (A, B as above) on every emulated point of launch/scale_features.sh (its raw.jsonl; the
1-rank point at the smallest per-rank batch gives kappa and the step's "other" time), then weak
efficiency at 8 / 64 / 1,024 nodes on 1 / 10 / 100 Gbit/s for the default MLP and the benchmark
CNN (--cnn): float32, bf16, bf16 + accumulate 4 (per node 4 x 128 samples per step).

usage: launch/model.py RESULTS_DIR [--wide STEPBENCH_JSON] [--out FILE.md]
                       [--features RAW_JSONL]... [--stepbench JSONL] [--cnn JSONL] [--half JSON]
                       [--local-comm JSONL]
  RESULTS_DIR: a launch/scale.sh output (raw.jsonl, stepbench.jsonl, comm.jsonl)
  --wide: stepbench output(s) of the 10x wider model (one JSON object per line, any batches)
  --features: launch/scale_features.sh raw.jsonl file(s); the links' alpha, beta come from
      RESULTS_DIR's comm.jsonl. The other inputs default to files in the first features file's
      folder: --stepbench mlp-stepbench.jsonl (the default config, every dist.bucket_mb the runs
      use), --cnn cnn-stepbench.jsonl (configs/bench/fashion_cnn_bench.yaml), --half
      halfbench.jsonl, --local-comm local-comm.jsonl (allreduce_bench, 2 ranks, one machine,
      coll_libnbc_iallreduce_algorithm 2)
"""
import json
import math
import os
import statistics as st
import sys


def load_jsonl(path):
    if not os.path.exists(path):
        return []
    rows = []
    for i, l in enumerate(open(path), 1):
        if l.strip():
            try:
                rows.append(json.loads(l))
            except ValueError:
                sys.exit(f"model.py: {path} line {i}: not a JSON object")
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
        self.buckets = self.plan_of(ref)
        self.plans = {}          # dist.bucket_mb -> bucket plan (the largest batch measured with it)
        for r in self.benches:
            self.plans[float(r.get("bucket_mb", 4))] = self.plan_of(r)

    @staticmethod
    def plan_of(r):
        """[(float32 bytes, ready as a fraction of backward)] in the trainer's bucket order."""
        return [((hi - lo) * 4, ready / r["bwd_ms"] if r["bwd_ms"] > 0 else 1.0) for lo, hi, ready in r["buckets"]]

    def plan(self, bucket_mb):
        if float(bucket_mb) not in self.plans:
            raise KeyError(f"no stepbench row with dist.bucket_mb={bucket_mb:g} (run stepbench --set dist.bucket_mb={bucket_mb:g})")
        return self.plans[float(bucket_mb)]

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


# ---- scale features (docs/scale.md): compression, accumulation, hierarchical allreduce ----

class Costs:
    """Per-float CPU costs (ns) of launch/halfbench.c and the node-local alpha, beta (s, s/B)."""

    def __init__(self, half, local):
        self.half = half
        self.pass_ns = half.get("f32_sum_ns_per_float", 0.0)      # one accumulate pass
        self.alpha_l, self.beta_l = local

    def conv(self, fmt):
        """(compress, expand, 16-bit reduction) ns per float; zeros for float32."""
        if fmt not in ("bf16", "fp16"):
            return 0.0, 0.0, 0.0
        h = self.half
        return h[f"{fmt}_compress_ns_per_float"], h[f"{fmt}_expand_ns_per_float"], h[f"{fmt}_sum_ns_per_float"]


def feature_comm(plan, bwd, nodes, ppn, alpha, beta, costs, fmt="none", hier=False, overlap=True):
    """(CPU ms added inside backward, exposed ms after it) of one step's bucketed allreduce on
    the ring (rdrop's default), flat or hierarchical, float32 or 16-bit; bwd = the last
    micro-batch's backward (ms); plan = [(float32 bytes, ready fraction of backward)]."""
    p = nodes * ppn
    if p <= 1:
        return 0.0, 0.0
    c_comp, c_exp, c_sum = costs.conv(fmt)
    factor = 0.5 if fmt in ("bf16", "fp16") else 1.0
    # when each bucket starts: its gradients are final and (16-bit) compressed on the CPU; a
    # compression inside backward delays the rest of backward, those after it run one by one
    starts, cpu_in_bwd, late = [None] * len(plan), 0.0, []
    for i, (nbytes, frac) in enumerate(plan):
        c = 1e-6 * c_comp * nbytes / 4
        if overlap and frac < 0.999:
            cpu_in_bwd += c
            starts[i] = frac * bwd + cpu_in_bwd
        else:
            late.append((i, c))
    bwd_end = bwd + cpu_in_bwd
    t = bwd_end
    for i, c in late:
        t += c
        starts[i] = t
    lg = ceil_log2(ppn) if hier else 0
    net_free = loc_free = 0.0
    cpu = t                      # the CPU after the last compression
    for i, (nbytes, _) in enumerate(plan):
        nb, nf = nbytes * factor, nbytes / 4
        if not hier:
            red = 1e-6 * c_sum * nf * (p - 1) / p
            net_free = max(starts[i], net_free) + 1e3 * allreduce_s("ring", p, nb, alpha, beta) + red
            done = net_free
        else:
            loc = 1e3 * lg * (costs.alpha_l + nb * costs.beta_l)
            red_l = 1e-6 * c_sum * nf * lg
            red_n = 1e-6 * c_sum * nf * (nodes - 1) / nodes if nodes > 1 else 0.0
            loc_free = max(starts[i], loc_free) + loc + red_l                      # node-local reduce
            net_free = max(loc_free, net_free) + 1e3 * allreduce_s("ring", nodes, nb, alpha, beta) + red_n
            loc_free = max(net_free, loc_free) + loc                               # node-local broadcast
            done = loc_free
        cpu = max(cpu, done) + 1e-6 * c_exp * nf                                   # expand on arrival
    return cpu_in_bwd, max(0.0, cpu - bwd_end)


def feature_compute(prof, batch, k, kappa, costs):
    """1-rank compute ms of a step of `batch` samples in k micro-batches (optimizer included)."""
    acc = 1e-6 * costs.pass_ns * prof.params * k if k > 1 else 0.0
    return k * kappa * prof.fwdbwd_ms(batch / k) + prof.opt_ms + acc


def features_section(say, rows, prof, fits, costs):
    """Every emulated point of launch/scale_features.sh against the model (A and B)."""
    local = [r for r in rows if r["where"] == "local"]
    if not local:
        say("(no 1-rank point in the features file: nothing to calibrate)\n")
        return
    b0 = min(r["local_batch"] for r in local if r["accumulate"] == 1)
    base = [r for r in local if r["local_batch"] == b0 and r["accumulate"] == 1]
    t1_step = st.median([r["step_ms"] for r in base])
    t1_comp = st.median([r["compute_ms"] for r in base])
    kappa = (t1_comp - prof.opt_ms) / prof.fwdbwd_ms(b0)
    other1 = t1_step - t1_comp
    links = sorted({r["link"] for r in rows if r["where"] not in ("local", "pair")})
    say("### Scale features: model vs every emulated point\n")
    say(f"Calibration: the 1-rank point at batch {b0:g} ({len(base)} runs): step {t1_step:.1f} ms, trainer compute "
        f"{t1_comp:.1f} ms (stepbench forward+backward scaled by kappa = {kappa:.2f}; optimizer {prof.opt_ms:.1f} ms; "
        f"other {other1:.1f} ms). Per-float CPU costs (launch/halfbench.c): accumulate pass {costs.pass_ns:.2f} ns, "
        + ", ".join(f"{f} compress / expand / sum {costs.conv(f)[0]:.2f} / {costs.conv(f)[1]:.2f} / {costs.conv(f)[2]:.2f} ns"
                    for f in ("bf16", "fp16"))
        + f". Node-local (shared memory) alpha_l {costs.alpha_l * 1e6:.1f} us, beta_l {costs.beta_l * 1e9:.3f} ns/B. "
        + "Network: " + ", ".join(f"{l} ring alpha {fits[(l, 'ring')][0] * 1e6:.1f} us, beta {fits[(l, 'ring')][1] * 1e9:.3f} ns/B"
                                  for l in links if (l, "ring") in fits)
        + " (comm.jsonl). Per point: medians over its runs; the prediction takes each run's dist.overlap verdict "
        "(median over the runs). A = 1-rank compute (kappa, accumulate passes, conversions) + modelled exposed "
        "allreduce; B = the run's own compute + modelled exposed allreduce (fair where the emulated nodes share "
        "this machine's cores).\n")
    say("| point | nodes x ranks | link | batch/rank (k) | compress | bucket MB | hier | overlap | measured step ms | A | A error | B | B error | compute measured / A | exposed measured | exposed A / B |")
    say("|---|---|---|---|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    groups = {}
    for r in rows:
        groups.setdefault((r["point"], r["link"]), []).append(r)
    errs_a, errs_b = [], []
    for (point, link), rs in groups.items():
        r0 = rs[0]
        if r0["where"] == "pair":
            continue
        k, bl = r0["accumulate"], r0["local_batch"]
        meas = st.median([r["step_ms"] for r in rs])
        meas_comp = st.median([r["compute_ms"] for r in rs])
        meas_comm = st.median([r["comm_exposed_ms"] for r in rs])
        comp_a = feature_compute(prof, bl, k, kappa, costs)
        if r0["where"] == "local":
            pa = comp_a + other1
            ea = (pa - meas) / meas
            if not (k == 1 and bl == b0):
                errs_a.append(abs(ea))
            say(f"| {point}{' (calibration)' if k == 1 and bl == b0 else ''} | 1 x 1 | local | {bl:g} ({k}) | none | | | | "
                f"{meas:.1f} | {pa:.1f} | {100 * ea:+.0f}% | | | {meas_comp:.1f} / {comp_a:.1f} | | |")
            continue
        fit = fits.get((link, "ring"))
        if fit is None:
            say(f"| {point} | {r0['nodes']} x {r0['ppn']} | {link} | {bl:g} ({k}) | (no allreduce fit for link {link}) |")
            continue
        plan = prof.plan(r0["bucket_mb"])
        pas, pbs, xas, xbs, cas = [], [], [], [], []
        for r in rs:
            ov = r.get("overlap", "on") != "off"
            cpu_a, exp_a = feature_comm(plan, kappa * prof.bwd_ms(bl / k), r["nodes"], r["ppn"], *fit, costs,
                                        r["compress"], r["hierarchical"], ov)
            pas.append(comp_a + cpu_a + other1 + exp_a); xas.append(exp_a); cas.append(comp_a + cpu_a)
            # B: the run's compute (conversions inside backward and accumulate passes included) sets the speed
            cpu_b, _ = feature_comm(plan, 0.0, r["nodes"], r["ppn"], *fit, costs, r["compress"], r["hierarchical"], ov)
            acc = comp_a - k * kappa * prof.fwdbwd_ms(bl / k) - prof.opt_ms
            speed = max(r["compute_ms"] - prof.opt_ms - acc - cpu_b, 1e-3) / (k * prof.fwdbwd_ms(bl / k))
            _, exp_b = feature_comm(plan, speed * prof.bwd_ms(bl / k), r["nodes"], r["ppn"], *fit, costs,
                                    r["compress"], r["hierarchical"], ov)
            pbs.append(r["compute_ms"] + other1 + exp_b); xbs.append(exp_b)
        pa, pb = st.median(pas), st.median(pbs)
        ea, eb = (pa - meas) / meas, (pb - meas) / meas
        errs_a.append(abs(ea)); errs_b.append(abs(eb))
        ovs = "/".join(sorted({r.get("overlap", "on") for r in rs}))
        say(f"| {point} | {r0['nodes']} x {r0['ppn']} | {link} | {bl:g} ({k}) | {r0['compress']} | {r0['bucket_mb']:g} | "
            f"{'yes' if r0['hierarchical'] else 'no'} | {ovs} | {meas:.1f} | {pa:.1f} | {100 * ea:+.0f}% | {pb:.1f} | "
            f"{100 * eb:+.0f}% | {meas_comp:.1f} / {st.median(cas):.1f} | {meas_comm:.1f} | {st.median(xas):.1f} / {st.median(xbs):.1f} |")
    if errs_b:
        say(f"\n|error| over the emulated-network points (A also the 1-rank accumulate point{'s' if len(errs_a) > len(errs_b) + 1 else ''}): "
            f"A median {100 * st.median(errs_a):.0f}%, max {100 * max(errs_a):.0f}% ({len(errs_a)} points); "
            f"B median {100 * st.median(errs_b):.0f}%, max {100 * max(errs_b):.0f}% ({len(errs_b)} points). Target: median <= 15%.\n")


def features_predictions(say, models, costs, a_host, b_host):
    """Weak efficiency of the features at scale, 1 rank per node, per-node batch 128 (x4 with accumulate 4)."""
    rates = [1e9, 10e9, 100e9]
    nodes_list = [2, 8, 64, 1024]
    variants = [("fp32", "none", 1), ("bf16", "bf16", 1), ("bf16+acc4", "bf16", 4)]
    say("### Scale features at scale: predicted weak efficiency (1 rank per node)\n")
    say(f"Ring allreduce (rdrop's default), alpha = {a_host * 1e6:.0f} us, beta = beta_host ({b_host * 1e9:.2f} ns/B) + 8/rate "
        "(as above); compute from stepbench at 1 rank (kappa 1), dist.overlap on, 4 MB buckets. Each node keeps 128 "
        "samples per micro-batch; efficiency = T(1 rank, same batch and accumulate) / T(N): fp32 = float32 "
        "gradients; bf16 = dist.compress bf16 (half the bytes, conversions and 16-bit reduction on the CPU); "
        "bf16+acc4 = also training.accumulate 4 (512 samples per node per step, one allreduce).\n")
    for name, pr in models:
        plan = pr.plan(4.0)
        say(f"**{name}**: {pr.params / 1e6:.2f} M parameters ({pr.params * 4 / 1e6:.1f} MB float32 gradient, "
            f"{len(plan)} buckets), 1-rank step {pr.fwdbwd_ms(128) + pr.opt_ms:.1f} ms at batch 128 "
            f"(backward {pr.bwd_ms(128):.1f} ms).\n")
        say("| nodes | " + " | ".join(f"{int(r / 1e9)} Gbit/s {v}" for r in rates for v, _, _ in variants) + " |")
        say("|---:|" + "---:|" * (len(rates) * len(variants)))
        for n in nodes_list:
            cells = []
            for rate in rates:
                for _, fmt, k in variants:
                    t1 = feature_compute(pr, 128 * k, k, 1.0, costs)
                    cpu, exp = feature_comm(plan, pr.bwd_ms(128), n, 1, a_host, b_host + 8.0 / rate, costs, fmt)
                    cells.append(f"{t1 / (t1 + cpu + exp):.2f}")
            say(f"| {n} | " + " | ".join(cells) + " |")
        say("")
    # dist.hierarchical at scale: nodes of 8 ranks, 10 Gbit/s, bf16
    ppn, rate = 8, 10e9
    say(f"dist.hierarchical at scale: nodes of {ppn} ranks (one per core, per-rank batch 128), {int(rate / 1e9)} Gbit/s, "
        "weak efficiency flat ring vs hierarchical (node-local reduce and broadcast at alpha_l, beta_l):\n")
    say("| nodes | " + " | ".join(f"{name.split(' (')[0]} {v}" for name, _ in models for v in
                                  ("fp32 flat", "fp32 hier", "bf16 flat", "bf16 hier")) + " |")
    say("|---:|" + "---:|" * (4 * len(models)))
    for n in [8, 64, 1024]:
        cells = []
        for _, pr in models:
            plan = pr.plan(4.0)
            t1 = feature_compute(pr, 128, 1, 1.0, costs)
            for fmt in ("none", "bf16"):
                for hier in (False, True):
                    cpu, exp = feature_comm(plan, pr.bwd_ms(128), n, ppn, a_host, b_host + 8.0 / rate, costs, fmt, hier)
                    cells.append(f"{t1 / (t1 + cpu + exp):.2f}")
        say(f"| {n} | " + " | ".join(cells) + " |")
    say("")


def fmt_ms(x):
    return f"{x:.1f}"


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__)
        return 0 if len(argv) >= 2 else 2
    res = argv[1]
    wide_files, out, feat_files = [], None, []
    extra = {"--stepbench": None, "--cnn": None, "--half": None, "--local-comm": None}
    i = 2
    while i < len(argv):
        if argv[i] in ("--wide", "--out", "--features") + tuple(extra) and i + 1 >= len(argv):
            print(f"model.py: {argv[i]} needs a value", file=sys.stderr); return 2
        if argv[i] == "--wide":
            wide_files.append(argv[i + 1]); i += 2
        elif argv[i] == "--out":
            out = argv[i + 1]; i += 2
        elif argv[i] == "--features":
            feat_files.append(argv[i + 1]); i += 2
        elif argv[i] in extra:
            extra[argv[i]] = argv[i + 1]; i += 2
        else:
            print(f"model.py: unknown argument {argv[i]}", file=sys.stderr); return 2
    for f in feat_files:
        if not os.path.exists(f):
            print(f"model.py: {f}: no such file", file=sys.stderr); return 2
    if feat_files:               # the features' other inputs: next to the first features file by default
        d = os.path.dirname(feat_files[0])
        for key, name in (("--stepbench", "mlp-stepbench.jsonl"), ("--cnn", "cnn-stepbench.jsonl"),
                          ("--half", "halfbench.jsonl"), ("--local-comm", "local-comm.jsonl")):
            if extra[key] is None and os.path.exists(os.path.join(d, name)):
                extra[key] = os.path.join(d, name)
        for key in ("--stepbench", "--half", "--local-comm"):
            if extra[key] is None:
                print(f"model.py: --features needs {key} (no default file next to {feat_files[0]})", file=sys.stderr)
                return 2
        for f in feat_files + [v for v in extra.values() if v]:
            if not os.path.exists(f):
                print(f"model.py: {f}: no such file", file=sys.stderr); return 2
    raw = load_jsonl(os.path.join(res, "raw.jsonl"))
    comm = load_jsonl(os.path.join(res, "comm.jsonl"))
    bench = load_jsonl(os.path.join(res, "stepbench.jsonl"))
    if not bench:
        print("model.py: no stepbench.jsonl in the results (launch/scale.sh builds launch/stepbench.c)", file=sys.stderr)
        return 1
    lines = []
    say = lines.append
    say(f"Made by `/usr/bin/python3 launch/model.py {' '.join(argv[1:])}` (launch/model.py; docs/scaling.md, docs/scale.md).\n")
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
    # ---- 4. scale features (docs/scale.md) ----
    if feat_files:
        feat = []
        for f in feat_files:
            feat += load_jsonl(f)
        half = load_jsonl(extra["--half"])[-1]
        lc = [(r["ranks"], r["bytes"], r["ms"] / 1e3) for r in load_jsonl(extra["--local-comm"])
              if r.get("allreduce", "tree") == "tree"]
        costs = Costs(half, fit_alpha_beta(lc, "tree"))
        mlp = Profile(load_jsonl(extra["--stepbench"]))
        try:
            features_section(say, feat, mlp, fits, costs)
            models = [("default MLP (configs/fashion_mlp_rdrop.yaml)", mlp)]
            if extra["--cnn"]:
                models.append(("benchmark CNN (configs/bench/fashion_cnn_bench.yaml)", Profile(load_jsonl(extra["--cnn"]))))
            features_predictions(say, models, costs, a_host["ring"], b_host["ring"])
        except KeyError as e:
            print(f"model.py: {e.args[0] if ' ' in str(e.args[0]) else 'missing field ' + repr(e.args[0]) + ' in an input row'}",
                  file=sys.stderr)
            return 1
    text = "\n".join(lines) + "\n"
    print(text)
    if out:
        open(out, "w").write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
