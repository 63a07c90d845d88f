#!/usr/bin/env bash
# Behaviour smoke test of one sleeper binary, shared by both build paths:
#   - the cargo test suite runs it on dist/<name>/sleeper (natively or under qemu-user);
#   - `nix flake check` runs it in the build sandbox under nixpkgs' qemu-user (nix/checks.nix).
#
# usage: bash tests/smoke.sh <binary> [runner...]
#   runner: the command that runs a foreign binary, e.g. `qemu-aarch64`; empty for native.
#
# It starts the binary, requires it to be alive after 1 s, sends TERM and requires exit
# status 0; then the same with INT. Each wait is bounded (5 s), polled every 0.1 s; the whole
# run takes about 2-3 s when the binary is correct and at most ~13 s when it is not.
# It exits 0 on success, 1 on a failed check, 2 on a usage error.
set -u

# Job control, so that background jobs do not start with SIGINT and SIGQUIT ignored (what a
# non-interactive shell does to an asynchronous list): the INT check must see a real INT.
set -m

readonly exit_timeout_ds=50 # tenths of a second to wait for the exit after a signal

fail() {
  echo "smoke: FAIL: $*" >&2
  exit 1
}

if [ $# -lt 1 ]; then
  echo "usage: $0 <binary> [runner...]" >&2
  exit 2
fi
binary=$1
shift
if [ ! -f "$binary" ] || [ ! -x "$binary" ]; then
  echo "smoke: $binary is not an executable file" >&2
  exit 2
fi
if [ $# -gt 0 ] && ! command -v "$1" >/dev/null 2>&1; then
  echo "smoke: runner $1 not found on PATH" >&2
  exit 2
fi

# The state letter of /proc/<pid>/stat ("R", "S", "Z", ...), or "gone".
state_of() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || {
    echo gone
    return
  }
  stat=${stat##*) }
  echo "${stat%% *}"
}

# check_signal SIGNAL: start, check alive after 1 s, send SIGNAL, require exit status 0.
check_signal() {
  local signal=$1 pid state status waited=0
  if [ ${#runner[@]} -gt 0 ]; then
    "${runner[@]}" "$binary" &
  else
    "$binary" &
  fi
  pid=$!
  echo "smoke: started ${runner[*]:+${runner[*]} }$binary as pid $pid"

  sleep 1
  state=$(state_of "$pid")
  case $state in
    gone | Z)
      wait "$pid"
      fail "$binary exited (status $?) within 1 s of starting; it must stay alive"
      ;;
  esac
  echo "smoke: alive after 1 s (state $state)"

  kill -s "$signal" "$pid" || fail "could not send $signal to pid $pid"
  echo "smoke: sent $signal"
  while :; do
    state=$(state_of "$pid")
    if [ "$state" = Z ] || [ "$state" = gone ]; then
      break
    fi
    if [ "$waited" -ge "$exit_timeout_ds" ]; then
      kill -s KILL "$pid" 2>/dev/null
      wait "$pid" 2>/dev/null
      fail "$binary still running $((exit_timeout_ds / 10)) s after $signal (killed it)"
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
  wait "$pid"
  status=$?
  if [ "$status" -ne 0 ]; then
    if [ "$status" -gt 128 ]; then
      fail "$binary was killed by signal $((status - 128)) after $signal; it must exit 0"
    fi
    fail "$binary exited with status $status after $signal; it must exit 0"
  fi
  echo "smoke: exited with status 0 within $((waited * 100)) ms of $signal"
}

runner=("$@")
check_signal TERM
check_signal INT
echo "smoke: PASS: $binary${runner[*]:+ under ${runner[*]}}: alive after 1 s, TERM -> 0, INT -> 0"
