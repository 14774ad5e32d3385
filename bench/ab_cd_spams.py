#!/usr/bin/env python3
"""Alternating A/B timing of two simplecell binaries' `cd` coder against SPAMS `lasso`.

On a shared machine wall times drift by 2-4x within minutes, so a single run says little.
This runs, per repetition and thread count: binary A and binary B (their order alternating
between repetitions) at --tol 1e-6, then SPAMS `lasso` (mode 2) on the same patches, and
prints each repetition's ratios and the medians of those ratios. Coding seconds come from
the sidecar (loading and writing excluded), SPAMS's from a timer around the call.

Usage:
  SIMPLECELL_BENCH_VENV=/work/venv python3 bench/ab_cd_spams.py --a OLD_BINARY --b NEW_BINARY \
      [--case /work/bench-data/standard] [--reps 3] [--threads 1,2]
"""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def ensure_venv():
    from bench_venv import ensure_venv as ensure

    ensure(['numpy', 'spams-bin', 'threadpoolctl'])


ensure_venv()

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402


def cd_seconds(binary, case, lam, threads, out):
    subprocess.run([binary, "--threads", str(threads), "--quiet", "encode", "--patches",
                    str(case / "patches_train.npy"), "--dictionary", str(case / "dict256.npy"),
                    "--lambda", str(lam), "--coder", "cd", "--tol", "1e-6", "--out", str(out),
                    "--force"], check=True)
    return json.loads(out.with_suffix(".json").read_text())["timings"]["coding_seconds"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--a", required=True, help="first simplecell binary (e.g. the old one)")
    ap.add_argument("--b", required=True, help="second simplecell binary (e.g. the new one)")
    ap.add_argument("--case", default="/work/bench-data/standard")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", default="1,2")
    args = ap.parse_args()
    import spams

    case = Path(args.case)
    lam = json.loads((case / "case.json").read_text())["lambda"]
    X = np.load(case / "patches_train.npy")
    D = np.load(case / "dict256.npy")
    Xf = np.asfortranarray(X.T.astype(np.float64))
    Df = np.asfortranarray(D.T.astype(np.float64))
    out = Path(tempfile.mkdtemp(prefix="simplecell-ab-")) / "codes.npy"
    for threads in [int(t) for t in args.threads.split(",")]:
        os.environ["OMP_NUM_THREADS"] = str(threads)
        rows = []
        with threadpool_limits(limits=threads):
            for r in range(args.reps):
                t = {}
                for name in (["a", "b"] if r % 2 == 0 else ["b", "a"]):
                    t[name] = cd_seconds(getattr(args, name), case, lam, threads, out)
                t0 = time.perf_counter()
                spams.lasso(Xf, D=Df, lambda1=lam, mode=2, numThreads=threads)
                t["spams"] = time.perf_counter() - t0
                rows.append(t)
                print(f"threads {threads} rep {r}: a {t['a']:.2f} s, b {t['b']:.2f} s, "
                      f"spams {t['spams']:.2f} s; b/spams {t['b'] / t['spams']:.3f}, "
                      f"a/spams {t['a'] / t['spams']:.3f}, b/a {t['b'] / t['a']:.3f}", flush=True)

        def med(f):
            return statistics.median(f(t) for t in rows)

        print(f"threads {threads} medians: b {med(lambda t: t['b']):.2f} s, "
              f"spams {med(lambda t: t['spams']):.2f} s; b/spams {med(lambda t: t['b'] / t['spams']):.3f}, "
              f"a/spams {med(lambda t: t['a'] / t['spams']):.3f}, b/a {med(lambda t: t['b'] / t['a']):.3f}",
              flush=True)


if __name__ == "__main__":
    main()
