#!/usr/bin/env bash
# Process tests of checkpoints (issue 15, defects 10 and 11): a save killed at any step leaves a
# loadable checkpoint; files and folders are flushed to disk in the right order; a checkpoint of
# another activation is refused unless --allow-activation-change.
#
#   checkpoint_crash.sh SCENARIO GRADLAB_TRAIN SCRATCH_FOLDER
#
# Scenarios:
#   kill-SYSCALL            (SYSCALL one of mkdir fsync renameat2 rename unlinkat rmdir) replace an
#                           existing checkpoint with strace killing the process (SIGKILL) at the
#                           1st, 2nd, ... call of SYSCALL until a run completes; after every kill,
#                           `--load ck --save ck` must load the old or the new checkpoint (never
#                           a mix, never nothing) and remove every temporary the kill left.
#   kill-fallback-rename    the same where the filesystem refuses RENAME_EXCHANGE (strace makes
#                           renameat2 fail with EINVAL), killing at each rename of the fallback.
#   sync-order              from an strace log of one replacing save: every file written into
#                           the temporary folder is fsynced before the folder is, the folder
#                           before the exchange, the parent folder after it, and only then is
#                           the old checkpoint deleted. sync-order-fallback: the same with the
#                           two renames.
#   activation              the issue's scenario: a ReLU checkpoint loaded with --activation
#                           sigmoid fails naming both; with --allow-activation-change it loads.
#
# The exit status is 0 when every check passed, 77 (CTest: skipped) when this process is already
# being traced (strace cannot trace a process another tracer holds, e.g. `./gradlab
# check-packages`, which runs the whole suite under strace), 1 otherwise. A missing strace fails.
set -u
source "${BASH_SOURCE[0]%/*}/scenario.sh" "$@"  # the set-up shared by the process tests

if [[ $scenario != activation ]]; then
  if ! command -v strace >/dev/null; then
    echo "FAIL: strace is not installed (Debian package strace); this test needs it"
    exit 1
  fi
  tracer=$(awk '/^TracerPid:/ {print $2}' /proc/self/status)
  if [[ ${tracer:-0} != 0 ]]; then
    echo "SKIPPED: this process is traced already (TracerPid $tracer), so strace cannot trace"
    exit 77
  fi
  # LeakSanitizer (the sanitized build) stops the world with ptrace, which it cannot do in a
  # traced process; the sanitized build still checks leaks everywhere else.
  export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
fi

# The kill and order scenarios run gradlab_train some 80 times: they read a tiny MNIST-like
# folder (20 training and 10 test images of random pixels, labels 0-9) instead of Fashion-MNIST.
# The activation scenario trains on Fashion-MNIST, as the issue did.
data=(--quick --hidden 20 --progress none --no-plots)
if [[ $scenario != activation ]]; then
  tiny_mnist data 20 10
  data+=(--dataset mnist --data "$work/data" --val 5)
fi

# T FLAGS...: a run without training (--epochs 0): the model is the seed's initialisation, so
# --seed 1 and --seed 2 give two different checkpoints fast.
T() { "$program" "${data[@]}" --epochs 0 "$@"; }
fingerprint() { (cd "$1" 2>/dev/null && find . -type f -print0 | sort -z | xargs -0 md5sum); }
leftovers() { find . -maxdepth 1 -name 'ck.*' -printf '%f '; }

make_references() {
  T --seed 1 --out o --save old >/dev/null 2>&1 || fail "could not save the old checkpoint"
  T --seed 2 --out o --save new >/dev/null 2>&1 || fail "could not save the new checkpoint"
  old=$(fingerprint old)
  new=$(fingerprint new)
  [[ -n $old && $old != "$new" ]] || fail "the two reference checkpoints are not different"
}

