#!/usr/bin/env bash
# Wall time and peak memory of the README's extract benchmark: 1,000,000 12x12 patches from
# the 24 Kodak photographs with OF whitening. Needs ../shared/data/kodak and GNU time
# (apt-get install time). Output goes to $SIMPLECELL_BENCH_DATA (default /tmp), not the repo.
# Usage: bench/extract_kodak.sh [RUNS=3] [extra extract options...]
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-3}"; shift || true
data="${SIMPLECELL_BENCH_DATA:-/tmp}/simplecell-bench-extract"
mkdir -p "$data"
cargo build --release --quiet
bin="${CARGO_TARGET_DIR:-target}/release/simplecell"
for i in $(seq "$runs"); do
  /usr/bin/time -f "run $i: wall %e s, peak RSS %M KB, user %U s, sys %S s" \
    "$bin" -q extract --images ../shared/data/kodak --count 1000000 --patch-size 12 \
    --whiten of --out "$data/kodak_1m.npy" --force "$@"
done
ls -l "$data/kodak_1m.npy"
