# Helpers for scripts/bench: process CPU and memory from /proc, Redis command counts, and wrk
# runs whose figures land in the results file ($results, key=value lines).

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

record() { echo "$1=$2" >>"$results"; }

# utime+stime of a process, in clock ticks.
cpu_ticks() {
  local stat rest
  stat=$(cat "/proc/$1/stat")
  rest=${stat##*) }
  # shellcheck disable=SC2086
  set -- $rest
  echo $(( ${12} + ${13} ))
}

# Peak resident set size of a process, in kB.
rss_peak_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }

# Records the peak so far as <key>_rss_startup_kb and starts a new one: start-up work (such as
# sessionboard's one Argon2 decoy hash, 19 MiB) is reported apart from the load.
rss_restart_peak() {
  record "$1_rss_startup_kb" "$(rss_peak_kb "$2")"
  echo 5 >"/proc/$2/clear_refs" 2>/dev/null || true
}

redis() { redis-cli -h 127.0.0.1 -p "$redis_port" "$@"; }

# Commands Redis ran since the last CONFIG RESETSTAT (commands run inside Lua scripts included),
# without the benchmark's own CONFIG/INFO.
redis_commands() {
  redis INFO commandstats | tr -d '\r' | awk -F'[:=,]' \
    '/^cmdstat_/ && $1 !~ /^cmdstat_(config|info)/ { n += $3 } END { print n + 0 }'
}

