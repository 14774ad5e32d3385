#!/usr/bin/env python3
"""Side-by-side CNN training speed: PyTorch on CPU vs `simplecell cnn train`.

Both train the reference net (conv5x5 3->32 pad 2, ReLU, maxpool 2, conv5x5 32->64 pad 2,
ReLU, maxpool 2, linear 4096->10) on the same CIFAR-10 subset, with the same batch size,
SGD (momentum 0.9, lr 0.01), L2 weight decay 5e-4 on conv/linear weights only, He-normal
initialisation, per-channel standardisation from the training set, no augmentation, and the
same thread count (torch.set_num_threads / simplecell --threads). It reports the median
epoch time and the final test accuracy for 1 and 2 threads as a Markdown table.

Usage:
  python3 bench/compare_cnn.py --data ../shared/data/cifar10 [--train 10000] [--test 2000]
         [--epochs 2] [--threads 1 2] [--simplecell target/release/simplecell]

It creates its own venv under ~/.cache/simplecell-bench/venv with numpy and torch, unless
SIMPLECELL_BENCH_VENV points at an existing venv that has them.
"""
import os
import subprocess
import sys
from pathlib import Path


def ensure_venv():
    from bench_venv import ensure_venv as ensure

    ensure(['numpy', 'torch'])


def load_cifar(folder, train_limit, test_limit):
    import numpy as np

    def read(paths):
        raw = np.concatenate([np.fromfile(p, dtype=np.uint8) for p in paths])
        rec = raw.reshape(-1, 3073)
        return rec[:, 1:].reshape(-1, 3, 32, 32), rec[:, 0].astype(np.int64)

    folder = Path(folder)
    xtr, ytr = read(sorted(folder.glob("data_batch_*.bin")))
    xte, yte = read([folder / "test_batch.bin"])
    # The same subsets simplecell takes are not reproducible here (its permutation is
    # ChaCha-based), so both sides use the first N; the comparison is of time per image
    # and accuracy on equal-size data.
    return xtr[:train_limit], ytr[:train_limit], xte[:test_limit], yte[:test_limit]


def torch_run(data, epochs, threads, batch, seed=0):
    import time
    import numpy as np
    import torch
    import torch.nn as nn

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    xtr, ytr, xte, yte = data
    xtr = torch.tensor(xtr, dtype=torch.float32) / 255
    xte = torch.tensor(xte, dtype=torch.float32) / 255
    mean = xtr.mean(dim=(0, 2, 3), keepdim=True)
    std = xtr.std(dim=(0, 2, 3), keepdim=True)
    xtr, xte = (xtr - mean) / std, (xte - mean) / std
    ytr, yte = torch.tensor(ytr), torch.tensor(yte)
    net = nn.Sequential(
        nn.Conv2d(3, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(4096, 10),
    )
    for m in net:
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)
    weights = [p for n, p in net.named_parameters() if n.endswith("weight")]
    biases = [p for n, p in net.named_parameters() if n.endswith("bias")]
    opt = torch.optim.SGD([{"params": weights, "weight_decay": 5e-4}, {"params": biases, "weight_decay": 0}], lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    times = []
    for epoch in range(epochs):
        net.train()
        perm = torch.randperm(len(xtr))
        t0 = time.perf_counter()
        for i in range(0, len(xtr), batch):
            idx = perm[i:i + batch]
            opt.zero_grad()
            loss = loss_fn(net(xtr[idx]), ytr[idx])
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - t0)
    net.eval()
    with torch.no_grad():
        correct = sum((net(xte[i:i + 256]).argmax(1) == yte[i:i + 256]).sum().item() for i in range(0, len(xte), 256))
    return times, correct / len(xte)


def simplecell_run(binary, folder, train, test, epochs, threads, batch, out):
    import csv
    import shutil

    shutil.rmtree(out, ignore_errors=True)
    cmd = [binary, "--quiet", "--threads", str(threads), "cnn", "train", "--data", f"cifar10:{folder}",
           "--out", str(out), "--epochs", str(epochs), "--batch-size", str(batch), "--lr", "0.01",
           "--momentum", "0.9", "--weight-decay", "5e-4", "--train-limit", str(train), "--test-limit", str(test)]
    subprocess.check_call(cmd)
    rows = list(csv.DictReader(open(Path(out) / "metrics.csv")))[1:]
    return [float(r["seconds"]) for r in rows], float(rows[-1]["test_accuracy"])


def main():
    ensure_venv()
    import argparse
    import statistics
    import tempfile

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="CIFAR-10 binary folder")
    ap.add_argument("--train", type=int, default=10000, help="training images [10000]")
    ap.add_argument("--test", type=int, default=2000, help="test images [2000]")
    ap.add_argument("--epochs", type=int, default=2, help="epochs [2]")
    ap.add_argument("--batch", type=int, default=64, help="batch size [64]")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts [1 2]")
    ap.add_argument("--simplecell", default="target/release/simplecell", help="simplecell binary")
    a = ap.parse_args()
    data = load_cifar(a.data, a.train, a.test)
    print(f"CIFAR-10: {a.train} training, {a.test} test images, batch {a.batch}, {a.epochs} epochs")
    print("| threads | PyTorch s/epoch | simplecell s/epoch | ratio | PyTorch test acc | simplecell test acc |")
    print("|---|---|---|---|---|---|")
    for t in a.threads:
        pt_times, pt_acc = torch_run(data, a.epochs, t, a.batch)
        with tempfile.TemporaryDirectory() as tmp:
            sc_times, sc_acc = simplecell_run(a.simplecell, a.data, a.train, a.test, a.epochs, t, a.batch, Path(tmp) / "run")
        pt, sc = statistics.median(pt_times), statistics.median(sc_times)
        print(f"| {t} | {pt:.2f} | {sc:.2f} | {sc / pt:.2f} | {pt_acc:.3f} | {sc_acc:.3f} |", flush=True)


if __name__ == "__main__":
    main()
