#!/usr/bin/env bash
# Pools under saturation on loopback (issue 12, item 9): a slow origin (every answer takes
# DELAY_MS), far more clients than the pool lets through, and what each proxy does with the
# excess. weir with `max_connections_per_backend = LIMIT` and a queue (`queue_size`,
# `queue_timeout_ms`) against nginx with `server ... max_conns=LIMIT; keepalive LIMIT;`.
# Open-source nginx has `max_conns` but not `queue` (NGINX Plus only): a request that finds every
# connection busy fails at once with 502 ("no live upstreams").
#
# Scenarios (each proxy with one worker, its own port and its own origin port):
# - weir-queue: LIMIT connections per backend, QUEUE_SIZE places, QUEUE_TIMEOUT_MS;
# - weir-no-queue: LIMIT connections per backend, `queue_size = 0` (refused at once with 503);
# - weir-small-queue, weir-short-wait: the queue's two bounds at work, SMALL_QUEUE_SIZE places
#   (the clients past LIMIT + SMALL_QUEUE_SIZE refused at once, `upstream-queue-full`), and a
#   SHORT_QUEUE_TIMEOUT_MS wait, shorter than the clients' turn (`upstream-queue-timeout`);
# - nginx-max-conns: `max_conns=LIMIT`, `keepalive LIMIT`;
# - weir-unlimited, nginx-unlimited: no limit (weir's default of 1024 connections per backend,
#   nginx `keepalive 64`), every client's request in flight at the origin;
# - weir-few-clients, nginx-few-clients: no limit either, and only LIMIT clients, so the origin
#   sees the same LIMIT requests in flight and the same rate as with the limit, with nothing
#   waiting or refused: the reference for what the queue costs per request.
#
# For each: requests/s; the share of 2xx, 503 and 502 answers; p50 and p99 latency of the 2xx
# answers; the proxy's CPU time (utime+stime from /proc) per answer and per 2xx answer; and the
# connections towards the origin, counted by the origin itself (slow_origin.py): the peak open at
# once (the most of the RUNS runs; idle keep-alive connections count), under load and when wrk
# stops and its clients go away at once, and the number opened during a run. wrk runs with one connection per thread (-t = -c = CONNECTIONS) so that a Lua
# script can time each request and count statuses (wrk's own latency mixes the fast refusals in).
#
# Placement (the machines have 2 cores): the proxies (`[server] workers = 1`, worker_processes
# 1) pinned to core 0; wrk and the origin (at nice -20, see below) share core 1. All proxies run
# side by side and the RUNS runs alternate between them, so drift in background load hits each
# alike. Medians of RUNS runs of DURATION seconds, printed as a markdown table.
#
#   host/benches/load/saturation.sh     # RUNS=3 DURATION=10 CONNECTIONS=64 LIMIT=8 DELAY_MS=20
#   SCENARIOS="weir-queue nginx-max-conns" RUNS=1 DURATION=5 host/benches/load/saturation.sh
#   QUEUE_SIZE=256 QUEUE_TIMEOUT_MS=2000 SMALL_QUEUE_SIZE=16 SHORT_QUEUE_TIMEOUT_MS=100 ...
#
# nginx's error log is set to `crit` here: it logs every refusal at `error`, and weir logs
# refusals at `debug` only (it runs with `--log error`; its stderr goes to a file in the work
# directory and lines written are reported). Installs nginx, wrk and Python from the
# distribution's packages when missing. Loopback only; every load loop is bounded by DURATION,
# the origin exits by itself after the longest the bench can take.
set -euo pipefail
cd "$(dirname "$0")/../../.."
ROOT=$PWD
RUNS=${RUNS:-3}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
LIMIT=${LIMIT:-8}
QUEUE_SIZE=${QUEUE_SIZE:-256}
QUEUE_TIMEOUT_MS=${QUEUE_TIMEOUT_MS:-2000}
SMALL_QUEUE_SIZE=${SMALL_QUEUE_SIZE:-16}
SHORT_QUEUE_TIMEOUT_MS=${SHORT_QUEUE_TIMEOUT_MS:-100}
DELAY_MS=${DELAY_MS:-20}
SCENARIOS=${SCENARIOS:-weir-queue weir-no-queue nginx-max-conns weir-small-queue weir-short-wait \
weir-few-clients nginx-few-clients weir-unlimited nginx-unlimited}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
source host/benches/common.sh
bench_init saturation
need_commands nginx wrk python3
cargo build --release --locked -p weir
WEIR=$TARGET/release/weir
STATS_PORT=18189; ORIGIN_BASE=18180; PROXY_BASE=18190
read -r -a SCENARIO_LIST <<<"$SCENARIOS"
[ ${#SCENARIO_LIST[@]} -le 9 ] || { echo "at most 9 scenarios" >&2; exit 1; }
[ "$DURATION" -ge 2 ] || { echo "DURATION must be at least 2 (s)" >&2; exit 1; }

echo "weir $(git rev-parse --short HEAD), $(nginx -v 2>&1 | sed 's/.*version: //'), $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "RUNS=$RUNS DURATION=$DURATION CONNECTIONS=$CONNECTIONS LIMIT=$LIMIT QUEUE_SIZE=$QUEUE_SIZE" \
  "QUEUE_TIMEOUT_MS=$QUEUE_TIMEOUT_MS SMALL_QUEUE_SIZE=$SMALL_QUEUE_SIZE" \
  "SHORT_QUEUE_TIMEOUT_MS=$SHORT_QUEUE_TIMEOUT_MS DELAY_MS=$DELAY_MS; $(nproc) cores, load average" \
  "$(cut -d' ' -f1-3 /proc/loadavg) before the runs"
echo

# Ports: scenario i (from 0) listens on PROXY_BASE+i and proxies to ORIGIN_BASE+i.
declare -A PROXY_PORT ORIGIN_PORT PROXY_PIDS
ORIGIN_PORTS=()
for i in "${!SCENARIO_LIST[@]}"; do
  s=${SCENARIO_LIST[$i]}
  PROXY_PORT[$s]=$((PROXY_BASE + i)); ORIGIN_PORT[$s]=$((ORIGIN_BASE + i))
  ORIGIN_PORTS+=($((ORIGIN_BASE + i)))
done

# The origin, with a lifetime bound longer than the bench can last (each wrk run is bounded by
# DURATION + 30 s). It shares core 1 with wrk's CONNECTIONS threads, and the scheduler shares a
# core per thread: at equal priority a refusal storm would leave the origin 1/65 of the core and
# slow the answers that do get through. The origin needs a few percent of a core, so it runs at
# the highest priority (`nice` only warns and runs it at the normal one when not allowed).
ORIGIN_SECS=$(( ${#SCENARIO_LIST[@]} * (RUNS + 1) * (DURATION + 40) + 120 ))
taskset -c 1 nice -n -20 python3 host/benches/load/slow_origin.py "$DELAY_MS" "$ORIGIN_SECS" $STATS_PORT \
  "${ORIGIN_PORTS[@]}" &
PIDS+=($!)
wait_port $STATS_PORT

# origin_stats ORIGIN_PORT: "open peak_open accepted requests peak_in_flight" of that port; the
# read starts the next peaks from the current values.
origin_stats() {
  timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$STATS_PORT && cat <&3" \
    | awk -v p="$1" '$1 == p { print $2, $3, $4, $5, $6 }'
}

TICK=$(getconf CLK_TCK)
# cpu_ticks PID...: utime + stime of these processes (every thread), in clock ticks.
cpu_ticks() { local p t=0; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo $t; }

# start_weir SCENARIO: weir with one pool over the scenario's origin port.
start_weir() {
  local dir=$WORK/$1 limits=""
  mkdir -p "$dir"
  case "$1" in
    weir-queue) limits="max_connections_per_backend = $LIMIT
queue_size = $QUEUE_SIZE
queue_timeout_ms = $QUEUE_TIMEOUT_MS" ;;
    weir-no-queue) limits="max_connections_per_backend = $LIMIT
queue_size = 0" ;;
    weir-small-queue) limits="max_connections_per_backend = $LIMIT
queue_size = $SMALL_QUEUE_SIZE
queue_timeout_ms = $QUEUE_TIMEOUT_MS" ;;
    weir-short-wait) limits="max_connections_per_backend = $LIMIT
queue_size = $QUEUE_SIZE
queue_timeout_ms = $SHORT_QUEUE_TIMEOUT_MS" ;;
  esac
  cat > "$dir/weir.toml" <<CONF
[runtime]
cache_dir = "$dir/cache"
[server]
workers = 1
[[listener]]
bind = "127.0.0.1:${PROXY_PORT[$1]}"
[[pool]]
name = "main"
backends = ["127.0.0.1:${ORIGIN_PORT[$1]}"]
$limits
[[route]]
pool = "main"
CONF
  taskset -c 0 "$WEIR" --log error run --config "$dir/weir.toml" \
    2>>"$dir/stderr" &
  PIDS+=($!)
  PROXY_PIDS[$1]=$!
}

# start_nginx SCENARIO: nginx, one worker, one upstream over the scenario's origin port.
start_nginx() {
  local dir=$WORK/$1 server="server 127.0.0.1:${ORIGIN_PORT[$1]}" keepalive=64 master
  if [ "$1" = nginx-max-conns ]; then server="$server max_conns=$LIMIT"; keepalive=$LIMIT; fi
  nginx_conf "$dir" <<CONF
  upstream main { $server; keepalive $keepalive; keepalive_requests 1000000; }
  server_tokens off;
  server {
    listen 127.0.0.1:${PROXY_PORT[$1]} backlog=1024;
    keepalive_requests 1000000;
    location / { proxy_http_version 1.1; proxy_set_header Connection ""; proxy_pass http://main; }
  }
CONF
  # Every refusal is an `error` line ("no live upstreams"); see the header.
  sed -i 's|^error_log \(.*\);$|error_log \1 crit;|' "$dir/nginx.conf"
  taskset -c 0 nginx -c "$dir/nginx.conf" -g 'daemon off;' &
  master=$!
  PIDS+=("$master")
  wait_port "${PROXY_PORT[$1]}"
  PROXY_PIDS[$1]=$(nginx_worker "$master")
}

# The wrk script: statuses (503 by x-weir-error) and a histogram of 2xx latencies.
cat > "$WORK/status.lua" <<'LUA'
-- Needs one connection per wrk thread (-t equal to -c): request() and response() of a thread
-- then alternate, so the time between them is that request's latency.
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } sat_timespec;
int clock_gettime(int clock, sat_timespec *tp);
]]
local ts = ffi.new("sat_timespec")
local function now_us()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1e6 + tonumber(ts.tv_nsec) / 1e3
end
local STEP = math.log(1.01) -- histogram buckets 1% wide

