#!/usr/bin/env bash
# Load bench on loopback: requests/s, proxy CPU time per request and p99 latency, weir (wasm
# filters) against nginx (native directives) doing the same work, on one and on two workers, plus
# weir's heap allocations per request (host/benches/alloc.rs).
#
# Placement (the machines have 2 cores):
# - 1 worker (weir `[server] workers = 1`, nginx worker_processes 1): the proxy pinned to core 0;
#   wrk (one thread) and the origin share core 1.
# - 2 workers (`workers = 2`, worker_processes 2): nothing is pinned; the proxy, wrk
#   (two threads) and the origin share both cores, so the proxy cannot have two whole cores. These
#   runs are there for the throughput ratio 2 workers / 1 worker, read against nginx's ratio.
#
# weir and nginx run side by side on two ports and the RUNS runs alternate between them, so drift
# in background load hits both alike. Each run lasts DURATION seconds; the medians are printed as
# markdown tables.
#
#   host/benches/load/run.sh                 # RUNS=3 DURATION=10 CONNECTIONS=32 WORKERS="1 2" ALLOCS=1
#   SCENARIOS="none router" WORKERS=1 RUNS=1 ALLOCS=0 host/benches/load/run.sh
#   WEIR_LOG=info SCENARIOS="none chain-of-3" WORKERS=1 ALLOCS=0 host/benches/load/run.sh
#
# WEIR_LOG is weir's --log filter (default `error`: no access log). With `info` weir writes one
# access-log line per request; its stderr then goes to a file in the work directory (not /dev/null,
# so the writes are real), and the lines written are counted at the end.
#
# ACCESS_LOG=json|combined gives weir `--access-log FILE --access-log-format ACCESS_LOG` (one file
# per weir in the work directory; the lines written are counted at the end). Unset: no access
# log output (the records are still made and kept for `/traces`).
#
# WEIR_FEATURES picks the weir build's cargo features: unset, the package's default features; set
# (even empty), `--no-default-features --features "$WEIR_FEATURES"`. To compare two builds, run the
# script once per build, back to back and alternating, and read each against its own nginx:
#   WEIR_FEATURES= SCENARIOS="none chain-of-3" RUNS=3 DURATION=8 ALLOCS=0 host/benches/load/run.sh
#   WEIR_FEATURES=mimalloc SCENARIOS="none chain-of-3" RUNS=3 DURATION=8 ALLOCS=0 host/benches/load/run.sh
#
# SCHEDULERS lists weir's `[server] scheduler`s to run (default "per-core"); with more than one,
# each runs as its own weir, side by side with the others and nginx in the same rotation, and
# gets its own rows:
#   SCHEDULERS="per-core work-stealing" SCENARIOS="none chain-of-3" ALLOCS=0 host/benches/load/run.sh
# `[server] workers` is the worker count of the row (1 or 2).
#
# Scenarios: none url-rewrite headers cookies router deny chain-of-3 demo (the five-filter chain of
# `weir demo`, from host/src/demo/weir-demo.toml). Installs nginx and wrk from the distribution's
# packages when missing. Loopback only; every load loop is bounded by DURATION.
set -euo pipefail
cd "$(dirname "$0")/../../.."
ROOT=$PWD
RUNS=${RUNS:-3}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-32}
WORKERS=${WORKERS:-1 2}
ALLOCS=${ALLOCS:-1}
WEIR_LOG=${WEIR_LOG:-error}
ACCESS_LOG=${ACCESS_LOG:-}
SCENARIOS=${SCENARIOS:-none url-rewrite headers cookies router deny chain-of-3 demo}
read -r -a SCHEDS <<<"${SCHEDULERS:-per-core}"
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
source host/benches/common.sh
bench_init load
need_commands nginx wrk
rustup target add wasm32-wasip2 >/dev/null
FEATURES=()
[ -z "${WEIR_FEATURES+set}" ] || FEATURES=(--no-default-features --features "$WEIR_FEATURES")
cargo build --release --locked -p weir "${FEATURES[@]}"
cargo build --release --locked --target wasm32-wasip2 -p weir-plugin-url-rewrite -p weir-plugin-headers \
  -p weir-plugin-cookies -p weir-plugin-router -p weir-plugin-deny
