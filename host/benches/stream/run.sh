#!/usr/bin/env bash
# Stream bench on loopback: MiB/s and proxy CPU seconds per GiB through a routed TCP connection,
# weir (a `mode = "tcp"` listener whose git-router plugin routes every connection to a pool)
# against HAProxy in TCP mode and against a direct connection, in the same run.
#
# Placement (the machines have 2 cores): the proxy pinned to core 0 (weir with
# TOKIO_WORKER_THREADS=1, haproxy with nbthread 1); the pump (pump.py: sender and sink) on core 1.
# The direct runs measure the pump alone: the ceiling of what one core of Python moves.
# Runs alternate weir / haproxy / direct RUNS times; the medians are printed as a markdown table.
# Each connection sends a git pkt-line first (the router's prefix), then 256 KiB writes for
# DURATION seconds, half-closes and reads the sink's count: the bytes counted are the bytes
# delivered.
#
#   host/benches/stream/run.sh                        # RUNS=3 DURATION=8 CONNS="1 8"
#   WEIR_BIN=/path/to/weir RUNS=1 host/benches/stream/run.sh
#
# WEIR_BIN: the weir binary to measure. Default: built here as the workspace's dev profile at
# opt-level 3 (`CARGO_PROFILE_DEV_OPT_LEVEL=3`; dependencies are at opt-level 2 in every dev
# build), which reuses the dev build of wasmtime instead of compiling it a second time for
# `--release`. Installs haproxy from the distribution's packages when missing.
set -euo pipefail
cd "$(dirname "$0")/../../.."
ROOT=$PWD
RUNS=${RUNS:-3}
DURATION=${DURATION:-8}
CONNS=${CONNS:-1 8}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
source host/benches/common.sh
bench_init stream
need_commands haproxy python3 taskset
rustup target add wasm32-wasip2 >/dev/null
if [ -z "${WEIR_BIN:-}" ]; then
  CARGO_PROFILE_DEV_OPT_LEVEL=3 cargo build --locked -p weir --bin weir
  WEIR_BIN=$TARGET/debug/weir
fi
cargo build --release --locked --target wasm32-wasip2 -p weir-plugin-git-router
# Copies, so that another build in the same target directory cannot swap them mid-run.
cp "$WEIR_BIN" "$WORK/weir"
cp "$TARGET/wasm32-wasip2/release/weir_plugin_git_router.wasm" "$WORK/git-router.wasm"
PUMP=host/benches/stream/pump.py
SINK_PORT=18180; WEIR_PORT=18181; HAPROXY_PORT=18182

echo "weir $(git rev-parse --short HEAD), $(haproxy -v | head -n1 | awk '{print "HAProxy", $3}'), $(python3 --version), $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "RUNS=$RUNS DURATION=$DURATION CONNS=\"$CONNS\""
echo

taskset -c 1 python3 "$PUMP" sink $SINK_PORT &
PIDS+=($!)
wait_port $SINK_PORT

cat > "$WORK/weir.toml" <<CONF
[runtime]
cache_dir = "$WORK/cache"
[[filter]]
name = "git"
plugin = "$WORK/git-router.wasm"
config = { routes = [ { prefix = "/", pool = "sink" } ] }
[[pool]]
name = "sink"
backends = ["127.0.0.1:$SINK_PORT"]
[[listener]]
bind = "127.0.0.1:$WEIR_PORT"
mode = "tcp"
max_connections = 4096
[listener.tcp]
routers = ["git"]
CONF
TOKIO_WORKER_THREADS=1 taskset -c 0 "$WORK/weir" --log error run --config "$WORK/weir.toml" &
WEIR_PID=$!
PIDS+=($WEIR_PID)

cat > "$WORK/haproxy.cfg" <<CONF
global
  maxconn 4096
  nbthread 1
defaults
  mode tcp
  timeout connect 5s
  timeout client 120s
  timeout server 120s
frontend stream
  bind 127.0.0.1:$HAPROXY_PORT
  default_backend sink
backend sink
  server sink 127.0.0.1:$SINK_PORT
CONF
taskset -c 0 haproxy -f "$WORK/haproxy.cfg" -db &
HAPROXY_PID=$!
PIDS+=($HAPROXY_PID)
wait_port $WEIR_PORT
wait_port $HAPROXY_PORT

TICK=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# measure PORT PID CONNS: prints "MiB/s cpu-s-per-GiB" (PID 0: no proxy, no CPU).
measure() {
  local port=$1 pid=$2 conns=$3 before after out bytes secs
  [ "$pid" = 0 ] || before=$(cpu_ticks "$pid")
  out=$(taskset -c 1 python3 "$PUMP" send "$port" "$conns" "$DURATION")
  [ "$pid" = 0 ] || after=$(cpu_ticks "$pid")
  bytes=${out% *}; secs=${out#* }
  if [ "$pid" = 0 ]; then
    awk -v b="$bytes" -v s="$secs" 'BEGIN { printf "%.0f -\n", b / s / 1048576 }'
  else
    awk -v b="$bytes" -v s="$secs" -v t=$((after - before)) -v hz="$TICK" \
      'BEGIN { printf "%.0f %.3f\n", b / s / 1048576, (t / hz) / (b / 1073741824) }'
  fi
}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

echo "| connections | path | MiB/s | proxy CPU s per GiB |"
echo "|---|---|---|---|"
for conns in $CONNS; do
  declare -A RATE=() CPU=()
  for _ in $(seq "$RUNS"); do
    for path in weir haproxy direct; do
      case $path in
        weir) read -r rate cpu < <(measure $WEIR_PORT $WEIR_PID "$conns") ;;
        haproxy) read -r rate cpu < <(measure $HAPROXY_PORT $HAPROXY_PID "$conns") ;;
        direct) read -r rate cpu < <(measure $SINK_PORT 0 "$conns") ;;
      esac
      RATE[$path]+="$rate "
      CPU[$path]+="$cpu "
    done
  done
  for path in weir haproxy direct; do
    rate=$(tr ' ' '\n' <<<"${RATE[$path]}" | grep . | median)
    cpu=$(tr ' ' '\n' <<<"${CPU[$path]}" | grep . | { grep -v -- - || true; } | median)
    echo "| $conns | $path | $rate | ${cpu:--} |"
  done
done
