#!/usr/bin/env bash
# Runs every "Try this" suggestion of one chapter, in --quick mode, as the learner would type it.
# The suggestions are taken from the chapter's own --help (the same text the chapter prints at its
# end), so a suggestion that names a missing flag, or a flag value the chapter refuses, or one whose
# run fails a claim, fails this test.
# With DOC_PAGE (docs/chapters/NN_*.md), its "Try this" list must name the same commands.
# Usage: try_this.sh CHAPTER_PROGRAM OUT_DIR [DOC_PAGE]
set -uo pipefail
program="$1" out="$2" doc="${3:-}"
name=$(basename "$program")
help=$("$program" --help) || { echo "$name --help failed"; exit 1; }
mapfile -t suggestions < <(printf '%s\n' "$help" | sed -n 's|^  \./gradlab chapter [0-9]* \(.*\)$|\1|p')
if [ "${#suggestions[@]}" -lt 2 ]; then
  echo "$name: found ${#suggestions[@]} \"Try this\" suggestion(s) in --help, want 2 or 3"
  exit 1
fi
failed=0 number=0
if [ -n "$doc" ]; then
  documented=$(sed -n 's|^- `\./gradlab chapter [0-9]* \([^`]*\)`:.*$|\1|p' "$doc")
  if [ "$documented" != "$(printf '%s\n' "${suggestions[@]}")" ]; then
    echo "FAILED: the \"Try this\" list of $doc differs from $name's suggestions"
    echo "  the page: $(printf '%s' "$documented" | tr '\n' ';')"
    echo "  $name:    $(printf '%s;' "${suggestions[@]}")"
    failed=$((failed + 1))
  fi
fi
for flags in "${suggestions[@]}"; do
  number=$((number + 1))
  read -r -a arguments <<<"$flags"
  log="$out/try_$number.log"
  mkdir -p "$out"
  start=$(date +%s)
  "$program" "${arguments[@]}" --quick --threads 1 --out "$out/try_$number" >"$log" 2>&1
  status=$?
  seconds=$(($(date +%s) - start))
  if [ "$status" -ne 0 ]; then
    echo "FAILED ($status, ${seconds}s): $name $flags --quick   (log: $log)"
    tail -n 15 "$log"
    failed=$((failed + 1))
  elif ! grep -q "Try this" "$log"; then
    echo "FAILED: $name $flags --quick printed no \"Try this\" block (log: $log)"
    failed=$((failed + 1))
  else
    echo "ok (${seconds}s): $name $flags --quick"
  fi
done
[ "$failed" -eq 0 ]