# A copy, so that another build in the same target directory cannot swap the binary mid-run.
cp "$TARGET/release/weir" "$WORK/weir"
WEIR=$WORK/weir
P=$TARGET/wasm32-wasip2/release
ORIGIN_PORT=18080; ORIGIN_B_PORT=18081; NGINX_PORT=18091
# weir number i (one per scheduler) listens on WEIR_PORTS[i], its forward listener (demo) on
# FORWARD_PORTS[i].
WEIR_PORTS=(18090 18093 18095); FORWARD_PORTS=(18092 18094 18096)
HEADERS=(-H 'Cookie: session=abc; tracking=xyz' -H 'x-user: alice')

echo "weir $(git rev-parse --short HEAD), $(nginx -v 2>&1 | sed 's/.*version: //'), $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "RUNS=$RUNS DURATION=$DURATION CONNECTIONS=$CONNECTIONS WORKERS=\"$WORKERS\" SCHEDULERS=\"${SCHEDS[*]}\" WEIR_LOG=$WEIR_LOG ACCESS_LOG=${ACCESS_LOG:-(none)} WEIR_FEATURES=${WEIR_FEATURES-(default)}"
echo

# weir's heap allocations per request, counted in-process (host/benches/alloc.rs).
declare -A ALLOC
if [ "$ALLOCS" = 1 ]; then
  ALLOC_BENCH=$(cargo bench --locked -p weir --bench alloc --no-run --message-format=json \
    | grep -o '"executable":"[^"]*/alloc-[^"]*"' | tail -n1 | cut -d'"' -f4)
  [ -x "$ALLOC_BENCH" ] || { echo "alloc bench not built" >&2; exit 1; }
  # shellcheck disable=SC2086 # SCENARIOS is a list
  "$ALLOC_BENCH" $SCENARIOS | tee "$WORK/alloc.md"
  echo
  while read -r scenario allocs; do ALLOC[$scenario]=$allocs; done < <(
    awk -F'|' 'NF > 4 && $3 ~ /[0-9]/ { gsub(/ /, "", $2); gsub(/ /, "", $3); print $2, $3 }' "$WORK/alloc.md")
fi

# The origin: nginx answering a small fixed body (core 1 with one proxy worker, unpinned with two).
nginx_conf "$WORK/origin" <<CONF
  server { listen 127.0.0.1:$ORIGIN_PORT; keepalive_requests 1000000; location / { return 200 "main\n"; } }
  server { listen 127.0.0.1:$ORIGIN_B_PORT; keepalive_requests 1000000; location / { return 200 "beta\n"; } }
CONF
taskset -c 1 nginx -c "$WORK/origin/nginx.conf" -g 'daemon off;' &
ORIGIN_PID=$!
PIDS+=($ORIGIN_PID)
wait_port $ORIGIN_PORT
ORIGIN_WORKER=$(nginx_worker "$ORIGIN_PID")

# place_origin CPUS: moves the origin (master and worker) to these cores.
place_origin() { taskset -pc "$1" "$ORIGIN_PID" >/dev/null; taskset -pc "$1" "$ORIGIN_WORKER" >/dev/null; }

TICK=$(getconf CLK_TCK)
# cpu_ticks PID...: utime + stime of these processes (every thread), in clock ticks.
cpu_ticks() { local p t=0; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo $t; }

