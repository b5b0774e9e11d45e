#!/usr/bin/env bash
# Runs a program that must refuse its input, and passes when it did so cleanly:
#   - it exited with a status from 1 to 125 (an error; not 0, not a crash by a signal or an abort,
#     which the shell reports as 128 + the signal number);
#   - its output matches PATTERN (an extended regular expression: the message names the flag);
#   - nothing exists at each path given with --absent (no partial output left behind).
#
#   expect_refusal.sh PATTERN [--absent PATH]... -- PROGRAM [ARGUMENTS]...
set -u
pattern=$1
shift
absent=()
while [[ $# -gt 0 && $1 == --absent ]]; do
  absent+=("$2")
  shift 2
done
[[ $# -gt 0 && $1 == -- ]] && shift

output=$("$@" 2>&1)
status=$?
printf '%s\n' "$output"
echo "[exit status $status]"

if [[ $status -eq 0 ]]; then
  echo "FAIL: the program accepted the input (exit status 0)"
  exit 1
fi
if [[ $status -gt 125 ]]; then
  echo "FAIL: the program crashed or could not run (exit status $status)"
  exit 1
fi
if ! grep -Eq -- "$pattern" <<<"$output"; then
  echo "FAIL: no line matches: $pattern"
  exit 1
fi
for path in "${absent[@]}"; do
  if [[ -e $path ]]; then
    echo "FAIL: a partial output was left behind: $path"
    exit 1
  fi
done
echo "PASS: refused with a clear message"
