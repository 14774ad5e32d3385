#!/usr/bin/env python3
"""The conv1 regime sweep of issue 14: which training regime makes the CNN's first layer
converge to localized, oriented, Gabor-like filters, measured run by run and epoch by epoch.

Each named run below is one `simplecell cnn train` (grayscale CIFAR-10, SGD momentum 0.9,
cosine schedule, flips, all 10,000 test images) that changes a few regime knobs: conv1's
initial scale, input whitening, kernel size, training-set size, epochs, weight decay,
learning rate, batch size, seed, random labels. Every logged conv1 (conv1_epoch_NNN.npy,
epoch 0 being the initialisation) is measured with `simplecell analyze`, and the sweep
writes one CSV row per run and epoch: the share of filters with Gabor R^2 >= 0.7, the median
R^2, the median spectral peak frequency, test accuracy and the epoch's training time (an
upper bound on a shared machine).

Resumable: a finished run (its metrics.csv reaches the planned epoch) is not retrained, an
interrupted one continues with --resume, an analysed epoch is not re-analysed, and the CSV
is rewritten from every finished run each time. Runs go one at a time under `nice -n 10`
with `--threads 2` (the machine is shared). Python standard library only.

    python3 bench/conv1_regime_sweep.py --groups coarse            # one group
    python3 bench/conv1_regime_sweep.py                            # everything
    python3 bench/conv1_regime_sweep.py --list                     # the runs and their flags
    python3 bench/conv1_regime_sweep.py --summary                  # the table's main rows
"""

import argparse
import csv
import os
import resource
import statistics
import subprocess
import sys
import time

# The regime every run starts from (the PyTorch calibration of issue 14); a run lists only
# what it changes.
BASE = {
    "kernel": 7,
    "train": 20000,
    "scale": 1.0,
    "whitening": "none",
    "epochs": 5,
    "wd": 5e-4,
    "lr": 0.01,
    "batch": 64,
    "seed": 1,
    "random_labels": False,
}


def run(name, group, **changes):
    spec = dict(BASE)
    unknown = set(changes) - set(spec)
    assert not unknown, f"{name}: unknown knobs {unknown}"
    spec.update(changes)
    spec["name"], spec["group"] = name, group
    return spec


RUNS = [
    # Coarse: initial scale x input whitening at k = 7 on 20k images, 5 epochs, in order of
    # priority (the calibration's two regimes first). He init (scale 1) without whitening
    # runs 15 epochs, the calibration's He control.
    run("k7-20k-s0.01-none", "coarse", scale=0.01),
    run("k7-20k-s0.01-zca", "coarse", scale=0.01, whitening="zca"),
    run("k7-20k-s1-none-e15", "coarse", epochs=15),
    run("k7-20k-s0.01-of", "coarse", scale=0.01, whitening="of"),
    run("k7-20k-s0.1-none", "coarse", scale=0.1),
    run("k7-20k-s0.001-none", "coarse", scale=0.001),
    run("k7-20k-s1-zca", "coarse", whitening="zca"),
    run("k7-20k-s1-of", "coarse", whitening="of"),
    run("k7-20k-s0.1-zca", "coarse", scale=0.1, whitening="zca"),
    run("k7-20k-s0.1-of", "coarse", scale=0.1, whitening="of"),
    run("k7-20k-s0.001-zca", "coarse", scale=0.001, whitening="zca"),
    run("k7-20k-s0.001-of", "coarse", scale=0.001, whitening="of"),
    # Seeds: the chosen regime (He x 0.01, no whitening, k = 7, 20k, 5 epochs) again.
    run("k7-20k-s0.01-none-seed2", "seeds", scale=0.01, seed=2),
    run("k7-20k-s0.01-none-seed3", "seeds", scale=0.01, seed=3),
    # Control: the chosen regime on a seeded permutation of the training labels.
    run("k7-20k-s0.01-none-random-labels", "control", scale=0.01, random_labels=True),
    # Quick: the fewest image passes that still reach >= 50% Gabor-like filters.
    run("k7-3k-s0.01-none-e3", "quick", scale=0.01, train=3000, epochs=3),
    run("k7-5k-s0.01-none-e2", "quick", scale=0.01, train=5000, epochs=2),
    run("k7-10k-s0.01-none-e1", "quick", scale=0.01, train=10000, epochs=1),
    run("k7-3k-s0.01-none-e1", "quick", scale=0.01, train=3000, epochs=1),
    run("k7-2k-s0.01-none-e2", "quick", scale=0.01, train=2000, epochs=2),
    run("k7-1k-s0.01-none-e3", "quick", scale=0.01, train=1000, epochs=3),
    run("k7-5k-s0.01-none-e2-seed2", "quick", scale=0.01, train=5000, epochs=2, seed=2),
    # Refine around the chosen regime: kernel 9, all 50k images, no weight decay.
    run("k9-20k-s0.01-none", "refine", scale=0.01, kernel=9),
    run("k7-50k-s0.01-none-e2", "refine", scale=0.01, train=50000, epochs=2),
    run("k7-20k-s0.01-none-wd0", "refine", scale=0.01, wd=0.0),
]