# Waits until URL answers 2xx (false if PID exits first or after TRIES × 0.1 s, default 200).
#   wait_for_http URL PID [TRIES]
wait_for_http() {
  local url=$1 pid=$2 tries=${3:-200}
  for _ in $(seq 1 "$tries"); do
    curl -fsS -o /dev/null "$url" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# Milliseconds from a wrk latency figure (850.00us, 1.23ms, 1.01s).
to_ms() {
  python3 -c 'import re,sys; v=sys.argv[1]; m=re.match(r"([\d.]+)(us|ms|s|m)$", v)
n,u=float(m[1]),m[2]; print({"us":n/1000,"ms":n,"s":n*1000,"m":n*60000}[u])' "$1"
}

# wrk against one URL of one stack; records <key>_rps, _p50, _p99, _requests, _cpu_us, _redis.
#   measure KEY PID URL [wrk arguments...]
measure() {
  local key=$1 pid=$2 url=$3 out ticks_before ticks_after requests commands tick_us
  shift 3
  tick_us=$(( 1000000 / $(getconf CLK_TCK) ))
  redis CONFIG RESETSTAT >/dev/null
  ticks_before=$(cpu_ticks "$pid")
  out=$(run_wrk "$url" "$@")
  ticks_after=$(cpu_ticks "$pid")
  commands=$(redis_commands)
  echo "$out" >"$dir/wrk-$key.txt"
  requests=$(echo "$out" | awk '/requests in/ {print $1}')
  record "${key}_requests" "$requests"
  record "${key}_rps" "$(echo "$out" | awk '/^Requests\/sec/ {print $2}')"
  record "${key}_p50" "$(to_ms "$(echo "$out" | awk '$1 == "50%" {print $2}')")"
  record "${key}_p99" "$(to_ms "$(echo "$out" | awk '$1 == "99%" {print $2}')")"
  record "${key}_errors" "$(echo "$out" | awk '/Non-2xx/ {print $NF}' | grep . || echo 0)"
  record "${key}_cpu_us" \
    "$(python3 -c "print(round((${ticks_after} - ${ticks_before}) * ${tick_us} / max(${requests}, 1), 1))")"
  record "${key}_redis" "$(python3 -c "print(round(${commands}/max(${requests},1), 2))")"
  record "${key}_acknowledged" "$(echo "$out" | awk '/^acknowledged/ {print $2}' | grep . || echo "$requests")"
}

# wrk against URL (wrk arguments after it), as the settings say: one process with $threads
# threads, or with BENCH_PIN_CLIENTS=1 one single-threaded process per thread, each pinned to a
# core of its own (as a NIC spreads clients' connections over cores), outputs merged.
#   run_wrk URL [wrk arguments...]
run_wrk() {
  local url=$1 part pids=() cores
  shift
  if [ -z "${BENCH_PIN_CLIENTS:-}" ]; then
    timeout $((duration + 30)) wrk -t"$threads" -c"$connections" -d"${duration}s" --timeout 5s \
      --latency "$@" "$url"
    return
  fi
  cores=$(nproc)
  for part in $(seq 0 $((threads - 1))); do
    timeout $((duration + 30)) taskset -c $((part % cores)) wrk -t1 -c$((connections / threads)) \
      -d"${duration}s" --timeout 5s --latency "$@" "$url" >"$dir/wrk-part-$part.txt" &
    pids+=($!)
  done
  wait "${pids[@]}"
  python3 scripts/merge-wrk.py "$duration" "$dir"/wrk-part-*.txt
  rm -f "$dir"/wrk-part-*.txt
}

# The counter a stack reports for the session in $cookie.
counter() {
  curl -fsS -H "Cookie: $cookie" -H 'Accept: application/json' "$1" |
    python3 -c 'import json,sys; v=json.load(sys.stdin); print(v["counter"] if isinstance(v, dict) else v)'
}

# Client commands (round trips, nothing run inside a Lua script) per request, from MONITOR over
# `count` sequential requests: MONITOR NAME COUNT CURL-ARGS... The near cache's heartbeat (a PING
# per connection and a GET of the flush epoch, four times a second) answers no request: left out.
round_trips() {
  local name=$1 count=$2 monitor_pid
  shift 2
  timeout 30 redis-cli -h 127.0.0.1 -p "$redis_port" MONITOR >"$dir/monitor-$name.txt" &
  monitor_pid=$!
  sleep 0.3
  for _ in $(seq 1 "$count"); do curl -fsS -o /dev/null -H "Cookie: $cookie" "$@" || true; done
  sleep 0.3
  kill "$monitor_pid" 2>/dev/null || true
  wait "$monitor_pid" 2>/dev/null || true
  grep -v -e '\] "PING"' -e 'near-cache-epoch"' "$dir/monitor-$name.txt" >"$dir/monitor-$name.requests"
  local client
  client=$(grep -c '\] "' "$dir/monitor-$name.requests" || true)
  local scripted
  scripted=$(grep -c '\[[0-9]* lua\]' "$dir/monitor-$name.requests" || true)
  python3 -c "print(round(($client - $scripted) / $count, 2))"
}

# Two instances as a balancer spreads clients: half of wrk's connections (one thread each) on
# each instance at once, on one session. Records <key>_rps (the sum), <key>_p99 (the larger) and
# <key>_requests, <key>_acknowledged.
#   measure_pair KEY URL_A URL_B [wrk arguments...]
measure_pair() {
  local key=$1 a=$2 b=$3 half=$((connections / 2))
  shift 3
  timeout $((duration + 30)) wrk -t1 -c"$half" -d"${duration}s" --timeout 5s --latency "$@" "$a" \
    >"$dir/wrk-$key-a.txt" &
  local first=$!
  timeout $((duration + 30)) wrk -t1 -c"$half" -d"${duration}s" --timeout 5s --latency "$@" "$b" \
    >"$dir/wrk-$key-b.txt"
  wait "$first"
  record "${key}_rps" "$(awk '/^Requests\/sec/ {n += $2} END {print n}' "$dir/wrk-$key-"[ab].txt)"
  record "${key}_requests" "$(awk '/requests in/ {n += $1} END {print n}' "$dir/wrk-$key-"[ab].txt)"
  record "${key}_acknowledged" \
    "$(awk '/^acknowledged/ {n += $2; seen = 1} /requests in/ {r += $1} END {print seen ? n : r}' \
      "$dir/wrk-$key-"[ab].txt)"
  local p99 worst=0
  for p99 in $(awk '$1 == "99%" {print $2}' "$dir/wrk-$key-"[ab].txt); do
    worst=$(python3 -c "print(max($worst, $(to_ms "$p99")))")
  done
  record "${key}_p99" "$worst"
}
