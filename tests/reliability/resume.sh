#!/usr/bin/env bash
# Process tests of `gradlab_train --resume` (issue 18, "Resuming training").
#
#   resume.sh SCENARIO GRADLAB_TRAIN SCRATCH_FOLDER
#
# Scenarios:
#   same-OPTIMIZER-BACKEND  (OPTIMIZER momentum or adam, BACKEND reference or onednn, --threads 1)
#                           4 epochs in one run (--out a); 2 epochs --save ck, then --resume ck
#                           --epochs 4 (--out b): b/history.csv (every iteration's loss, the
#                           first 2 epochs carried in the checkpoint) must equal a/history.csv
#                           byte for byte, and epochs.csv's loss and accuracy columns too. The
#                           runs use dropout (the random generator must continue), --lr-decay
#                           (lr₀ and the epoch must) and keep-best. Control: the same resume from
#                           a copy of ck whose optimiser state files are zeroed must give other
#                           losses, so the check sees the optimiser state.
#   killed                  a 4-epoch run with --save ck --save-every-epoch is killed (SIGKILL)
#                           when it reports the save of epoch 2 (wherever the kill lands, ck holds
#                           a complete epoch); --resume ck --epochs 4 must give a's losses.
#   refusals                --resume of a missing folder, of a checkpoint without training
#                           state (an old one; one of a run that trained no epoch), with a conflicting --lr or --hidden (the message names both
#                           values), with --load, with --epochs below the epochs done; and
#                           --save-every-epoch without --save. A flag repeated with the same
#                           value is accepted.
#
# A tiny MNIST-like folder (200 training images of random pixels, 20 test) keeps each run well
# under a second. The exit status is 0 when every check passed, 1 otherwise.
set -u
source "${BASH_SOURCE[0]%/*}/scenario.sh" "$@"  # the set-up shared by the process tests

tiny_mnist data 200 20

backend=reference
optimizer=momentum
if [[ $scenario == same-* ]]; then
  optimizer=$(cut -d- -f2 <<<"$scenario")
  backend=$(cut -d- -f3 <<<"$scenario")
fi
# What is given again on --resume: where the data is and how to compute, not what the run is.
where=(--data "$work/data" --progress none --no-plots --backend "$backend" --threads 1)
run=(--dataset mnist --val 40 --hidden 20 --batch 16 --dropout 0.2 --lr-decay 0.9
     --optimizer "$optimizer" "${where[@]}")

T() { "$program" "$@" >>log.txt 2>&1; }

# The loss and accuracy columns of epochs.csv (the timings differ from run to run).
columns() { cut -d, -f1-6 "$1"; }

# Zeroes the data of every optimiser state file of checkpoint $1 (the .npy header says where the
# data starts), keeping the files valid.
zero_optimizer_state() {
  python3 - "$1" <<'PYTHON'
import glob, struct, sys
for path in glob.glob(sys.argv[1] + "/training.optimizer.*.npy"):
    data = bytearray(open(path, "rb").read())
    major = data[6]
    start = 10 + struct.unpack("<H", data[8:10])[0] if major == 1 else \
        12 + struct.unpack("<I", data[8:12])[0]
    if path.endswith(".step.npy"):
        continue  # Adam's step counts stay: only the moments are zeroed
    data[start:] = bytes(len(data) - start)
    open(path, "wb").write(data)
PYTHON
}

