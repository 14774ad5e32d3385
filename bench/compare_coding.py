#!/usr/bin/env python3
"""Side-by-side sparse-coding benchmark: simplecell's coders against SPAMS and scikit-learn
on the same .npy files, in one run, with the same thread cap.

For every solver and thread count it records wall time and the mean objective
0.5 ||x - D a||^2 + lambda ||a||_1 (recomputed here in float64 from the returned codes), and
reports the time each solver needs to reach a relative objective gap of 1e-2, 1e-4 and 1e-6
from the best objective any solver found (the fastest of its runs that got there). It also
measures FISTA's GEMM throughput (from the flop count simplecell reports) against numpy's
float32 GEMM on the same shapes.

Usage (the standard case comes from bench/make_standard_case.py):
  SIMPLECELL_BENCH_VENV=/work/venv python3 bench/compare_coding.py \
      --binary target/release/simplecell --case /work/bench-data/standard [--patches N]

It runs in its own venv (~/.cache/simplecell-bench/venv, created on first use) unless
SIMPLECELL_BENCH_VENV names an existing one with numpy, scipy, scikit-learn, spams-bin and
threadpoolctl.
"""

import os
import subprocess
import sys
from pathlib import Path

def ensure_venv():
    from bench_venv import ensure_venv as ensure

    ensure(['numpy', 'scipy', 'pillow', 'spams-bin', 'scikit-learn', 'threadpoolctl'])


ensure_venv()

import argparse  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

THRESHOLDS = [1e-2, 1e-4, 1e-6]


def objective(X, D, A, lam):
    """Mean per-patch objective in float64; X (n, p), D (k, p), A (n, k)."""
    X, D, A = (np.asarray(v, dtype=np.float64) for v in (X, D, A))
    R = X - A @ D
    return float(np.mean(0.5 * np.sum(R * R, axis=1) + lam * np.sum(np.abs(A), axis=1)))


