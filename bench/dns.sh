#!/usr/bin/env bash
# bench/dns.sh: outpost's split-horizon DNS against unbound configured as the same split
# horizon, and against the bare answerer (../shared/notes/limits/dns_floor.c: what the
# kernel's UDP path alone costs here), in one run, same machine, same query files.
#
#   dnsperf (CPU0) --> server under test (CPU1) --forward--> NSD 127.0.0.81 (CPU0)
#     outpost  127.0.0.82:53  outpostd, lan = lo 127.0.0.82/8, client_subnets 127.0.0.0/8,
#                             vendor profile "lab" (vendor.example, *.vendor.example),
#                             dns.forwarders [127.0.0.81]
#     unbound  127.0.0.83:53  view "lan" for 127.0.0.0/8: local-zone vendor.example redirect
#                             (A 127.0.0.82, TTL 30); forward-zone "." to 127.0.0.81
#     floor    127.0.0.84:53  dns_floor, batch 32 (answers every A query with one address)
#
# Cases (A queries):
#   vendor    10000 names under vendor.example (answered locally by outpost and unbound)
#   cached    HOSTS names under corp.example, cache warmed first
#   uncached  unique names under *.dyn.corp.example (dnsperf -n 1): a round trip to NSD each
# Per server and case: a max-rate run (dnsperf -c CLIENTS -q OUTSTANDING for DUR s) gives
# qps and the server's CPU per answered query (utime+stime of the whole process from
# /proc/PID/stat, libunbound's threads included, over the run / queries completed); a
# fixed-rate run (RATE qps for RATE_DUR s, dnsperf -v) gives p50/p99 latency.
# Medians over REPS repetitions. The floor runs the vendor and cached files only.
#
# Output: one line per server and case, ratio lines, and last:
#   dns: outpost X us/query, unbound Y us/query, floor Z us/query, ratio R
# with R = unbound's CPU per query / outpost's, for vendor names.
# Env: BUILD=build REPS=3 DUR=5 RATE=2000 RATE_DUR=3 CLIENTS=4 OUTSTANDING=200 HOSTS=400
#      PIN=1 CASES="vendor cached uncached" SERVERS="outpost unbound floor"
# Needs root (port 53), dnsperf, nsd, unbound, dig, gcc, taskset. About 3-4 minutes.
# Timings are reported, never asserted.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
OUTPOSTD=$BUILD/daemon/outpostd
FLOOR_SRC=${FLOOR_SRC:-$ROOT/../shared/notes/limits/dns_floor.c}
REPS=${REPS:-3}
DUR=${DUR:-5}
RATE=${RATE:-2000}
RATE_DUR=${RATE_DUR:-3}
CLIENTS=${CLIENTS:-4}
OUTSTANDING=${OUTSTANDING:-200}
HOSTS=${HOSTS:-400}
PIN=${PIN:-1}
CASES=${CASES:-"vendor cached uncached"}
SERVERS=${SERVERS:-"outpost unbound floor"}
AUTH=127.0.0.81
declare -A ADDR=([outpost]=127.0.0.82 [unbound]=127.0.0.83 [floor]=127.0.0.84)
LAN_IP=${ADDR[outpost]}

if [ "$(id -u)" != 0 ]; then echo "dns: SKIP (needs root for port 53)"; exit 0; fi
for b in dnsperf nsd nsd-checkconf unbound unbound-checkconf dig gcc taskset awk; do
  command -v "$b" >/dev/null || { echo "dns: SKIP (missing $b: apt-get install dnsperf nsd unbound bind9-dnsutils gcc)"; exit 0; }
done
[ -x "$OUTPOSTD" ] || { echo "dns: ERROR no $OUTPOSTD (make BUILD=...)"; exit 1; }
[ -f "$FLOOR_SRC" ] || { echo "dns: ERROR no $FLOOR_SRC"; exit 1; }

RUN=$(mktemp -d /tmp/outpost-dns-bench.XXXXXX)
NSD_PID="" SRV_PIDS=""
. "$(dirname "$0")/lib.sh"  # stop_pid, cpu_ticks
cleanup() {
  for p in $SRV_PIDS; do stop_pid "$p"; done; SRV_PIDS=""
  stop_pid "$NSD_PID"; NSD_PID=""
  rm -rf "$RUN"
}
trap cleanup EXIT INT TERM

if [ "$PIN" = 1 ] && [ "$(nproc)" -ge 2 ]; then PIN_LOAD="taskset -c 0"; PIN_SRV="taskset -c 1"; else PIN_LOAD=""; PIN_SRV=""; fi
HZ=$(getconf CLK_TCK)

