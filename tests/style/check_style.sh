#!/usr/bin/env bash
# Two habits, checked on the source tree:
#   format   every C++ file is as clang-format (.clang-format) writes it
#   budget   the files students read first stay short enough to read in one sitting
# Usage: check_style.sh SOURCE_DIR format|budget
set -uo pipefail
root="$1" what="$2"
cd "$root" || exit 2
sources() {
  find autograd backends modules tutorials tests bench docs -type f \
    \( -name '*.cpp' -o -name '*.hpp' -o -name '*.inc' \) -not -path 'tests/fuzz/corpus/*' | sort
}
case "$what" in
  format)
    unformatted=0 checked=0
    while read -r file; do
      checked=$((checked + 1))
      if ! clang-format --dry-run --Werror "$file" >/dev/null 2>&1; then
        echo "not formatted: $file (run: clang-format -i $file)"
        unformatted=$((unformatted + 1))
      fi
    done < <(sources)
    echo "$((checked - unformatted)) passed, $unformatted failed"
    [ "$unformatted" -eq 0 ]
    ;;
  budget)
    # file(s)                                       budget  why
    budgets=(
      "autograd/value.hpp autograd/value.cpp         300    the scalar engine, read in one sitting"
      "autograd/node.hpp                             100    Node, record, GradientSink"
      "autograd/tensor.cpp                           600    the Tensor handle and the backward engine"
      "autograd/ops/elementwise.cpp                  400    the largest op family"
      "autograd/ops/shapes.cpp                       300    one op family"
      "autograd/ops/reductions.cpp                   300    one op family"
      "autograd/ops/matrix.cpp                       300    one op family"
      "autograd/ops/normalisation.cpp                300    one op family"
      "autograd/ops/losses.cpp                       300    one op family"
      "autograd/ops/indexing.cpp                     300    one op family"
      "autograd/ops/comparisons.cpp                  300    one op family"
      "backends/reference/elementwise.cpp            300    reference kernels of one family"
      "backends/reference/matrix.cpp                 300    reference kernels of one family"
      "backends/reference/layers.cpp                 300    reference kernels of one family"
      "backends/reference/losses.cpp                 300    reference kernels of one family"
      "backends/reference/reductions.cpp             300    reference kernels of one family"
      "backends/reference/indexing.cpp               300    reference kernels of one family"
    )
    over=0 checked=0
    for entry in "${budgets[@]}"; do
      read -r -a words <<<"$entry"
      files=() budget=""
      for word in "${words[@]}"; do
        if [[ "$word" =~ ^[0-9]+$ ]]; then budget="$word"; break; fi
        files+=("$word")
      done
      lines=$(cat "${files[@]}" | wc -l)
      checked=$((checked + 1))
      if [ "$lines" -gt "$budget" ]; then
        echo "over budget: ${files[*]}: $lines lines (budget $budget)"
        over=$((over + 1))
      else
        echo "ok: ${files[*]}: $lines of $budget lines"
      fi
    done
    echo "$((checked - over)) passed, $over failed"
    [ "$over" -eq 0 ]
    ;;
  *) echo "usage: check_style.sh SOURCE_DIR format|budget" >&2; exit 2 ;;
esac
