#!/usr/bin/env python3
"""Checks that two simplecell binaries give the same output bytes for the README's commands.

A refactor that promises "no change of behaviour" runs this with the binary built before it
(--old) and after it (--new). Every scenario below is a command from the README, at a size
that runs in seconds; each binary runs all of them in its own folder with the same relative
paths, so the files can be compared one by one. What may differ between two runs of the
same binary is normalised away and listed here, nothing else:

- JSON sidecars: keys that hold wall-clock facts (any key containing "second", "timing" or
  "unix", and "invocations"), dropped at every depth.
- CSV tables: columns that hold wall-clock seconds (`seconds`, `*_seconds`).
- report.md: numbers of seconds ("12 s") in the lines that state wall time.
- Checkpoints (`checkpoint.*`): they carry the elapsed time and are resume state, not
  results; their format may change. The resume scenarios check that what they restore
  still gives the same results.
- Plot PNGs drawn by viz::plots (names in PLOTS): reported separately, because a redraw of
  the plots is allowed to change them; montages and every other PNG must match.

Run it once with the same binary as --old and --new first: anything it then reports is
nondeterminism, not a change. Exit status 0 when everything matches.

    python3 bench/same_bytes.py --old /work/baseline/simplecell --new target/release/simplecell \
        --data ../shared/data --work /tmp/same-bytes
"""

import argparse
import csv
import io
import json
import re
import os
import shutil
import subprocess
import sys
import time

PLOTS = {
    "nx_ny.png",
    "orientation_hist.png",
    "frequency_hist.png",
    "accuracy.png",
    "filter_sparsity_curve.png",
    "gabor_r2_hist.png",
    "similarity_curve.png",
    "sparsity_curve.png",
}