# weir configs per scenario.
weir_filters() {
  case "$1" in
    none) echo "" ;;
    url-rewrite) echo rewrite ;;
    headers) echo headers ;;
    cookies) echo cookies ;;
    router) echo router ;;
    deny) echo deny ;;
    chain-of-3) echo "rewrite headers cookies" ;;
  esac
}
# write_weir_config SCENARIO INDEX WORKERS: weir number INDEX's config, $WORK/weir-INDEX.toml.
write_weir_config() {
  local port=${WEIR_PORTS[$2]} forward=${FORWARD_PORTS[$2]} out=$WORK/weir-$2.toml
  local server
  server=$(printf '[server]\nscheduler = "%s"\nworkers = %s\n' "${SCHEDS[$2]}" "$3")
  if [ "$1" = demo ]; then
    # The demo's own config: listeners and origins filled in, plugin paths made absolute.
    {
      printf '[runtime]\ncache_dir = "%s/cache"\n%s\n' "$WORK" "$server"
      sed -e "s/{listen}/127.0.0.1:$port/" -e "s/{proxy_listen}/127.0.0.1:$forward/" \
        -e "s/{origin_a}/127.0.0.1:$ORIGIN_PORT/" -e "s/{origin_b}/127.0.0.1:$ORIGIN_B_PORT/" \
        -e "s|^plugin = \"|plugin = \"$P/|" host/src/demo/weir-demo.toml
    } > "$out"
    return
  fi
  local chain="" f
  for f in $(weir_filters "$1"); do chain="$chain\"$f\", "; done
  cat > "$out" <<CONF
[runtime]
cache_dir = "$WORK/cache"
$server
[[listener]]
bind = "127.0.0.1:$port"
[[pool]]
name = "main"
backends = ["127.0.0.1:$ORIGIN_PORT"]
[[pool]]
name = "beta"
backends = ["127.0.0.1:$ORIGIN_B_PORT"]
[[filter]]
name = "rewrite"
plugin = "$P/weir_plugin_url_rewrite.wasm"
config = { rules = [ { match = "^/old/(.*)\$", replace = "/new/\$1" } ] }
[[filter]]
name = "headers"
plugin = "$P/weir_plugin_headers.wasm"
config = { request = { set = { "x-request-id" = "{request_id}", "x-client-ip" = "{client_ip}" } } }
[[filter]]
name = "cookies"
plugin = "$P/weir_plugin_cookies.wasm"
config = { request = { strip = ["tracking"] } }
[[filter]]
name = "router"
plugin = "$P/weir_plugin_router.wasm"
config = { routes = [ { header = { name = "x-user", value = "alice" }, pool = "beta" } ] }
[[filter]]
name = "deny"
plugin = "$P/weir_plugin_deny.wasm"
config = { block_path_prefixes = ["/admin"], block_patterns = ["(?i)casino"] }
[[route]]
pool = "main"
filters = [${chain%, }]
CONF
}

# nginx configs per scenario: the same work with native directives.
REWRITE='rewrite ^/old/(.*)$ /new/$1 break;'
SET_HEADERS='proxy_set_header X-Request-Id $request_id; proxy_set_header X-Client-Ip $remote_addr;'
STRIP_COOKIE='proxy_set_header Cookie $stripped_cookie;'
# deny: block_path_prefixes ["/admin"] (a location) and block_patterns ["(?i)casino"] (over the URL).
DENY_PATTERN='if ($request_uri ~* casino) { return 403 "blocked by policy\n"; }'
write_nginx_config() {
  local loc
  case "$1" in
    none) loc='proxy_pass http://main;' ;;
    url-rewrite) loc="$REWRITE proxy_pass http://main;" ;;
    headers) loc="$SET_HEADERS proxy_pass http://main;" ;;
    cookies) loc="$STRIP_COOKIE proxy_pass http://main;" ;;
    router) loc='proxy_pass http://$pool_by_user;' ;;
    deny) loc="$DENY_PATTERN proxy_pass http://main;" ;;
    chain-of-3) loc="$REWRITE $SET_HEADERS $STRIP_COOKIE proxy_pass http://main;" ;;
    # The demo chain: deny, url-rewrite (a silent rewrite and a redirect), headers (request and
    # response), cookies (strip one; Secure, HttpOnly, SameSite=Lax on every Set-Cookie), router
    # (x-beta: 1 goes to beta).
    demo) loc="$DENY_PATTERN $REWRITE rewrite ^/moved/(.*)\$ /new/\$1 permanent; $SET_HEADERS $STRIP_COOKIE
      add_header X-Served-By weir-demo; proxy_hide_header Server;
      proxy_cookie_flags ~ secure httponly samesite=lax; proxy_pass http://\$pool_by_beta;" ;;
  esac
  # proxy_set_header Connection "" (upstream keep-alive) sits in the location: a location with
  # its own proxy_set_header inherits none from the server level.
  local admin=""
  case "$1" in deny | demo) admin='location /admin { return 403 "blocked by policy\n"; }' ;; esac
  NGINX_WORKERS=$2 nginx_conf "$WORK/proxy" <<CONF
  upstream main { server 127.0.0.1:$ORIGIN_PORT; keepalive 64; }
  upstream beta { server 127.0.0.1:$ORIGIN_B_PORT; keepalive 64; }
  map \$http_cookie \$stripped_cookie { "~^(?<a>.*?)tracking=[^;]*;? ?(?<b>.*)\$" "\$a\$b"; default \$http_cookie; }
  map \$http_x_user \$pool_by_user { alice beta; default main; }
  map \$http_x_beta \$pool_by_beta { 1 beta; default main; }
  server_tokens off;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    keepalive_requests 1000000;
    location / { proxy_http_version 1.1; proxy_set_header Connection ""; $loc }
    $admin
  }