local threads = {}
function setup(thread) table.insert(threads, thread) end

-- Per thread; done() reads them with thread:get (which copies tables).
counts = {}
ok_hist = {}
local req, started
function init(args) req = wrk.format() end
function request() started = now_us(); return req end
function response(status, headers, body)
  local us = now_us() - started
  local key
  if status >= 200 and status < 300 then
    key = "2xx"
    local b = math.floor(math.log(math.max(us, 1)) / STEP)
    ok_hist[b] = (ok_hist[b] or 0) + 1
  elseif status == 503 then
    key = "503:" .. (headers["x-weir-error"] or headers["X-Weir-Error"] or "none")
  else
    key = tostring(status)
  end
  counts[key] = (counts[key] or 0) + 1
end

local function quantile(hist, n, q)
  local keys = {}
  for b in pairs(hist) do table.insert(keys, b) end
  table.sort(keys)
  local seen, want = 0, math.max(1, math.ceil(q * n))
  for _, b in ipairs(keys) do
    seen = seen + hist[b]
    if seen >= want then return math.exp((b + 0.5) * STEP) end
  end
  return 0
end

-- "sat answers secs 2xx 502 503-full 503-timeout other p50_us p99_us timeouts socket_errors"
function done(summary, latency, requests)
  local all, hist = {}, {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("counts")) do all[k] = (all[k] or 0) + v end
    for b, v in pairs(t:get("ok_hist")) do hist[b] = (hist[b] or 0) + v end
  end
  local ok, bad_gateway = all["2xx"] or 0, all["502"] or 0
  local full, late = all["503:upstream-queue-full"] or 0, all["503:upstream-queue-timeout"] or 0
  local total = 0
  for _, v in pairs(all) do total = total + v end
  local e = summary.errors
  io.write(string.format("sat %d %.3f %d %d %d %d %d %.0f %.0f %d %d\n", total,
    summary.duration / 1e6, ok, bad_gateway, full, late, total - ok - bad_gateway - full - late,
    quantile(hist, ok, 0.5), quantile(hist, ok, 0.99), e.timeout, e.connect + e.read + e.write))