# ---------- zones, queries, configs ----------
{
  echo "\$ORIGIN corp.example."; echo "\$TTL 3600"
  echo "@ IN SOA ns hostmaster 1 3600 600 86400 3600"; echo "@ IN NS ns"; echo "ns IN A $AUTH"
  awk -v n="$HOSTS" 'BEGIN{for(i=1;i<=n;i++) printf "host%d IN A 10.1.%d.%d\n", i, int(i/250), i%250+1}'
  echo "*.dyn IN A 10.2.0.1"
} > "$RUN/corp.example.zone"
{
  echo "\$ORIGIN vendor.example."; echo "\$TTL 3600"
  echo "@ IN SOA ns hostmaster 1 3600 600 86400 3600"; echo "@ IN NS ns"; echo "@ IN A 203.0.113.1"
  echo "ns IN A $AUTH"; echo "* IN A 203.0.113.250"
} > "$RUN/vendor.example.zone"
cat > "$RUN/nsd.conf" <<EOF
server:
    ip-address: $AUTH@53
    server-count: 1
    username: ""
    chroot: ""
    zonesdir: "$RUN"
    database: ""
    zonelistfile: "$RUN/zone.list"
    xfrdfile: "$RUN/xfrd.state"
    xfrdir: "$RUN"
    pidfile: "$RUN/nsd.pid"
    logfile: "$RUN/nsd.log"
    verbosity: 0
    rrl-ratelimit: 0
remote-control:
    control-enable: no
zone:
    name: "corp.example"
    zonefile: "corp.example.zone"
zone:
    name: "vendor.example"
    zonefile: "vendor.example.zone"
EOF
cat > "$RUN/unbound.conf" <<EOF
server:
    interface: ${ADDR[unbound]}
    port: 53
    do-daemonize: no
    username: ""
    chroot: ""
    directory: "$RUN"
    pidfile: "$RUN/unbound.pid"
    use-syslog: no
    logfile: "$RUN/unbound.log"
    verbosity: 0
    num-threads: 1
    module-config: "iterator"
    do-not-query-localhost: no
    edns-buffer-size: 1232
    outgoing-range: 4096
    num-queries-per-thread: 2048
    access-control: 127.0.0.0/8 allow
    access-control-view: 127.0.0.0/8 lan
view:
    name: "lan"
    local-zone: "vendor.example." redirect
    local-data: "vendor.example. 30 IN A $LAN_IP"
    view-first: yes
forward-zone:
    name: "."
    forward-addr: $AUTH@53
EOF
cat > "$RUN/outpost.yaml" <<EOF
lan:
  interface: lo
  address: $LAN_IP/8
  client_subnets: [127.0.0.0/8]
vendor:
  profile: lab
dns:
  forwarders: ["$AUTH:53"]
  ttl: 30
  rate_limit: {per_second: 0}
sip: {enabled: false}
tls: {enabled: false}
management:
  control_socket: $RUN/control.sock
  metrics_enabled: false
  state_dir: $RUN
  log_level: warning
EOF
awk 'BEGIN{for(i=1;i<=10000;i++) printf "n%d.vendor.example A\n", i}' > "$RUN/q_vendor"
awk -v n="$HOSTS" 'BEGIN{for(i=1;i<=n;i++) printf "host%d.corp.example A\n", i}' > "$RUN/q_cached"
gen_unique() { awk -v p="$1" 'BEGIN{for(i=1;i<=400000;i++) printf "%s-%d.dyn.corp.example A\n", p, i}' > "$RUN/q_uncached"; }
gcc -O2 -o "$RUN/dns_floor" "$FLOOR_SRC"

wait_answer() {  # addr name expected
  for _ in $(seq 1 50); do
    [ "$(dig +short +time=1 +tries=1 @"$1" "$2" A 2>/dev/null | head -1)" = "$3" ] && return 0
    sleep 0.1
  done
  return 1
}

$PIN_LOAD nsd -d -c "$RUN/nsd.conf" -P "$RUN/nsd.pid" >"$RUN/nsd.out" 2>&1 &
NSD_PID=$!
wait_answer "$AUTH" host1.corp.example 10.1.0.2 || { echo "dns: ERROR nsd did not answer"; cat "$RUN/nsd.out"; exit 1; }

