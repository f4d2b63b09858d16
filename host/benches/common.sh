# Shared by the bench scripts (sourced, never run): a work directory removed on exit together
# with every process listed in PIDS, package installs, port waits and nginx configs.

PIDS=()
bench_cleanup() { for p in "${PIDS[@]:-}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }

# bench_init NAME: makes $WORK (/tmp/weir-NAME.*) and cleans up on exit.
bench_init() {
  WORK=$(mktemp -d "/tmp/weir-$1.XXXXXX")
  trap bench_cleanup EXIT
}

# need_commands CMD...: installs the missing ones from the distribution's packages (nginx-light
# for nginx where the distribution has it).
need_commands() {
  local missing=() cmd
  for cmd in "$@"; do command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  apt-get update -qq
  local light=("${missing[@]/#nginx/nginx-light}")
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${light[@]}" >/dev/null \
    || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# wait_port PORT: waits up to 10 s for a listener on 127.0.0.1:PORT.
wait_port() {
  local tries=$((${2:-10} * 10))
  for _ in $(seq "$tries"); do
    (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "port $1 never opened" >&2
  return 1
}

# nginx_conf DIR: writes DIR/nginx.conf for NGINX_WORKERS workers (default 1) of
# NGINX_CONNECTIONS connections each (default 4096; the open-file limit follows), pid and error
# log in DIR, no access log, with standard input inside the `http` block.
nginx_conf() {
  local workers=${NGINX_WORKERS:-1} connections=${NGINX_CONNECTIONS:-4096}
  mkdir -p "$1"
  {
    printf 'worker_processes %s;\nworker_rlimit_nofile %s;\n' "$workers" $((connections + 1024))
    printf 'pid %s/nginx.pid;\nerror_log %s/error.log;\n' "$1" "$1"
    printf 'events { worker_connections %s; }\nhttp {\n  access_log off;\n' "$connections"
    cat
    printf '}\n'
  } > "$1/nginx.conf"
}

# nginx_worker PID: the pid of the worker of the nginx master PID (the one doing the work).
nginx_worker() {
  local worker=""
  for _ in $(seq 50); do
    worker=$(pgrep -P "$1" | head -n1 || true)
    [ -n "$worker" ] && break
    sleep 0.1
  done
  [ -n "$worker" ] || { echo "nginx worker of $1 not found" >&2; return 1; }
  echo "$worker"
}
