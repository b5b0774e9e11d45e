#!/usr/bin/env bash
# Time to accuracy (issue 17): the Fashion-MNIST wide-bn recipe, 5 epochs, in gradlab (oneDNN)
# and in PyTorch on the same machine; prints both training times (the epochs' steps, evaluation
# excluded), both test accuracies, gradlab's peak memory and the ratio.
#
#   bench/time_to_accuracy.sh [BUILD_DIR] [THREADS] [PAIRS]      (defaults: build, 2, 1)
#
# gradlab's side is `gradlab_train` with the recipe below under /usr/bin/time -v (peak memory);
# PyTorch's is bench/time_to_accuracy_pytorch.py with the same data handling and hyperparameters.
# With PAIRS > 1 the two run in turn (gradlab, PyTorch, gradlab, ...), and the ratio is taken pair
# by pair: on a shared machine whose speed drifts, the median of those ratios is the figure to
# quote, and the spread of the pairs says how noisy the machine was.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
build="${1:-$here/../build}"
threads="${2:-2}"
pairs="${3:-1}"
[[ "$pairs" =~ ^[1-9][0-9]?$ ]] || { echo "PAIRS must be 1 to 99, got '$pairs'" >&2; exit 2; }
recipe=(--hidden 1024,1024 --batchnorm --activation relu --init he --optimizer momentum
        --lr 0.05 --momentum 0.9 --reg 1e-4 --batch 256 --epochs 5 --val 5000 --seed 42
        --backend onednn --threads "$threads" --progress none --no-plots)
log="$(mktemp)"
trap 'rm -f "$log" "$log.time"; rm -rf "$log.out"' EXIT
echo "gradlab: gradlab_train ${recipe[*]}"
echo "PyTorch: $here/time_to_accuracy_pytorch.py --threads $threads"
printf '\n%-6s %-10s %12s %15s %10s\n' "pair" "" "training s" "test accuracy" "peak MB"
ratios=()
for ((pair = 1; pair <= pairs; ++pair)); do
  /usr/bin/time -v -o "$log.time" "$build/modules/app/gradlab_train" "${recipe[@]}" \
    --out "$log.out" >"$log"
  gradlab_seconds=$(sed -n 's/^training time: \([0-9.]*\) s.*/\1/p' "$log")
  gradlab_accuracy=$(sed -n 's/^test accuracy: \([0-9.]*\)%.*/\1/p' "$log")
  peak_kb=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$log.time")
  rm -rf "$log.out"
  torch_json=$(/usr/bin/python3 "$here/time_to_accuracy_pytorch.py" --threads "$threads")
  read -r torch_seconds torch_accuracy < <(/usr/bin/python3 -c \
    'import json,sys; r=json.loads(sys.argv[1]); print(r["training_seconds"], 100*r["test_accuracy"])' \
    "$torch_json")
  printf '%-6d %-10s %12.2f %14.2f%% %10d\n' "$pair" gradlab "$gradlab_seconds" \
    "$gradlab_accuracy" "$((peak_kb / 1024))"
  printf '%-6d %-10s %12.2f %14.2f%%\n' "$pair" PyTorch "$torch_seconds" "$torch_accuracy"
  ratios+=("$(/usr/bin/python3 -c 'import sys; print(float(sys.argv[1]) / float(sys.argv[2]))' \
    "$gradlab_seconds" "$torch_seconds")")
done
/usr/bin/python3 -c '
import statistics, sys
r = sorted(float(x) for x in sys.argv[1:])
if len(r) == 1:
    print(f"gradlab / PyTorch training time: {r[0]:.2f}")
else:
    print(f"gradlab / PyTorch training time, per pair: median {statistics.median(r):.2f} "
          f"(min {r[0]:.2f}, max {r[-1]:.2f}, {len(r)} pairs)")' "${ratios[@]}"
