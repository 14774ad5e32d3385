#!/usr/bin/env python3
"""Old binary against new binary on the same workloads, interleaved, for a no-slowdown check.

A redesign that must not change speed is checked here: each round runs every workload once
with --old and once with --new (the order alternating between rounds, so a passing load or
a warm cache favours neither), and the summary gives each binary's median seconds and the
median over rounds of new/old in the same round. The workloads are the heavy paths a user
runs: extract on the Kodak photographs, encode (cd and fista) and one learning epoch on the
standard 100k-patch case, analyze of a 256-atom dictionary, and one CNN epoch on CIFAR-10.

Usage:
  python3 bench/ab_speed.py --old OLD_BINARY --new target/release/simplecell \
      --case /work/bench-data/standard --data ../shared/data --rounds 5 --work /tmp/ab
The standard case comes from bench/make_standard_case.py. Workloads whose inputs are
missing are skipped with a printed reason. Outputs go to --work and are deleted per run.
"""

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def workloads(case: Path, data: Path, work: Path):
    """(name, argument list with OUT as the output placeholder, inputs that must exist)."""
    lam = json.loads((case / "case.json").read_text()).get("lambda", 0.1) if (
        case / "case.json").exists() else 0.1
    patches = str(case / "patches_train.npy")
    dictionary = str(case / "dict256.npy")
    kodak = data / "kodak"
    cifar = data / "cifar10"
    return [
        ("extract-kodak", ["extract", "--images", str(kodak), "--count", "100000",
                           "--patch-size", "12", "--out", "OUT/p.npy"], [kodak]),
        ("encode-cd", ["encode", "--patches", patches, "--dictionary", dictionary,
                       "--lambda", str(lam), "--coder", "cd", "--out", "OUT/codes.npy"],
         [case / "patches_train.npy"]),
        ("encode-fista", ["encode", "--patches", patches, "--dictionary", dictionary,
                          "--lambda", str(lam), "--coder", "fista", "--out", "OUT/codes.npy"],
         [case / "patches_train.npy"]),
        ("learn-epoch", ["learn", "--patches", patches, "--atoms", "256", "--lambda", str(lam),
                         "--epochs", "1", "--out", "OUT/run"], [case / "patches_train.npy"]),
        ("analyze-256", ["analyze", "--filters", dictionary, "--out", "OUT/a"],
         [case / "dict256.npy"]),
        ("cnn-epoch", ["cnn", "train", "--data", f"cifar10:{cifar}", "--train-limit", "5000",
                       "--test-limit", "1000", "--epochs", "1", "--out", "OUT/cnn"], [cifar]),
    ]


def run_once(binary: str, args, threads: int, out: Path):
    """(wall seconds, CPU seconds of the child: user + system)."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    argv = [binary, "--quiet", "--threads", str(threads)] + [a.replace("OUT", str(out))
                                                              for a in args]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed:\n{done.stderr}")
    shutil.rmtree(out)
    return seconds, cpu


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--old", required=True)
    ap.add_argument("--new", required=True)
    ap.add_argument("--case", default="/work/bench-data/standard")
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", default="", help="comma-separated workload names")
    ap.add_argument("--work", default="/tmp/ab-speed")
    a = ap.parse_args()
    work = Path(a.work)
    only = set(filter(None, a.only.split(",")))
    rows = []
    for name, args, needs in workloads(Path(a.case), Path(a.data), work):
        if only and name not in only:
            continue
        missing = [str(p) for p in needs if not p.exists()]
        if missing:
            print(f"skip {name}: missing {', '.join(missing)}")
            continue
        wall = {"old": [], "new": []}
        cpu = {"old": [], "new": []}
        for r in range(a.rounds):
            order = ["old", "new"] if r % 2 == 0 else ["new", "old"]
            for which in order:
                binary = a.old if which == "old" else a.new
                w, c = run_once(binary, args, a.threads, work / which)
                wall[which].append(w)
                cpu[which].append(c)
        row = [name]
        for t in (wall, cpu):
            ratios = [n / o for n, o in zip(t["new"], t["old"])]
            row += [statistics.median(t["old"]), statistics.median(t["new"]),
                    statistics.median(ratios), min(ratios), max(ratios)]
        rows.append(row)
        print("%-14s wall old %7.2f new %7.2f new/old %.3f (%.3f-%.3f); "
              "cpu old %7.2f new %7.2f new/old %.3f (%.3f-%.3f)" % tuple(row), flush=True)
    print(f"\n{a.rounds} rounds, {a.threads} threads, interleaved; medians in seconds, and the "
          "median (range) over rounds of new/old within a round")
    print("| workload | wall old | wall new | wall new/old | CPU old | CPU new | CPU new/old |")
    print("|---|---|---|---|---|---|---|")
    for n, wo, wn, wr, wlo, whi, co, cn, cr, clo, chi in rows:
        print(f"| {n} | {wo:.2f} | {wn:.2f} | {wr:.3f} ({wlo:.2f}-{whi:.2f}) "
              f"| {co:.2f} | {cn:.2f} | {cr:.3f} ({clo:.2f}-{chi:.2f}) |")


if __name__ == "__main__":
    main()
