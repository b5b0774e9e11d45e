#!/usr/bin/env bash
# Process tests of gradlab_train's outputs (issue 15, defects 1, 7, 8, 9, 12): what --save may
# replace, when paths are checked, what a diverged run or a failed write leaves behind.
#
#   train_outputs.sh SCENARIO GRADLAB_TRAIN SCRATCH_FOLDER
#
# Each scenario runs in a fresh folder SCRATCH_FOLDER/SCENARIO and prints PASS or FAIL lines; the
# exit status is 0 only when every check passed. "Refused before loading data" is checked by the
# absence of the "data: ..." line the program prints once the dataset is loaded.
set -u
source "${BASH_SOURCE[0]%/*}/scenario.sh" "$@"  # the set-up shared by the process tests

# T [flags]: the small run of the issue; sets $output and $status.
T() {
  output=$("$program" --quick --hidden 20 --progress none "$@" 2>&1)
  status=$?
  printf '%s\n[exit status %s]\n' "$output" "$status"
}
expect_status() {  # expect_status WANTED WHAT
  if [[ $status -eq $1 ]]; then pass "$2: exit status $1"; else fail "$2: exit status $status, wanted $1"; fi
}
expect_refused() {  # expect_refused PATTERN WHAT: error status, message, before the data loaded
  if [[ $status -lt 1 || $status -gt 125 ]]; then fail "$2: exit status $status, wanted 1..125"; fi
  if grep -Eq -- "$1" <<<"$output"; then pass "$2: message"; else fail "$2: no line matches: $1"; fi
  if grep -q '^data: ' <<<"$output"; then fail "$2: refused only after loading the data"; fi
}
expect_output() {  # expect_output PATTERN WHAT
  if grep -Eq -- "$1" <<<"$output"; then pass "$2"; else fail "$2: no line matches: $1"; fi
}
expect_exists() { if [[ -e $1 ]]; then pass "$1 exists"; else fail "$1 is missing"; fi; }
expect_absent() { if [[ ! -e $1 ]]; then pass "$1 absent"; else fail "$1 was left behind"; fi; }
expect_no_empty_files() {
  local empty
  empty=$(find "$1" -type f -empty 2>/dev/null)
  if [[ -z $empty ]]; then pass "no empty files in $1"; else fail "empty files left: $empty"; fi
}
fingerprint() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 md5sum); }
make_checkpoint() {  # make_checkpoint NAME: a good checkpoint to protect
  "$program" --quick --hidden 20 --progress none --no-plots --out "$1-logs" --save "$1" \
    >/dev/null 2>&1 || fail "could not make the checkpoint $1"
}