FIELDS = [
    "run", "group", "seed", "kernel", "train_images", "init_scale", "whitening",
    "weight_decay", "lr", "batch_size", "epochs_planned", "random_labels", "epoch",
    "filters", "gabor_r2_ge_0.7_share", "gabor_r2_median", "peak_frequency_median",
    "gabor_frequency_median_r2_ge_0.7", "orientedness", "test_accuracy", "train_accuracy",
    "train_loss", "epoch_seconds", "run_cpu_seconds",
]


def train_command(binary, data, spec, out):
    cmd = [
        "nice", "-n", "10", binary, "-q", "--threads", "2", "cnn", "train",
        "--data", f"cifar10:{data}", "--grayscale", "--flip", "--schedule", "cosine",
        "--momentum", "0.9",
        "--conv1-kernel", str(spec["kernel"]),
        "--train-limit", str(spec["train"]),
        "--conv1-init-scale", repr(spec["scale"]),
        "--input-whitening", spec["whitening"],
        "--epochs", str(spec["epochs"]),
        "--weight-decay", repr(spec["wd"]),
        "--lr", repr(spec["lr"]),
        "--batch-size", str(spec["batch"]),
        "--seed", str(spec["seed"]),
        "--out", out,
    ]
    if spec["random_labels"]:
        cmd.append("--random-labels")
    return cmd


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def finished_epochs(out):
    path = os.path.join(out, "metrics.csv")
    if not os.path.exists(path):
        return -1
    rows = read_csv(path)
    return int(rows[-1]["epoch"]) if rows else -1