def scenarios(data):
    """(name, argv) pairs, run in order; later ones read earlier outputs."""
    kodak = os.path.join(data, "kodak")
    cifar = "cifar10:" + os.path.join(data, "cifar10")
    have_kodak = os.path.isdir(kodak)
    have_cifar = os.path.isdir(os.path.join(data, "cifar10"))
    s = [
        ("extract-builtin", ["extract", "--count", "20000", "--out", "p/builtin.npy"]),
        ("extract-builtin-zca", ["extract", "--count", "20000", "--whiten", "zca",
                                 "--patch-size", "8", "--min-std", "0.01", "--csv", "p/zca.csv",
                                 "--out", "p/zca.npy"]),
        ("learn-online", ["learn", "--patches", "p/builtin.npy", "--atoms", "64", "--lambda", "1.0",
                          "--epochs", "1", "--seed", "1", "--out", "r/online"]),
        ("learn-of", ["learn", "--patches", "p/builtin.npy", "--atoms", "49", "--lambda", "1.0",
                      "--update", "of", "--steps", "60", "--seed", "2", "--out", "r/of"]),
        ("learn-mod-fista", ["learn", "--patches", "p/builtin.npy", "--atoms", "49", "--lambda", "1.0",
                             "--update", "mod", "--coder", "fista", "--steps", "40", "--seed", "3",
                             "--out", "r/mod"]),
        ("learn-part", ["learn", "--patches", "p/builtin.npy", "--atoms", "64", "--lambda", "1.0",
                        "--steps", "30", "--seed", "4", "--out", "r/resumed"]),
        ("learn-resume", ["learn", "--resume", "r/resumed", "--steps", "70"]),
        ("encode-cd", ["encode", "--patches", "p/builtin.npy", "--dictionary", "r/online/dictionary.npy",
                       "--lambda", "1.0", "--out", "c/cd.npy"]),
        ("encode-fista", ["encode", "--patches", "p/builtin.npy", "--dictionary",
                          "r/online/dictionary.npy", "--lambda", "1.0", "--coder", "fista",
                          "--tol", "1e-4", "--out", "c/fista.npy"]),
        ("encode-ista-positive", ["encode", "--patches", "p/builtin.npy", "--dictionary",
                                  "r/online/dictionary.npy", "--lambda", "1.0", "--coder", "ista",
                                  "--positive", "--max-iter", "50", "--batch", "3000",
                                  "--out", "c/ista.npy"]),
        ("montage", ["montage", "--filters", "r/online/dictionary.npy", "--out", "m/d.png",
                     "--columns", "16", "--zoom", "4"]),
        ("gabor", ["gabor", "--size", "12", "--orientations", "8", "--frequencies", "0.12,0.2",
                   "--phases", "0,90", "--out", "g/gabor12.npy"]),
        ("analyze-filters", ["analyze", "--filters", "r/online/dictionary.npy", "--out", "a/dict"]),
        ("analyze-codes", ["analyze", "--codes", "c/cd.npy", "--out", "a/codes"]),
        ("compare", ["compare", "--a", "r/online/dictionary.npy", "--b", "g/gabor12.npy",
                     "--out", "a/cmp", "--max-shift", "3", "--null-draws", "10", "--seed", "0"]),
        ("demo", ["demo", "--out", "demo"]),
    ]
    if have_kodak:
        s += [
            ("extract-kodak", ["extract", "--images", kodak, "--count", "30000", "--seed", "1",
                               "--csv", "p/kodak.csv", "--out", "p/kodak.npy"]),
            ("extract-kodak-zca", ["extract", "--images", kodak, "--whiten", "zca", "--patch-size",
                                   "16", "--min-std", "0.01", "--count", "5000", "--log",
                                   "--out", "p/photos16.npy"]),
            ("learn-kodak", ["learn", "--patches", "p/kodak.npy", "--atoms", "100", "--lambda", "1.0",
                             "--epochs", "1", "--seed", "1", "--out", "r/kodak"]),
        ]
    if have_cifar:
        s += [
            ("cnn-train", ["cnn", "train", "--data", cifar, "--train-limit", "1000", "--test-limit",
                           "300", "--epochs", "2", "--out", "n/plain"]),
            ("cnn-train-variants", ["cnn", "train", "--data", cifar, "--train-limit", "600",
                                    "--test-limit", "200", "--epochs", "1", "--batch-norm",
                                    "--dropout", "0.5", "--hidden", "32", "--grayscale",
                                    "--conv1-kernel", "7", "--flip", "--crop-pad", "2",
                                    "--optimizer", "adam", "--lr", "0.001", "--schedule", "cosine",
                                    "--out", "n/variants"]),
            ("cnn-train-gabor", ["cnn", "train", "--data", cifar, "--train-limit", "600",
                                 "--test-limit", "200", "--epochs", "1", "--conv1-init",
                                 "g/gabor12.npy", "--freeze-conv1", "--loss", "squared-error",
                                 "--lr", "0.001", "--out", "n/gabor"]),
            ("cnn-resume", ["cnn", "train", "--data", cifar, "--train-limit", "1000", "--test-limit",
                            "300", "--epochs", "3", "--resume", "--out", "n/plain"]),
            ("cnn-eval", ["cnn", "eval", "--run", "n/plain", "--out", "n/eval.csv"]),
            ("cnn-visualize", ["cnn", "visualize", "--run", "n/plain", "--layer", "conv2",
                               "--steps", "30", "--out", "n/conv2.png"]),
            ("analyze-conv1", ["analyze", "--filters", "n/plain/conv1_epoch_003.npy", "--per-channel",
                               "--out", "a/conv1"]),
            ("study-quick", ["study", "--quick", "--data", cifar] +
             (["--images", kodak] if have_kodak else []) +
             ["--out", "s", "--seeds", "1", "--epochs", "1", "--patches", "5000", "--learn-epochs",
              "1", "--train-limit", "400", "--test-limit", "200", "--null-draws", "3",
              "--ascent-steps", "10", "--activation-sample", "32"]),
        ]
    return s


