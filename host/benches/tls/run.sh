#!/usr/bin/env bash
# TLS handshake bench on loopback: handshakes per second and server CPU time per handshake,
# weir (rustls, aws-lc-rs) against nginx (OpenSSL), on the same certificates and key files.
# Both servers run one worker pinned to core 0 (weir with TOKIO_WORKER_THREADS=1); the load client
# (host/benches/tls_handshake.rs) and the origin share core 1. For each certificate type
# (ecdsa-p256, rsa-2048) and mode (full: no resumption; resumed: every connection resumes a
# session), RUNS runs alternate between weir and nginx; each opens N connections, CONCURRENCY at a
# time. Server CPU is read from /proc/PID/task/*/schedstat around the timed part by the client.
# The medians are printed as a markdown table.
#
#   host/benches/tls/run.sh          # RUNS=3 N=10000 CONCURRENCY=32 TLS_VERSION=1.3 GROUP=x25519
#   TLS_VERSION=1.2 RUNS=1 N=2000 host/benches/tls/run.sh
#
# GROUP is the key exchange the client offers (see the client's docs); the default, X25519 without
# a post-quantum hybrid, makes rustls and OpenSSL 3.0 do the same work. Installs nginx from the
# distribution's packages when missing. Loopback only; every run is bounded by N connections and
# MAX_SECS seconds, every connection by 5 s.
set -euo pipefail
cd "$(dirname "$0")/../../.."
ROOT=$PWD
RUNS=${RUNS:-3}
N=${N:-10000}
CONCURRENCY=${CONCURRENCY:-32}
TLS_VERSION=${TLS_VERSION:-1.3}
GROUP=${GROUP:-x25519}
MAX_SECS=${MAX_SECS:-30}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
source host/benches/common.sh
bench_init tls
need_commands nginx
cargo build --release --locked -p weir
CLIENT=$(cargo bench --locked -p weir --bench tls_handshake --no-run --message-format=json \
  | grep -o '"executable":"[^"]*tls_handshake[^"]*"' | tail -n1 | cut -d'"' -f4)
[ -x "$CLIENT" ] || { echo "tls_handshake client not built" >&2; exit 1; }
WEIR=$TARGET/release/weir
ORIGIN_PORT=18080; WEIR_PORT=18443; NGINX_PORT=18444

"$CLIENT" certs "$WORK/certs"

# The origin: nginx answering a small fixed body on core 1 (weir's route needs a backend; the
# handshake runs send no request).
nginx_conf "$WORK/origin" <<CONF
  server { listen 127.0.0.1:$ORIGIN_PORT; location / { return 200 "main\n"; } }
CONF
taskset -c 1 nginx -c "$WORK/origin/nginx.conf" -g 'daemon off;' &
PIDS+=($!)
wait_port $ORIGIN_PORT

# Certificate type -> key file stem written by `tls_handshake certs`.
stem() { case "$1" in ecdsa-p256) echo ecdsa ;; rsa-2048) echo rsa ;; esac; }

start_weir() {
  local s; s=$(stem "$1")
  cat > "$WORK/weir.toml" <<CONF
[runtime]
cache_dir = "$WORK/cache"
[[listener]]
bind = "127.0.0.1:$WEIR_PORT"
[listener.tls]
certificates = [ { cert = "$WORK/certs/$s.crt", key = "$WORK/certs/$s.key" } ]
session_tickets = true
session_cache_size = 10000
[[pool]]
name = "main"
backends = ["127.0.0.1:$ORIGIN_PORT"]
[[route]]
pool = "main"
CONF
  TOKIO_WORKER_THREADS=1 taskset -c 0 "$WEIR" --log error run --config "$WORK/weir.toml" &
  WEIR_PID=$!
  PIDS+=($WEIR_PID)
  wait_port $WEIR_PORT
}

