#!/usr/bin/env bash
# Time to accuracy (issue 17): the Fashion-MNIST wide-bn recipe, 5 epochs, in gradlab (oneDNN)
# and in PyTorch on the same machine, one after the other; prints both training times (the
# epochs' steps, evaluation excluded), both test accuracies, gradlab's peak memory and the ratio.
#
#   bench/time_to_accuracy.sh [BUILD_DIR] [THREADS]      (defaults: build, 2)
#
# gradlab's side is `gradlab_train` with the recipe below under /usr/bin/time -v (peak memory);
# PyTorch's is bench/time_to_accuracy_pytorch.py with the same data handling and hyperparameters.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
build="${1:-$here/../build}"
threads="${2:-2}"
recipe=(--hidden 1024,1024 --batchnorm --activation relu --init he --optimizer momentum
        --lr 0.05 --momentum 0.9 --reg 1e-4 --batch 256 --epochs 5 --val 5000 --seed 42
        --backend onednn --threads "$threads" --progress none --no-plots)
log="$(mktemp)"
trap 'rm -f "$log" "$log.time"' EXIT
echo "gradlab: gradlab_train ${recipe[*]}"
/usr/bin/time -v -o "$log.time" "$build/modules/app/gradlab_train" "${recipe[@]}" \
  --out "$(dirname "$log")/gradlab-tta-$$" >"$log"
gradlab_seconds=$(sed -n 's/^training time: \([0-9.]*\) s.*/\1/p' "$log")
gradlab_accuracy=$(sed -n 's/^test accuracy: \([0-9.]*\)%.*/\1/p' "$log")
peak_kb=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$log.time")
rm -rf "$(dirname "$log")/gradlab-tta-$$"
echo "PyTorch: $here/time_to_accuracy_pytorch.py --threads $threads"
torch_json=$(/usr/bin/python3 "$here/time_to_accuracy_pytorch.py" --threads "$threads")
read -r torch_seconds torch_accuracy < <(/usr/bin/python3 -c \
  'import json,sys; r=json.loads(sys.argv[1]); print(r["training_seconds"], 100*r["test_accuracy"])' \
  "$torch_json")
printf '\n%-10s %12s %15s\n' "" "training s" "test accuracy"
printf '%-10s %12.2f %14.2f%%   (peak memory %d MB)\n' gradlab "$gradlab_seconds" "$gradlab_accuracy" \
  "$((peak_kb / 1024))"
printf '%-10s %12.2f %14.2f%%\n' PyTorch "$torch_seconds" "$torch_accuracy"
/usr/bin/python3 -c 'import sys; print(f"gradlab / PyTorch training time: {float(sys.argv[1]) / float(sys.argv[2]):.2f}")' \
  "$gradlab_seconds" "$torch_seconds"