CONF
}

# start_proxies SCENARIO WORKERS: one weir per scheduler and nginx side by side; sets WEIR_PIDS,
# NGINX_PID and NGINX_WORKERS_PIDS.
start_proxies() {
  local pin=(taskset -c 0) i
  [ "$2" = 1 ] || pin=()
  local stderr=/dev/stderr
  [ "$WEIR_LOG" = error ] || stderr=$WORK/weir.stderr
  WEIR_PIDS=()
  for i in "${!SCHEDS[@]}"; do
    write_weir_config "$1" "$i" "$2"
    local access=()
    [ -z "$ACCESS_LOG" ] || access=(--access-log "$WORK/access-$i.log" --access-log-format "$ACCESS_LOG")
    "${pin[@]}" "$WEIR" --log "$WEIR_LOG" "${access[@]}" run --config "$WORK/weir-$i.toml" 2>>"$stderr" &
    WEIR_PIDS+=($!)
    PIDS+=($!)
    # One at a time: the first compiles the plugins into the shared cache, the others load
    # them from it.
    wait_port "${WEIR_PORTS[$i]}" 120
  done
  write_nginx_config "$1" "$2"
  "${pin[@]}" nginx -c "$WORK/proxy/nginx.conf" -g 'daemon off;' &
  NGINX_PID=$!
  PIDS+=($NGINX_PID)
  wait_port $NGINX_PORT
  nginx_worker "$NGINX_PID" >/dev/null
  for _ in $(seq 50); do
    mapfile -t NGINX_WORKERS_PIDS < <(pgrep -P "$NGINX_PID")
    [ "${#NGINX_WORKERS_PIDS[@]}" -ge "$2" ] && break
    sleep 0.1
  done
}
stop_proxies() {
  kill "${WEIR_PIDS[@]}" "$NGINX_PID" 2>/dev/null || true
  wait "${WEIR_PIDS[@]}" "$NGINX_PID" 2>/dev/null || true
}

# drive WORKERS PORT SECONDS [wrk options]: wrk's output.
drive() {
  local workers=$1 port=$2 secs=$3
  shift 3
  local pin=(taskset -c 1)
  [ "$workers" = 1 ] || pin=()
  timeout $((secs + 30)) "${pin[@]}" wrk -t"$workers" -c"$CONNECTIONS" -d"${secs}s" "$@" "${HEADERS[@]}" \
    "http://127.0.0.1:$port/old/page"
}

