#!/usr/bin/env bash
# Stream bench on loopback: MiB/s and proxy CPU seconds per GiB through a routed TCP connection,
# weir (a `mode = "tcp"` listener whose stream router routes every connection to a pool) against
# HAProxy in TCP mode and against a direct connection, in the same run.
#
# The traffic is iperf3's (client to server, 128 KiB writes, CONNS parallel streams for DURATION
# seconds; its control connection goes through the proxy too). The router is
# tests/guests/stream-fixed: it routes at open, so what is measured is the splice behind it.
# weir gets one listener per BUFFERS entry ([listener.tcp] buffer_bytes); HAProxy runs with its
# default 16 KiB buffers (tune.bufsize) and no splice(2) option, as installed.
#
# Placement (the machines have 2 cores): the proxy pinned to core 0 (weir with
# `[server] workers = 1`, haproxy with nbthread 1); iperf3's client and server on core 1. The
# direct runs measure iperf3 alone, the ceiling of what one core of client and server moves.
# Runs alternate between the paths RUNS times; the medians are printed as a markdown table.
#
#   host/benches/stream/run.sh                        # RUNS=3 DURATION=8 CONNS="1 8" BUFFERS="16384 65536"
#   WEIR_BIN=/path/to/weir RUNS=1 DURATION=3 host/benches/stream/run.sh
#
# WEIR_BIN: the weir binary to measure. Default: built here as the workspace's dev profile at
# opt-level 3 (`CARGO_PROFILE_DEV_OPT_LEVEL=3`; dependencies are at opt-level 2 in every dev
# build), which reuses the dev build of wasmtime instead of compiling it a second time for
# `--release`. Installs haproxy and iperf3 from the distribution's packages when missing.
set -euo pipefail
cd "$(dirname "$0")/../../.."
ROOT=$PWD
RUNS=${RUNS:-3}
DURATION=${DURATION:-8}
CONNS=${CONNS:-1 8}
BUFFERS=${BUFFERS:-16384 65536}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
source host/benches/common.sh
bench_init stream
need_commands haproxy iperf3 python3
rustup target add wasm32-wasip2 >/dev/null
if [ -z "${WEIR_BIN:-}" ]; then
  CARGO_PROFILE_DEV_OPT_LEVEL=3 cargo build --locked -p weir --bin weir
  WEIR_BIN=$TARGET/debug/weir
fi
cargo build --release --locked --target wasm32-wasip2 -p weir-guest-stream-fixed
# Copies, so that another build in the same target directory cannot swap them mid-run.
cp "$WEIR_BIN" "$WORK/weir"
cp "$TARGET/wasm32-wasip2/release/weir_guest_stream_fixed.wasm" "$WORK/fixed.wasm"
SINK_PORT=18180; HAPROXY_PORT=18182; WEIR_BASE_PORT=18190

echo "weir $(git rev-parse --short HEAD), $(haproxy -v | head -n1 | awk '{print "HAProxy", $3}'), $(iperf3 --version | head -n1 | awk '{print "iperf3", $2}'), $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "RUNS=$RUNS DURATION=$DURATION CONNS=\"$CONNS\" BUFFERS=\"$BUFFERS\""
echo

taskset -c 1 iperf3 --server --port $SINK_PORT >/dev/null 2>&1 &
PIDS+=($!)
wait_port $SINK_PORT

{
  printf '[runtime]\ncache_dir = "%s/cache"\n[server]\nworkers = 1\n' "$WORK"
  printf '[[filter]]\nname = "fixed"\nplugin = "%s/fixed.wasm"\nconfig_json = %s\n' "$WORK" "'\"sink\"'"
  printf '[[pool]]\nname = "sink"\nbackends = ["127.0.0.1:%s"]\n' $SINK_PORT
  port=$WEIR_BASE_PORT
  for buffer in $BUFFERS; do
    printf '[[listener]]\nname = "b%s"\nbind = "127.0.0.1:%s"\nmode = "tcp"\n' "$buffer" $port
    printf '[listener.tcp]\nrouters = ["fixed"]\nbuffer_bytes = %s\n' "$buffer"
    port=$((port + 1))
  done
} > "$WORK/weir.toml"
taskset -c 0 "$WORK/weir" --log error run --config "$WORK/weir.toml" &
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
wait_port $WEIR_BASE_PORT
wait_port $HAPROXY_PORT

TICK=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# measure PORT PID CONNS: prints "MiB/s cpu-s-per-GiB" (PID 0: no proxy, no CPU: "-").
measure() {
  local port=$1 pid=$2 conns=$3 before=0 after=0 json="" attempt
  # The server takes a moment to notice that a proxied test ended; until then it answers
  # "busy". Bounded: five attempts, one second apart.
  for attempt in 1 2 3 4 5; do
    [ "$pid" = 0 ] || before=$(cpu_ticks "$pid")
    if json=$(taskset -c 1 iperf3 --client 127.0.0.1 --port "$port" --time "$DURATION" \
      --parallel "$conns" --json 2>/dev/null); then
      break
    fi
    [ "$attempt" = 5 ] && { echo "iperf3 through port $port failed" >&2; return 1; }
    sleep 1
  done
  [ "$pid" = 0 ] || after=$(cpu_ticks "$pid")
  python3 -c '
import json, sys
end = json.loads(sys.argv[1])["end"]["sum_received"]
mib = end["bytes"] / end["seconds"] / 1048576
ticks, hz, pid = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
cpu = "-" if pid == "0" else "%.3f" % ((ticks / hz) / (end["bytes"] / 2**30))
print("%.0f %s" % (mib, cpu))
' "$json" $((after - before)) "$TICK" "$pid"
}

median() { { grep . || true; } | sort -n | awk '{ v[NR] = $1 } END { print (NR ? v[int((NR + 1) / 2)] : "-") }'; }

PATHS=()
for buffer in $BUFFERS; do PATHS+=("weir-$buffer"); done
PATHS+=(haproxy direct)
echo "| connections | path | MiB/s | proxy CPU s per GiB |"
echo "|---|---|---|---|"
for conns in $CONNS; do
  declare -A RATE=() CPU=()
  for _ in $(seq "$RUNS"); do
    port=$WEIR_BASE_PORT
    for path in "${PATHS[@]}"; do
      case $path in
        weir-*) read -r rate cpu < <(measure "$port" "$WEIR_PID" "$conns"); port=$((port + 1)) ;;
        haproxy) read -r rate cpu < <(measure $HAPROXY_PORT "$HAPROXY_PID" "$conns") ;;
        direct) read -r rate cpu < <(measure $SINK_PORT 0 "$conns") ;;
      esac
      RATE[$path]+="$rate "
      [ "$cpu" = - ] || CPU[$path]+="$cpu "
    done
  done
  for path in "${PATHS[@]}"; do
    rate=$(tr ' ' '\n' <<<"${RATE[$path]}" | median)
    cpu=$(tr ' ' '\n' <<<"${CPU[$path]:-}" | median)
    label=$path
    [[ $path == weir-* ]] && label="weir, buffer_bytes = ${path#weir-}"
    echo "| $conns | $label | $rate | $cpu |"
  done
done
