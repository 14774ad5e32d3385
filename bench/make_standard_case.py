#!/usr/bin/env python3
"""Builds the standard sparse-coding benchmark case from the Kodak photographs.

Writes, into OUT (default /work/bench-data/standard, override with --out):
  patches_train.npy  (100000, 144) float32: whitened 12x12 patches, DC removed,
                     scaled so mean(x^2) = 1 over the training set
  patches_test.npy   (20000, 144) float32: held-out patches, same processing and scale
  dict256.npy        (256, 144) float32: unit-norm atoms learned with SPAMS trainDL
  case.json          lambda giving 5-8% nonzero codes, and how every file was made

Whitening follows Olshausen and Field (1996), per image: grayscale, mean removed, then the
spectrum multiplied by R(f) = f * exp(-(f/f0)^4), f in cycles/pixel, f0 = 0.4. Patches are
drawn at seeded random positions away from the image border (the circular FFT wraps there).

It runs in its own virtual environment (~/.cache/simplecell-bench/venv, created on first
use); point SIMPLECELL_BENCH_VENV at an existing venv with numpy, scipy, pillow and
spams-bin to skip the install.
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
import hashlib  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

PATCH = 12
F0 = 0.4
BORDER = 16


def whiten(gray):
    """OF whitening of one image: spectrum times f * exp(-(f/f0)^4)."""
    img = gray - gray.mean()
    fy = np.fft.fftfreq(img.shape[0])[:, None]
    fx = np.fft.fftfreq(img.shape[1])[None, :]
    f = np.sqrt(fx**2 + fy**2)
    filt = f * np.exp(-((f / F0) ** 4))
    return np.real(np.fft.ifft2(np.fft.fft2(img) * filt))


def load_gray(path):
    rgb = np.asarray(Image.open(path).convert("RGB"), dtype=np.float64) / 255.0
    return rgb @ np.array([0.299, 0.587, 0.114])


def draw_patches(images, count, rng):
    """`count` patches spread evenly over the images, at random positions."""
    per_image = np.full(len(images), count // len(images))
    per_image[: count % len(images)] += 1
    out = []
    for img, n in zip(images, per_image):
        h, w = img.shape
        ys = rng.integers(BORDER, h - BORDER - PATCH, n)
        xs = rng.integers(BORDER, w - BORDER - PATCH, n)
        for y, x in zip(ys, xs):
            out.append(img[y : y + PATCH, x : x + PATCH].reshape(-1))
    out = np.array(out)
    out -= out.mean(axis=1, keepdims=True)
    return out[rng.permutation(len(out))]


def nonzero_fraction(dict_rows, patches, lam, threads):
    import spams

    X = np.asfortranarray(patches.T.astype(np.float64))
    D = np.asfortranarray(dict_rows.T.astype(np.float64))
    A = spams.lasso(X, D=D, lambda1=lam, mode=2, numThreads=threads)
    return A.nnz / (A.shape[0] * A.shape[1])


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kodak", default=str(Path(__file__).resolve().parents[1] / "../shared/data/kodak"))
    ap.add_argument("--out", default="/work/bench-data/standard")
    ap.add_argument("--train", type=int, default=100_000)
    ap.add_argument("--test", type=int, default=20_000)
    ap.add_argument("--atoms", type=int, default=256)
    ap.add_argument("--seed", type=int, default=20260101)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args()

    import spams

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    names = ["patches_train.npy", "patches_test.npy", f"dict{args.atoms}.npy", "case.json"]
    if not args.force and any((out / n).exists() for n in names):
        sys.exit(f"{out} already holds the case; pass --force to rebuild it")

    t0 = time.time()
    files = sorted(Path(args.kodak).glob("kodim*.png"))
    if not files:
        sys.exit(f"no kodim*.png in {args.kodak}")
    images = [whiten(load_gray(p)) for p in files]
    print(f"whitened {len(images)} images ({time.time() - t0:.1f} s)", flush=True)
    rng = np.random.default_rng(args.seed)
    train = draw_patches(images, args.train, rng)
    test = draw_patches(images, args.test, rng)
    scale = 1.0 / np.sqrt(np.mean(train**2))
    train = (train * scale).astype(np.float32)
    test = (test * scale).astype(np.float32)

    # Learn the dictionary with SPAMS's online method (Mairal et al. 2010), the tool a
    # sparse-coding user would reach for. lambda1 here only shapes the atoms; the coding
    # lambda is chosen afterwards for the target sparsity.
    learn_lambda = 1.0
    X = np.asfortranarray(train.T.astype(np.float64))
    D = spams.trainDL(X, K=args.atoms, lambda1=learn_lambda, mode=2, iter=1000,
                      batchsize=512, numThreads=args.threads, verbose=False)
    D = np.asarray(D).T
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    dict_rows = D.astype(np.float32)
    print(f"learned {args.atoms} atoms ({time.time() - t0:.1f} s)", flush=True)

    # Bisect lambda (on a log scale) for 6.5% nonzero codes on 10,000 training patches.
    probe = train[:10_000]
    lo, hi = 0.05, 5.0
    for _ in range(20):
        mid = np.sqrt(lo * hi)
        frac = nonzero_fraction(dict_rows, probe, mid, args.threads)
        if frac > 0.065:
            lo = mid
        else:
            hi = mid
    lam = float(np.round(np.sqrt(lo * hi), 3))
    frac_train = nonzero_fraction(dict_rows, train, lam, args.threads)
    frac_test = nonzero_fraction(dict_rows, test, lam, args.threads)

    np.save(out / "patches_train.npy", train)
    np.save(out / "patches_test.npy", test)
    np.save(out / f"dict{args.atoms}.npy", dict_rows)
    case = {
        "lambda": lam,
        "nonzero_fraction_train": frac_train,
        "nonzero_fraction_test": frac_test,
        "patch_size": PATCH,
        "pixels": PATCH * PATCH,
        "atoms": args.atoms,
        "train_patches": int(train.shape[0]),
        "test_patches": int(test.shape[0]),
        "layout": "row-major (patches, pixels) and (atoms, pixels), float32; pixel index = row * 12 + col",
        "whitening": {"filter": "f * exp(-(f/f0)^4)", "f0_cycles_per_pixel": F0, "per_image": True,
                      "grayscale": "0.299 R + 0.587 G + 0.114 B on sRGB values / 255",
                      "border_skipped_pixels": BORDER},
        "scale": float(scale),
        "scale_note": "patches multiplied by this after DC removal so mean(x^2) = 1 on the training set",
        "dictionary": {"method": "spams.trainDL mode 2", "lambda1": learn_lambda, "iter": 1000,
                       "batchsize": 512, "atoms_unit_norm": True},
        "seed": args.seed,
        "images": [p.name for p in files],
        "sha256": {n: sha256(out / n) for n in names[:3]},
        "seconds": round(time.time() - t0, 1),
        "script": "bench/make_standard_case.py",
    }
    (out / "case.json").write_text(json.dumps(case, indent=2) + "\n")
    print(json.dumps({k: case[k] for k in ["lambda", "nonzero_fraction_train", "nonzero_fraction_test", "seconds"]}))


if __name__ == "__main__":
    main()