# measure WORKERS PORT PID...: one run; prints "requests_per_second cpu_us_per_request p99_us".
measure() {
  local workers=$1 port=$2 before after out reqs rps p99
  shift 2
  before=$(cpu_ticks "$@")
  out=$(drive "$workers" "$port" "$DURATION" --latency)
  after=$(cpu_ticks "$@")
  reqs=$(echo "$out" | awk '/requests in/ {print $1}')
  # A rare 5xx is reported, not fatal: on a loaded machine a filter call can overrun its
  # deadline. More than one in a thousand stops the bench.
  local bad
  bad=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
  if [ -n "$bad" ]; then
    echo "$port: $bad non-2xx answers of $reqs" >>"$WORK/non2xx.log"
    awk -v b="$bad" -v r="$reqs" 'BEGIN { exit !(b * 1000 > r) }' && { echo "non-2xx answers: $out" >&2; exit 1; }
  fi
  if echo "$out" | grep -q 'Socket errors'; then echo "warning: $(echo "$out" | grep 'Socket errors')" >&2; fi
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  # "     99%    1.23ms" in wrk's latency distribution.
  p99=$(echo "$out" | awk '$1 == "99%" { v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
    f = (u == "us") ? 1 : (u == "ms") ? 1e3 : (u == "s") ? 1e6 : (u == "m") ? 6e7 : 0; print v * f }')
  awk -v r="$reqs" -v rps="$rps" -v t="$((after - before))" -v hz="$TICK" -v p99="$p99" \
    'BEGIN { printf "%.0f %.2f %.0f\n", rps, (t / hz) * 1e6 / r, p99 }'
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
column_median() { printf '%s\n' "${@:2}" | awk -v c="$1" '{print $c}' | median; }

declare -A RPS
echo "| scenario | workers | scheduler | weir req/s | weir CPU µs/req | weir p99 µs | nginx req/s | nginx CPU µs/req | nginx p99 µs | CPU ratio weir/nginx | weir allocs/req |"
echo "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for workers in $WORKERS; do
  if [ "$workers" = 1 ]; then place_origin 1; else place_origin 0,1; fi
  for scenario in $SCENARIOS; do
    start_proxies "$scenario" "$workers"
    # Warm them all: instances, pools, page faults.
    for i in "${!SCHEDS[@]}"; do drive "$workers" "${WEIR_PORTS[$i]}" 2 >/dev/null; done
    drive "$workers" $NGINX_PORT 2 >/dev/null
    declare -A weir_runs=(); nginx_runs=()
    for _ in $(seq "$RUNS"); do
      for i in "${!SCHEDS[@]}"; do
        weir_runs[$i]="${weir_runs[$i]:-}$(measure "$workers" "${WEIR_PORTS[$i]}" "${WEIR_PIDS[$i]}")"$'\n'
      done
      nginx_runs+=("$(measure "$workers" $NGINX_PORT "${NGINX_WORKERS_PIDS[@]}")")
    done
    stop_proxies
    n_rps=$(column_median 1 "${nginx_runs[@]}")
    n_cpu=$(column_median 2 "${nginx_runs[@]}")
    n_p99=$(column_median 3 "${nginx_runs[@]}")
    RPS[nginx,$scenario,$workers]=$n_rps
    for i in "${!SCHEDS[@]}"; do
      mapfile -t runs < <(printf '%s' "${weir_runs[$i]}")
      w_rps=$(column_median 1 "${runs[@]}")
      w_cpu=$(column_median 2 "${runs[@]}")
      w_p99=$(column_median 3 "${runs[@]}")
      RPS[weir$i,$scenario,$workers]=$w_rps
      ratio=$(awk -v a="$w_cpu" -v b="$n_cpu" 'BEGIN { printf "%.2f", a / b }')
      echo "| $scenario | $workers | ${SCHEDS[$i]} | $w_rps | $w_cpu | $w_p99 | $n_rps | $n_cpu | $n_p99 | $ratio | ${ALLOC[$scenario]:-} |"
    done
    unset weir_runs
  done
done

if [ "$WEIR_LOG" != error ]; then
  echo
  echo "weir wrote $(wc -l <"$WORK/weir.stderr") log lines ($(du -h "$WORK/weir.stderr" | cut -f1)) with --log $WEIR_LOG"
fi

if [ -n "$ACCESS_LOG" ]; then
  echo
  for i in "${!SCHEDS[@]}"; do
    echo "weir ${SCHEDS[$i]} wrote $(cat "$WORK"/access-"$i".log 2>/dev/null | wc -l) access log lines ($ACCESS_LOG)"
  done
fi

if [ -s "$WORK/non2xx.log" ]; then
  echo
  echo "Non-2xx answers (ports ${WEIR_PORTS[*]:0:${#SCHEDS[@]}} are weir with ${SCHEDS[*]}, $NGINX_PORT nginx):"
  sed 's/^/- /' "$WORK/non2xx.log"
fi

case " $WORKERS " in
  *" 1 "*)
    case " $WORKERS " in *" 2 "*) ;; *) exit 0 ;; esac
    echo
    echo "| scenario | scheduler | weir req/s 2 workers / 1 worker | nginx req/s 2 workers / 1 worker |"
    echo "|---|---|---:|---:|"
    for scenario in $SCENARIOS; do
      for i in "${!SCHEDS[@]}"; do
        awk -v s="$scenario" -v k="${SCHEDS[$i]}" -v w1="${RPS[weir$i,$scenario,1]}" -v w2="${RPS[weir$i,$scenario,2]}" \
          -v n1="${RPS[nginx,$scenario,1]}" -v n2="${RPS[nginx,$scenario,2]}" \
          'BEGIN { printf "| %s | %s | %.2f | %.2f |\n", s, k, w2 / w1, n2 / n1 }'
      done
    done
    ;;
esac
