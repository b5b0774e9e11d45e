#!/usr/bin/env bash
# The driver's answers to bad usage: an unknown command or flag prints the help and exits 2,
# before installing or building anything. Usage: check_driver.sh PATH/TO/gradlab
set -uo pipefail
driver="$1"
failures=0
checks=0
# expect_usage_error DESCRIPTION ARGS...: exit status 2, the help on stderr, nothing on stdout.
expect_usage_error() {
  local description="$1"; shift
  checks=$((checks + 1))
  local out err status
  out=$(mktemp) err=$(mktemp)
  GRADLAB_BUILD_DIR=/nonexistent/never-created "$driver" "$@" >"$out" 2>"$err"
  status=$?
  if [ "$status" -ne 2 ] || ! grep -q "./gradlab help" "$err" || [ -s "$out" ]; then
    echo "FAILED: $description: './gradlab $*' exited $status"
    sed 's/^/  stderr: /' "$err" | head -n 5
    failures=$((failures + 1))
  else
    echo "ok: $description ($(head -n 1 "$err" | sed 's/\x1b\[[0-9;]*m//g'))"
  fi
  rm -f "$out" "$err"
}
expect_usage_error "an unknown command" frobnicate
expect_usage_error "an unknown flag of test" test --bogus
expect_usage_error "two modes of test" test --sanitize --bogus
expect_usage_error "a flag after --tsan" test --tsan --bogus
expect_usage_error "an exercise that is not a number" exercise first
expect_usage_error "a chapter that is not a number" chapter twelve
expect_usage_error "a chapter without a number" chapter
expect_usage_error "install without a prefix" install
expect_usage_error "an unknown fuzz target" fuzz parsers 10
expect_usage_error "fuzz seconds that are not a number" fuzz idx soon
expect_usage_error "docs with an argument" docs --open
expect_usage_error "check-packages with a bad flag" check-packages --fast
expect_usage_error "help with an argument" help me
# The help itself: exit 0, on stdout.
checks=$((checks + 1))
if ! "$driver" help | grep -q "./gradlab course"; then
  echo "FAILED: ./gradlab help does not list ./gradlab course"
  failures=$((failures + 1))
fi
echo "$((checks - failures)) passed, $failures failed"
[ "$failures" -eq 0 ]
