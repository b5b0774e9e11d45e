#!/usr/bin/env bash
# Writes a small MNIST-like folder into DIR whose test images (32×32) differ in size from its
# training images (28×28), then runs expect_refusal.sh with the remaining arguments (issue 15:
# the message must name the test file, not MeanImage::apply).
#
#   mismatched_data.sh DIR expect_refusal.sh-ARGUMENTS...
set -eu
dir=$1
shift
mkdir -p "$dir"
byte() {  # byte N: the byte N (0 to 255)
  printf "\\x$(printf %02x "$1")"
}
idx3() {  # idx3 FILE N SIDE: N images of SIDE×SIDE zero pixels
  { printf '\x00\x00\x08\x03\x00\x00\x00'; byte "$2"
    printf '\x00\x00\x00'; byte "$3"; printf '\x00\x00\x00'; byte "$3"
    head -c $(($2 * $3 * $3)) /dev/zero; } >"$1"
}
idx1() {  # idx1 FILE: the labels 0 and 1
  printf '\x00\x00\x08\x01\x00\x00\x00\x02\x00\x01' >"$1"
}
idx3 "$dir/train-images-idx3-ubyte" 2 28
idx1 "$dir/train-labels-idx1-ubyte"
idx3 "$dir/t10k-images-idx3-ubyte" 2 32
idx1 "$dir/t10k-labels-idx1-ubyte"
exec bash "$(dirname "$0")/expect_refusal.sh" "$@"