# kill_each SYSCALL [STRACE FLAGS...]: kills the replacing save at each call of SYSCALL (with
# $also_trace, strace traces those syscalls too: it tampers only with traced ones).
kill_each() {
  local syscall=$1 n=1 status output before_stale kills=0
  shift
  make_references
  while ((n <= 60)); do
    rm -rf ck ck.*
    cp -a old ck
    # (the shell's "Killed" notice goes to /dev/null with the braces' stderr)
    {
      strace -f -qq -o /dev/null "$@" -e trace="$syscall${also_trace:+,$also_trace}" \
        -e inject="$syscall":signal=SIGKILL:when=$n \
        "$program" "${data[@]}" --epochs 0 --seed 2 --out o \
        --save ck >/dev/null 2>&1
    } 2>/dev/null
    status=$?
    before_stale=$(leftovers)
    local missing=""
    [[ -e ck ]] || missing=yes
    # Load whatever is there, and save it again: the next save cleans up.
    output=$(T --load ck --save ck --out o2 2>&1)
    if [[ $? -ne 0 ]] || ! grep -q '^loaded ck' <<<"$output"; then
      fail "$syscall #$n (run status $status): ck does not load: $(grep -m1 error <<<"$output")"
    fi
    local now
    now=$(fingerprint ck)
    if [[ $now == "$old" ]]; then
      state=old
    elif [[ $now == "$new" ]]; then
      state=new
    else
      state=neither
      fail "$syscall #$n: ck is neither the old nor the new checkpoint"
    fi
    if [[ -n $missing ]] && ! grep -q '^recovered ck from .*interrupted save' <<<"$output"; then
      fail "$syscall #$n: ck was missing and the load did not say it recovered it"
    fi
    if [[ -n $(leftovers) ]]; then fail "$syscall #$n: left after the next save: $(leftovers)"; fi
    if [[ -n $before_stale ]] && ! grep -q '^removed .*interrupted save' <<<"$output"; then
      fail "$syscall #$n: the next save did not report removing $before_stale"
    fi
    if [[ $status -eq 0 ]]; then
      [[ $state == new ]] || fail "$syscall: the save completed but ck is $state"
      echo "ok: $syscall: $kills kills, each left the old or the new checkpoint; call #$n was not reached"
      return
    fi
    if [[ $status -ne 137 ]]; then
      fail "$syscall #$n: exit status $status, wanted 137 (killed) or 0"
      return
    fi
    kills=$((kills + 1))
    echo "ok: killed at $syscall #$n: ck loads ($state)${before_stale:+, next save removed $before_stale}"
    n=$((n + 1))
  done
  fail "$syscall: still killed after 60 calls"
}

# sync_order [STRACE FLAGS...]: checks the order of flushes and renames of one replacing save.
sync_order() {
  make_references
  rm -rf ck && cp -a old ck
  strace -f -qq -y -o trace.log "$@" \
    -e trace=openat,fsync,fdatasync,rename,renameat,renameat2,unlink,unlinkat,rmdir,mkdir \
    "$program" "${data[@]}" --epochs 0 --seed 2 --out o \
    --save ck >/dev/null 2>&1 || fail "the traced save failed"
  [[ $(fingerprint ck) == "$new" ]] || fail "ck is not the new checkpoint after the traced save"
  if python3 - "$PWD" trace.log <<'PYTHON'; then pass "fsync and rename order"; else fail "fsync and rename order"; fi
import re, sys
folder, log = sys.argv[1], sys.argv[2]
target = folder + "/ck"
lines = [re.sub(r"^\d+\s+", "", line) for line in open(log)]  # without the process id
temporary = re.compile(re.escape(target) + r"\.(tmp|old)-[0-9a-f]{16}")
def fd_path(line):  # the path strace -y shows for the first descriptor argument
    match = re.match(r"\w+\(\d+<([^>]*)>", line)
    return match.group(1) if match else None
def quoted(line):
    return re.findall(r'"([^"]*)"', line)
problems = []
def find(predicate, start=0):
    for index in range(start, len(lines)):
        if predicate(lines[index]):
            return index
    return None
# The swap: renameat2(RENAME_EXCHANGE) of ck.tmp-X with ck, or (fallback) rename ck.tmp-X -> ck.
swap = find(lambda l: (l.startswith("renameat2(") and "RENAME_EXCHANGE" in l or l.startswith("rename("))
            and len(quoted(l)) == 2 and temporary.fullmatch(quoted(l)[0]) and quoted(l)[1] == target
            and l.rstrip().endswith("= 0"))
if swap is None:
    sys.exit(print("no rename of a temporary folder onto", target) or 1)
tmp = quoted(lines[swap])[0]
print("swap:", lines[swap].strip())
writes = [(i, quoted(l)[0]) for i, l in enumerate(lines[:swap])
          if l.startswith("openat(") and "O_CREAT" in l and quoted(l) and quoted(l)[0].startswith(tmp + "/")]
names = sorted(p.rsplit("/", 1)[1] for _, p in writes)
print("files written:", ", ".join(names))
if "manifest.json" not in names or len(names) < 2:
    problems.append("expected the .npy files and manifest.json to be written into " + tmp)
folder_sync = find(lambda l: l.startswith("fsync(") and fd_path(l) == tmp)
if folder_sync is None or folder_sync > swap:
    problems.append("the temporary folder is not fsynced before the swap")
for opened, path in writes:
    synced = find(lambda l, p=path: l.startswith(("fsync(", "fdatasync(")) and fd_path(l) == p, opened)
    if synced is None or folder_sync is None or synced > folder_sync:
        problems.append(path + " is not fsynced before its folder")
manifest_open = max((i for i, p in writes if p.endswith("/manifest.json")), default=None)
npy_syncs = [find(lambda l, p=p: l.startswith("fsync(") and fd_path(l) == p, i)
             for i, p in writes if p.endswith(".npy")]
if manifest_open is not None and any(s is None or s > manifest_open for s in npy_syncs):
    problems.append("manifest.json is written before every .npy file is flushed")
parent_sync = find(lambda l: l.startswith("fsync(") and fd_path(l) == folder, swap)
if parent_sync is None:
    problems.append("the parent folder is not fsynced after the swap")
first_delete = find(lambda l: l.startswith(("unlink(", "unlinkat(", "rmdir(")) and (any(
    temporary.match(q) for q in quoted(l)) or temporary.match(fd_path(l) or "")), swap)
if first_delete is None:
    problems.append("the old checkpoint is never deleted")
elif parent_sync is not None and first_delete < parent_sync:
    problems.append("the old checkpoint is deleted before the parent folder is fsynced")
for problem in problems:
    print("problem:", problem)
sys.exit(1 if problems else 0)
PYTHON
  if [[ $failures -ne 0 ]]; then
    echo "--- the trace (checkpoint lines):"
    grep -E 'ck(\.|"|>|/)' trace.log | grep -v '/o/' | head -n 80
  fi
}

