#!/usr/bin/env python3
"""Side-by-side dictionary learning: simplecell learn, scikit-learn's
MiniBatchDictionaryLearning (fit_algorithm='cd', no early stopping) and SPAMS trainDL
(mode 2, lambda1 = our lambda, lambda2 = 0) on the same whitened patches, from the same
initial dictionary (random training patches, seeded), batch 256, for the same number of
patches seen. Each learned dictionary is scored by the held-out objective
mean(0.5 ||x - D a||^2 + lambda ||a||_1) with exact codes (SPAMS LARS lasso) on the test
patches, the same scorer for all three.

The curve (held-out objective against learning seconds) comes from runs stopped after
1/8, 1/4, 1/2 and 1 epoch; the table is the full epoch. Each run writes
curve_threads{N}.csv into --out, and curves.png there plots every such CSV found (one panel
per thread count). With --repeats N every fraction
runs N rounds, each round every system once in turn, so a passing load affects both; the
summary gives each system's median seconds and the median over rounds of the ratio of
simplecell's time to each peer's in the same round. (Every system is deterministic, so the
held-out objective is the same in every round.)

Usage:
  SIMPLECELL_BENCH_VENV=/path/to/venv python3 bench/compare_learning.py \
      --data /work/bench-data/standard --threads 2 --out /work/bench-data/learn-compare

--data holds patches_train.npy, patches_test.npy and case.json (lambda), as written by
bench/make_standard_case.py. Without SIMPLECELL_BENCH_VENV the script creates
~/.cache/simplecell-bench/venv and installs numpy, scikit-learn and spams-bin into it.
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def ensure_venv():
    from bench_venv import ensure_venv as ensure

    ensure(['numpy', 'scikit-learn', 'spams-bin', 'matplotlib'])


def thread_env(threads):
    env = dict(os.environ)
    for k in ["OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"]:
        env[k] = str(threads)
    return env


# Each competitor runs in a child process so thread settings take effect before numpy loads.
CHILD = r'''
import json, sys, time, numpy as np
cfg = json.loads(sys.argv[1])
X = np.load(cfg["train"])
D0 = np.load(cfg["init"])
lam, batch, steps, seed = cfg["lambda"], cfg["batch"], cfg["steps"], cfg["seed"]
if cfg["system"] == "spams":
    import spams
    Xf = np.asfortranarray(X.T.astype(np.float64))
    t = time.perf_counter()
    D = spams.trainDL(Xf, D=np.asfortranarray(D0.T.astype(np.float64)), mode=2, lambda1=lam,
                      lambda2=0.0, iter=steps, batchsize=batch, numThreads=cfg["threads"],
                      verbose=False)
    secs = time.perf_counter() - t
    D = D.T
else:
    from sklearn.decomposition import MiniBatchDictionaryLearning
    m = MiniBatchDictionaryLearning(n_components=D0.shape[0], alpha=lam, batch_size=batch,
                                    fit_algorithm="cd", dict_init=D0, shuffle=False,
                                    random_state=seed, max_no_improvement=None, tol=0.0)
    order = np.random.default_rng(seed).permutation(len(X))
    t = time.perf_counter()
    for s in range(steps):
        idx = order[(s * batch) % len(X):][:batch]
        m.partial_fit(X[idx])
    secs = time.perf_counter() - t
    D = m.components_
np.save(cfg["out"], np.ascontiguousarray(D, dtype=np.float32))
print(json.dumps({"seconds": secs}))
'''


def score(test, d, lam):
    import numpy as np
    import spams
    d = d / np.linalg.norm(d, axis=1, keepdims=True)
    xf = np.asfortranarray(test.T.astype(np.float64))
    df = np.asfortranarray(d.T.astype(np.float64))
    a = spams.lasso(xf, D=df, mode=2, lambda1=lam, lambda2=0.0, numThreads=2).toarray()
    r = xf - df @ a
    return float(np.mean(0.5 * np.sum(r * r, axis=0) + lam * np.sum(np.abs(a), axis=0))), float(np.mean(a != 0))


def summarize(rows):
    """Median seconds per system and fraction, and the median same-round ratio to simplecell."""
    import statistics
    for steps in sorted({r["steps"] for r in rows}):
        at = [r for r in rows if r["steps"] == steps]
        secs = {}
        for r in at:
            secs.setdefault(r["system"], {})[r["round"]] = r["learning_seconds"]
        line = [f"steps {steps}:"]
        for system, by_round in secs.items():
            obj = next(r["heldout_objective"] for r in at if r["system"] == system)
            line.append(f"{system} median {statistics.median(by_round.values()):.2f} s ({len(by_round)} runs, "
                        f"held-out {obj:.5f})")
        ours = secs.get("simplecell", {})
        for system, by_round in secs.items():
            if system == "simplecell":
                continue
            ratios = [ours[k] / by_round[k] for k in by_round if k in ours]
            if ratios:
                line.append(f"simplecell/{system} median ratio {statistics.median(ratios):.3f} "
                            f"(rounds: {', '.join(f'{x:.3f}' for x in ratios)})")
        print("  ".join(line), flush=True)


def plot_curves(out, init_obj):
    """curves.png in `out`: held-out objective against learning seconds, one panel per
    curve_threads*.csv found there (the median seconds over rounds at each point)."""
    import csv
    import statistics
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = sorted(out.glob("curve_threads*.csv"))
    fig, axes = plt.subplots(1, len(files), figsize=(5.2 * len(files), 4), squeeze=False, sharey=True)
    styles = {"simplecell": ("tab:blue", "o"), "spams": ("tab:orange", "s"), "sklearn": ("tab:green", "^")}
    for ax, path in zip(axes[0], files):
        rows = list(csv.DictReader(open(path)))
        for system in dict.fromkeys(r["system"] for r in rows):
            points = {}
            for r in rows:
                if r["system"] == system:
                    points.setdefault(int(r["patches_seen"]), ([], float(r["heldout_objective"])))[0].append(
                        float(r["learning_seconds"]))
            xs = [statistics.median(v[0]) for _, v in sorted(points.items())]
            ys = [v[1] for _, v in sorted(points.items())]
            color, marker = styles.get(system, ("black", "x"))
            ax.plot(xs, ys, marker=marker, color=color, label=system)
        ax.set_xscale("log")
        ax.set_xlabel("learning seconds (log scale)")
        threads = rows[0]["threads"]
        ax.set_title(f"{threads} thread{'' if threads == '1' else 's'}")
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel(f"held-out objective (initial dictionary: {init_obj:.2f})")
    axes[0][0].legend()
    fig.tight_layout()
    fig.savefig(out / "curves.png", dpi=110)
    plt.close(fig)


def main():
    ensure_venv()
    import numpy as np

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="/work/bench-data/standard")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--atoms", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fractions", default="0.125,0.25,0.5,1")
    ap.add_argument("--systems", default="simplecell,spams,sklearn")
    ap.add_argument("--binary", default=str(REPO / "target/release/simplecell"))
    ap.add_argument("--out", default="/work/bench-data/learn-compare")
    ap.add_argument("--repeats", type=int, default=1, help="rounds per fraction (medians reported)")
    args = ap.parse_args()

    data = Path(args.data)
    case = json.loads((data / "case.json").read_text())
    lam = float(case["lambda"])
    train = np.load(data / "patches_train.npy")
    test = np.load(data / "patches_test.npy")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    init = train[rng.choice(len(train), args.atoms, replace=False)].astype(np.float32)
    init /= np.linalg.norm(init, axis=1, keepdims=True)
    init_path = out / "init.npy"
    np.save(init_path, init)
    epoch_steps = -(-len(train) // args.batch)
    fractions = [float(f) for f in args.fractions.split(",")]
    rows = []
    runs = [(max(1, round(frac * epoch_steps)), r) for frac in fractions for r in range(args.repeats)]
    for steps, round_no in runs:
        for system in args.systems.split(","):
            dpath = out / f"{system}_{steps}.npy"
            if system == "simplecell":
                run_dir = out / f"simplecell_{steps}"
                cmd = [args.binary, "--threads", str(args.threads), "--quiet", "learn",
                       "--patches", str(data / "patches_train.npy"), "--atoms", str(args.atoms),
                       "--lambda", str(lam), "--batch", str(args.batch), "--steps", str(steps),
                       "--init", str(init_path), "--validation", "0", "--validate-every", str(10**9),
                       "--seed", str(args.seed), "--force", "--out", str(run_dir)]
                t = time.perf_counter()
                subprocess.check_call(cmd, env=thread_env(args.threads))
                wall = time.perf_counter() - t
                meta = json.loads((run_dir / "dictionary.json").read_text())
                secs = meta["timings"]["learning_seconds"]
                d = np.load(run_dir / "dictionary.npy")
            else:
                cfg = dict(system=system, train=str(data / "patches_train.npy"), init=str(init_path),
                           out=str(dpath), threads=args.threads, batch=args.batch, steps=steps,
                           seed=args.seed, **{"lambda": lam})
                t = time.perf_counter()
                res = subprocess.run([sys.executable, "-c", CHILD, json.dumps(cfg)], env=thread_env(args.threads),
                                     check=True, capture_output=True, text=True)
                wall = time.perf_counter() - t
                secs = json.loads(res.stdout.strip().splitlines()[-1])["seconds"]
                d = np.load(dpath)
            obj, nnz = score(test, d, lam)
            rows.append(dict(system=system, threads=args.threads, steps=steps, round=round_no,
                             patches_seen=steps * args.batch,
                             learning_seconds=secs, process_seconds=wall, heldout_objective=obj,
                             heldout_nonzero=nnz))
            print(f"{system:10s} steps {steps:5d}  learn {secs:7.2f} s  (process {wall:6.2f} s)  "
                  f"held-out objective {obj:.5f}  nonzero {nnz:.4f}", flush=True)
    init_obj, _ = score(test, init, lam)
    csv = out / f"curve_threads{args.threads}.csv"
    with open(csv, "w") as f:
        f.write("system,threads,steps,round,patches_seen,learning_seconds,process_seconds,heldout_objective,"
                "heldout_nonzero\n")
        for r in rows:
            f.write(",".join(str(r[k]) for k in ["system", "threads", "steps", "round", "patches_seen",
                                                 "learning_seconds", "process_seconds", "heldout_objective",
                                                 "heldout_nonzero"]) + "\n")
    summarize(rows)
    plot_curves(out, init_obj)
    print(f"initial dictionary held-out objective {init_obj:.5f}; curve written to {csv} "
          f"(and {out / 'curves.png'})")


if __name__ == "__main__":
    main()