def train(binary, data, spec, out):
    done = finished_epochs(out)
    if done >= spec["epochs"]:
        return
    cmd = train_command(binary, data, spec, out)
    if any(os.path.exists(os.path.join(out, f)) for f in ("checkpoint.bin", "checkpoint.json")):
        cmd.append("--resume")
    print(f"[{time.strftime('%H:%M:%S')}] {spec['name']}: {' '.join(cmd)}", flush=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # CPU seconds (user + system, all threads, data loading and testing included) divided by
    # the 2 threads approximate the run's wall time on a quiet machine, which the epoch
    # times on a shared one overstate. A resumed run adds to what it had.
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    path = os.path.join(out, "sweep_cpu_seconds.txt")
    if os.path.exists(path):
        with open(path) as f:
            cpu += float(f.read())
    with open(path, "w") as f:
        f.write(f"{cpu:.1f}\n")


def analyse(binary, out, epoch):
    """filters.csv rows of conv1 at `epoch`, analysing it first if needed."""
    dest = os.path.join(out, "analysis", f"epoch_{epoch:03d}")
    table = os.path.join(dest, "filters.csv")
    if not os.path.exists(table):
        npy = os.path.join(out, f"conv1_epoch_{epoch:03d}.npy")
        subprocess.run(
            ["nice", "-n", "10", binary, "-q", "--threads", "2", "analyze",
             "--filters", npy, "--out", dest, "--force"],
            check=True,
        )
    return read_csv(table)


def number(text):
    try:
        return float(text)
    except ValueError:
        return float("nan")


def median(values):
    values = [v for v in values if v == v]
    return statistics.median(values) if values else float("nan")


def rows_for(binary, spec, out):
    metrics = {int(m["epoch"]): m for m in read_csv(os.path.join(out, "metrics.csv"))}
    cpu_path = os.path.join(out, "sweep_cpu_seconds.txt")
    cpu = open(cpu_path).read().strip() if os.path.exists(cpu_path) else ""
    rows = []
    for epoch in range(spec["epochs"] + 1):
        filters = analyse(binary, out, epoch)
        r2 = [number(f["gabor_r2"]) for f in filters]
        good = [f for f, r in zip(filters, r2) if r >= 0.7]
        m = metrics[epoch]
        rows.append({
            "run": spec["name"], "group": spec["group"], "seed": spec["seed"],
            "kernel": spec["kernel"], "train_images": spec["train"],
            "init_scale": spec["scale"], "whitening": spec["whitening"],
            "weight_decay": spec["wd"], "lr": spec["lr"], "batch_size": spec["batch"],
            "epochs_planned": spec["epochs"], "random_labels": int(spec["random_labels"]),
            "epoch": epoch, "filters": len(filters),
            "gabor_r2_ge_0.7_share": f"{len(good) / max(len(filters), 1):.4f}",
            "gabor_r2_median": f"{median(r2):.4f}",
            "peak_frequency_median": "%.4f" % median(
                [number(f["peak_frequency_cycles_per_pixel"]) for f in filters]),
            "gabor_frequency_median_r2_ge_0.7": "%.4f" % median(
                [number(f["gabor_frequency_cycles_per_pixel"]) for f in good]),
            "orientedness": "%.4f" % number(m["conv1_orientedness"]),
            "test_accuracy": m["test_accuracy"],
            "train_accuracy": m["train_accuracy"],
            "train_loss": m["train_loss"],
            "epoch_seconds": m["seconds"],
            "run_cpu_seconds": cpu,
        })
    return rows


def summary(path):
    """Per run: epoch 0, epoch 1 and the last epoch as a Markdown table, from the CSV."""
    rows = read_csv(path)
    runs = {}
    for r in rows:
        runs.setdefault(r["run"], []).append(r)
    print("| run | epochs | share R^2>=0.7 at 0 / 1 / last | median R^2 last | "
          "median peak frequency last | test accuracy last | epoch s (shared) | run CPU s |")
    print("|---|---|---|---|---|---|---|---|")
    for name, rs in runs.items():
        first, one, last = rs[0], rs[min(1, len(rs) - 1)], rs[-1]
        seconds = [number(r["epoch_seconds"]) for r in rs[1:]]
        print(f"| {name} | {last['epoch']} | {first['gabor_r2_ge_0.7_share']} / "
              f"{one['gabor_r2_ge_0.7_share']} / {last['gabor_r2_ge_0.7_share']} | "
              f"{last['gabor_r2_median']} | {last['peak_frequency_median']} | "
              f"{number(last['test_accuracy']):.4f} | "
              f"{statistics.mean(seconds) if seconds else float('nan'):.0f} | "
              f"{last['run_cpu_seconds'] or '-'} |")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--binary", default=os.path.join(root, "target/release/simplecell"))
    p.add_argument("--data", default=os.path.join(root, "../shared/data/cifar10"))
    p.add_argument("--runs", default=os.path.join(root, "target/conv1-regime-runs"),
                   help="folder of the run folders (large: checkpoints)")
    p.add_argument("--out", default=os.path.join(root, "results/conv1-regime/sweep.csv"))
    p.add_argument("--groups", help="comma-separated groups to run (default: all)")
    p.add_argument("--only", help="comma-separated run names to run")
    p.add_argument("--list", action="store_true", help="print the runs and exit")
    p.add_argument("--summary", action="store_true",
                   help="print the main rows of --out as a Markdown table and exit")
    a = p.parse_args()
    if a.summary:
        summary(a.out)
        return
    selected = [
        s for s in RUNS
        if (not a.groups or s["group"] in a.groups.split(","))
        and (not a.only or s["name"] in a.only.split(","))
    ]
    if a.list:
        for s in selected:
            print(s["group"], s["name"], " ".join(train_command(a.binary, a.data, s, "OUT")))
        return
    for spec in selected:
        train(a.binary, a.data, spec, os.path.join(a.runs, spec["name"]))
    # The table covers every finished run, selected or not, so partial invocations add up.
    rows = []
    for spec in RUNS:
        out = os.path.join(a.runs, spec["name"])
        if finished_epochs(out) >= spec["epochs"]:
            rows.extend(rows_for(a.binary, spec, out))
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {a.out}: {len(rows)} rows", file=sys.stderr)


if __name__ == "__main__":
    main()