end
LUA

# drive SCENARIO SECONDS: wrk's output (core 1, one connection per thread).
drive() {
  local clients=$CONNECTIONS
  case "$1" in *-few-clients) clients=$LIMIT ;; esac
  timeout $(($2 + 30)) taskset -c 1 wrk -t"$clients" -c"$clients" -d"$2s" --timeout 10s \
    -s "$WORK/status.lua" "http://127.0.0.1:${PROXY_PORT[$1]}/"
}

# measure SCENARIO: one run; prints "answers/s 2xx/s 2xx% 503% 502% p50_ms p99_ms cpu_us/answer
# cpu_us/2xx peak_open_under_load peak_open_at_teardown opened", and notes anything unusual in
# $WORK/notes.log. The origin's peaks are read twice: one second before wrk stops (under load),
# and half a second after it stopped, which covers what the proxy does when CONNECTIONS clients
# go away at once with requests in flight and waiting.
measure() {
  local s=$1 before after out pre mid post wrk_pid
  pre=$(origin_stats "${ORIGIN_PORT[$s]}")
  before=$(cpu_ticks "${PROXY_PIDS[$s]}")
  drive "$s" "$DURATION" >"$WORK/wrk.out" &
  wrk_pid=$!
  sleep $((DURATION - 1))
  mid=$(origin_stats "${ORIGIN_PORT[$s]}")
  wait "$wrk_pid"
  after=$(cpu_ticks "${PROXY_PIDS[$s]}")
  sleep 0.5
  post=$(origin_stats "${ORIGIN_PORT[$s]}")
  out=$(cat "$WORK/wrk.out")
  local sat
  sat=$(echo "$out" | awk '$1 == "sat"')
  [ -n "$sat" ] || { echo "$s: no result from wrk: $out" >&2; exit 1; }
  echo "$s $sat" | awk '$8 + $9 + $12 + $13 > 0 {
    printf "- %s: %d answers, %d 503 upstream-queue-full, %d 503 upstream-queue-timeout, ", $1, $3, $7, $8
    printf "%d other statuses, %d wrk timeouts, %d socket errors\n", $9, $12, $13 }' >>"$WORK/notes.log"
  # Cross-check: wrk cannot count more 2xx answers than the origin got requests, give or take
  # those in flight when the count was read (the origin counts more: requests cut off when wrk
  # stopped, and some sent for clients that had gone).
  awk -v s="$s" -v sat="$sat" -v pre="$pre" -v post="$post" -v limit="$LIMIT" 'BEGIN {
    split(sat, a, " "); split(pre, b, " "); split(post, c, " "); served = c[4] - b[4]
    if (served + limit < a[4])
      printf "- %s: the origin served %d requests, wrk got %d 2xx answers\n", s, served, a[4] }' \
    >>"$WORK/notes.log"
  awk -v sat="$sat" -v pre="$pre" -v mid="$mid" -v post="$post" -v t="$((after - before))" \
    -v hz="$TICK" 'BEGIN {
    split(sat, a, " "); split(pre, b, " "); split(mid, m, " "); split(post, c, " ")
    n = a[2]; secs = a[3]; ok = a[4]; cpu = (t / hz) * 1e6
    printf "%.0f %.0f %.1f %.1f %.1f %.1f %.1f %.1f %s %d %d %d\n", n / secs, ok / secs,
      100 * ok / n, 100 * (a[6] + a[7]) / n, 100 * a[5] / n, a[9] / 1e3, a[10] / 1e3, cpu / n,
      ok ? sprintf("%.1f", cpu / ok) : "-", m[2], c[2], c[3] - b[3] }'
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
column_median() { printf '%s\n' "${@:2}" | awk -v c="$1" '{print $c}' | median; }
column_max() { printf '%s\n' "${@:2}" | awk -v c="$1" '$c > m { m = $c } END { print m + 0 }'; }