case $scenario in
  same-*)
    T "${run[@]}" --epochs 4 --out a || fail "the uninterrupted run failed: $(tail -3 log.txt)"
    T "${run[@]}" --epochs 2 --out first --save ck || fail "the first 2 epochs failed"
    T --resume ck --epochs 4 --out b "${where[@]}" || fail "--resume failed: $(tail -3 log.txt)"
    if [[ -s a/history.csv ]] && cmp -s a/history.csv b/history.csv; then
      pass "$optimizer on $backend: the resumed run's losses equal the uninterrupted run's"
    else
      fail "$optimizer on $backend: the losses differ:"
      diff a/history.csv b/history.csv | head -5
    fi
    if [[ -s a/epochs.csv ]] && diff <(columns a/epochs.csv) <(columns b/epochs.csv) >/dev/null; then
      pass "epochs.csv: the same epochs, learning rates, losses and accuracies"
    else
      fail "epochs.csv differs"
      diff <(columns a/epochs.csv) <(columns b/epochs.csv) | head -5
    fi
    if [[ $(wc -l <b/history.csv) != 41 ]]; then
      fail "b/history.csv should hold the whole run's 40 iterations"
    fi
    # The control: the optimiser state matters, and the comparison above sees it.
    cp -r ck zeroed
    zero_optimizer_state zeroed
    T --resume zeroed --epochs 4 --out z "${where[@]}" || fail "--resume zeroed failed"
    if ls zeroed/training.optimizer.* >/dev/null 2>&1 && [[ -s z/history.csv ]] &&
      ! cmp -s a/history.csv z/history.csv; then
      pass "control: without its optimiser state the resumed run's losses differ"
    else
      fail "control: zeroing the optimiser state changed nothing (is it saved and restored?)"
    fi
    ;;
  killed)
    T "${run[@]}" --epochs 4 --out a || fail "the uninterrupted run failed"
    # stderr is read line by line; the run is killed once it reports the save of epoch 2.
    mkfifo progress
    "$program" "${run[@]/#none/lines}" --epochs 4 --out killed --save ck --save-every-epoch \
      2>progress >/dev/null &
    pid=$!
    while IFS= read -r line; do
      if [[ $line == "saved epoch 2 to ck" ]]; then
        kill -KILL "$pid" 2>/dev/null
        break
      fi
    done <progress
    wait "$pid"
    echo "the run ended with status $? (137: killed)"
    grep -o '"epoch": [0-9]*' ck/manifest.json
    [[ -f ck/manifest.json ]] || fail "the killed run left no checkpoint"
    T --resume ck --epochs 4 --out b "${where[@]}" || fail "--resume failed: $(tail -3 log.txt)"
    if [[ -s a/history.csv ]] && cmp -s a/history.csv b/history.csv; then
      pass "a run killed after epoch 2 and resumed gives the uninterrupted run's losses"
    else
      fail "the resumed run's losses differ"
      diff a/history.csv b/history.csv | head -5
    fi
    ;;
  refusals)
    T "${run[@]}" --epochs 2 --out first --save ck || fail "the first run failed"
    # refuse NAME PATTERN ARGS...: the run must fail with status 1, print PATTERN, write no --out.
    refuse() {
      local name=$1 pattern=$2
      shift 2
      rm -rf out
      : >log.txt
      "$program" "$@" --out out >log.txt 2>&1
      local status=$?
      if [[ $status == 0 ]]; then
        fail "$name: accepted"
      elif ! grep -qF -- "$pattern" log.txt; then
        fail "$name: the message does not say '$pattern': $(tail -2 log.txt)"
      elif [[ -e out/history.csv ]]; then
        fail "$name: logs were written"
      else
        pass "$name"
      fi
    }
    refuse "a missing folder" "--resume nowhere: no such checkpoint folder" \
      --resume nowhere "${where[@]}"
    # A checkpoint without a training state: the manifest made version 2 without "training".
    cp -r ck plain
    rm plain/training.*
    python3 - plain/manifest.json <<'PYTHON'
import json, sys
manifest = json.load(open(sys.argv[1]))
manifest["format_version"] = 2
del manifest["training"]
json.dump(manifest, open(sys.argv[1], "w"))
PYTHON
    refuse "a checkpoint without training state" "holds no training state" \
      --resume plain "${where[@]}"
    T "${run[@]}" --epochs 0 --out untrained --save ck0 || fail "the --epochs 0 run failed"
    refuse "a checkpoint of a run that trained no epoch" "holds no training state" \
      --resume ck0 "${where[@]}"
    refuse "a conflicting --lr" "--lr 0.5 conflicts with the run's --lr 0.05" \
      --resume ck --lr 0.5 "${where[@]}"
    refuse "a conflicting --hidden" "--hidden '30' conflicts with the run's --hidden '20'" \
      --resume ck --hidden 30 "${where[@]}"
    refuse "--load with --resume" "excludes" --resume ck --load ck "${where[@]}"
    refuse "--epochs below the epochs done" "the run has done 2 epochs" \
      --resume ck --epochs 1 "${where[@]}"
    refuse "--save-every-epoch without --save" "--save-every-epoch needs --save" \
      "${run[@]}" --epochs 1 --save-every-epoch
    if "$program" --resume ck --epochs 3 --lr 0.05 --hidden 20 --out same "${where[@]}" \
      >log.txt 2>&1; then
      pass "flags repeated with the run's values are accepted"
    else
      fail "flags repeated with the run's values were refused: $(tail -2 log.txt)"
    fi
    ;;
  *)
    echo "unknown scenario $scenario"
    exit 1
    ;;
esac
if [[ $failures != 0 ]]; then
  echo "$failures check(s) failed; the log of the last run:"
  tail -20 log.txt
  exit 1
fi
exit 0
