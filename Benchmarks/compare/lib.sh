# Shared by the comparison scripts: process CPU and memory from /proc, wrk output parsing.
# Expects $work (a scratch directory) and gw.pid / nginx.pid in it.

# Server PIDs: the gateway process (gw.pid); nginx's master and workers; any other NAME is the
# process in NAME.pid.
pids_of() {
  if [ "$1" = gateway ]; then cat "$work/gw.pid"
  elif [ "$1" = nginx ]; then
    local master; master=$(cat "$work/nginx.pid"); echo "$master $(pgrep -P "$master" | tr '\n' ' ')"
  else cat "$work/$1.pid"; fi
}

# utime+stime in clock ticks summed over every thread of the given server's processes.
cpu_ticks() {
  local total=0
  for pid in $(pids_of "$1"); do
    for stat in /proc/"$pid"/task/*/stat; do
      total=$((total + $(awk '{print $14 + $15}' "$stat")))
    done
  done
  echo $total
}

rss_kib() {
  local total=0
  for pid in $(pids_of "$1"); do total=$((total + $(awk '/VmRSS/ {print $2}' /proc/"$pid"/status))); done
  echo $total
}

# wrk's latency column ("812.00us", "4.51ms", "1.02s") in milliseconds.
to_ms() { awk -v v="$1" 'BEGIN { if (v ~ /us$/) { sub(/us$/, "", v); print v / 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v); print v } else if (v ~ /s$/) { sub(/s$/, "", v); print v * 1000 } else print v }'; }

# run_wrk SERVER URL CONNECTIONS [wrk args…]: prints "rps p99 requests cpu_seconds".
run_wrk() {
  local server=$1 url=$2 c=$3; shift 3
  local before after out hz
  hz=$(getconf CLK_TCK)
  before=$(cpu_ticks "$server")
  out=$(wrk -t"${WRK_THREADS:-1}" -c"$c" -d"${DURATION:-10}s" --latency "$@" "$url")
  after=$(cpu_ticks "$server")
  echo "$(echo "$out" | awk '/Requests\/sec/ {print $2}') $(echo "$out" | awk '$1 == "99%" {print $2}') $(echo "$out" | awk '/requests in/ {print $1}') $(awk -v t=$((after - before)) -v hz="$hz" 'BEGIN {print t / hz}')"
}

# The part of an nginx.conf both comparisons share: 2 workers, enough descriptors, pid and
# error log under $work. The caller appends its own `http { … }` block.
nginx_preamble() {
  cat <<NGINX
worker_processes 2;
worker_rlimit_nofile 65536;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 32768; }
NGINX
}