for s in "${SCENARIO_LIST[@]}"; do
  case "$s" in
    weir-*) start_weir "$s" ;;
    nginx-*) start_nginx "$s" ;;
    *) echo "unknown scenario $s" >&2; exit 1 ;;
  esac
done
for s in "${SCENARIO_LIST[@]}"; do wait_port "${PROXY_PORT[$s]}"; done
# Warm each: pools, page faults.
for s in "${SCENARIO_LIST[@]}"; do drive "$s" 2 >/dev/null; done

declare -A RESULTS
for _ in $(seq "$RUNS"); do
  for s in "${SCENARIO_LIST[@]}"; do RESULTS[$s]+="$(measure "$s")"$'\n'; done
done

echo "| scenario | req/s | 2xx % | 503 % | 502 % | 2xx/s | 2xx p50 ms | 2xx p99 ms | CPU µs/answer" \
  "| CPU µs/2xx | peak conns to origin, under load | the same, at client teardown" \
  "| conns opened to origin |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for s in "${SCENARIO_LIST[@]}"; do
  mapfile -t runs < <(printf '%s' "${RESULTS[$s]}")
  m=()
  for c in 1 2 3 4 5 6 7 8 9 12; do m[c]=$(column_median "$c" "${runs[@]}"); done
  # The peaks are the most of all runs: a limit holds only if it holds every time.
  load_peak=$(column_max 10 "${runs[@]}"); end_peak=$(column_max 11 "${runs[@]}")
  echo "| $s | ${m[1]} | ${m[3]} | ${m[4]} | ${m[5]} | ${m[2]} | ${m[6]} | ${m[7]} | ${m[8]} | ${m[9]}" \
    "| $load_peak | $end_peak | ${m[12]} |"
  case "$s" in
    weir-queue | weir-no-queue | weir-small-queue | weir-short-wait)
      [ "$load_peak" -le "$LIMIT" ] || echo "- $s: $load_peak connections open to the origin at once" \
        "under load, over the limit of $LIMIT" >>"$WORK/notes.log"
      [ "$end_peak" -le "$LIMIT" ] || echo "- $s: $end_peak connections open to the origin at once" \
        "when the clients went away, over the limit of $LIMIT" >>"$WORK/notes.log" ;;
  esac
done

for s in "${SCENARIO_LIST[@]}"; do
  if [ -s "$WORK/$s/stderr" ]; then
    echo "- $s: weir wrote $(wc -l <"$WORK/$s/stderr") lines to stderr, the first:" \
      "$(head -n1 "$WORK/$s/stderr")" >>"$WORK/notes.log"
  fi
done
if [ -s "$WORK/notes.log" ]; then
  echo
  echo "Notes:"
  cat "$WORK/notes.log"
fi
echo
echo "Load average $(cut -d' ' -f1-3 /proc/loadavg) after the runs."
