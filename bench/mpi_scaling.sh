#!/usr/bin/env bash
# MPI benchmark for `learn` (issue 18; README, "MPI"). Not a test: it takes minutes.
#
# 1. Overhead: `mpirun -np 2 --threads 1` against one process `--threads 2` (the binary
#    built with the feature, started without mpirun), one epoch of the standard-shaped case
#    (100,000 training patches of 12x12, 256 atoms, batch 256), REPEATS rounds alternating
#    the two; wall seconds of the whole command and rank 0's learning seconds.
# 2. Per-step costs for the scaling model, one process, one thread, batch 256, 1024, 4096:
#    coding and update seconds per step from the sidecar (`timings`).
# 3. Measured speed-up at np = 1, 2, 4 (--threads 1 each; 4 ranks oversubscribe 2 cores)
#    at the same three batch sizes, to check the model against; at np > 1 once for each
#    SPLITS setting of SIMPLECELL_SPLIT_UPDATE (default "off on": the update's statistics
#    pass replicated on every rank, or split among them; "auto" lets the ranks choose), all
#    in the same round. The sidecar's update_rule_state gives how many updates split and
#    the last probe's medians (auto): the whole pass, the split pass with its exchange, and
#    the split pass alone. With BASE_BIN set (an older build to compare against), each round
#    also runs it at np = 1: the one-process path, same rounds.
#
# Usage: bench/mpi_scaling.sh [REPEATS] (default 5). Needs target/mpi/release/simplecell
# (CARGO_TARGET_DIR=target/mpi cargo build --release --features mpi) and writes scratch
# files under $OUT (default /tmp/simplecell-mpi-bench). Prints CSV lines to stdout.
# Shorter runs: OVERHEAD_STEPS (default 391, one epoch at batch 256) and SCALING_PATCHES
# (patches per scaling run, default 100000); PARTS (default "overhead scaling") picks parts.
set -euo pipefail
cd "$(dirname "$0")/.."
REPEATS=${1:-5}
BIN=${BIN:-$PWD/target/mpi/release/simplecell}
OUT=${OUT:-/tmp/simplecell-mpi-bench}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
    OMPI_MCA_rmaps_base_oversubscribe=1 \
    OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_oob_tcp_if_include=lo
mkdir -p "$OUT"
P=$OUT/patches.npy
if [ ! -f "$P" ]; then
    # 101,000 OF-whitened 12x12 Kodak patches: 100,000 train + 1,000 held out (default split).
    "$BIN" --quiet extract --images ../shared/data/kodak --count 101000 --seed 1 --out "$P"
fi
COMMON=(--quiet learn --patches "$P" --atoms 256 --lambda 1.0 --seed 1)

# Learning, coding and update seconds, then the split's record ("-" in one process).
sidecar() {
    python3 - "$1/dictionary.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
t = r["timings"]
s = (r.get("update_rule_state") or {}).get("statistics_pass") or {}
p = s.get("last_probe_ms") or {}
f = lambda v: "-" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))
print(t["learning_seconds"], t["coding_seconds"], t["update_seconds"],
      f(s.get("split_updates")), f(s.get("whole_updates")),
      f(p.get("whole")), f(p.get("split")), f(p.get("split_pass")))
PY
}

echo "part,round,how,batch,np,threads,split,wall_s,learning_s,coding_s,update_s,steps,split_updates,whole_updates,probe_whole_ms,probe_split_ms,probe_split_pass_ms"
run() { # part round how batch np threads steps split
    local part=$1 round=$2 how=$3 batch=$4 np=$5 threads=$6 steps=$7 split=${8:-auto}
    local dir=$OUT/$part-$how-$batch-$np-$threads-$split
    rm -rf "$dir"
    local start end
    start=$(date +%s.%N)
    if [ "$how" = mpirun ]; then
        SIMPLECELL_SPLIT_UPDATE=$split mpirun -x SIMPLECELL_SPLIT_UPDATE -np "$np" \
            --bind-to none "$BIN" --threads "$threads" "${COMMON[@]}" \
            --batch "$batch" --steps "$steps" --out "$dir"
    else
        local bin=$BIN
        [ "$how" = base ] && bin=$BASE_BIN
        "$bin" --threads "$threads" "${COMMON[@]}" --batch "$batch" --steps "$steps" --out "$dir"
    fi
    end=$(date +%s.%N)
    read -r ls cs us su wu pw ps pp < <(sidecar "$dir")
    echo "$part,$round,$how,$batch,$np,$threads,$split,$(echo "$end - $start" | bc),$ls,$cs,$us,$steps,$su,$wu,$pw,$ps,$pp"
}

PARTS=${PARTS:-overhead scaling}
if [[ " $PARTS " == *" overhead "* ]]; then
    for r in $(seq "$REPEATS"); do
        run overhead "$r" single 256 1 2 "${OVERHEAD_STEPS:-391}"
        run overhead "$r" mpirun 256 2 1 "${OVERHEAD_STEPS:-391}"
    done
fi
if [[ " $PARTS " == *" scaling "* ]]; then
    for r in $(seq "$REPEATS"); do
        for b in 256 1024 4096; do
            steps=$((${SCALING_PATCHES:-100000} / b))
            run scaling "$r" single "$b" 1 1 "$steps"
            if [ -n "${BASE_BIN:-}" ]; then run scaling "$r" base "$b" 1 1 "$steps"; fi
            for np in 2 4; do
                for split in ${SPLITS:-off on}; do
                    run scaling "$r" mpirun "$b" "$np" 1 "$steps" "$split"
                done
            done
        done
    done
fi
