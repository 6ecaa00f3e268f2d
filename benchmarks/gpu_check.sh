#!/usr/bin/env bash
# The GPU figures BENCHMARKS.md waits for, in one run on a machine with one GPU and PyTorch
# installed but no network (the device machines lent to some sessions: their python3 has torch,
# pyarrow, tokenizers and numpy, which is all the trainer needs):
#
#     bash benchmarks/gpu_check.sh OUT_DIR
#
# Sized for one 10-minute device call: each step has its own time limit (install 30 s, trainer
# 200 s at 124m and 250 s at 350m, compilation of both models included; loader 45 s each), 9.5
# minutes at the most.
# It installs thresher without dependencies (offline), records the card and versions, then runs
# benchmarks/bench_trainer.py at 124m (16 x 1024) and 350m (8 x 1024), bf16 and compiled, and the
# loader benchmark for each size at the same batch (its yardstick is the GPU's consumption at the
# reference loop's 46% MFU: compare with the MFU the trainer run measured). Every step writes its own log in
# OUT_DIR and has its own time limit, so one that fails or hangs leaves the others' figures.
# BENCH_ARGS replaces the trainer benchmark's run options, for a CPU dry run of this script:
#     BENCH_ARGS="--device cpu --seq-len 128 --steps 2 --warmup-steps 2 --no-compile" MODELS="tiny" bash benchmarks/gpu_check.sh /tmp/gpu-dry
set -uo pipefail
out=${1:?usage: gpu_check.sh OUT_DIR}
mkdir -p "$out"
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
# 50 timed steps after 50 untimed ones (compilation, allocator warm-up): ~1 s of timed work at
# 124m on an H200, long enough to average out step-to-step jitter.
BENCH_ARGS=${BENCH_ARGS:-"--steps 50 --warmup-steps 50"}
MODELS=${MODELS:-"124m 350m"}

timeout 30 "$PY" -m pip install --quiet --no-deps --no-build-isolation --no-index -e . >"$out/install.log" 2>&1 \
    || { cat "$out/install.log"; exit 1; }
{
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv 2>/dev/null || echo "no nvidia-smi"
    "$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda,
      torch.cuda.get_device_name() if torch.cuda.is_available() else 'no GPU')"
} 2>&1 | tee "$out/machine.txt"

for model in $MODELS; do
    batch=16 limit=200
    [ "$model" = "350m" ] && batch=8 limit=250   # 350m at 8 x 1024 rows a step
    # shellcheck disable=SC2086  # BENCH_ARGS is a list of options
    timeout "$limit" "$PY" benchmarks/bench_trainer.py --model "$model" --batch-size "$batch" $BENCH_ARGS \
        2>&1 | tee "$out/trainer_$model.txt"
    echo "exit $? (trainer $model)" | tee -a "$out/trainer_$model.txt"
done
for model in $MODELS; do
    batch=16
    [ "$model" = "350m" ] && batch=8
    timeout 45 "$PY" benchmarks/bench_trainer_loader.py --model "$model" --batch-size "$batch" --seconds 3 \
        2>&1 | tee "$out/loader_$model.txt"
    echo "exit $? (loader $model)" | tee -a "$out/loader_$model.txt"
done
