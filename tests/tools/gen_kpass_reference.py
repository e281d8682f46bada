#!/usr/bin/python3
"""Generate tests/data/kpass_reference.json: PyTorch float64 autograd reference values for
R-Drop with K >= 2 dropout passes and for rdrop.kl_reduction: sum (test_reference.c checks
rdrop against it to |got - ref| <= 1e-5 + 1e-4*|ref|).

usage: /usr/bin/python3 tests/tools/gen_kpass_reference.py [OUT.json]

Network as in tests/data/rdrop_reference.json: dropout p_input, dense 6->5 relu, dropout
p_hidden, dense 5->4 tanh, dropout p_hidden, dense 4->3 linear; kernel [in, out] row-major,
Y = X W + b, inverted dropout with the given 0/1 masks (rows [q*B, (q+1)*B) are pass q).
The loss is written the way the R-Drop reference snippet (compute_kl_loss) writes it, per
pair of passes (p, q), with F.kl_div:
    kl_pair = 0.5 * (kl_div(log_softmax(z_p), softmax(z_q)) + kl_div(log_softmax(z_q), softmax(z_p)))
per sample (summed over classes); KL = the mean of kl_pair over the K(K-1)/2 pairs;
CE = the mean over the passes of cross_entropy; then
    reduction mean, kl_reduction mean:  loss = mean_i CE_i + alpha * mean_i KL_i
    reduction mean, kl_reduction sum:   loss = mean_i CE_i + alpha * sum_i KL_i   (the snippet)
    reduction sum:                      loss = sum_i CE_i + alpha * sum_i KL_i
"ce" and "kl" in a case are reduced like their term (kl: mean unless kl_reduction or
reduction is sum). The masks are drawn from a fixed numpy seed: the output is reproducible.
"""
import itertools
import json
import sys

import numpy as np
import torch
import torch.nn.functional as F

SIZES = [6, 5, 4, 3]
ACTS = ["relu", "tanh", "linear"]
B = 4
P_IN, P_HID = 0.2, 0.5
MAX_PASSES = 4
CASES = [  # passes, alpha, reduction, kl_reduction
    (3, 0.0, "mean", "mean"),
    (3, 0.7, "mean", "mean"),
    (3, 0.05, "mean", "sum"),
    (3, 1.3, "sum", "mean"),
    (4, 2.0, "mean", "mean"),
    (2, 0.1, "mean", "sum"),
]


def act(name, z):
    return {"relu": torch.relu, "tanh": torch.tanh, "linear": lambda v: v}[name](z)


def forward(x, masks, kernels, biases, passes):
    h = x.repeat(passes, 1)
    for l in range(3):
        keep = 1.0 - (P_IN if l == 0 else P_HID)
        h = h * masks[l][: passes * B] / keep
        h = act(ACTS[l], h @ kernels[l] + biases[l])
    return h


def rdrop_loss(logits, labels, passes, alpha, reduction, kl_reduction):
    z = [logits[q * B:(q + 1) * B] for q in range(passes)]
    ce = sum(F.cross_entropy(zq, labels, reduction="none") for zq in z) / passes
    pairs = list(itertools.combinations(range(passes), 2))
    kl = 0
    for p, q in pairs:
        p_loss = F.kl_div(F.log_softmax(z[p], -1), F.softmax(z[q], -1), reduction="none").sum(-1)
        q_loss = F.kl_div(F.log_softmax(z[q], -1), F.softmax(z[p], -1), reduction="none").sum(-1)
        kl = kl + 0.5 * (p_loss + q_loss)
    kl = kl / len(pairs)
    ce_r = ce.sum() if reduction == "sum" else ce.mean()
    kl_r = kl.sum() if reduction == "sum" or kl_reduction == "sum" else kl.mean()
    return ce_r + alpha * kl_r, ce_r, kl_r


def main(argv):
    out = argv[1] if len(argv) > 1 else "tests/data/kpass_reference.json"
    torch.manual_seed(14)
    rng = np.random.default_rng(14)
    x = torch.rand(B, SIZES[0], dtype=torch.float64)
    # float32-representable values, so rdrop's float32 inputs are the same numbers
    x = x.float().double()
    labels = torch.tensor(rng.integers(0, SIZES[-1], B), dtype=torch.long)
    masks = []
    for l in range(3):
        p = P_IN if l == 0 else P_HID
        masks.append(torch.tensor((rng.random((MAX_PASSES * B, SIZES[l])) >= p).astype(np.float64)))
    kernels0, biases0 = [], []
    for l in range(3):
        lim = (6.0 / SIZES[l]) ** 0.5
        kernels0.append(((torch.rand(SIZES[l], SIZES[l + 1], dtype=torch.float64) * 2 - 1) * lim).float().double())
        biases0.append(((torch.rand(SIZES[l + 1], dtype=torch.float64) * 2 - 1) * 0.1).float().double())
    cases = []
    for passes, alpha, red, klred in CASES:
        kernels = [k.clone().requires_grad_(True) for k in kernels0]
        biases = [b.clone().requires_grad_(True) for b in biases0]
        logits = forward(x, masks, kernels, biases, passes)
        logits.retain_grad()
        loss, ce, kl = rdrop_loss(logits, labels, passes, alpha, red, klred)
        loss.backward()
        cases.append({
            "passes": passes, "alpha": alpha, "reduction": red, "kl_reduction": klred,
            "logits": logits.detach().tolist(), "loss": loss.item(), "ce": ce.item(), "kl": kl.item(),
            "dlogits": logits.grad.tolist(),
            "dkernel": [k.grad.tolist() for k in kernels], "dbias": [b.grad.tolist() for b in biases],
        })
    doc = {
        "about": __doc__.strip().split("\n\n")[0] + f" torch {torch.__version__}, float64.",
        "sizes": SIZES, "activations": ACTS, "p_input": P_IN, "p_hidden": P_HID, "batch": B,
        "max_passes": MAX_PASSES, "x": x.tolist(), "labels": labels.tolist(),
        "masks": [m.tolist() for m in masks],
        "kernel": [k.tolist() for k in kernels0], "bias": [b.tolist() for b in biases0],
        "cases": cases,
    }
    with open(out, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(f"wrote {out}: {len(cases)} cases")


if __name__ == "__main__":
    main(sys.argv)
