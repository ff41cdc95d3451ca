# Shared by the bench/*.sh scripts (sourced): stopping what a benchmark started, and the CPU
# time a process used, which is the figure the benchmarks compare (wall-clock rates on a
# shared 2-core machine say more about the neighbours than about the program).

# stop_pid PID: TERM, up to 5 s for it to go, then KILL; reaps it if it is our child.
stop_pid() {
  local p=$1
  [ -n "$p" ] || return 0
  kill "$p" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
}

# cpu_us PID...: the CPU time of the processes (every thread, living or exited), in
# microseconds, read from the scheduler's own per-process clock (clock_gettime(2) on the
# process's CPU clock id, nanosecond resolution). utime+stime from /proc comes in 10 ms ticks,
# rounded down per process: over a 0.5 s run of a proxy with eight processes that is a
# few per cent of error, as much as the difference being measured. A process already gone
# counts 0.
cpu_us() {
  python3 -c 'import sys, time
total = 0
for pid in sys.argv[1:]:
    try:
        total += time.clock_gettime_ns(((~int(pid)) << 3) | 2)  # CPUCLOCK_SCHED, whole process
    except OSError:
        pass
print(total // 1000)' "$@"
}

# quotient A B [UNDEFINED]: A / B to two decimals; UNDEFINED (default NA) when B is not positive.
quotient() { awk -v a="$1" -v b="$2" -v u="${3:-NA}" 'BEGIN{ if (b > 0) printf "%.2f", a/b; else printf "%s", u }'; }

# cpu_ticks PID...: utime+stime of the processes, in clock ticks (getconf CLK_TCK a second).
# Fields are counted after the ")" that ends the command name, which may hold spaces.
cpu_ticks() {
  local t=0 p v
  for p in "$@"; do
    v=$({ sed 's/.*) //' "/proc/$p/stat" 2>/dev/null || echo "x 0 0 0 0 0 0 0 0 0 0 0 0"; } | awk '{print $12+$13}')
    t=$((t + v))
  done
  echo "$t"
}

# rtpengine_conf FILE SECTION INTERFACE NG_LISTEN PORT_MIN PORT_MAX [HTTP_LISTEN]: the config of
# the userspace rtpengine the benches compare with (table -1: no kernel forwarding, which needs
# a module this machine cannot load), in the foreground, logging to stderr.
rtpengine_conf() {
  {
    printf '[%s]\ntable = -1\ninterface = %s\nlisten-ng = %s\n' "$2" "$3" "$4"
    [ -z "${7:-}" ] || printf 'listen-http = %s\n' "$7"
    printf 'port-min = %s\nport-max = %s\ntimeout = 600\nsilent-timeout = 3600\ndelete-delay = 0\n' "$5" "$6"
    printf 'foreground = true\nlog-stderr = true\nlog-level = 4\n'
  } >"$1"
}

# median V...: the middle value (the mean of the two middle ones for an even count).
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END{printf "%s", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
