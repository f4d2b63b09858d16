#!/usr/bin/env bash
# Load bench on loopback: requests/s and proxy CPU time per request, weir (wasm filters) against
# nginx (native directives) doing the same work, one worker each, both pinned to core 0; wrk and
# the origin share core 1. Each scenario runs RUNS times for DURATION seconds; the medians are
# printed as a markdown table.
#
#   host/benches/load/run.sh            # RUNS=3 DURATION=10 CONNECTIONS=32
#   SCENARIOS="none router" RUNS=1 host/benches/load/run.sh
#
# Installs nginx and wrk from the distribution's packages when missing. Loopback only; every
# load loop is bounded by DURATION.
set -euo pipefail
cd "$(dirname "$0")/../../.."
ROOT=$PWD
RUNS=${RUNS:-3}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-32}
source host/benches/common.sh
bench_init load
need_commands nginx wrk
rustup target add wasm32-wasip2 >/dev/null
cargo build --release --locked -p weir
cargo build --release --locked --target wasm32-wasip2 -p weir-plugin-url-rewrite -p weir-plugin-headers \
  -p weir-plugin-cookies -p weir-plugin-router
WEIR=$ROOT/target/release/weir
P=$ROOT/target/wasm32-wasip2/release
ORIGIN_PORT=18080; ORIGIN_B_PORT=18081; PROXY_PORT=18090

# The origin: nginx answering a small fixed body on core 1.
nginx_conf "$WORK/origin" <<CONF
  server { listen 127.0.0.1:$ORIGIN_PORT; keepalive_requests 1000000; location / { return 200 "main\n"; } }
  server { listen 127.0.0.1:$ORIGIN_B_PORT; keepalive_requests 1000000; location / { return 200 "beta\n"; } }
CONF
taskset -c 1 nginx -c "$WORK/origin/nginx.conf" -g 'daemon off;' &
PIDS+=($!)
wait_port $ORIGIN_PORT

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TICK=$(getconf CLK_TCK)

# weir configs per scenario.
weir_filters() {
  case "$1" in
    none) echo "" ;;
    url-rewrite) echo rewrite ;;
    headers) echo headers ;;
    cookies) echo cookies ;;
    router) echo router ;;
    chain-of-3) echo "rewrite headers cookies" ;;
  esac
}
write_weir_config() {
  local chain="" f
  for f in $(weir_filters "$1"); do chain="$chain\"$f\", "; done
  cat > "$WORK/weir.toml" <<CONF
[runtime]
cache_dir = "$WORK/cache"
[[listener]]
bind = "127.0.0.1:$PROXY_PORT"
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
[[route]]
pool = "main"
filters = [${chain%, }]
CONF
}

# nginx configs per scenario: the same work with native directives.
write_nginx_config() {
  local loc
  case "$1" in
    none) loc='proxy_pass http://main;' ;;
    url-rewrite) loc='rewrite ^/old/(.*)$ /new/$1 break; proxy_pass http://main;' ;;
    headers) loc='proxy_set_header X-Request-Id $request_id; proxy_set_header X-Client-Ip $remote_addr; proxy_pass http://main;' ;;
    cookies) loc='proxy_set_header Cookie $stripped_cookie; proxy_pass http://main;' ;;
    router) loc='proxy_pass http://$pool_by_user;' ;;
    chain-of-3) loc='rewrite ^/old/(.*)$ /new/$1 break; proxy_set_header X-Request-Id $request_id; proxy_set_header X-Client-Ip $remote_addr; proxy_set_header Cookie $stripped_cookie; proxy_pass http://main;' ;;
  esac
  nginx_conf "$WORK/proxy" <<CONF
  upstream main { server 127.0.0.1:$ORIGIN_PORT; keepalive 64; }
  upstream beta { server 127.0.0.1:$ORIGIN_B_PORT; keepalive 64; }
  map \$http_cookie \$stripped_cookie { "~^(?<a>.*?)tracking=[^;]*;? ?(?<b>.*)\$" "\$a\$b"; default \$http_cookie; }
  map \$http_x_user \$pool_by_user { alice beta; default main; }
  server {
    listen 127.0.0.1:$PROXY_PORT;
    keepalive_requests 1000000;
    location / { proxy_http_version 1.1; proxy_set_header Connection ""; $loc }
  }
CONF
}

start_proxy() {
  if [ "$1" = weir ]; then
    write_weir_config "$2"
    TOKIO_WORKER_THREADS=1 taskset -c 0 "$WEIR" --log error run --config "$WORK/weir.toml" &
  else
    write_nginx_config "$2"
    taskset -c 0 nginx -c "$WORK/proxy/nginx.conf" -g 'daemon off;' &
  fi
  PROXY_PID=$!
  PIDS+=($PROXY_PID)
  wait_port $PROXY_PORT
}
stop_proxy() { kill "$PROXY_PID"; wait "$PROXY_PID" 2>/dev/null || true; }

# One run: prints "requests_per_second cpu_us_per_request".
measure() {
  local pid=$1 before after out reqs rps
  # nginx does the work in its worker, a child of the master.
  local worker
  worker=$(pgrep -P "$pid" | head -n1 || true)
  [ -n "$worker" ] || worker=$pid
  taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d1s -H 'Cookie: session=abc; tracking=xyz' -H 'x-user: alice' \
    "http://127.0.0.1:$PROXY_PORT/old/page" >/dev/null
  before=$(cpu_ticks "$worker")
  out=$(taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" -H 'Cookie: session=abc; tracking=xyz' \
    -H 'x-user: alice' "http://127.0.0.1:$PROXY_PORT/old/page")
  after=$(cpu_ticks "$worker")
  reqs=$(echo "$out" | awk '/requests in/ {print $1}')
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  if echo "$out" | grep -q 'Non-2xx'; then echo "non-2xx answers: $out" >&2; exit 1; fi
  awk -v r="$reqs" -v rps="$rps" -v t="$((after - before))" -v hz="$TICK" \
    'BEGIN { printf "%.0f %.2f\n", rps, (t / hz) * 1e6 / r }'
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "| scenario | weir req/s | weir CPU µs/req | nginx req/s | nginx CPU µs/req | CPU ratio weir/nginx |"
echo "|---|---:|---:|---:|---:|---:|"
for scenario in ${SCENARIOS:-none url-rewrite headers cookies router chain-of-3}; do
  declare -A RPS CPU
  for proxy in weir nginx; do
    start_proxy $proxy $scenario
    results=()
    for _ in $(seq "$RUNS"); do results+=("$(measure "$PROXY_PID")"); done
    stop_proxy
    RPS[$proxy]=$(printf '%s\n' "${results[@]}" | awk '{print $1}' | median)
    CPU[$proxy]=$(printf '%s\n' "${results[@]}" | awk '{print $2}' | median)
  done
  ratio=$(awk -v a="${CPU[weir]}" -v b="${CPU[nginx]}" 'BEGIN { printf "%.2f", a / b }')
  echo "| $scenario | ${RPS[weir]} | ${CPU[weir]} | ${RPS[nginx]} | ${CPU[nginx]} | $ratio |"
done
