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

With --paired both systems see every order identically, so the order noise cancels from
the difference: order k is a seeded permutation P_k of the training rows (order 0: the file's
order), simplecell learns from the rows in that order with --no-shuffle, and SPAMS is fed the
rows placed so that its internal shuffle (glibc srandom(0), then its randperm) visits them in
the same order. The script first checks that it reproduces SPAMS's shuffle, on a file where
only one patch is nonzero, and stops if not. It then reports the mean and standard error of
the per-order differences.

Extra arguments after `--` go to `simplecell learn` (to try a variant of the rule).
"""
import argparse
import ctypes
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def spams_order(m):
    """The order in which SPAMS trainDL (online, from a given D) visits m training columns:
    Vector<int>::randperm after srandom(0), drawing with glibc's random()."""
    libc = ctypes.CDLL("libc.so.6")
    libc.random.restype = ctypes.c_long
    libc.srandom(0)
    table = list(range(m))
    size = m
    perm = []
    for _ in range(m):
        ind = libc.random() % size
        perm.append(table[ind])
        table[ind] = table[size - 1]
        size -= 1
    return perm


def check_spams_order(spams, np, init, patch, lam):
    """Stops unless SPAMS visits first the column spams_order() says: on a file where only that
    column is nonzero one batch of one patch moves the dictionary, and where only the second
    is nonzero it takes two batches."""
    m = 1000
    perm = spams_order(m)
    d0 = np.asfortranarray(init.T.astype(np.float64))

    def learned(nonzero_column, iters):
        x = np.zeros((init.shape[1], m))
        if nonzero_column is not None:
            x[:, nonzero_column] = patch
        return spams.trainDL(np.asfortranarray(x), D=d0, mode=2, lambda1=lam, lambda2=0.0, iter=iters,
                             batchsize=1, numThreads=1, verbose=False)

    # SPAMS renormalises the given atoms, so "moved" is against a run on zeros only.
    unmoved = learned(None, 2)

    def moved(nonzero_column, iters):
        return bool(np.abs(learned(nonzero_column, iters) - unmoved).max() > 1e-6)

    seen = (moved(perm[0], 1), moved(perm[1], 1), moved(perm[1], 2))
    if seen != (True, False, True):
        sys.exit(f"SPAMS does not visit the columns in the order this script reproduces "
                 f"(moved after 1, 1, 2 batches: {seen}, expected True, False, True); "
                 f"--paired would not pair the orders")


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
    ap.add_argument("--paired", action="store_true",
                    help="both systems see each order identically (see above)")
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

    def permuted(order):
        return train if order == 0 else train[np.random.default_rng(1000 + order).permutation(len(train))]

    if args.paired:
        check_spams_order(spams, np, init, train[0], lam)
        spams_perm = np.array(spams_order(len(train)))
        print("SPAMS's internal order reproduced; pairing the orders", flush=True)

    results = {}
    for system in args.systems.split(","):
        objectives = []
        for order in range(args.orders):
            t = time.perf_counter()
            if system == "simplecell":
                out = work / f"simplecell_{order}"
                patches, order_args = data / "patches_train.npy", ["--seed", str(order)]
                if args.paired:
                    patches, order_args = work / "ordered.npy", ["--no-shuffle"]
                    np.save(patches, permuted(order))
                subprocess.check_call([args.binary, "--threads", str(args.threads), "--quiet", "learn",
                                       "--patches", str(patches), "--atoms", str(args.atoms),
                                       "--lambda", str(lam), "--batch", str(args.batch), "--steps", str(steps),
                                       "--init", str(work / "init.npy"), "--validation", "0",
                                       "--validate-every", str(10**9), *order_args, "--force",
                                       "--out", str(out)] + args.extra)
                d = np.load(out / "dictionary.npy")
            else:
                rows = permuted(order)
                if args.paired:
                    # SPAMS visits column spams_perm[i] i-th: put the i-th row of the order there.
                    placed = np.empty_like(rows)
                    placed[spams_perm] = rows
                    rows = placed
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
        if args.paired:
            diffs = [a - b for a, b in zip(results["simplecell"], results["spams"])]
            se = statistics.stdev(diffs) / len(diffs) ** 0.5 if len(diffs) > 1 else float("nan")
            print(f"simplecell - spams, paired by order: {statistics.mean(diffs):+.4f} +- {se:.4f} "
                  f"({100 * statistics.mean(diffs) / m2:+.3f}%; per order "
                  f"{min(diffs):+.4f} .. {max(diffs):+.4f})")
        else:
            print(f"simplecell - spams: {m1 - m2:+.4f} +- {(s1 * s1 + s2 * s2) ** 0.5:.4f} "
                  f"({100 * (m1 - m2) / m2:+.3f}%)")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