def run_all(binary, folder, data, threads):
    if os.path.exists(folder):
        shutil.rmtree(folder)
    os.makedirs(os.path.join(folder, "bin"))
    local = os.path.join(folder, "bin", "simplecell")
    shutil.copy2(binary, local)
    for sub in ["p", "r", "c", "m", "g", "a", "n"]:
        os.makedirs(os.path.join(folder, sub), exist_ok=True)
    seconds = {}
    for name, argv in scenarios(data):
        t = time.time()
        cmd = ["./bin/simplecell", "--quiet", "--threads", str(threads)] + argv
        p = subprocess.run(cmd, cwd=folder, capture_output=True, text=True)
        seconds[name] = time.time() - t
        with open(os.path.join(folder, "exit_codes.txt"), "a") as f:
            f.write(f"{name} {p.returncode}\n")
        if p.returncode != 0:
            print(f"  {name}: exit {p.returncode}: {p.stderr.strip()[:400]}")
    return seconds


def drop_clock_keys(v):
    if isinstance(v, dict):
        return {k: drop_clock_keys(x) for k, x in v.items()
                if not any(w in k.lower() for w in ("second", "timing", "unix"))
                and k != "invocations"}
    if isinstance(v, list):
        return [drop_clock_keys(x) for x in v]
    return v


def normalised(path):
    name = os.path.basename(path)
    with open(path, "rb") as f:
        raw = f.read()
    if name.endswith(".json"):
        try:
            return json.dumps(drop_clock_keys(json.loads(raw)), sort_keys=True).encode()
        except ValueError:
            return raw
    if name.endswith(".csv"):
        rows = list(csv.reader(io.StringIO(raw.decode())))
        if not rows:
            return raw
        keep = [i for i, h in enumerate(rows[0]) if not (h == "seconds" or h.endswith("_seconds"))]
        return "\n".join(",".join(r[i] for i in keep if i < len(r)) for r in rows).encode()
    if name.endswith(".md"):
        return re.sub(r"\b\d+(\.\d+)? s\b", "N s", raw.decode()).encode()
    return raw


def files_under(folder):
    out = set()
    for root, _, names in os.walk(folder):
        for n in names:
            rel = os.path.relpath(os.path.join(root, n), folder)
            if not rel.startswith("bin" + os.sep):
                out.add(rel)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--old", required=True, help="binary before the change")
    ap.add_argument("--new", required=True, help="binary after the change")
    ap.add_argument("--data", default="../shared/data", help="shared data folder (optional)")
    ap.add_argument("--work", default="/tmp/same-bytes", help="scratch folder (replaced)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    data = os.path.abspath(args.data)
    old_dir = os.path.join(args.work, "old")
    new_dir = os.path.join(args.work, "new")
    print(f"running {len(scenarios(data))} scenarios with {args.old}")
    t_old = run_all(os.path.abspath(args.old), old_dir, data, args.threads)
    print(f"running them with {args.new}")
    t_new = run_all(os.path.abspath(args.new), new_dir, data, args.threads)
    a, b = files_under(old_dir), files_under(new_dir)
    same, differ, plots, resume_state = [], [], [], []
    for rel in sorted(a & b):
        if normalised(os.path.join(old_dir, rel)) == normalised(os.path.join(new_dir, rel)):
            same.append(rel)
        elif os.path.basename(rel) in PLOTS:
            plots.append(rel)
        elif os.path.basename(rel).startswith("checkpoint."):
            resume_state.append(rel)
        else:
            differ.append(rel)
    is_ckpt = lambda r: os.path.basename(r).startswith("checkpoint.")
    only_old = sorted(r for r in a - b if not is_ckpt(r))
    only_new = sorted(r for r in b - a if not is_ckpt(r))
    print(f"{len(same)} files identical, {len(plots)} plot PNGs redrawn, "
          f"{len(resume_state)} checkpoints not compared, {len(differ)} differ, "
          f"{len(only_old)} only in old, {len(only_new)} only in new")
    for label, items in [("DIFFER", differ), ("ONLY OLD", only_old), ("ONLY NEW", only_new),
                         ("plot redrawn", plots)]:
        for rel in items:
            print(f"  {label}: {rel}")
    print("seconds per scenario (old / new): " + ", ".join(
        f"{k} {t_old[k]:.1f}/{t_new.get(k, float('nan')):.1f}" for k in t_old))
    sys.exit(1 if differ or only_old or only_new else 0)


if __name__ == "__main__":
    main()