case $scenario in
  foreign-folder)  # defect 1: a folder with a manifest.json that is not ours
    mkdir -p webapp/src
    echo '{}' >webapp/manifest.json
    echo x >webapp/index.html
    echo y >webapp/src/app.js
    T --no-plots --out o --save webapp
    expect_refused "--save webapp: .*not a gradlab checkpoint.*(index.html|src)" "foreign folder"
    expect_exists webapp/index.html
    expect_exists webapp/src/app.js
    expect_exists webapp/manifest.json
    expect_absent o
    # A real checkpoint with one extra file is not replaced either.
    make_checkpoint ck
    echo "my notes" >ck/notes.txt
    T --no-plots --out o --save ck
    expect_refused "--save ck: .*notes.txt" "checkpoint with a foreign file"
    expect_exists ck/notes.txt
    ;;
  save-working-folder)  # defect 1: --save . never deletes the working folder
    mkdir w
    echo '{}' >w/manifest.json
    echo x >w/notes.txt
    cd w && T --no-plots --out ../o --save .
    cd "$work"
    expect_refused "--save \.: " "foreign working folder"
    expect_exists w/notes.txt
    make_checkpoint ck
    before=$(fingerprint ck)
    cd ck && T --no-plots --out ../o2 --save .
    cd "$work"
    expect_refused "--save \.: .*working folder" "checkpoint that is the working folder"
    expect_absent o2
    if [[ $(fingerprint ck) == "$before" ]]; then pass "ck unchanged"; else fail "ck changed"; fi
    if ls -d ck.* >/dev/null 2>&1; then fail "left beside ck: $(ls -d ck.*)"; fi
    ;;
  save-targets)  # defect 7: every --save target checked before the data loads
    mkdir full && echo x >full/a.txt
    T --no-plots --out o --save full
    expect_refused "--save full: .*not a gradlab checkpoint.*a.txt" "non-empty folder"
    echo x >regular
    T --no-plots --out o --save regular
    expect_refused "--save regular: .*not a folder" "regular file"
    T --no-plots --out o --save /dev/null
    expect_refused "--save /dev/null: .*not a folder" "/dev/null"
    T --no-plots --out same --save same
    expect_refused "--save same: .*--out" "the same new folder as --out"
    expect_absent same
    expect_absent o
    ;;
  out-in-checkpoint)  # defect 8: --out X --save X with X an existing checkpoint
    make_checkpoint X
    before=$(fingerprint X)
    T --no-plots --out X --save X
    expect_refused "--save X: .*--out" "--out X --save X"
    T --no-plots --out X/logs --save X
    expect_refused "--save X: .*--out" "--out X/logs --save X"
    if [[ $(fingerprint X) == "$before" ]]; then pass "X unchanged"; else fail "X changed"; fi
    ;;
  diverged)  # defect 9: a diverged run exits non-zero and never writes its model
    T --no-plots --lr 1e308 --out o1 --save bad
    expect_status 2 "--lr 1e308"
    expect_output "diverged|not finite" "--lr 1e308 says why"
    expect_absent bad
    expect_exists o1/summary.json
    make_checkpoint good
    before=$(fingerprint good)
    T --no-plots --optimizer sgd --lr 50 --out o2 --save good
    expect_status 2 "--optimizer sgd --lr 50"
    expect_output "not saved" "says the checkpoint was not saved"
    if [[ $(fingerprint good) == "$before" ]]; then pass "good checkpoint kept"; else fail "good checkpoint replaced"; fi
    T --no-plots --lr 1e308 --out o3 --save bad --save-best-on-divergence
    expect_status 2 "--save-best-on-divergence without a finite best epoch"
    expect_output "no finite" "says there is nothing finite to save"
    expect_absent bad
    ;;
  log-write-fails)  # defect 7: a log that cannot be written does not cost the checkpoint
    mkdir o
    ln -s /dev/full o/.history.csv.tmp  # writing history.csv fails with "no space left"
    T --no-plots --out o --save ck
    expect_status 3 "history.csv on a full disk"
    expect_output "history.csv" "names the log that failed"
    expect_exists ck/manifest.json
    expect_exists o/summary.json
    expect_absent o/history.csv
    ;;
  plot-write-fails)  # defect 12: a plot that cannot be written is reported, not announced
    mkdir o
    ln -s /dev/full o/loss.csv
    T --out o
    expect_status 3 "loss.csv on a full disk"
    expect_output "loss.csv" "names the plot file that failed"
    if grep -Eq "wrote loss.csv|plots: .*loss.png" <<<"$output"; then
      fail "claims loss.csv or loss.png was written"
    fi
    expect_absent o/loss.gp
    expect_exists o/history.csv
    expect_no_empty_files o
    ;;
  disk-full)  # defects 7, 12: nothing can be written; no empty files, a non-zero status
    (
      trap '' XFSZ
      ulimit -f 0
      T --out o --save ck
      [[ $status -ne 0 ]] || fail "exit status 0 although nothing could be written"
      exit "$failures"
    ) || failures=$((failures + 1))
    expect_no_empty_files o
    expect_absent ck
    ;;
  epochs-zero)  # defect 12: --epochs 0 draws no plots and says so
    T --epochs 0 --out o
    expect_status 0 "--epochs 0"
    expect_output "no training plots" "says there are no training plots"
    expect_absent o/loss.png
    expect_absent o/loss.gp
    expect_absent o/accuracy.png
    expect_no_empty_files o
    if grep -q '"first_loss": null' o/summary.json; then pass "first_loss is null"; else
      fail "first_loss is not null: $(grep first_loss o/summary.json)"
    fi
    ;;
  *)
    echo "unknown scenario '$scenario'"
    exit 2
    ;;
esac

if [[ $failures -eq 0 ]]; then
  echo "PASS: $scenario"
  exit 0
fi
echo "FAIL: $scenario ($failures failed checks)"
exit 1
