"""The machine's float32 GEMM at the `features` encoder's shape, for the encoder's efficiency.

The encoder of `simplecell features` multiplies one batch of 8 CIFAR images' windows
(5,832 x 108, 6x6x3 values each) by the 108 x 1,600 bank. This script times numpy's
float32 GEMM (the BLAS it links, OpenBLAS in the bench venv) at that shape on 1 and 2
threads and prints the median GFLOP/s of `--repeats` calls, so the encoder's own GEMM
rate (`cargo bench --bench features -- encoder_gemm`, and `gemm_gflops_per_thread_train`
in a run's features.json) can be read as a fraction of what the machine's BLAS reaches.
Run both side by side on a quiet machine.

    python3 bench/encoder_gemm_peer.py [--repeats 50]
"""

import argparse
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_venv import ensure_venv  # noqa: E402

M, K, N = 8 * 729, 108, 1600


def measure(threads, repeats):
    # BLAS reads its thread count at start-up, so each count runs in its own process.
    code = f"""
import time, numpy as np
rng = np.random.default_rng(1)
a = (rng.random(({M}, {K}), dtype=np.float32) - 0.5)
b = (rng.random(({K}, {N}), dtype=np.float32) - 0.5)
out = np.empty(({M}, {N}), dtype=np.float32)
np.matmul(a, b, out=out)
times = []
for _ in range({repeats}):
    t = time.perf_counter(); np.matmul(a, b, out=out); times.append(time.perf_counter() - t)
times.sort()
print(2 * {M} * {K} * {N} / times[len(times) // 2] / 1e9)
"""
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True,
                         capture_output=True, text=True)
    return float(out.stdout.strip())


def main():
    ensure_venv(["numpy"])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    for threads in (1, 2):
        rate = measure(threads, args.repeats)
        print(f"numpy float32 GEMM {M}x{K}x{N}, {threads} thread(s): {rate:.1f} GFLOP/s "
              f"({rate / threads:.1f} per thread), median of {args.repeats}")


if __name__ == "__main__":
    main()
