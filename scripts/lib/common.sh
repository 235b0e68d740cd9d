# Sourced by the scripts: where things are, and the helpers they share.
# shellcheck shell=bash

# The checkout, and where cargo builds: CARGO_TARGET_DIR as cargo reads it
# (relative to the checkout), made absolute so a script may change folder.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
target_dir=${CARGO_TARGET_DIR:-target}
case $target_dir in
  /*) ;;
  *) target_dir="$root/$target_dir" ;;
esac
# The Python tools' virtual environment (FIASCO_VENV to use another).
venv=${FIASCO_VENV:-$root/.venv}

# free_port: prints a TCP port free on 127.0.0.1 now.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# python_tools: makes the venv and installs the Python tools the tests use
# when one is missing: kosoku (the Autobahn TestSuite cases), websockets (a
# third-party client and server; scripts/lib/ws.py) and mcap (reads
# recordings).
python_tools() {
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv" || return 1
  if ! { [ -x "$venv/bin/kosoku" ] && "$venv/bin/python" -c 'import websockets, mcap' 2> /dev/null; }; then
    "$venv/bin/pip" install --quiet kosoku 'websockets>=13' 'mcap>=1.2'
  fi
}

# ws URL [--signal PID:SIGNAL] TEXT...: a WebSocket client (scripts/lib/ws.py).
ws() {
  "$venv/bin/python" "$root/scripts/lib/ws.py" "$@"
}

# build WHAT FIRST CARGO-ARGS...: `cargo build --release --locked` of
# CARGO-ARGS, saying first what it builds and how long the FIRST build
# takes; cargo shows its progress (its bar on a terminal). Later builds
# take seconds: cargo rebuilds only what changed.
build() {
  local what=$1 first=$2
  shift 2
  echo "$(basename "$0"): building $what (release; a first build takes $first on 2 cores, later ones seconds)" >&2
  (cd "$root" && cargo build --release --locked "$@")
}

# Processes start_logged started: killed (SIGKILL) if the script exits
# before stopping them. Only those still running as this shell's jobs: a
# pid already waited for may belong to another process by then.
started_pids=()
stop_started() {
  local pid
  for pid in $(jobs -pr); do
    if [[ " ${started_pids[*]} " == *" $pid "* ]]; then
      kill -9 "$pid" 2> /dev/null || true
    fi
  done
}
trap stop_started EXIT

# start_logged LOG PATTERN COMMAND...: runs COMMAND in the background with
# its output in LOG and waits until a line of LOG matches PATTERN (grep -E);
# sets $started to its pid.
start_logged() {
  local log=$1 pattern=$2
  shift 2
  "$@" > "$log" 2>&1 &
  started=$!
  started_pids+=("$started")
  wait_for_log "$log" "$pattern" "$started"
}

# wait_for_log LOG PATTERN [PID]: waits until a line of LOG matches PATTERN.
# Fails, showing LOG, when PID exits first or after WAIT_SECONDS (default
# 900: what is waited for may build first, for minutes on a cold cache).
wait_for_log() {
  local log=$1 pattern=$2 pid=${3:-}
  local limit=${WAIT_SECONDS:-900}
  local deadline=$((SECONDS + limit))
  until grep -Eq -- "$pattern" "$log" 2> /dev/null; do
    if [ -n "$pid" ] && ! kill -0 "$pid" 2> /dev/null; then
      cat "$log" >&2
      echo "$(basename "$0"): exited before printing '$pattern' (log: $log)" >&2
      return 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      tail -n 40 "$log" >&2
      echo "$(basename "$0"): no '$pattern' in $log after $limit s" >&2
      return 1
    fi
    sleep 0.1
  done
}

# stop_cleanly PID [SIGNAL]: sends SIGNAL (default INT, as Ctrl-C does) and
# waits for PID; fails unless it exits 0.
stop_cleanly() {
  local pid=$1 signal=${2:-INT}
  kill "-$signal" "$pid"
  wait "$pid"
}

# announce_when_listening PORT LINE...: prints LINE... once 127.0.0.1:PORT
# accepts connections, from a watcher in the background; call it just
# before `exec`-ing the game (the watcher ends with the process it was
# started from, the game after the exec).
announce_when_listening() {
  local port=$1 game=$$
  shift
  (
    while kill -0 "$game" 2> /dev/null; do
      if (exec 3<> "/dev/tcp/127.0.0.1/$port") 2> /dev/null; then
        printf '%s\n' "" "$@" ""
        exit 0
      fi
      sleep 0.2
    done
  ) &
}

. "$root/scripts/lib/modules.sh"
