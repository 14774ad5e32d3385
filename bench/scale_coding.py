#!/usr/bin/env python3
"""How simplecell's `cd` coder and SPAMS `lasso` (mode 2, LARS) scale with the number of
patches and atoms, side by side in one run, to a relative duality gap of 1e-6 (simplecell)
against SPAMS's exact float64 solution.

Cases: the standard case's learned 256-atom dictionary on its first 10,000 and all 100,000
training patches, and 64- and 1024-atom dictionaries of random unit-norm training patches
(seed 0; the standard case holds no learned dictionaries of those sizes) on 10,000 patches,
all at the standard lambda. With `--million DIR`, one more row codes 1,000,000 patches that
`simplecell extract` cuts from the images in DIR (OF whitening, DC removed), scaled here to
mean(x^2) = 1 like the standard case, with the learned dictionary (one repetition: SPAMS
needs over a minute). Each cell is the median of `--reps` alternating repetitions;
the ratio is the median of per-repetition ratios, so load that shifts during a run affects
both systems alike.

Usage:
  SIMPLECELL_BENCH_VENV=/work/venv python3 bench/scale_coding.py \\
      --binary target/release/simplecell --case /work/bench-data/standard --threads 2
"""

import sys


def ensure_venv():
    from bench_venv import ensure_venv as ensure

    ensure(['numpy', 'spams-bin', 'threadpoolctl'])


ensure_venv()

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import spams  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default="target/release/simplecell")
    ap.add_argument("--case", default="/work/bench-data/standard")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--million", default="", help="image folder for a 1M-patch row (e.g. ../shared/data/kodak)")
    args = ap.parse_args()
    case = Path(args.case)
    lam = json.loads((case / "case.json").read_text())["lambda"]
    X = np.load(case / "patches_train.npy")
    rng = np.random.default_rng(0)

    def random_dict(k):
        D = X[rng.choice(len(X), k, replace=False)].astype(np.float64)
        D /= np.linalg.norm(D, axis=1, keepdims=True)
        return D.astype(np.float32)

    learned = np.load(case / "dict256.npy")
    cases = [(10000, "256 (learned)", learned, X), (len(X), "256 (learned)", learned, X),
             (10000, "64 (random patches)", random_dict(64), X),
             (10000, "1024 (random patches)", random_dict(1024), X)]
    tmp = Path(tempfile.mkdtemp(prefix="simplecell-scale-"))
    if args.million:
        subprocess.run([args.binary, "--quiet", "extract", "--images", args.million, "--count", "1000000",
                        "--patch-size", "12", "--out", str(tmp / "million.npy"), "--force"], check=True)
        M = np.load(tmp / "million.npy")
        M = M - M.mean(axis=1, keepdims=True)
        M *= np.float32(1.0 / np.sqrt(np.mean(M.astype(np.float64) ** 2)))
        cases.append((len(M), "256 (learned)", learned, M))
    t = args.threads
    print(f"threads {t}, lambda {lam}, tol 1e-6")
    print("| patches | atoms | nonzero | simplecell cd s | SPAMS lasso s | ratio |")
    print("|---|---|---|---|---|---|")
    for n, name, D, source in cases:
        Xn = source[:n]
        np.save(tmp / "x.npy", Xn)
        np.save(tmp / "d.npy", D)
        Xf = np.asfortranarray(Xn.T.astype(np.float64))
        Df = np.asfortranarray(D.T.astype(np.float64))
        ours, theirs = [], []
        for _ in range(args.reps if n <= len(X) else 1):
            subprocess.run([args.binary, "--threads", str(t), "--quiet", "encode", "--patches", str(tmp / "x.npy"),
                            "--dictionary", str(tmp / "d.npy"), "--lambda", str(lam), "--coder", "cd",
                            "--tol", "1e-6", "--out", str(tmp / "c.npy"), "--force"], check=True)
            meta = json.loads((tmp / "c.json").read_text())
            ours.append(meta["timings"]["coding_seconds"])
            with threadpool_limits(t):
                t0 = time.perf_counter()
                spams.lasso(Xf, D=Df, lambda1=lam, mode=2, numThreads=t)
                theirs.append(time.perf_counter() - t0)
        ratio = np.median(np.array(ours) / np.array(theirs))
        nz = meta["diagnostics"]["nonzero_fraction"]
        print(f"| {n} | {name} | {100 * nz:.1f}% | {np.median(ours):.3f} | {np.median(theirs):.3f} | {ratio:.2f} |",
              flush=True)


if __name__ == "__main__":
    sys.exit(main())
