#!/usr/bin/env bash
# Idle keep-alive connections on loopback: the resident memory (VmRSS) weir and nginx gain while
# holding CONNS downstream connections that each sent one request and then stay open and idle.
# Both proxy with no filter to the same nginx origin, one worker each (weir
# `[server] workers = 1`, nginx worker_processes 1; nginx's RSS is its worker's). The client
# (Python, standard library only) opens CONNS connections, at most 256 connecting at a time,
# sends `GET /old/page` on each, reads each response, then waits SETTLE seconds and reads the
# proxy's VmRSS again; the growth divided by CONNS is the cost of one idle connection.
#
#   host/benches/load/idle.sh          # CONNS=10000 SETTLE=2
#
# weir closes a downstream connection that sends no request head for `header_timeout_ms`
# (hyper's header read timeout runs while a keep-alive connection is idle, default 10 s), and
# nginx after `keepalive_timeout` (75 s): both are set to 300 s here so that every connection
# is still open when measured. Installs nginx and Python from the distribution's packages when
# missing. Loopback only; the client gives up after MAX_SECS.
set -euo pipefail
cd "$(dirname "$0")/../../.."
ROOT=$PWD
CONNS=${CONNS:-10000}
SETTLE=${SETTLE:-2}
MAX_SECS=${MAX_SECS:-120}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
source host/benches/common.sh
bench_init idle
need_commands nginx python3
cargo build --release --locked -p weir
WEIR=$TARGET/release/weir
ORIGIN_PORT=18080; WEIR_PORT=18090; NGINX_PORT=18091
# Each process holds at most CONNS downstream sockets plus a few hundred others; the hard limit
# may be lower than wanted in a container, and is enough if it leaves that room.
WANT_FILES=$((CONNS + 2048)); HARD_FILES=$(ulimit -Hn)
[ "$HARD_FILES" = unlimited ] || [ "$HARD_FILES" -ge "$WANT_FILES" ] \
  || { echo "open-file hard limit $HARD_FILES is below $WANT_FILES" >&2; exit 1; }
ulimit -n "$WANT_FILES"

nginx_conf "$WORK/origin" <<CONF
  server { listen 127.0.0.1:$ORIGIN_PORT; keepalive_requests 1000000; location / { return 200 "main\n"; } }
CONF
nginx -c "$WORK/origin/nginx.conf" -g 'daemon off;' &
PIDS+=($!)
wait_port $ORIGIN_PORT

cat > "$WORK/weir.toml" <<CONF
[runtime]
cache_dir = "$WORK/cache"
[server]
workers = 1
[[listener]]
bind = "127.0.0.1:$WEIR_PORT"
header_timeout_ms = 300000
max_connections = $((CONNS + 1024))
[[pool]]
name = "main"
backends = ["127.0.0.1:$ORIGIN_PORT"]
[[route]]
pool = "main"
CONF
"$WEIR" --log error run --config "$WORK/weir.toml" &
WEIR_PID=$!
PIDS+=($WEIR_PID)

NGINX_CONNECTIONS=$((CONNS + 1024)) nginx_conf "$WORK/proxy" <<CONF
  upstream main { server 127.0.0.1:$ORIGIN_PORT; keepalive 64; }
  server {
    listen 127.0.0.1:$NGINX_PORT backlog=4096;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
    location / { proxy_http_version 1.1; proxy_set_header Connection ""; proxy_pass http://main; }
  }
CONF
nginx -c "$WORK/proxy/nginx.conf" -g 'daemon off;' &
NGINX_PID=$!
PIDS+=($NGINX_PID)
wait_port $WEIR_PORT
wait_port $NGINX_PORT
NGINX_WORKER=$(nginx_worker "$NGINX_PID")

cat > "$WORK/idle.py" <<'PY'
"""Opens N keep-alive connections, one request each, then measures PID's VmRSS growth."""
import selectors, socket, sys, time

port, pid, n, settle, max_secs = (int(a) for a in sys.argv[1:6])
REQUEST = b"GET /old/page HTTP/1.1\r\nHost: bench\r\nCookie: session=abc; tracking=xyz\r\nx-user: alice\r\n\r\n"
WINDOW = 256

def rss_kib():
    with open(f"/proc/{pid}/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))

def complete(buf):
    head, sep, body = buf.partition(b"\r\n\r\n")
    if not sep:
        return False
    if not head.startswith(b"HTTP/1.1 200"):
        raise SystemExit(f"unexpected answer: {head[:80]!r}")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return body.endswith(b"0\r\n\r\n")

before = rss_kib()
deadline = time.monotonic() + max_secs
sel = selectors.DefaultSelector()
held, pending, opened = [], {}, 0
while len(held) < n:
    if time.monotonic() > deadline:
        raise SystemExit(f"only {len(held)} of {n} connections answered within {max_secs} s")
    while opened < n and len(pending) < WINDOW:
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        pending[s] = b""
        sel.register(s, selectors.EVENT_WRITE)
        opened += 1
    for key, events in sel.select(timeout=1):
        s = key.fileobj
        if events & selectors.EVENT_WRITE:
            s.send(REQUEST)
            sel.modify(s, selectors.EVENT_READ)
            continue
        data = s.recv(65536)
        if not data:
            raise SystemExit("the proxy closed a connection")
        pending[s] += data
        if complete(pending[s]):
            sel.unregister(s)
            del pending[s]
            held.append(s)
time.sleep(settle)
after = rss_kib()
# Every connection still open: a closed one reads EOF without blocking.
sel = selectors.DefaultSelector()
for s in held:
    sel.register(s, selectors.EVENT_READ)
closed = len(sel.select(timeout=0))
print(f"{n} {before} {after} {closed}")
PY

# idle PORT PID: prints "connections rss_before_kib rss_after_kib closed_by_proxy".
idle() { timeout $((MAX_SECS + SETTLE + 30)) python3 "$WORK/idle.py" "$1" "$2" "$CONNS" "$SETTLE" "$MAX_SECS"; }

# One request each first, so both have their upstream connection and first-use allocations.
curl_like() { exec 3<>/dev/tcp/127.0.0.1/"$1"; printf 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >&3; cat <&3 >/dev/null; exec 3<&-; }
curl_like $WEIR_PORT
curl_like $NGINX_PORT

echo "$CONNS idle keep-alive connections, one request each, RSS read $SETTLE s after the last answer"
echo
echo "| proxy | RSS before MiB | RSS with connections MiB | growth MiB | KiB per connection | closed by the proxy |"
echo "|---|---:|---:|---:|---:|---:|"
for proxy in weir nginx; do
  if [ $proxy = weir ]; then out=$(idle $WEIR_PORT "$WEIR_PID"); else out=$(idle $NGINX_PORT "$NGINX_WORKER"); fi
  echo "$out" | awk -v p=$proxy '{ printf "| %s | %.1f | %.1f | %.1f | %.1f | %d |\n",
    p, $2 / 1024, $3 / 1024, ($3 - $2) / 1024, ($3 - $2) / $1, $4 }'
done
