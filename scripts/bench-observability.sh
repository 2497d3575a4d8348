# Sourced by scripts/bench: what metrics and the request log cost a session read.
#
# Two measures. Instructions per read under valgrind's callgrind: the same count for the same
# binary and requests whatever else the machine does, so a few percent can be told apart (wrk's
# req/s moves by more than that from run to run on 2 shared cores). And wrk's reads/s, metrics off
# and on in alternating runs, for the throughput figure. Three configurations: METRICS_ENABLED=
# false; the default (metrics on, no per-request log line); metrics on with the request log line
# (RUST_LOG=…,sessionboard::request=info, LOG_FORMAT=json to a file).

observed_reads=${BENCH_OBSERVED_READS:-2000}
observed_rounds=${BENCH_OBSERVED_ROUNDS:-3}

# Starts sessionboard with extra environment (KEY=VALUE…) and a launcher (e.g. valgrind) before
# the binary; sets $obs_pid and $obs_base.
#   start_sessionboard LOG_FILTER LAUNCHER... -- ENV...
start_sessionboard() {
  local filter=$1 port launcher=() env_extra=()
  shift
  while [ $# -gt 0 ] && [ "$1" != -- ]; do launcher+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  env_extra=("$@")
  port=$(free_port)
  obs_base="http://127.0.0.1:$port"
  env LEPTOS_ENV=PROD LEPTOS_SITE_ADDR="127.0.0.1:$port" LEPTOS_SITE_ROOT="$site" \
    LEPTOS_SITE_PKG_DIR=pkg LEPTOS_OUTPUT_NAME=sessionboard REDIS_HOST=127.0.0.1 \
    REDIS_PORT="$redis_port" SESSION_COOKIE_SECURE=false RUST_LOG="$filter" LOG_FORMAT=json \
    SESSION_SECRET=benchmark-secret-0123456789abcdefghij "${env_extra[@]}" \
    "${launcher[@]}" "$bin" >"$dir/observed.log" 2>&1 &
  obs_pid=$!
  pids+=("$obs_pid")
  # Under valgrind the start takes seconds.
  wait_for_http "$obs_base/healthz" "$obs_pid" 600
}

stop_sessionboard() {
  kill "$obs_pid" 2>/dev/null || true
  wait "$obs_pid" 2>/dev/null || true
}

new_cookie() {
  curl -fsS -D - -o /dev/null "${increment_args[@]}" "$obs_base/api/increment" | tr -d '\r' |
    awk 'tolower($1) == "set-cookie:" { sub(/;.*/, "", $2); print $2; exit }'
}

# COUNT sequential reads on one keep-alive connection; fails on any answer but 200.
sequential_reads() {
  python3 - "$obs_base" "$1" "$2" <<'PY'
import http.client, sys, urllib.parse
url, cookie, count = urllib.parse.urlsplit(sys.argv[1]), sys.argv[2], int(sys.argv[3])
connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
for _ in range(count):
    connection.request("GET", "/api/session", headers={"Cookie": cookie, "Accept": "application/json"})
    answer = connection.getresponse()
    answer.read()
    if answer.status != 200:
        sys.exit(f"a read was answered {answer.status}")
PY
}

# Instructions per read of one configuration: records sb_ir_<key>.
#   instructions_per_read KEY LOG_FILTER ENV...
instructions_per_read() {
  local key=$1 filter=$2 out total
  shift 2
  out="$dir/callgrind-$key"
  start_sessionboard "$filter" valgrind --tool=callgrind --callgrind-out-file="$out" -- "$@" ||
    { say "sessionboard did not start under valgrind"; cat "$dir/observed.log" >&2; return 1; }
  local cookie
  cookie=$(new_cookie)
  # Warm up (lazy statics, connection set-up), then count only the measured reads.
  sequential_reads "$cookie" 200
  timeout 60 callgrind_control -z "$obs_pid" >/dev/null 2>&1
  sequential_reads "$cookie" "$observed_reads"
  timeout 60 callgrind_control -d "$obs_pid" >/dev/null 2>&1
  sleep 1
  total=$(cat "$out".* 2>/dev/null | awk '/^summary:/ { n += $2 } END { print n + 0 }')
  stop_sessionboard
  rm -f "$out" "$out".*
  record "sb_ir_$key" $((total / observed_reads))
}

# Reads/s of one configuration over one wrk run: appends to sb_obs_rps_<key>.
#   reads_per_second KEY LOG_FILTER ENV...
reads_per_second() {
  local key=$1 filter=$2 out
  shift 2
  start_sessionboard "$filter" -- "$@" || { cat "$dir/observed.log" >&2; return 1; }
  local cookie
  cookie=$(new_cookie)
  out=$(timeout $((duration + 30)) wrk -t"$threads" -c"$connections" -d"${duration}s" \
    -H "Cookie: $cookie" -H 'Accept: application/json' "$obs_base/api/session")
  stop_sessionboard
  echo "$out" | awk '/^Requests\/sec/ {print $2}' >>"$dir/obs-rps-$key"
}

say "observability: instructions per read under callgrind (${observed_reads} reads each)"
instructions_per_read off error METRICS_ENABLED=false
instructions_per_read on error
instructions_per_read log 'error,sessionboard::request=info'

say "observability: reads/s, metrics off and on alternately (${observed_rounds} rounds)"
: >"$dir/obs-rps-off"
: >"$dir/obs-rps-on"
for _ in $(seq 1 "$observed_rounds"); do
  reads_per_second off error METRICS_ENABLED=false
  reads_per_second on error
done
record sb_obs_rps_off "$(awk '{ n += $1 } END { print n / NR }' "$dir/obs-rps-off")"
record sb_obs_rps_on "$(awk '{ n += $1 } END { print n / NR }' "$dir/obs-rps-on")"