declare -A PID
start_server() {
  local s=$1
  case $s in
    outpost) $PIN_SRV "$OUTPOSTD" -f -c "$RUN/outpost.yaml" --profile-dir "$ROOT/daemon/profiles" >"$RUN/outpost.log" 2>&1 & ;;
    unbound) unbound-checkconf "$RUN/unbound.conf" >/dev/null; $PIN_SRV unbound -d -c "$RUN/unbound.conf" >"$RUN/unbound.out" 2>&1 & ;;
    floor) $PIN_SRV "$RUN/dns_floor" "${ADDR[floor]}:53" 32 >"$RUN/floor.out" 2>&1 & ;;
  esac
  PID[$s]=$!
  SRV_PIDS="$SRV_PIDS ${PID[$s]}"
  local want=$LAN_IP
  [ "$s" = floor ] && want=10.0.0.1
  wait_answer "${ADDR[$s]}" n1.vendor.example "$want" ||
    { echo "dns: ERROR $s did not answer"; cat "$RUN"/*.log "$RUN"/*.out 2>/dev/null | tail -20; exit 1; }
}

# dnsperf against the server; prints "qps completed lost ticks"
LAST="$RUN/last_perf.txt"
perf() {
  local server=$1 file=$2; shift 2
  local t0 t1 out
  t0=$(cpu_ticks "${PID[$server]}")
  out=$($PIN_LOAD dnsperf -s "${ADDR[$server]}" -p 53 -d "$file" "$@" 2>&1) || true
  t1=$(cpu_ticks "${PID[$server]}")
  echo "$out" > "$LAST"
  local qps done lost
  qps=$(echo "$out" | awk '/Queries per second:/{print $4}')
  done=$(echo "$out" | awk '/Queries completed:/{print $3}')
  lost=$(echo "$out" | awk '/Queries lost:/{print $3}')
  echo "${qps:-0} ${done:-0} ${lost:-0} $((t1 - t0))"
}
pcts() {
  awk '/^> /{print $NF*1000}' "$LAST" | sort -g | awk '{a[NR]=$1} END{
    if(NR==0){print "nan nan"; exit}
    i50=int(NR*0.50); if(i50<1)i50=1; i99=int(NR*0.99); if(i99<1)i99=1; printf "%.3f %.3f\n", a[i50], a[i99]}'
}
median() { tr ' ' '\n' | { grep . || true; } | sort -g | awk '{a[NR]=$1} END{if(NR==0){print "nan"; exit} print (NR%2)? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# All servers run side by side (idle ones cost nothing); each repetition walks every case
# and server in turn, so drifts in background load hit them alike.
for s in $SERVERS; do start_server "$s"; done
declare -A US QPS P50 P99
for rep in $(seq 1 "$REPS"); do
  for c in $CASES; do
    for s in $SERVERS; do
      [ "$s" = floor ] && [ "$c" = uncached ] && continue
      extra=()
      case $c in
        vendor) f="$RUN/q_vendor" ;;
        cached) f="$RUN/q_cached"; $PIN_LOAD dnsperf -s "${ADDR[$s]}" -d "$f" -n 2 >/dev/null 2>&1 || true ;;
        uncached) gen_unique "m$s$rep"; f="$RUN/q_uncached"; extra=(-n 1) ;;
      esac
      read -r qps done lost ticks < <(perf "$s" "$f" -l "$DUR" -c "$CLIENTS" -q "$OUTSTANDING" "${extra[@]}")
      us=$(awk -v t="$ticks" -v hz="$HZ" -v n="$done" 'BEGIN{printf "%.2f", (n > 0 ? t / hz * 1e6 / n : 0)}')
      US[$s,$c]="${US[$s,$c]:-} $us"
      QPS[$s,$c]="${QPS[$s,$c]:-} $qps"
      [ "$c" = uncached ] && gen_unique "r$s$rep"
      perf "$s" "$f" -l "$RATE_DUR" -Q "$RATE" -c "$CLIENTS" -v "${extra[@]}" >/dev/null
      read -r p50 p99 < <(pcts)
      P50[$s,$c]="${P50[$s,$c]:-} $p50"
      P99[$s,$c]="${P99[$s,$c]:-} $p99"
    done
  done
done
for c in $CASES; do
  for s in $SERVERS; do
    [ -n "${US[$s,$c]:-}" ] || continue
    printf "dns case=%s server=%s us_per_query=%s qps=%s p50_ms=%s p99_ms=%s@%sqps reps=%s\n" "$c" "$s" \
      "$(echo "${US[$s,$c]}" | median)" "$(echo "${QPS[$s,$c]}" | median | awk '{printf "%.0f", $1}')" \
      "$(echo "${P50[$s,$c]}" | median)" "$(echo "${P99[$s,$c]}" | median)" "$RATE" "$REPS"
  done
done

med() { echo "${US[$1,$2]:-}" | median; }
for c in $CASES; do
  o=$(med outpost "$c"); u=$(med unbound "$c"); f=$(med floor "$c")
  awk -v c="$c" -v o="$o" -v u="$u" -v f="$f" 'BEGIN{
    r1 = (o + 0 > 0 && u != "nan" && u != "") ? sprintf("%.2f", u / o) : "n/a"
    r2 = (f != "nan" && f + 0 > 0 && o + 0 > 0) ? sprintf("%.2f", o / f) : "n/a"
    printf "dns ratio case=%s unbound/outpost=%s outpost/floor=%s\n", c, r1, r2}'
done
o=$(med outpost vendor); u=$(med unbound vendor); f=$(med floor vendor)
awk -v o="$o" -v u="$u" -v f="$f" 'BEGIN{
  r = (o + 0 > 0 && u + 0 > 0) ? sprintf("%.2f", u / o) : "n/a"
  printf "dns: outpost %s us/query, unbound %s us/query, floor %s us/query, ratio %s\n", o, u, f, r}'
exit 0
