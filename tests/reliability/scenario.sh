# Shared by the process tests train_outputs.sh, checkpoint_crash.sh and resume.sh, which source
# it with their arguments: SCENARIO PROGRAM WORK_ROOT. It sets $scenario, $program and $work
# (WORK_ROOT/SCENARIO, emptied, the working folder from then on), counts failures, and writes
# tiny MNIST-like folders.
scenario=$1
program=$2
work=$3/$scenario
rm -rf "$work"
mkdir -p "$work"
cd "$work" || exit 1

failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}
pass() { echo "ok: $*"; }

byte() { printf "\\x$(printf %02x "$1")"; }
idx3() {  # idx3 FILE N: N random 28×28 images (N < 65536)
  { printf '\x00\x00\x08\x03\x00\x00'; byte $(($2 / 256)); byte $(($2 % 256))
    printf '\x00\x00\x00\x1c\x00\x00\x00\x1c'; head -c $(($2 * 784)) /dev/urandom; } >"$1"
}
idx1() {  # idx1 FILE N: the labels 0, 1, ..., 9, 0, 1, ... (N of them)
  { printf '\x00\x00\x08\x01\x00\x00'; byte $(($2 / 256)); byte $(($2 % 256))
    for ((i = 0; i < $2; i++)); do byte $((i % 10)); done; } >"$1"
}
# tiny_mnist FOLDER TRAIN TEST: an MNIST folder of TRAIN training and TEST test images of random
# pixels, for --dataset mnist --data FOLDER.
tiny_mnist() {
  mkdir -p "$1"
  idx3 "$1/train-images-idx3-ubyte" "$2"
  idx1 "$1/train-labels-idx1-ubyte" "$2"
  idx3 "$1/t10k-images-idx3-ubyte" "$3"
  idx1 "$1/t10k-labels-idx1-ubyte" "$3"
}