def run_simplecell(binary, patches_path, dict_path, lam, coder, tol, threads, max_iter, tmp):
    out = Path(tmp) / f"codes_{coder}_{tol:g}_{threads}.npy"
    cmd = [binary, "--threads", str(threads), "--quiet", "encode", "--patches", str(patches_path),
           "--dictionary", str(dict_path), "--lambda", str(lam), "--coder", coder,
           "--tol", str(tol), "--max-iter", str(max_iter), "--out", str(out), "--force"]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    wall = time.perf_counter() - t0
    meta = json.loads(out.with_suffix(".json").read_text())
    codes = np.load(out)
    return codes, meta["timings"]["coding_seconds"], wall, meta


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default="target/release/simplecell")
    ap.add_argument("--case", default="/work/bench-data/standard")
    ap.add_argument("--patch-file", default="patches_train.npy")
    ap.add_argument("--dict-file", default="dict256.npy")
    ap.add_argument("--patches", type=int, default=0, help="use the first N patches (0 = all)")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--skip", default="", help="comma-separated solver names to skip")
    ap.add_argument("--json", default="", help="also write the raw results here")
    args = ap.parse_args()
    import sklearn
    import spams
    from sklearn.decomposition import sparse_encode

    case = Path(args.case)
    lam = json.loads((case / "case.json").read_text())["lambda"]
    X = np.load(case / args.patch_file)
    D = np.load(case / args.dict_file)
    if args.patches:
        X = X[: args.patches]
    skip = set(filter(None, args.skip.split(",")))
    tmp = tempfile.mkdtemp(prefix="simplecell-bench-")
    patches_path = Path(tmp) / "patches.npy"
    np.save(patches_path, X)
    n, p = X.shape
    k = D.shape[0]
    print(f"case {case}: {n} patches x {p} pixels, {k} atoms, lambda {lam}; "
          f"sklearn {sklearn.__version__}", flush=True)

    Xf = np.asfortranarray(X.T.astype(np.float64))
    Df = np.asfortranarray(D.T.astype(np.float64))
    runs = []  # (solver, threads, seconds, objective, note)

    def record(name, threads, seconds, A, note=""):
        obj = objective(X, D, A, lam)
        runs.append({"solver": name, "threads": threads, "seconds": seconds, "objective": obj, "note": note})
        print(f"  {name:28s} threads {threads}  {seconds:8.3f} s  objective {obj:.9f}  {note}", flush=True)

    for threads in [int(t) for t in args.threads.split(",")]:
        os.environ["OMP_NUM_THREADS"] = str(threads)
        print(f"threads = {threads}", flush=True)
        with threadpool_limits(limits=threads):
            for coder, tols, cap in [("cd", [1e-2, 1e-4, 1e-6], 1000), ("fista", [1e-2, 1e-4], 3000)]:
                if f"simplecell-{coder}" in skip:
                    continue
                for tol in tols:
                    A, secs, wall, meta = run_simplecell(args.binary, patches_path, case / args.dict_file,
                                                         lam, coder, tol, threads, cap, tmp)
                    d = meta["diagnostics"]
                    note = (f"tol {tol:g}, wall {wall:.2f} s, converged {d['converged_fraction']:.4f}, "
                            f"max gap {d['max_relative_gap']:.1e}")
                    if meta["diagnostics"].get("gemm_flops"):
                        note += f", {meta['diagnostics']['gemm_flops'] / secs / 1e9:.1f} GFLOP/s GEMM-equivalent"
                    record(f"simplecell {coder}", threads, secs, A, note)
            if "spams-lasso" not in skip:
                t0 = time.perf_counter()
                A = spams.lasso(Xf, D=Df, lambda1=lam, mode=2, numThreads=threads)
                record("spams lasso (mode 2)", threads, time.perf_counter() - t0, A.toarray().T)
            if "spams-fista" not in skip:
                for tol in [1e-3, 1e-5]:
                    W0 = np.zeros((k, n), order="F")
                    t0 = time.perf_counter()
                    A = spams.fistaFlat(Xf, Df, W0, loss="square", regul="l1", lambda1=lam, tol=tol,
                                        max_it=1000, numThreads=threads, it0=1000)
                    record("spams fistaFlat", threads, time.perf_counter() - t0, np.asarray(A).T, f"tol {tol:g}")
            for algo in ["lasso_cd", "lasso_lars"]:
                if f"sklearn-{algo}" in skip:
                    continue
                t0 = time.perf_counter()
                A = sparse_encode(X.astype(np.float64), D.astype(np.float64), algorithm=algo, alpha=lam,
                                  n_jobs=None if algo == "lasso_cd" else threads, max_iter=1000)
                record(f"sklearn {algo}", threads, time.perf_counter() - t0, A)

            # numpy float32 GEMM on FISTA's shape: (k x k) @ (k x n).
            G = (D @ D.T).astype(np.float32)
            B = np.ascontiguousarray(np.random.default_rng(0).standard_normal((k, n)).astype(np.float32))
            G @ B
            reps, t0 = 5, time.perf_counter()
            for _ in range(reps):
                G @ B
            secs = (time.perf_counter() - t0) / reps
            print(f"  numpy float32 GEMM ({k}x{k})@({k}x{n}): {2 * k * k * n / secs / 1e9:.1f} GFLOP/s", flush=True)
            runs.append({"solver": "numpy gemm", "threads": threads, "gflops": 2 * k * k * n / secs / 1e9})

    best = min(r["objective"] for r in runs if "objective" in r)
    print(f"\nbest objective {best:.9f}; time (s) to reach relative objective gap "
          f"(obj - best) / best <= threshold; '-' = never reached")
    solvers = sorted({(r["solver"], r["threads"]) for r in runs if "objective" in r}, key=lambda s: (s[1], s[0]))
    print(f"| solver | threads | " + " | ".join(f"gap {t:g}" for t in THRESHOLDS) + " |")
    print("|---|---|" + "---|" * len(THRESHOLDS))
    for name, threads in solvers:
        mine = [r for r in runs if r["solver"] == name and r["threads"] == threads and "objective" in r]
        cells = []
        for thr in THRESHOLDS:
            ok = [r["seconds"] for r in mine if (r["objective"] - best) / best <= thr]
            cells.append(f"{min(ok):.3f}" if ok else "-")
        print(f"| {name} | {threads} | " + " | ".join(cells) + " |")
    if args.json:
        Path(args.json).write_text(json.dumps({"best": best, "runs": runs}, indent=2))


if __name__ == "__main__":
    main()
