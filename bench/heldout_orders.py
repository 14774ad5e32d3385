#!/usr/bin/env python3
"""Held-out objective after one epoch over several patch orders, simplecell against SPAMS.

One seed is one patch order, and the order alone moves the held-out objective after an
epoch by about 0.1%, as much as the differences this is asked to judge. So both systems
learn from the same initial dictionary over N orders and the script reports each one's
mean and standard error, and the difference of the means. simplecell's order is its
--seed; SPAMS trainDL shuffles internally with a fixed seed, so it is fed the training rows
in N seeded permutations instead (order 0: the file's order). Scoring is the same as in
compare_learning.py: mean(0.5 ||x - D a||^2 + lambda ||a||_1) on the test patches with
exact codes (SPAMS LARS lasso). Times are printed but not compared here (see
compare_learning.py --repeats for that).

Usage:
  SIMPLECELL_BENCH_VENV=/path/to/venv python3 bench/heldout_orders.py \
      --data /work/bench-data/standard --orders 16 --binary target/release/simplecell

Extra arguments after `--` go to `simplecell learn` (to try a variant of the rule).
"""
import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main():
    from bench_venv import ensure_venv

    ensure_venv(['numpy', 'spams-bin'])
    import numpy as np
    import spams

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="/work/bench-data/standard")
    ap.add_argument("--orders", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--atoms", type=int, default=256)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--systems", default="simplecell,spams")
    ap.add_argument("--binary", default=str(REPO / "target/release/simplecell"))
    ap.add_argument("extra", nargs="*", help="arguments passed on to simplecell learn (after --)")
    args = ap.parse_args()

    data = Path(args.data)
    lam = float(json.loads((data / "case.json").read_text())["lambda"])
    train = np.load(data / "patches_train.npy")
    test = np.load(data / "patches_test.npy")
    steps = -(-len(train) // args.batch)
    work = Path(tempfile.mkdtemp(prefix="heldout-orders-"))
    # The same initial dictionary as compare_learning.py at its default seed.
    rng = np.random.default_rng(0)
    init = train[rng.choice(len(train), args.atoms, replace=False)].astype(np.float32)
    init /= np.linalg.norm(init, axis=1, keepdims=True)
    np.save(work / "init.npy", init)

    def score(d):
        d = d / np.linalg.norm(d, axis=1, keepdims=True)
        xf = np.asfortranarray(test.T.astype(np.float64))
        df = np.asfortranarray(d.T.astype(np.float64))
        a = spams.lasso(xf, D=df, mode=2, lambda1=lam, lambda2=0.0, numThreads=args.threads).toarray()
        r = xf - df @ a
        return float(np.mean(0.5 * np.sum(r * r, axis=0) + lam * np.sum(np.abs(a), axis=0)))

    results = {}
    for system in args.systems.split(","):
        objectives = []
        for order in range(args.orders):
            t = time.perf_counter()
            if system == "simplecell":
                out = work / f"simplecell_{order}"
                subprocess.check_call([args.binary, "--threads", str(args.threads), "--quiet", "learn",
                                       "--patches", str(data / "patches_train.npy"), "--atoms", str(args.atoms),
                                       "--lambda", str(lam), "--batch", str(args.batch), "--steps", str(steps),
                                       "--init", str(work / "init.npy"), "--validation", "0",
                                       "--validate-every", str(10**9), "--seed", str(order), "--force",
                                       "--out", str(out)] + args.extra)
                d = np.load(out / "dictionary.npy")
            else:
                rows = train if order == 0 else train[np.random.default_rng(1000 + order).permutation(len(train))]
                d = spams.trainDL(np.asfortranarray(rows.T.astype(np.float64)),
                                  D=np.asfortranarray(init.T.astype(np.float64)), mode=2, lambda1=lam,
                                  lambda2=0.0, iter=steps, batchsize=args.batch, numThreads=args.threads,
                                  verbose=False).T
            secs = time.perf_counter() - t
            objectives.append(score(d))
            print(f"{system:10s} order {order:3d}: held-out {objectives[-1]:.5f}  ({secs:.2f} s)", flush=True)
        results[system] = objectives

    summary = {}
    for system, objs in results.items():
        mean = statistics.mean(objs)
        se = statistics.stdev(objs) / len(objs) ** 0.5 if len(objs) > 1 else float("nan")
        summary[system] = (mean, se)
        print(f"{system:10s} mean {mean:.4f}  standard error {se:.4f}  sd "
              f"{statistics.stdev(objs) if len(objs) > 1 else float('nan'):.4f}  over {len(objs)} orders")
    if "simplecell" in summary and "spams" in summary:
        (m1, s1), (m2, s2) = summary["simplecell"], summary["spams"]
        print(f"simplecell - spams: {m1 - m2:+.4f} +- {(s1 * s1 + s2 * s2) ** 0.5:.4f} "
              f"({100 * (m1 - m2) / m2:+.3f}%)")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