case $scenario in
  kill-mkdir | kill-fsync | kill-renameat2 | kill-rename | kill-unlinkat | kill-rmdir)
    kill_each "${scenario#kill-}"
    ;;
  kill-fallback-rename)
    also_trace=renameat2 kill_each rename -e inject=renameat2:error=EINVAL
    ;;
  sync-order)
    sync_order
    ;;
  sync-order-fallback)
    sync_order -e inject=renameat2:error=EINVAL
    ;;
  activation)  # defect 11, the issue's scenario
    "$program" "${data[@]}" --out o --save ck >/dev/null 2>&1 ||
      fail "could not train and save the ReLU checkpoint"
    output=$(T --load ck --activation sigmoid --out o2 2>&1)
    status=$?
    echo "$output" | tail -n 3
    if [[ $status -ge 1 && $status -le 125 ]]; then pass "--activation sigmoid: exit status $status"; else
      fail "--activation sigmoid: exit status $status, wanted 1..125"
    fi
    if grep -q "layer 1 is ReLU() in the checkpoint, Sigmoid() in the module.*--allow-activation-change" <<<"$output"; then
      pass "the message names ReLU, Sigmoid and the flag"
    else
      fail "the message does not name ReLU, Sigmoid and --allow-activation-change"
    fi
    output=$(T --load ck --activation sigmoid --allow-activation-change --out o3 2>&1)
    status=$?
    if [[ $status -eq 0 ]] && grep -q '^loaded ck' <<<"$output"; then
      pass "--allow-activation-change loads it"
    else
      fail "--allow-activation-change: exit status $status: $(grep -m1 error <<<"$output")"
    fi
    output=$(T --load ck --load-except 2 --out o4 2>&1)
    if [[ $? -eq 0 ]] && grep -q '^loaded ck (without 2)' <<<"$output"; then
      pass "--load-except 2 loads the rest"
    else
      fail "--load-except 2: $(grep -m1 error <<<"$output")"
    fi
    output=$(T --load ck --load-except 9 --out o5 2>&1)
    if [[ $? -ne 0 ]] && grep -q "the exclusion '9' names no layer" <<<"$output"; then
      pass "--load-except 9 (nothing of that name) is refused"
    else
      fail "--load-except 9 was not refused by name"
    fi
    output=$(T --allow-activation-change --out o6 2>&1)
    if [[ $? -ne 0 ]] && grep -q "allow-activation-change requires --load" <<<"$output"; then
      pass "--allow-activation-change without --load is refused"
    else
      fail "--allow-activation-change without --load: $(tail -n 1 <<<"$output")"
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
