#!/usr/bin/python3
"""Compare two rdrop checkpoints tensor by tensor (test helper; needs python3-h5py).

usage: ckpt_compare.py A.h5 B.h5 [--rtol EPS] [--groups model,optimizer] [--attrs]
  --rtol EPS   per tensor ||A-B||_2 / ||B||_2 <= EPS ("within eps relative", as the MPI tests use it);
               0 (default) means bitwise equal.
  --attrs      also compare the attributes of /model, /optimizer, /rng, /data, /train bitwise.
Prints one line per tensor; exits 1 on the first group that differs.
"""
import sys
import h5py
import numpy as np


def tensors(f, group):
    out = {}
    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            out[group + "/" + name] = obj[()]
    if group in f:
        f[group].visititems(visit)
    return out


def main(argv):
    args = [a for a in argv[1:]]
    rtol, groups, attrs = 0.0, ["model", "optimizer"], False
    files = []
    i = 0
    while i < len(args):
        if args[i] == "--rtol":
            rtol = float(args[i + 1]); i += 2
        elif args[i] == "--groups":
            groups = args[i + 1].split(","); i += 2
        elif args[i] == "--attrs":
            attrs = True; i += 1
        else:
            files.append(args[i]); i += 1
    if len(files) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    fa, fb = h5py.File(files[0], "r"), h5py.File(files[1], "r")
    bad = 0
    n = 0
    for g in groups:
        ta, tb = tensors(fa, g), tensors(fb, g)
        if sorted(ta) != sorted(tb):
            print(f"{g}: different tensors: {sorted(ta)} vs {sorted(tb)}")
            return 1
        for k in sorted(ta):
            a, b = ta[k], tb[k]
            n += 1
            if a.shape != b.shape:
                print(f"{k}: shape {a.shape} vs {b.shape}"); bad += 1; continue
            if rtol == 0.0:
                same = a.tobytes() == b.tobytes()
                diff = int(np.count_nonzero(a != b))
                print(f"{k}: {'bitwise equal' if same else f'{diff} elements differ'}")
                bad += not same
            else:
                nb = float(np.linalg.norm(b.astype(np.float64)))
                rel = float(np.linalg.norm((a.astype(np.float64) - b))) / (nb if nb > 0 else 1.0)
                ok = rel <= rtol
                print(f"{k}: relative difference {rel:.3g} ({'ok' if ok else 'FAIL'} at {rtol:g})")
                bad += not ok
    if attrs:
        for g in ["model", "optimizer", "rng", "data", "train"]:
            if g not in fa or g not in fb:
                continue
            aa, ab = dict(fa[g].attrs), dict(fb[g].attrs)
            if set(aa) != set(ab):
                print(f"/{g} attrs: keys differ"); bad += 1; continue
            for k in sorted(aa):
                va, vb = np.asarray(aa[k]), np.asarray(ab[k])
                same = va.tobytes() == vb.tobytes() if va.dtype != object else list(va.flat) == list(vb.flat)
                if not same:
                    print(f"/{g} attr {k}: {aa[k]!r} vs {ab[k]!r}"); bad += 1
            n += 1
        print("attributes compared" if not bad else "attributes differ")
    if n == 0:
        print("nothing compared"); return 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