start_nginx() {
  local s; s=$(stem "$1")
  nginx_conf "$WORK/server" <<CONF
  server {
    listen 127.0.0.1:$NGINX_PORT ssl;
    ssl_certificate $WORK/certs/$s.crt;
    ssl_certificate_key $WORK/certs/$s.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:SSL:10m;
    ssl_session_tickets on;
    location / { return 200 "ok\n"; }
  }
CONF
  taskset -c 0 nginx -c "$WORK/server/nginx.conf" -g 'daemon off;' &
  NGINX_PID=$!
  PIDS+=($NGINX_PID)
  wait_port $NGINX_PORT
  # nginx does the work in its worker, a child of the master.
  NGINX_WORKER=$(nginx_worker "$NGINX_PID")
}

stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# One client run: prints the client's key=value line.
client() {
  local port=$1 pid=$2 mode=$3 n=$4
  timeout $((MAX_SECS + 60)) taskset -c 1 "$CLIENT" addr=127.0.0.1:"$port" sni=localhost \
    ca="$WORK/certs/ca.crt" mode="$mode" version="$TLS_VERSION" group="$GROUP" n="$n" \
    c="$CONCURRENCY" max_secs="$MAX_SECS" pid="$pid"
}
field() { tr ' ' '\n' | awk -F= -v k="$1" '$1 == k { print $2 }'; }

# One measured run: prints "handshakes_per_second cpu_us_per_handshake resumed_percent failures".
measure() {
  local out
  out=$(client "$@")
  echo "$out" >>"$WORK/runs.log"
  if [ "$(echo "$out" | field failures)" != 0 ]; then echo "failures: $out" >&2; fi
  echo "$out" | awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } }
    END { printf "%s %s %.1f %s\n", v["handshakes_per_second"], v["server_cpu_us_per_handshake"],
          100 * v["resumed"] / (v["handshakes"] > 0 ? v["handshakes"] : 1), v["failures"] }'
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
column_median() { printf '%s\n' "${@:2}" | awk -v c="$1" '{print $c}' | median; }

echo "TLS $TLS_VERSION, key exchange $GROUP, $N connections per run, $CONCURRENCY in flight, median of $RUNS runs"
echo
echo "| certificate | mode | weir hs/s | nginx hs/s | weir CPU µs/hs | nginx CPU µs/hs | weir hs/CPU-s | nginx hs/CPU-s | CPU ratio weir/nginx | resumed weir / nginx |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for cert in ecdsa-p256 rsa-2048; do
  start_weir "$cert"
  start_nginx "$cert"
  # Warm both (first-connection costs, page faults) before measuring.
  client $WEIR_PORT "$WEIR_PID" full 200 >/dev/null
  client $NGINX_PORT "$NGINX_WORKER" full 200 >/dev/null
  for mode in full resumed; do
    weir_runs=(); nginx_runs=()
    for _ in $(seq "$RUNS"); do
      # Alternate the two servers so that drift in background load hits both alike.
      weir_runs+=("$(measure $WEIR_PORT "$WEIR_PID" $mode "$N")")
      nginx_runs+=("$(measure $NGINX_PORT "$NGINX_WORKER" $mode "$N")")
    done
    w_rate=$(column_median 1 "${weir_runs[@]}"); n_rate=$(column_median 1 "${nginx_runs[@]}")
    w_cpu=$(column_median 2 "${weir_runs[@]}"); n_cpu=$(column_median 2 "${nginx_runs[@]}")
    w_res=$(column_median 3 "${weir_runs[@]}"); n_res=$(column_median 3 "${nginx_runs[@]}")
    awk -v cert="$cert" -v mode="$mode" -v wr="$w_rate" -v nr="$n_rate" -v wc="$w_cpu" -v nc="$n_cpu" \
      -v wres="$w_res" -v nres="$n_res" 'BEGIN {
        if (wc <= 0 || nc <= 0) { printf "| %s | %s | no CPU measured |\n", cert, mode; exit }
        printf "| %s | %s | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.2f | %s%% / %s%% |\n",
          cert, mode, wr, nr, wc, nc, 1e6 / wc, 1e6 / nc, wc / nc, wres, nres }'
  done
  stop "$WEIR_PID"
  stop "$NGINX_PID"
done
if [ -n "${RUNS_LOG:-}" ]; then cp "$WORK/runs.log" "$RUNS_LOG"; fi
